// Helpers for op-record tests: run one record directly (attributes completed, shape rule, kernel)
// and compare against PyTorch fixtures written by test/oracle/gen_op_fixtures.py.

import { readFileSync } from "node:fs";
import { expect } from "vitest";
import type { Attrs } from "../../compiler/ir/graph.ts";
import { completeAttrs, type AttrValue, type OpDef, type Tensor } from "../../compiler/ir/op-def.ts";
import { numel, type DType, type TensorType } from "../../compiler/ir/types.ts";
import { rng } from "./seeded-random.ts";

export interface FixtureTensor {
  readonly dtype: DType;
  readonly shape: number[];
  readonly data: number[];
}

export interface FixtureCase {
  readonly name: string;
  readonly op: string;
  readonly attrs: Record<string, AttrValue>;
  readonly inputs: FixtureTensor[];
  readonly expected: FixtureTensor;
}

export function loadFixtures(file: string): FixtureCase[] {
  const url = new URL(`../fixtures/ops/${file}`, import.meta.url);
  return (JSON.parse(readFileSync(url, "utf8")) as { cases: FixtureCase[] }).cases;
}

/** A tensor of `dtype` and `shape`; `data` defaults to 0, 1, 2, ... */
export function tensor(dtype: DType, shape: number[], data?: ArrayLike<number>): Tensor {
  const n = numel(shape);
  const values = data ? Float64Array.from(data) : Float64Array.from({ length: n }, (_, i) => i);
  if (values.length !== n) throw new Error(`test tensor: ${values.length} values for shape [${shape}]`);
  return { type: { dtype, shape }, data: values };
}

export const f32 = (shape: number[], data?: ArrayLike<number>) => tensor("f32", shape, data);

export function findOp(table: readonly OpDef[], name: string): OpDef {
  const op = table.find((o) => o.name === name);
  if (!op) throw new Error(`no record '${name}' in the table under test`);
  return op;
}

/** Completes attributes, runs the shape rule, then the kernel: what the interpreter does per node. */
export function runOp(op: OpDef, inputs: readonly Tensor[], attrs: Record<string, AttrValue> = {}): Tensor {
  const full: Attrs = completeAttrs(op, attrs);
  const type = op.infer(inputs.map((t) => t.type), full);
  const data = op.interpret(inputs, full, type);
  expect(data.length, `${op.name} kernel output length`).toBe(numel(type.shape));
  return { type, data };
}

/** Only the shape rule, for error paths and type checks. */
export function inferOp(op: OpDef, types: readonly TensorType[], attrs: Record<string, AttrValue> = {}): TensorType {
  return op.infer(types, completeAttrs(op, attrs));
}

export const type = (dtype: DType, shape: number[]): TensorType => ({ dtype, shape });

/**
 * Elementwise |got - want| <= rel * max(1, |want|): relative for large values, absolute near
 * zero (sums that cancel). NaN matches NaN and infinities must match exactly.
 */
export function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, rel = 1e-12, what = "values"): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const g = got[i];
    const w = want[i];
    if (Number.isNaN(w) || !Number.isFinite(w)) {
      expect(g, `${what}[${i}]`).toBe(w);
      continue;
    }
    const err = Math.abs(g - w);
    if (!(err <= rel * Math.max(1, Math.abs(w)))) {
      expect.fail(`${what}[${i}]: got ${g}, want ${w} (error ${err.toExponential(2)} > ${rel} relative)`);
    }
  }
}

/** Runs a fixture case through its record and checks the result's type and values. */
export function checkFixture(table: readonly OpDef[], c: FixtureCase): void {
  const op = findOp(table, c.op);
  const inputs = c.inputs.map((t) => tensor(t.dtype, t.shape, t.data));
  const out = runOp(op, inputs, c.attrs);
  expect(out.type).toEqual({ dtype: c.expected.dtype, shape: c.expected.shape });
  expectClose(out.data, c.expected.data, 1e-12, c.name);
}

/** Deterministic uniform values in [-1, 1) (mulberry32), for tests that only need "some data". */
export function randomData(n: number, seed: number): Float64Array {
  const random = rng(seed);
  return Float64Array.from({ length: n }, () => random() * 2 - 1);
}
