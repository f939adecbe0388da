// Every WGSL kernel, by op name: the group tables gathered into one map (the op table's
// counterpart for this backend). Adding a kernel touches its group file only; two groups claiming
// one op is an error at load time.

import type { WgslKernel, WgslKernelTable } from "../kernel.ts";
import { CONV_KERNELS } from "./conv.ts";
import { DROPOUT_KERNELS } from "./dropout.ts";
import { ELEMENTWISE_KERNELS } from "./elementwise.ts";
import { LAYOUT_KERNELS } from "./layout.ts";
import { MATMUL_KERNELS } from "./matmul.ts";
import { NORM_KERNELS } from "./norm.ts";
import { POOL_KERNELS } from "./pool.ts";
import { REDUCTION_KERNELS } from "./reduction.ts";

function mergeTables(tables: Readonly<Record<string, WgslKernelTable>>): WgslKernelTable {
  const merged = new Map<string, WgslKernel>();
  const owner = new Map<string, string>();
  for (const [group, table] of Object.entries(tables)) {
    for (const [op, kernel] of table) {
      if (merged.has(op)) throw new Error(`wgsl kernel '${op}' is defined by both ${owner.get(op)} and ${group}`);
      merged.set(op, kernel);
      owner.set(op, group);
    }
  }
  return merged;
}

export const WGSL_KERNELS: WgslKernelTable = mergeTables({
  elementwise: ELEMENTWISE_KERNELS,
  dropout: DROPOUT_KERNELS,
  layout: LAYOUT_KERNELS,
  reduction: REDUCTION_KERNELS,
  normalization: NORM_KERNELS,
  matmul: MATMUL_KERNELS,
  conv: CONV_KERNELS,
  pool: POOL_KERNELS,
});
