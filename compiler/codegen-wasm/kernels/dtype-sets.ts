// The dtypes the kernels of this backend (and, for now, the WGSL backend's) implement, by role,
// for their registrations (`{ op, dtypes, kernel }`, ir/dtypes.ts): every stored dtype except
// f16/bf16, whose storage helpers exist (access.ts, wgsl.ts) but which have no kernels yet.

import type { DType } from "../../ir/types.ts";

/** Float dtypes with kernels (computing in f32 lanes). */
export const FLOATS: readonly DType[] = ["f32"];
/** Integer dtypes with kernels (computing in i32 lanes, truncated to their width on store). */
export const INTS: readonly DType[] = ["i32", "i8", "u8"];
/** Every dtype that arithmetic kernels take: FLOATS and INTS. */
export const NUMERIC: readonly DType[] = [...FLOATS, ...INTS];
/** Every dtype that data-movement kernels (layout, where, cast, const, gather) take: NUMERIC and bool. */
export const STORED: readonly DType[] = [...NUMERIC, "bool"];
