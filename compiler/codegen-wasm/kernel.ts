// The contract between the WASM module assembler and the kernels. A kernel emits the body of one
// function that computes one node (or a fused group) from buffers at constant arena offsets.
// Kernels are registered by op name AND the dtype signatures they implement (one table per group
// file under kernels/, e.g. `{ op: "matmul", dtypes: "f32", kernel }`), gathered in
// kernels/index.ts, whose `kernelFor(node, operandTypes)` is the one lookup: a missing (op,
// dtypes) combination is an UnsupportedKernelError naming both. No switch over ops anywhere.

import type { SignedRegistration, SignedTable } from "../ir/dtypes.ts";
import type { Node } from "../ir/graph.ts";
import type { TensorType } from "../ir/types.ts";
import type { Expr, FunctionBuilder, WasmModule } from "./module.ts";

/** A tensor in the arena: its byte offset and type (row-major, dense). */
export interface BufferRef {
  readonly offset: number;
  readonly type: TensorType;
}

export interface KernelArgs {
  /** Builder of the function being emitted. */
  readonly f: FunctionBuilder;
  readonly node: Node;
  readonly inputs: readonly BufferRef[];
  readonly output: BufferRef;
  /**
   * Adds a shared helper function (e.g. exp, Philox) to the module once and returns its name,
   * so kernels can `f.call(name, ...)` it.
   */
  readonly helper: (name: string, define: (w: WasmModule) => void) => string;
  /**
   * Byte offset of this node's scratch area, 16-byte aligned, when its emitter declares
   * `workspaceBytes` (see KernelEmitter). It is live only while the node runs, so the planner
   * may overlap it with any buffer that is not an input or the output of this node.
   */
  readonly workspace?: number;
}

/**
 * Emits the statements of one node's function. An emitter that needs scratch memory (GEMM packs
 * panels of its operands, convolutions build column buffers) says how much through
 * `workspaceBytes`, computed from the node's static types; the planner then reserves that many
 * bytes for the node's lifetime and passes their offset as `KernelArgs.workspace`. Emitters
 * without it need no scratch and are plain functions.
 */
export interface KernelEmitter {
  (a: KernelArgs): Expr[];
  workspaceBytes?: (node: Node, inputs: readonly TensorType[], output: TensorType) => number;
}

/**
 * Workspace bytes already worked out, by node object. The schedule pass, the planner, the
 * verifier's plan check and the emitter all ask for every node, and a node's bytes depend only on
 * the node, its emitter and its operands' types: nodes and types are immutable and shared between
 * a graph's copies, so an answer is reused while those are the same objects.
 */
const knownWorkspaces = new WeakMap<Node, { emit: KernelEmitter; inputs: readonly TensorType[]; bytes: number }>();

/** The workspace an emitter needs for `node` (0 when it declares none). */
export function kernelWorkspaceBytes(emit: KernelEmitter, node: Node, inputs: readonly TensorType[]): number {
  if (!emit.workspaceBytes) return 0;
  const known = knownWorkspaces.get(node);
  if (known && known.emit === emit && known.inputs.length === inputs.length && known.inputs.every((t, i) => t === inputs[i])) return known.bytes;
  const bytes = emit.workspaceBytes(node, inputs, node.type);
  knownWorkspaces.set(node, { emit, inputs: [...inputs], bytes });
  return bytes;
}

/** Defines an emitter that needs a workspace, typed so that both parts are given together. */
export function withWorkspace(
  emit: (a: KernelArgs) => Expr[],
  workspaceBytes: (node: Node, inputs: readonly TensorType[], output: TensorType) => number,
): KernelEmitter {
  return Object.assign((a: KernelArgs) => emit(a), { workspaceBytes });
}

/** Kernels by op name, each entry with the dtype signatures it implements (ir/dtypes.ts). */
export type KernelTable = SignedTable<KernelEmitter>;

/** One group file's registration of a kernel: `{ op: "add", dtypes: ["f32", "i32"], kernel }`. */
export type KernelRegistration = SignedRegistration<KernelEmitter>;

export class UnsupportedKernelError extends Error {
  override name = "UnsupportedKernelError";
}
