// Every WGSL kernel, by op name and dtype signature: the group tables gathered into one table (the
// op table's counterpart for this backend), and `kernelFor`, the lookup the emitter uses. Adding a
// kernel touches its group file only; two groups registering one (op, signature) is an error at
// load time.

import { kernelLookups, signedTable } from "../../ir/dtypes.ts";
import type { Node } from "../../ir/graph.ts";
import type { TensorType } from "../../ir/types.ts";
import { UnsupportedKernelError, type WgslKernelTable } from "../kernel.ts";
import { CODEBOOK_KERNELS } from "./codebook.ts";
import { CONV_KERNELS } from "./conv.ts";
import { DROPOUT_KERNELS } from "./dropout.ts";
import { ELEMENTWISE_KERNELS } from "./elementwise.ts";
import { LAYOUT_KERNELS } from "./layout.ts";
import { MATMUL_KERNELS } from "./matmul.ts";
import { NORM_KERNELS } from "./norm.ts";
import { POOL_KERNELS } from "./pool.ts";
import { PRUNE_KERNELS } from "./prune.ts";
import { QUANT_KERNELS } from "./quant.ts";
import { REDUCTION_KERNELS } from "./reduction.ts";
import { SPARSE_KERNELS } from "./block-sparse.ts";
import { SPARSE24_KERNELS } from "./sparse24.ts";

export const WGSL_KERNELS: WgslKernelTable = signedTable("webgpu kernels", {
  elementwise: ELEMENTWISE_KERNELS,
  dropout: DROPOUT_KERNELS,
  layout: LAYOUT_KERNELS,
  reduction: REDUCTION_KERNELS,
  normalization: NORM_KERNELS,
  matmul: MATMUL_KERNELS,
  conv: CONV_KERNELS,
  pool: POOL_KERNELS,
  quant: QUANT_KERNELS,
  codebook: CODEBOOK_KERNELS,
  prune: PRUNE_KERNELS,
  sparse: SPARSE_KERNELS,
  sparse24: SPARSE24_KERNELS,
});

/**
 * The lookups by (op, operand dtypes, result dtype): `findKernel` (undefined on a miss),
 * `kernelFor` (an UnsupportedKernelError naming the node, the op and the dtypes, e.g. "webgpu has
 * no kernel for matmul(f16, f16) -> f16 (node %3 ...)", and what the op does have) and
 * `missingKernel` (that message, or undefined when there is a kernel).
 */
export const { findKernel, kernelFor, missingKernel } = kernelLookups("webgpu", WGSL_KERNELS, (message) => new UnsupportedKernelError(message));

/** The scratch bytes `node`'s kernel needs (staged 16-bit results), 0 when it needs none. */
export function wgslWorkspaceBytes(node: Node, operandTypes: readonly TensorType[], kernels: WgslKernelTable = WGSL_KERNELS): number {
  const kernel = findKernel(node, operandTypes, kernels);
  return kernel?.workspaceBytes ? kernel.workspaceBytes(node, operandTypes, node.type) : 0;
}
