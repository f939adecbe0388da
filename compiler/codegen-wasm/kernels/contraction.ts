// The contraction group's kernels: matmul, conv2d and its two backward ops, the 2-D pools and
// their backward ops. Each lives in its own file; this table is what kernels/index.ts merges.

import { signedTable } from "../../ir/dtypes.ts";
import type { KernelTable } from "../kernel.ts";
import { CONV_KERNELS } from "./conv.ts";
import { FLOATS } from "../../ir/dtypes.ts";
import { matmulKernel } from "./matmul.ts";
import { POOL_KERNELS } from "./pool.ts";

export const CONTRACTION_KERNELS: KernelTable = signedTable("wasm contraction kernels", {
  matmul: [{ op: "matmul", dtypes: FLOATS, kernel: matmulKernel }],
  conv: CONV_KERNELS,
  pool: POOL_KERNELS,
});
