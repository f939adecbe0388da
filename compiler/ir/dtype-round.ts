// Rounding of float64 values to what a dtype can hold. The reference interpreter computes every
// kernel in float64 and, in native precision, stores each result through these functions, so a
// graph in f32/f16/bf16/i8 behaves as its storage type says.

import type { DType } from "./types.ts";

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Round-to-nearest-even to bfloat16 (the upper 16 bits of an f32). */
export function roundBF16(x: number): number {
  if (Number.isNaN(x)) return NaN;
  f32[0] = x;
  const bits = u32[0];
  const lsb = (bits >>> 16) & 1;
  u32[0] = ((bits + 0x7fff + lsb) >>> 16) << 16;
  return f32[0];
}

/** Round-to-nearest-even to IEEE binary16 (overflow to ±Infinity, subnormals kept). */
export function roundF16(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const a = Math.abs(x);
  if (a >= 65520) return Math.sign(x) * Infinity; // halfway above the largest half, 65504
  // Spacing of representable halves around a: 2^(e-10), but never finer than the subnormal step 2^-24.
  const e = Math.max(Math.floor(Math.log2(a)), -14);
  let step = Math.pow(2, e - 10);
  if (a / step >= 2048) step *= 2; // log2 rounding error at the top of a binade
  const q = a / step; // exact: step is a power of two
  let r = Math.round(q); // rounds halves up...
  if (r - q === 0.5 && r % 2 === 1) r -= 1; // ...so move exact ties down to the even neighbour
  return Math.sign(x) * r * step;
}

function wrapInt(x: number, bits: number, signed: boolean): number {
  if (!Number.isFinite(x)) return 0;
  const m = Math.pow(2, bits);
  let t = Math.trunc(x) % m;
  if (t < 0) t += m;
  if (signed && t >= m / 2) t -= m;
  return t + 0; // normalise -0 (from truncating values in (-1, 0)) to +0

}

/** The value `x` becomes when stored as `dtype`. Float to integer truncates toward zero and wraps. */
export function roundTo(dtype: DType, x: number): number {
  switch (dtype) {
    case "f32": return Math.fround(x);
    case "f16": return roundF16(x);
    case "bf16": return roundBF16(x);
    case "i32": return wrapInt(x, 32, true);
    case "i8": return wrapInt(x, 8, true);
    case "u8": return wrapInt(x, 8, false);
    case "bool": return x !== 0 && !Number.isNaN(x) ? 1 : 0;
  }
}

export function roundArray(dtype: DType, data: Float64Array): Float64Array {
  for (let i = 0; i < data.length; i++) data[i] = roundTo(dtype, data[i]);
  return data;
}
