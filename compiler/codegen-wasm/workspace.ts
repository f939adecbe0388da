// How much scratch memory the wasm-simd kernels need, in the form the memory planner takes
// (passes/liveness.ts WorkspaceBytes): callers of planMemory pass `wasmWorkspaceBytes` so that
// every GEMM/conv node gets a workspace in the arena, live only while it runs. The kernel is the
// one kernels/index.ts's lookup picks for the node's op and operand dtypes.

import type { Node } from "../ir/graph.ts";
import type { TensorType } from "../ir/types.ts";
import type { WorkspaceBytes } from "../passes/liveness.ts";
import { kernelWorkspaceBytes, type KernelTable } from "./kernel.ts";
import { findKernel, WASM_KERNELS } from "./kernels/index.ts";

/** Workspace bytes under a given kernel table (0 for (op, dtypes) without a kernel: the emitter names those). */
export function kernelTableWorkspaceBytes(kernels: KernelTable): WorkspaceBytes {
  return (node, operandTypes) => {
    const kernel = findKernel(node, operandTypes, kernels);
    return kernel ? kernelWorkspaceBytes(kernel, node, operandTypes) : 0;
  };
}

/** The workspace bytes the wasm-simd kernel of `node` needs (0: none). */
export const wasmWorkspaceBytes: (node: Node, operandTypes: readonly TensorType[]) => number = kernelTableWorkspaceBytes(WASM_KERNELS);
