// Conversion between the interpreter's tensors (float64 numbers tagged with an IR dtype) and
// safetensors entries, with the checks users need when they hand us files: a wrong dtype or shape
// is an error naming the tensor and what was expected.

import { readFileSync, writeFileSync } from "node:fs";
import type { DType, TensorType } from "../ir/types.ts";
import { formatType, numel, sameShape } from "../ir/types.ts";
import { bf16BitsToNumber, f16BitsToNumber, numberToBF16Bits, numberToF16Bits } from "../../runtime/half.ts";
import { decodeSafetensors, encodeSafetensors, type SafeDType, type SafeTensor } from "../../runtime/safetensors.ts";

export class TensorIOError extends Error {
  override name = "TensorIOError";
}

const SAFE_OF: Record<DType, SafeDType> = {
  f32: "F32", f16: "F16", bf16: "BF16", i32: "I32", i8: "I8", u8: "U8", bool: "BOOL",
};

export function toSafeTensor(type: TensorType, data: ArrayLike<number>): SafeTensor {
  const n = data.length;
  const shape = [...type.shape];
  switch (type.dtype) {
    case "f32": return { dtype: "F32", shape, data: Float32Array.from(data) };
    case "f16": return { dtype: "F16", shape, data: Uint16Array.from({ length: n }, (_, i) => numberToF16Bits(data[i])) };
    case "bf16": return { dtype: "BF16", shape, data: Uint16Array.from({ length: n }, (_, i) => numberToBF16Bits(data[i])) };
    case "i32": return { dtype: "I32", shape, data: Int32Array.from(data) };
    case "i8": return { dtype: "I8", shape, data: Int8Array.from(data) };
    case "u8": return { dtype: "U8", shape, data: Uint8Array.from(data) };
    case "bool": return { dtype: "BOOL", shape, data: Uint8Array.from(data, (x) => (x ? 1 : 0)) };
  }
}

/** The values of a safetensors entry as float64, after checking it matches `expected`. */
export function fromSafeTensor(name: string, expected: TensorType, t: SafeTensor, what = "tensor"): Float64Array {
  if (t.dtype !== SAFE_OF[expected.dtype] || !sameShape(t.shape, expected.shape)) {
    throw new TensorIOError(
      `${what} '${name}' must be ${formatType(expected)} (safetensors ${SAFE_OF[expected.dtype]}), got ${t.dtype}[${t.shape.join(",")}]`,
    );
  }
  const out = new Float64Array(numel(expected.shape));
  if (t.dtype === "F16") for (let i = 0; i < out.length; i++) out[i] = f16BitsToNumber((t.data as Uint16Array)[i]);
  else if (t.dtype === "BF16") for (let i = 0; i < out.length; i++) out[i] = bf16BitsToNumber((t.data as Uint16Array)[i]);
  else for (let i = 0; i < out.length; i++) out[i] = Number((t.data as ArrayLike<number | bigint>)[i]);
  return out;
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
  const out: Record<string, Float64Array> = {};
  const known = new Set(wanted.map((w) => w.name));
  for (const name of Object.keys(file)) {
    if (!known.has(name)) {
      throw new TensorIOError(`${path}: '${name}' is not a ${what} of this model (${what}s: ${[...known].join(", ") || "none"})`);
    }
  }
  for (const { name, type } of wanted) {
    const t = file[name];
    if (!t) {
      if (requireAll) throw new TensorIOError(`${path}: missing ${what} '${name}' (${formatType(type)})`);
      continue;
    }
    out[name] = fromSafeTensor(name, type, t, what);
  }
  return out;
}
