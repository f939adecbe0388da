// Conversion between the interpreter's tensors (float64 numbers tagged with an IR dtype) and
// safetensors entries, with the checks users need when they hand us files: a wrong dtype or shape
// is an error naming the tensor and what was expected. Records keyed by tensor names have no
// prototype and are read by own keys only: `__proto__` or `constructor` is a name like any other.

import { readFileSync, writeFileSync } from "node:fs";
import { DTYPE_INFO, fromTypedArray, toTypedArray } from "../ir/dtypes.ts";
import type { TensorType } from "../ir/types.ts";
import { formatType, sameShape } from "../ir/types.ts";
import { decodeSafetensors, encodeSafetensors, type SafeTensor } from "../../runtime/safetensors.ts";
import { decompressTensors } from "./deep-compression.ts";

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

/**
 * A weights file handed to a command (`--weights`): read, holding at least one tensor, and with
 * no NaN/±Inf in a float tensor unless `allowNonFinite` (the bundles' loadWeights() refuses them
 * the same way): a poisoned file would silently turn every later result NaN.
 */
export function readWeightsFile(path: string, { allowNonFinite = false }: { allowNonFinite?: boolean } = {}): Record<string, SafeTensor> {
  let tensors = readSafetensorsFile(path);
  // A weights file written by `mlc build --compress` reads as the dense weights it holds.
  try {
    tensors = decompressTensors(tensors);
  } catch (e) {
    throw new TensorIOError(`${path}: ${(e as Error).message}`);
  }
  if (Object.keys(tensors).length === 0) throw new TensorIOError(`${path}: the file has no tensors (a weights file holds the params it sets)`);
  if (!allowNonFinite) {
    for (const [name, t] of Object.entries(tensors)) {
      const bad = firstNonFinite(t);
      if (bad) {
        throw new TensorIOError(
          `${path}: '${name}' holds ${bad.value} at element ${bad.at} (index [${unravel(bad.at, t.shape).join(", ")}] of ${t.dtype}[${t.shape.join(",")}]); ` +
            "pass --allow-nonfinite-weights to load it anyway",
        );
      }
    }
  }
  return tensors;
}

/** The first NaN/±Inf of a float tensor (16-bit ones decoded from their bit patterns), if any. */
function firstNonFinite(t: SafeTensor): { at: number; value: string } | undefined {
  const exponent = t.dtype === "F16" ? 0x7c00 : t.dtype === "BF16" ? 0x7f80 : 0;
  if (t.dtype === "F32" || t.dtype === "F64") {
    const data = t.data as Float32Array | Float64Array;
    for (let k = 0; k < data.length; k++) if (!Number.isFinite(data[k])) return { at: k, value: String(data[k]) };
  } else if (exponent) {
    const bits = t.data as Uint16Array;
    for (let k = 0; k < bits.length; k++) {
      if ((bits[k] & exponent) !== exponent) continue;
      return { at: k, value: bits[k] & (0x7fff & ~exponent) ? "NaN" : bits[k] & 0x8000 ? "-Infinity" : "Infinity" };
    }
  }
  return undefined;
}

/** The multi-dimensional index of flat element `k` of a row-major tensor of `shape`. */
function unravel(k: number, shape: readonly number[]): number[] {
  const index = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    index[d] = k % shape[d];
    k = Math.floor(k / shape[d]);
  }
  return index;
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
