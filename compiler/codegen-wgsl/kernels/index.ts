// Every WGSL kernel, by op name and dtype signature: the group tables gathered into one table (the
// op table's counterpart for this backend), and `kernelFor`, the lookup the emitter uses. Adding a
// kernel touches its group file only; two groups registering one (op, signature) is an error at
// load time.

import { findSigned, missingKernelMessage, signedTable } from "../../ir/dtypes.ts";
import type { Node } from "../../ir/graph.ts";
import type { TensorType } from "../../ir/types.ts";
import { UnsupportedKernelError, type WgslKernel, type WgslKernelTable } from "../kernel.ts";
import { CONV_KERNELS } from "./conv.ts";
import { DROPOUT_KERNELS } from "./dropout.ts";
import { ELEMENTWISE_KERNELS } from "./elementwise.ts";
import { LAYOUT_KERNELS } from "./layout.ts";
import { MATMUL_KERNELS } from "./matmul.ts";
import { NORM_KERNELS } from "./norm.ts";
import { POOL_KERNELS } from "./pool.ts";
import { REDUCTION_KERNELS } from "./reduction.ts";

export const WGSL_KERNELS: WgslKernelTable = signedTable("webgpu kernels", {
  elementwise: ELEMENTWISE_KERNELS,
  dropout: DROPOUT_KERNELS,
  layout: LAYOUT_KERNELS,
  reduction: REDUCTION_KERNELS,
  normalization: NORM_KERNELS,
  matmul: MATMUL_KERNELS,
  conv: CONV_KERNELS,
  pool: POOL_KERNELS,
});

/** The kernel of `node` for these operand types (and the node's result type), or undefined. */
export function findKernel(node: Node, operandTypes: readonly TensorType[], kernels: WgslKernelTable = WGSL_KERNELS): WgslKernel | undefined {
  return findSigned(kernels, node.op, operandTypes.map((t) => t.dtype), node.type.dtype);
}

/**
 * The kernel of `node` for these operand types, or an UnsupportedKernelError naming the node, the
 * op and the dtypes ("webgpu has no kernel for matmul(f16, f16) -> f16 (node %3 ...)") and what
 * the op does have.
 */
export function kernelFor(node: Node, operandTypes: readonly TensorType[], kernels: WgslKernelTable = WGSL_KERNELS): WgslKernel {
  const kernel = findKernel(node, operandTypes, kernels);
  if (kernel) return kernel;
  throw new UnsupportedKernelError(missingKernel(node, operandTypes, kernels)!);
}

/** Why `node` has no kernel for these operand types (kernelFor's message), or undefined when it has one. */
export function missingKernel(node: Node, operandTypes: readonly TensorType[], kernels: WgslKernelTable = WGSL_KERNELS): string | undefined {
  if (findKernel(node, operandTypes, kernels)) return undefined;
  return missingKernelMessage("webgpu", kernels, node, operandTypes.map((t) => t.dtype), node.type.dtype);
}

/** The workspace bytes of `node`'s kernel (0: none, or no kernel: the emitter names those). */
export function wgslWorkspaceBytes(node: Node, operandTypes: readonly TensorType[], kernels: WgslKernelTable = WGSL_KERNELS): number {
  const kernel = findKernel(node, operandTypes, kernels);
  return kernel?.workspaceBytes ? kernel.workspaceBytes(node, operandTypes, node.type) : 0;
}
