// Every WASM kernel, by op name and dtype signature: the group tables gathered into one table (the
// op table's counterpart for this backend), and `kernelFor`, the one lookup the emitter, the
// workspace sizing and the naive plan use. Adding a kernel touches its group file only; two
// groups registering one (op, signature) is an error at load time.

import { findSigned, missingKernelMessage, signedTable } from "../../ir/dtypes.ts";
import type { Node } from "../../ir/graph.ts";
import type { TensorType } from "../../ir/types.ts";
import { UnsupportedKernelError, type KernelEmitter, type KernelTable } from "../kernel.ts";
import { CONTRACTION_KERNELS } from "./contraction.ts";
import { DROPOUT_KERNELS } from "./dropout.ts";
import { ELEMENTWISE_KERNELS } from "./elementwise.ts";
import { FUSED_KERNELS } from "./fused.ts";
import { LAYOUT_KERNELS } from "./layout.ts";
import { REDUCTION_KERNELS } from "./reduction.ts";
import { SOURCE_KERNELS } from "./source.ts";

export const WASM_KERNELS: KernelTable = signedTable("wasm-simd kernels", {
  elementwise: ELEMENTWISE_KERNELS,
  layout: LAYOUT_KERNELS,
  source: SOURCE_KERNELS,
  dropout: DROPOUT_KERNELS,
  reduction: REDUCTION_KERNELS,
  contraction: CONTRACTION_KERNELS,
  fused: FUSED_KERNELS,
});

/** The kernel of `node` for these operand types (and the node's result type), or undefined. */
export function findKernel(node: Node, operandTypes: readonly TensorType[], kernels: KernelTable = WASM_KERNELS): KernelEmitter | undefined {
  return findSigned(kernels, node.op, operandTypes.map((t) => t.dtype), node.type.dtype);
}

/**
 * The kernel of `node` for these operand types, or an UnsupportedKernelError naming the node, the
 * op and the dtypes ("wasm-simd has no kernel for matmul(f16, f16) -> f16 (node %3 ...)") and
 * what the op does have.
 */
export function kernelFor(node: Node, operandTypes: readonly TensorType[], kernels: KernelTable = WASM_KERNELS): KernelEmitter {
  const kernel = findKernel(node, operandTypes, kernels);
  if (kernel) return kernel;
  throw new UnsupportedKernelError(missingKernel(node, operandTypes, kernels)!);
}

/** Why `node` has no kernel for these operand types (kernelFor's message), or undefined when it has one. */
export function missingKernel(node: Node, operandTypes: readonly TensorType[], kernels: KernelTable = WASM_KERNELS): string | undefined {
  if (findKernel(node, operandTypes, kernels)) return undefined;
  return missingKernelMessage("wasm-simd", kernels, node, operandTypes.map((t) => t.dtype), node.type.dtype);
}
