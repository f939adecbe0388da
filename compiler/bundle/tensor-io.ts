// Conversion between the interpreter's tensors (float64 numbers tagged with an IR dtype) and
// safetensors entries, with the checks users need when they hand us files: a wrong dtype or shape
// is an error naming the tensor and what was expected. Records keyed by tensor names have no
// prototype and are read by own keys only: `__proto__` or `constructor` is a name like any other.

import { readFileSync, writeFileSync } from "node:fs";
import { DTYPE_INFO, fromTypedArray, toTypedArray } from "../ir/dtypes.ts";
import type { TensorType } from "../ir/types.ts";
import { formatType, sameShape } from "../ir/types.ts";
import { decodeSafetensors, encodeSafetensors, type SafeTensor } from "../../runtime/safetensors.ts";

export class TensorIOError extends Error {
  override name = "TensorIOError";
}

/** The safetensors entry of a tensor: its dtype's code and typed array (ir/dtypes.ts). */
export function toSafeTensor(type: TensorType, data: ArrayLike<number>): SafeTensor {
  return { dtype: DTYPE_INFO[type.dtype].safetensors, shape: [...type.shape], data: toTypedArray(type.dtype, data) };
}

/** The values of a safetensors entry as float64, after checking it matches `expected`. */
export function fromSafeTensor(name: string, expected: TensorType, t: SafeTensor, what = "tensor"): Float64Array {
  const code = DTYPE_INFO[expected.dtype].safetensors;
  if (t.dtype !== code || !sameShape(t.shape, expected.shape)) {
    throw new TensorIOError(`${what} '${name}' must be ${formatType(expected)} (safetensors ${code}), got ${t.dtype}[${t.shape.join(",")}]`);
  }
  // The codes match, so the data is the dtype's typed array (never a BigInt64Array).
  return fromTypedArray(expected.dtype, t.data as ArrayLike<number>);
}

export function readSafetensorsFile(path: string): Record<string, SafeTensor> {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new TensorIOError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    return decodeSafetensors(bytes).tensors;
  } catch (e) {
    throw new TensorIOError(`${path}: ${(e as Error).message}`);
  }
}

export function writeSafetensorsFile(path: string, tensors: Record<string, SafeTensor>, metadata?: Record<string, string>): void {
  writeFileSync(path, encodeSafetensors(tensors, metadata));
}

/**
 * Picks the entries named in `wanted` out of a file, checking each; names in the file that the
 * model does not declare are an error too (they are almost always a typo or the wrong file).
 */
export function takeTensors(
  path: string,
  file: Record<string, SafeTensor>,
  wanted: ReadonlyArray<{ name: string; type: TensorType }>,
  what: string,
  { requireAll }: { requireAll: boolean },
): Record<string, Float64Array> {
  const out: Record<string, Float64Array> = Object.create(null);
  const known = new Set(wanted.map((w) => w.name));
  for (const name of Object.keys(file)) {
    if (!known.has(name)) {
      throw new TensorIOError(`${path}: '${name}' is not a ${what} of this model (${what}s: ${[...known].join(", ") || "none"})`);
    }
  }
  for (const { name, type } of wanted) {
    const t = Object.hasOwn(file, name) ? file[name] : undefined;
    if (!t) {
      if (requireAll) throw new TensorIOError(`${path}: missing ${what} '${name}' (${formatType(type)})`);
      continue;
    }
    try {
      out[name] = fromSafeTensor(name, type, t, what);
    } catch (e) {
      throw new TensorIOError(`${path}: ${(e as Error).message}`);
    }
  }
  return out;
}
