// Graphs of one node for the reduction / normalization / loss / gather kernel tests, and
// deterministic input data for them.

import { GraphBuilder } from "../../compiler/ir/builder.ts";
import type { Graph } from "../../compiler/ir/graph.ts";
import type { AttrValue } from "../../compiler/ir/op-def.ts";
import type { DType, Shape, TensorType } from "../../compiler/ir/types.ts";
import { sequence } from "./kernel-harness.ts";

/** `y = op(operands...){attrs}` with every operand a graph input named as in `operands`. */
export function opGraph(op: string, operands: Readonly<Record<string, TensorType>>, attrs: Record<string, AttrValue> = {}): Graph {
  const b = new GraphBuilder(op);
  for (const [name, type] of Object.entries(operands)) b.addInput({ name, type });
  b.output("y", b.op(op, Object.keys(operands), attrs));
  return b.build();
}

export function f32(...shape: number[]): TensorType {
  return { dtype: "f32", shape };
}

export function typed(dtype: DType, ...shape: number[]): TensorType {
  return { dtype, shape };
}

export function size(shape: Shape): number {
  return shape.reduce((n, d) => n * d, 1);
}

/** Values uniform in [lo, hi), deterministic per seed. */
export function uniform(shape: Shape, lo: number, hi: number, seed = 1): number[] {
  return sequence(size(shape), lo, hi, seed);
}

/** Integers uniform in [lo, hi). */
export function integers(shape: Shape, lo: number, hi: number, seed = 1): number[] {
  return sequence(size(shape), lo, hi, seed).map(Math.floor);
}
