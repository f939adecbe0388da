// Conversions between the 16-bit float storage dtypes and the f32 lanes kernels compute in, at
// width 1 (i32/f32) and width 4 (i32x4/f32x4) through the same `Lanes` code, so a SIMD step and
// its scalar tail agree bit for bit. Integer lanes hold the 16-bit pattern in their low half.
//
//   f16 -> f32   exact: normals rebias the exponent, inf/NaN keep their payload, subnormals (and
//                zero) are their 10-bit integer times 2^-24, an exact f32 product
//   bf16 -> f32  exact: the pattern is the high half of the f32
//   f32 -> f16   round to nearest, ties to even; |x| >= 65520 -> inf; below 2^-14 the result is
//                round-even(|x| * 2^24) subnormal steps (exact scaling, IEEE nearest); NaN ->
//                0x7e00 (runtime/half.ts's numberToF16Bits)
//   f32 -> bf16  round to nearest, ties to even on the bits (overflow carries into inf); NaN ->
//                its high half with the quiet bit set (numberToBF16Bits)
//
// Each may append `let` statements to `L.body` (see lanes.ts): callers emit L.body first.

import type { Expr } from "../module.ts";
import type { Lanes } from "./lanes.ts";

/** The f32 value of the f16 patterns in `bits` (integer lanes, low 16 bits). */
export function widenF16(L: Lanes, bits: Expr): Expr {
  const h = L.letI(bits);
  const magnitude = L.letI(L.and(h(), L.ic(0x7fff)));
  const shifted = L.letI(L.shl(magnitude(), 13));
  const normal = L.iadd(shifted(), L.ic(0x38000000)); // exponent + (127 - 15)
  const special = L.iadd(shifted(), L.ic(0x70000000)); // exponent 31 -> 255: inf, NaN with payload
  const small = L.bits(L.mul(L.toFloat(magnitude()), L.c(2 ** -24))); // subnormals and zero
  const value = L.select(L.igt(magnitude(), L.ic(0x7bff)), special, L.select(L.ilt(magnitude(), L.ic(0x400)), small, normal));
  return L.fromBits(L.or(value, L.shl(L.and(h(), L.ic(0x8000)), 16)));
}

/** The f16 patterns (integer lanes, 0..0xffff) of the f32 values `x`, rounded to nearest even. */
export function narrowF16(L: Lanes, x: Expr): Expr {
  const bits = L.letI(L.bits(x));
  const abs = L.letI(L.and(bits(), L.ic(0x7fffffff)));
  const sign = L.and(L.shrU(bits(), 16), L.ic(0x8000));
  // Normal halves: rebias, then add 0xfff plus the kept mantissa's lowest bit before dropping 13 bits.
  const odd = L.and(L.shrU(abs(), 13), L.ic(1));
  const normal = L.shrU(L.iadd(L.isub(abs(), L.ic(0x38000000)), L.iadd(L.ic(0xfff), odd)), 13);
  // Below 2^-14: whole multiples of 2^-24, rounded to nearest even (1024 is the least normal's pattern).
  const small = L.truncSat(L.nearest(L.mul(L.fromBits(abs()), L.c(2 ** 24))));
  const finite = L.select(L.ilt(abs(), L.ic(0x38800000)), small, normal);
  // 2^16 and beyond (and inf) become inf; 65520 <= |x| < 2^16 rounds up into inf on its own.
  const magnitude = L.select(L.ilt(abs(), L.ic(0x47800000)), finite, L.ic(0x7c00));
  return L.select(L.igt(abs(), L.ic(0x7f800000)), L.ic(0x7e00), L.or(magnitude, sign));
}

/** The f32 value of the bf16 patterns in `bits`. */
export function widenBF16(L: Lanes, bits: Expr): Expr {
  return L.fromBits(L.shl(bits, 16));
}

/** The bf16 patterns of the f32 values `x`, rounded to nearest even; NaN stays a quiet NaN. */
export function narrowBF16(L: Lanes, x: Expr): Expr {
  const bits = L.letI(L.bits(x));
  const rounded = L.shrU(L.iadd(bits(), L.iadd(L.ic(0x7fff), L.and(L.shrU(bits(), 16), L.ic(1)))), 16);
  const quiet = L.or(L.shrU(bits(), 16), L.ic(0x40));
  return L.select(L.igt(L.and(bits(), L.ic(0x7fffffff)), L.ic(0x7f800000)), quiet, rounded);
}
