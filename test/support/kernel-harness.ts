// Small helpers for op-record tests: build reference-interpreter tensors, run one record's shape
// rule and kernel, and an independent (deliberately naive) broadcasting index for expected values.

import type { Attrs } from "../../compiler/ir/graph.ts";
import { completeAttrs, type AttrValue, type OpDef, type Tensor } from "../../compiler/ir/op-def.ts";
import type { DType, Shape, TensorType } from "../../compiler/ir/types.ts";

export function tensor(dtype: DType, shape: Shape, values: readonly number[]): Tensor {
  return { type: { dtype, shape }, data: Float64Array.from(values) };
}

/** A tensor of `shape` whose element i is `f(i)`. */
export function tensorFrom(dtype: DType, shape: Shape, f: (i: number) => number): Tensor {
  const n = shape.reduce((p, d) => p * d, 1);
  return tensor(dtype, shape, Array.from({ length: n }, (_, i) => f(i)));
}

export interface OpResult {
  readonly type: TensorType;
  readonly values: number[];
}

/** Completes the attributes, runs the shape rule, then the kernel (unrounded float64 values). */
export function runOp(op: OpDef, inputs: readonly Tensor[], attrs: Record<string, AttrValue> = {}): OpResult {
  const full: Attrs = completeAttrs(op, attrs);
  const type = op.infer(inputs.map((t) => t.type), full);
  const copies = inputs.map((t) => t.data.slice());
  const values = [...op.interpret(inputs, full, type)];
  // Kernels must not mutate their operands.
  inputs.forEach((t, i) => {
    if (!t.data.every((v, j) => Object.is(v, copies[i][j]))) throw new Error(`${op.name} mutated operand ${i}`);
  });
  return { type, values };
}

/** Just the shape rule, for error tests. */
export function inferOp(op: OpDef, types: readonly TensorType[], attrs: Record<string, AttrValue> = {}): TensorType {
  return op.infer(types, completeAttrs(op, attrs));
}

export function opNamed(ops: readonly OpDef[], name: string): OpDef {
  const op = ops.find((o) => o.name === name);
  if (!op) throw new Error(`no record '${name}'`);
  return op;
}

/**
 * The operand flat index that broadcasting reads for output flat index `i`, by unravelling `i`
 * with divisions (independent of the interpreter's odometer walk).
 */
export function naiveBroadcastIndex(i: number, outShape: Shape, inShape: Shape): number {
  const coords: number[] = [];
  let rest = i;
  for (let d = outShape.length - 1; d >= 0; d--) {
    coords.unshift(rest % outShape[d]);
    rest = Math.floor(rest / outShape[d]);
  }
  let index = 0;
  const lead = outShape.length - inShape.length;
  for (let d = 0; d < inShape.length; d++) {
    index = index * inShape[d] + (inShape[d] === 1 ? 0 : coords[lead + d]);
  }
  return index;
}

/** Deterministic pseudo-random values in [lo, hi) (a linear congruential sequence). */
export function sequence(n: number, lo: number, hi: number, seed = 1): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return lo + ((hi - lo) * s) / 2 ** 32;
  });
}
