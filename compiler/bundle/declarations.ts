// Pieces of the generated name.d.ts that every backend's bundle shares: the API's type name and
// one documented field per tensor. Each backend writes its own interface around them (the WASM
// bundle's views are synchronous typed arrays, the WebGPU bundle's read-backs are promises).

import { DTYPE_INFO, type DType } from "../ir/dtypes.ts";
import type { TensorEntry } from "./manifest.ts";


/** `mnist_mlp` → `MnistMlp`: the interface names of a bundle's .d.ts. */
export function apiTypeName(bundleName: string): string {
  return bundleName.split(/[^A-Za-z0-9]+/).filter(Boolean).map((w) => w[0].toUpperCase() + w.slice(1)).join("") || "Model";
}

/** The typed array a tensor of `dtype` is exposed as. */
export function arrayTypeOf(dtype: DType): string {
  return DTYPE_INFO[dtype].array.name;
}

/**
 * One readonly field per tensor, its dtype and shape in the doc comment; `type` gives the field's
 * type from the tensor's typed array name (e.g. a promise of it for GPU read-backs).
 */
export function tensorFields(list: readonly (TensorEntry & { trainable?: boolean })[], what: string, type: (array: string) => string = (a) => a): string {
  return list
    .map((t) => `  /** ${t.trainable === false ? "state" : what}: ${t.dtype}[${t.shape.join(", ")}] */\n  readonly ${JSON.stringify(t.name)}: ${type(arrayTypeOf(t.dtype))};`)
    .join("\n");
}

/**
 * The non-finite guard's report on the bundle's API (nonfinite-guard.ts): `lastStepSkipped` and
 * `skippedSteps`, documented for a bundle built with the guard (`params` has opt/skipped_steps)
 * or as always false and 0 without it. `when` says how current the count is.
 */
export function skipDeclarations(params: readonly TensorEntry[], when: string): string {
  const guarded = params.some((p) => p.name === "opt/skipped_steps");
  const off = guarded ? "" : " Always false: built without the guard (--no-nonfinite-guard, or without --train).";
  return `  /** Whether the last trainStep() skipped its update because the loss or a gradient was NaN/Inf (params and optimizer state left as they were).${off} */
  readonly lastStepSkipped: boolean;
  /** Training steps skipped for a NaN/Inf loss or gradient so far${when}: the state \`opt/skipped_steps\`, saved with the weights.${guarded ? "" : " Always 0: built without the guard."} */
  readonly skippedSteps: number;`;
}
