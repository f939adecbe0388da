// The contract between the WASM module assembler and the kernels. A kernel emits the body of one
// function that computes one node (or a fused group) from buffers at constant arena offsets.
// Kernels are registered in tables keyed by op name (one table per group file under kernels/),
// gathered in kernels/index.ts — no switch over ops anywhere.

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
}

export type KernelEmitter = (a: KernelArgs) => Expr[];

export type KernelTable = ReadonlyMap<string, KernelEmitter>;

export class UnsupportedKernelError extends Error {
  override name = "UnsupportedKernelError";
}
