// The dtypes the WGSL kernels implement, by role, for their registrations (`{ op, dtypes,
// kernel }`, ir/dtypes.ts). f16 and bf16 are stored two to a word and computed in f32 (wgsl.ts:
// ld_f16/ld_bf16 widen exactly, f16_bits/bf16_bits round to nearest even): every float kernel
// takes them, a 16-bit result written a word per invocation (map.ts) or staged (stage.ts).
// (The WASM backend keeps its own copy: the two backends import nothing from each other.)

import type { DType } from "../../ir/types.ts";

/** The 16-bit float storage dtypes. */
export const HALVES: readonly DType[] = ["f16", "bf16"];
/** Float dtypes with kernels (computing in f32). */
export const FLOATS: readonly DType[] = ["f32", ...HALVES];
/** Integer dtypes with kernels (computing in i32, truncated to their width on store). */
export const INTS: readonly DType[] = ["i32", "i8", "u8"];
/** Every dtype arithmetic kernels take: FLOATS and INTS. */
export const NUMERIC: readonly DType[] = [...FLOATS, ...INTS];
/** Every dtype data-movement kernels (layout, where, cast, const, gather) take: NUMERIC and bool. */
export const STORED: readonly DType[] = [...NUMERIC, "bool"];

/** Whether `dtype` is stored in 16 bits (f16, bf16). */
export function isHalf(dtype: DType): boolean {
  return HALVES.includes(dtype);
}
