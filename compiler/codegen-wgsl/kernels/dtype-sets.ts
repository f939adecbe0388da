// The dtypes the WGSL kernels implement, by role, for their registrations (`{ op, dtypes,
// kernel }`, ir/dtypes.ts): every stored dtype except f16/bf16, whose loads and stores exist
// (wgsl.ts: ld_f16/ld_bf16 and the packed stores of kernels/map.ts) but which have no kernels yet.
// (The WASM backend keeps its own copy: the two backends import nothing from each other.)

import type { DType } from "../../ir/types.ts";

/** Float dtypes with kernels (computing in f32). */
export const FLOATS: readonly DType[] = ["f32"];
/** Integer dtypes with kernels (computing in i32, truncated to their width on store). */
export const INTS: readonly DType[] = ["i32", "i8", "u8"];
/** Every dtype arithmetic kernels take: FLOATS and INTS. */
export const NUMERIC: readonly DType[] = [...FLOATS, ...INTS];
/** Every dtype data-movement kernels (layout, where, cast, const, gather) take: NUMERIC and bool. */
export const STORED: readonly DType[] = [...NUMERIC, "bool"];
