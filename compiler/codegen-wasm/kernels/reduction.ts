// The kernels of the reductions / normalization / losses group of docs/IR.md, plus the indexing
// pair gather and scatterAdd, as one table for kernels/index.ts.

import { signedTable } from "../../ir/dtypes.ts";
import type { KernelTable } from "../kernel.ts";
import { GATHER_KERNELS } from "./gather.ts";
import { LOSS_KERNELS } from "./loss.ts";
import { NORM_KERNELS } from "./norm.ts";
import { REDUCTION_AXES_KERNELS } from "./reduction-axes.ts";
import { FUSED_REDUCE_KERNELS } from "./reduction-fused.ts";
import { SOFTMAX_KERNELS } from "./reduction-softmax.ts";

export const REDUCTION_KERNELS: KernelTable = signedTable("wasm reduction kernels", {
  axes: REDUCTION_AXES_KERNELS,
  fusedReduce: FUSED_REDUCE_KERNELS,
  softmax: SOFTMAX_KERNELS,
  normalization: NORM_KERNELS,
  loss: LOSS_KERNELS,
  gather: GATHER_KERNELS,
});
