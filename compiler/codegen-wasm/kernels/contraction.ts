// The contraction group's kernels: matmul, conv2d and its two backward ops, the 2-D pools and
// their backward ops. Each lives in its own file; this table is what kernels/index.ts merges.

import type { KernelEmitter, KernelTable } from "../kernel.ts";
import { CONV_KERNELS } from "./conv.ts";
import { matmulKernel } from "./matmul.ts";
import { POOL_KERNELS } from "./pool.ts";

export const CONTRACTION_KERNELS: KernelTable = new Map<string, KernelEmitter>([
  ["matmul", matmulKernel],
  ...CONV_KERNELS,
  ...POOL_KERNELS,
]);
