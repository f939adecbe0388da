// Loads and stores of the arena's element types as Lanes values, storage dtype in, compute dtype
// out (ir/dtypes.ts, DTYPE_INFO[d].wasm): f32, f16 and bf16 elements become f32/f32x4 floats
// (the 16-bit ones widened exactly, float16.ts); i32, i8, u8 and bool elements become i32/i32x4
// integers (sign- or zero-extended). A store takes the compute value and narrows it to storage:
// f16/bf16 round to nearest even, integers keep their low bits (the interpreter's wrap-around).
//
// The 16-bit conversions may append `let` statements to `L.body`; as everywhere with Lanes,
// callers emit L.body before the statements built from these expressions.

import { DTYPE_INFO } from "../../ir/dtypes.ts";
import type { DType } from "../../ir/types.ts";
import type { Expr } from "../module.ts";
import { narrowBF16, narrowF16, widenBF16, widenF16 } from "./float16.ts";
import type { Lanes } from "./lanes.ts";

/** Whether a dtype computes in float lanes (f32, and f16/bf16 widened to f32). */
export function isFloatLane(dtype: DType): boolean {
  return DTYPE_INFO[dtype].compute === "f32";
}

/** The lane kind (`Lanes.let`'s) a dtype computes in. */
export function laneKind(dtype: DType): "float" | "int" {
  return isFloatLane(dtype) ? "float" : "int";
}

/** The compute value of 16-bit patterns (integer lanes) of `dtype`. */
function widen(L: Lanes, dtype: DType, bits: Expr): Expr {
  return DTYPE_INFO[dtype].wasm.widen === "f16" ? widenF16(L, bits) : widenBF16(L, bits);
}

/** The 16-bit patterns (integer lanes) of compute values of `dtype`. */
function narrow(L: Lanes, dtype: DType, value: Expr): Expr {
  return DTYPE_INFO[dtype].wasm.widen === "f16" ? narrowF16(L, value) : narrowBF16(L, value);
}

/** One element at `addr` as a scalar of its compute type (f32 or i32), whatever `L`'s width. */
export function loadScalar(L: Lanes, dtype: DType, addr: Expr): Expr {
  const f = L.f;
  const { bits, signed } = DTYPE_INFO[dtype].wasm;
  if (bits === 32) return isFloatLane(dtype) ? f.loadF32(addr) : f.loadI32(addr);
  if (bits === 8) return signed ? f.loadI8(addr) : f.loadU8(addr);
  return widen(L.at(1), dtype, f.i32.load16_u(0, 2, addr));
}

/** A compute-type scalar repeated across the width. */
export function splat(L: Lanes, dtype: DType, scalar: Expr): Expr {
  if (!L.vector) return scalar;
  return isFloatLane(dtype) ? L.f.f32x4.splat(scalar) : L.f.i32x4.splat(scalar);
}

/** `L.width` consecutive elements starting at `addr`, in their compute type. */
export function loadLanes(L: Lanes, dtype: DType, addr: Expr): Expr {
  const f = L.f;
  if (!L.vector) return loadScalar(L, dtype, addr);
  const { bits, signed } = DTYPE_INFO[dtype].wasm;
  if (bits === 32) return f.loadV128(addr);
  // Four 16-bit patterns zero-extended into i32 lanes, then widened.
  if (bits === 16) return widen(L, dtype, f.v128.load16x4_u(0, 2, addr));
  // Four bytes into the low lanes, then widened 8 -> 16 -> 32 bits.
  const four = f.v128.load32_zero(0, 1, addr);
  return signed
    ? f.i32x4.extend_low_i16x8_s(f.i16x8.extend_low_i8x16_s(four))
    : f.i32x4.extend_low_i16x8_u(f.i16x8.extend_low_i8x16_u(four));
}

/** Stores `L.width` compute values at `addr`, narrowed to the storage dtype. */
export function storeLanes(L: Lanes, dtype: DType, addr: Expr, value: Expr): Expr {
  const f = L.f;
  const { bits } = DTYPE_INFO[dtype].wasm;
  const zero = () => f.v128.const(new Array(16).fill(0));
  if (bits === 32) {
    if (L.vector) return f.storeV128(addr, value);
    return isFloatLane(dtype) ? f.storeF32(addr, value) : f.storeI32(addr, value);
  }
  if (bits === 16) {
    const patterns = narrow(L, dtype, value);
    if (!L.vector) return f.i32.store16(0, 2, addr, patterns);
    // Every lane is in 0..0xffff, so the saturating narrow is exact; store lanes 0-3.
    return f.v128.store64_lane(0, 2, 0, addr, f.i16x8.narrow_i32x4_u(patterns, zero()));
  }
  if (!L.vector) return f.storeU8(addr, value);
  // Keep each lane's low byte, then narrow 32 -> 16 -> 8 bits (exact: every lane is in 0..255)
  // and store the four bytes of lane 0.
  const bytes = f.v128.and(value, f.i32x4.splat(f.i32.const(0xff)));
  const halves = f.i16x8.narrow_i32x4_u(bytes, zero());
  const packed = f.i8x16.narrow_i16x8_u(halves, zero());
  return f.v128.store32_lane(0, 1, 0, addr, packed);
}
