// The contract between the WGSL emitter (emit.ts) and the kernels. A kernel turns one node into
// one or more compute passes: each a complete WGSL shader (the arena prelude of wgsl.ts plus its
// own code, every operand and result offset baked in as a constant) and the number of workgroups
// to dispatch. Kernels are registered by op name AND the dtype signatures they implement (one
// table per group file under kernels/, e.g. `{ op: "matmul", dtypes: "f32", kernel }`), gathered
// in kernels/index.ts, whose `kernelFor(node, operandTypes)` is the one lookup: a missing (op,
// dtypes) combination is an UnsupportedKernelError naming both. No switch over ops anywhere.

import type { SignedRegistration, SignedTable } from "../ir/dtypes.ts";
import type { Node } from "../ir/graph.ts";
import type { TensorType } from "../ir/types.ts";

/** A tensor in the arena: its byte offset and type (row-major, dense). */
export interface BufferRef {
  readonly offset: number;
  readonly type: TensorType;
}

/** What the device offers the kernels (they size workgroups and tiles from it). */
export interface WgslTarget {
  readonly maxWorkgroupSize: number;
  readonly workgroupStorageBytes: number;
  readonly maxWorkgroupsPerDimension: number;
  /** Whether the `subgroups` feature is enabled on the device. */
  readonly subgroups: boolean;
  /**
   * Whether GEMMs stage tiles in workgroup memory (true on GPUs). SwiftShader emulates workgroup
   * memory and barriers with coroutines, which makes such a shader take 0.3-0.5 s to compile and
   * gains nothing on a CPU, so there the GEMM reads its operands straight from the arena.
   */
  readonly workgroupTiles: boolean;
  /**
   * Whether WGSL's `packed_4x8_integer_dot_product` language feature (dot4I8Packed,
   * dot4U8Packed) is available: matmulInteger then does 4 k steps per dot (kernels/gemm-int8.ts).
   */
  readonly packedIntegerDot: boolean;
}

/** WebGPU's default limits: what every adapter offers. */
export const DEFAULT_TARGET: WgslTarget = {
  maxWorkgroupSize: 256,
  workgroupStorageBytes: 16384,
  maxWorkgroupsPerDimension: 65535,
  subgroups: false,
  workgroupTiles: true,
  packedIntegerDot: false,
};

export interface WgslKernelArgs {
  readonly node: Node;
  readonly inputs: readonly BufferRef[];
  readonly output: BufferRef;
  readonly target: WgslTarget;
  /** Byte offset of the node's scratch in the arena, when its kernel declares `workspaceBytes`. */
  readonly workspace?: number;
}

/** One dispatch: a whole shader (entry point `main`) and its workgroup counts. */
export interface WgslPass {
  readonly label: string;
  readonly code: string;
  readonly workgroups: readonly [number, number, number];
}

/**
 * Emits the passes of one node, run in order (most kernels need one). A kernel that needs arena
 * scratch (a 16-bit result staged in f32, kernels/stage.ts) says how much through `workspaceBytes`;
 * the planner reserves it for the node's lifetime and passes its offset as `workspace`.
 */
export interface WgslKernel {
  (a: WgslKernelArgs): WgslPass[];
  workspaceBytes?: (node: Node, inputs: readonly TensorType[], output: TensorType) => number;
}

/** Kernels by op name, each entry with the dtype signatures it implements (ir/dtypes.ts). */
export type WgslKernelTable = SignedTable<WgslKernel>;

/** One group file's registration of a kernel: `{ op: "add", dtypes: ["f32", "i32"], kernel }`. */
export type WgslKernelRegistration = SignedRegistration<WgslKernel>;

export class UnsupportedKernelError extends Error {
  override name = "UnsupportedKernelError";
}

/** The error for a node a kernel cannot run (an attribute or size it lacks; dtypes are table misses). */
export function unsupported(a: WgslKernelArgs, why: string): UnsupportedKernelError {
  return new UnsupportedKernelError(`webgpu: ${a.node.op} %${a.node.id}: ${why}`);
}
