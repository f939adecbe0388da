// The dtypes the kernels of this backend implement, by role, for their registrations (`{ op,
// dtypes, kernel }`, ir/dtypes.ts). f16 and bf16 are stored in 16 bits and computed in f32 lanes
// (access.ts widens them on load and rounds to nearest even on store), so every float kernel
// takes them: a float kernel accumulates in f32 and rounds its result once.

import type { DType } from "../../ir/types.ts";

/** The 16-bit float storage dtypes. */
export const HALVES: readonly DType[] = ["f16", "bf16"];
/** Float dtypes with kernels (computing in f32 lanes). */
export const FLOATS: readonly DType[] = ["f32", ...HALVES];
/** Integer dtypes with kernels (computing in i32 lanes, truncated to their width on store). */
export const INTS: readonly DType[] = ["i32", "i8", "u8"];
/** Every dtype that arithmetic kernels take: FLOATS and INTS. */
export const NUMERIC: readonly DType[] = [...FLOATS, ...INTS];
/** Every dtype that data-movement kernels (layout, where, cast, const, gather) take: NUMERIC and bool. */
export const STORED: readonly DType[] = [...NUMERIC, "bool"];

/** Whether `dtype` is stored in 16 bits (f16, bf16). */
export function isHalf(dtype: DType): boolean {
  return HALVES.includes(dtype);
}
