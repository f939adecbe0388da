// Pieces of the generated name.d.ts that every backend's bundle shares: the API's type name and
// one documented field per tensor. Each backend writes its own interface around them (the WASM
// bundle's views are synchronous typed arrays, the WebGPU bundle's read-backs are promises).

import { DTYPE_INFO, type DType } from "../ir/dtypes.ts";
import type { InputEntry } from "./manifest.ts";


/**
 * Global names the generated .d.ts refers to: a model's interface named like one would shadow it
 * (a model called `promise` would make `load()` return `Promise<Promise>`).
 */
const DECLARATION_GLOBALS: ReadonlySet<string> = new Set([
  "Promise", "ArrayBuffer", "Float32Array", "Int32Array", "Int8Array", "Uint8Array", "Uint16Array",
  "WebAssembly", "GPU", "GPUDevice", "GPUBuffer", "LoadOptions",
]);

/**
 * `mnist_mlp` → `MnistMlp`: the interface names of a bundle's .d.ts, a valid identifier for any
 * model name: ASCII letters and digits only, never a leading digit (`_9lives` → `Model9lives`),
 * `Model` for a name with neither, and never one of the globals the file uses. Reserved words
 * cannot result: they are all lower case.
 */
export function apiTypeName(modelName: string): string {
  const words = modelName.split(/[^A-Za-z0-9]+/).filter(Boolean).map((w) => w[0].toUpperCase() + w.slice(1)).join("");
  const name = /^[A-Za-z]/.test(words) ? words : `Model${words}`;
  return DECLARATION_GLOBALS.has(name) ? `${name}Model` : name;
}

/** The typed array a tensor of `dtype` is exposed as. */
export function arrayTypeOf(dtype: DType): string {
  return DTYPE_INFO[dtype].array.name;
}

/**
 * One readonly field per tensor, its dtype and shape in the doc comment; `type` gives the field's
 * type from the tensor's typed array name (e.g. a promise of it for GPU read-backs).
 */
export function tensorFields(list: readonly (InputEntry & { trainable?: boolean })[], what: string, type: (array: string) => string = (a) => a): string {
  // An input read as indices also says its valid range (checked before each call that reads it).
  const range = (t: InputEntry) => (t.indexRange ? `, each in [${t.indexRange.lo}, ${t.indexRange.hi}) (${t.indexRange.what})` : "");
  return list
    .map((t) => `  /** ${t.trainable === false ? "state" : what}: ${t.dtype}[${t.shape.join(", ")}]${range(t)} */\n  readonly ${JSON.stringify(t.name)}: ${type(arrayTypeOf(t.dtype))};`)
    .join("\n");
}

/**
 * The non-finite guard's report on the bundle's API (nonfinite-guard.ts): `lastStepSkipped` and
 * `skippedSteps`, documented for a bundle built with the guard (`params` has opt/skipped_steps)
 * or as always false and 0 without it. `when` says how current the count is.
 */
export function skipDeclarations(params: readonly { readonly name: string }[], when: string): string {
  const guarded = params.some((p) => p.name === "opt/skipped_steps");
  const off = guarded ? "" : " Always false: built without the guard (--no-nonfinite-guard, or without --train).";
  return `  /** Whether the last trainStep() skipped its update because the loss or a gradient was NaN/Inf (params and optimizer state left as they were).${off} */
  readonly lastStepSkipped: boolean;
  /** Training steps skipped for a NaN/Inf loss or gradient so far${when}: the state \`opt/skipped_steps\`, saved with the weights.${guarded ? "" : " Always 0: built without the guard."} */
  readonly skippedSteps: number;`;
}
