// Pieces of the generated name.d.ts that every backend's bundle shares: the API's type name and
// one documented field per tensor. Each backend writes its own interface around them (the WASM
// bundle's views are synchronous typed arrays, the WebGPU bundle's read-backs are promises).

import { DTYPE_INFO, type DType } from "../ir/dtypes.ts";
import type { InputEntry } from "./manifest.ts";


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
export function tensorFields(list: readonly (InputEntry & { trainable?: boolean })[], what: string, type: (array: string) => string = (a) => a): string {
  // An input read as indices also says its valid range (checked before each call that reads it).
  const range = (t: InputEntry) => (t.indexRange ? `, each in [${t.indexRange.lo}, ${t.indexRange.hi}) (${t.indexRange.what})` : "");
  return list
    .map((t) => `  /** ${t.trainable === false ? "state" : what}: ${t.dtype}[${t.shape.join(", ")}]${range(t)} */\n  readonly ${JSON.stringify(t.name)}: ${type(arrayTypeOf(t.dtype))};`)
    .join("\n");
}
