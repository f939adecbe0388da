// Loads and stores of the arena's element types as Lanes values: f32 elements become f32/f32x4
// floats; i32, i8, u8 and bool elements become i32/i32x4 integers (sign- or zero-extended on
// load, truncated to their width on store, which is the interpreter's wrap-around).

import type { DType } from "../../ir/types.ts";
import type { Expr, FunctionBuilder } from "../module.ts";
import type { Lanes } from "./lanes.ts";

/** Whether a dtype's elements are floats in Lanes terms (only f32 is stored in the arena). */
export function isFloatLane(dtype: DType): boolean {
  return dtype === "f32";
}

/** One element at `addr` as an f32 or i32. */
export function loadScalar(f: FunctionBuilder, dtype: DType, addr: Expr): Expr {
  switch (dtype) {
    case "f32": return f.loadF32(addr);
    case "i32": return f.loadI32(addr);
    case "i8": return f.loadI8(addr);
    case "u8": case "bool": return f.loadU8(addr);
    default: throw new Error(`no wasm load for ${dtype}`);
  }
}

/** An f32/i32 scalar repeated across the width. */
export function splat(L: Lanes, dtype: DType, scalar: Expr): Expr {
  if (!L.vector) return scalar;
  return isFloatLane(dtype) ? L.f.f32x4.splat(scalar) : L.f.i32x4.splat(scalar);
}

/** `L.width` consecutive elements starting at `addr`. */
export function loadLanes(L: Lanes, dtype: DType, addr: Expr): Expr {
  const f = L.f;
  if (!L.vector) return loadScalar(f, dtype, addr);
  switch (dtype) {
    case "f32": case "i32": return f.loadV128(addr);
    // Four bytes into the low lanes, then widened 8 -> 16 -> 32 bits.
    case "i8": return f.i32x4.extend_low_i16x8_s(f.i16x8.extend_low_i8x16_s(f.v128.load32_zero(0, 1, addr)));
    case "u8": case "bool": return f.i32x4.extend_low_i16x8_u(f.i16x8.extend_low_i8x16_u(f.v128.load32_zero(0, 1, addr)));
    default: throw new Error(`no wasm load for ${dtype}`);
  }
}

/** Stores `L.width` elements at `addr`; integers are truncated to the dtype's width. */
export function storeLanes(L: Lanes, dtype: DType, addr: Expr, value: Expr): Expr {
  const f = L.f;
  if (!L.vector) {
    switch (dtype) {
      case "f32": return f.storeF32(addr, value);
      case "i32": return f.storeI32(addr, value);
      case "i8": case "u8": case "bool": return f.storeU8(addr, value);
      default: throw new Error(`no wasm store for ${dtype}`);
    }
  }
  if (dtype === "f32" || dtype === "i32") return f.storeV128(addr, value);
  // Keep each lane's low byte, then narrow 32 -> 16 -> 8 bits (exact: every lane is in 0..255)
  // and store the four bytes of lane 0.
  const bytes = f.v128.and(value, f.i32x4.splat(f.i32.const(0xff)));
  const halves = f.i16x8.narrow_i32x4_u(bytes, f.v128.const(new Array(16).fill(0)));
  const packed = f.i8x16.narrow_i16x8_u(halves, f.v128.const(new Array(16).fill(0)));
  return f.v128.store32_lane(0, 1, 0, addr, packed);
}
