// The WASM kernels of gather and scatterAdd against the reference interpreter: axes 0, 1 and
// last, index tensors of rank 0 to 2, rows of every byte size the kernel copies specially (1, 2,
// 4, 8, 16) and others, repeated indices (which scatterAdd must sum), and indices out of range
// (a trap, as the interpreter throws).

import { describe, expect, it } from "vitest";
import { interpret } from "../../compiler/ir/interpreter.ts";
import type { DType } from "../../compiler/ir/types.ts";
import { expectMatchesInterpreter, runWasm } from "../support/wasm-harness.ts";
import { f32, integers, opGraph, typed, uniform } from "../support/wasm-reduction-kit.ts";

const gatherGraph = (dtype: DType, table: number[], indices: number[], axis: number) =>
  opGraph("gather", { table: typed(dtype, ...table), indices: typed("i32", ...indices) }, { axis });

/** The shape gather gives, and scatterAdd takes as updates. */
const pickedShape = (table: number[], indices: number[], axis: number) => [...table.slice(0, axis), ...indices, ...table.slice(axis + 1)];

const GATHER_CASES: { table: number[]; indices: number[]; axis: number }[] = [
  { table: [50, 16], indices: [4, 7], axis: 0 },
  { table: [50, 3], indices: [9], axis: 0 },
  { table: [10, 4], indices: [6], axis: 0 },
  { table: [10, 1], indices: [2, 3], axis: 0 },
  { table: [12], indices: [5], axis: 0 },
  { table: [12], indices: [], axis: 0 },
  { table: [5, 9, 3], indices: [4], axis: 1 },
  { table: [5, 9, 33], indices: [2, 2], axis: 1 },
  { table: [6, 10], indices: [2, 3], axis: 1 },
  { table: [6, 10], indices: [7], axis: -1 },
  { table: [2, 3, 4, 5], indices: [6], axis: 2 },
];

describe("gather", () => {
  for (const { table, indices, axis } of GATHER_CASES) {
    it(`rows of f32[${table}] along axis ${axis} by i32[${indices}]`, async () => {
      const dim = table[axis < 0 ? axis + table.length : axis];
      const inputs = { table: uniform(table, -5, 5, 2), indices: integers(indices, 0, dim, 5) };
      await expectMatchesInterpreter(gatherGraph("f32", table, indices, axis), inputs);
    });
  }

  // Row sizes of 1, 2, 8 and 16 bytes take one load/store pair; 3 and 24 bytes go through memory.copy.
  for (const { dtype, row } of [
    { dtype: "i8", row: 1 },
    { dtype: "u8", row: 2 },
    { dtype: "i8", row: 3 },
    { dtype: "i32", row: 2 },
    { dtype: "u8", row: 16 },
    { dtype: "i32", row: 6 },
  ] as const) {
    it(`rows of ${row} ${dtype} elements`, async () => {
      const table = [7, row];
      const inputs = { table: integers(table, 0, 100, 3), indices: [6, 0, 3, 3, 1] };
      await expectMatchesInterpreter(gatherGraph(dtype, table, [5], 0), inputs);
    });
  }

  it("picks exactly the indexed rows", async () => {
    const { wasm } = await expectMatchesInterpreter(gatherGraph("f32", [4, 2], [3], 0), {
      table: [0, 1, 10, 11, 20, 21, 30, 31],
      indices: [3, 0, 3],
    });
    expect([...wasm.outputs.y.data]).toEqual([30, 31, 0, 1, 30, 31]);
  });

  for (const index of [-1, 9]) {
    it(`traps on index ${index} outside [0, 9), as the interpreter throws`, async () => {
      const g = gatherGraph("f32", [2, 9], [3], 1);
      const inputs = { table: uniform([2, 9], 0, 1), indices: [0, index, 8] };
      expect(() => interpret(g, inputs)).toThrow(/out of range/);
      await expect(runWasm(g, inputs)).rejects.toThrow(/unreachable/);
    });
  }
});

const scatterGraph = (table: number[], indices: number[], axis: number) =>
  opGraph("scatterAdd", { indices: typed("i32", ...indices), updates: f32(...pickedShape(table, indices, axis)) }, {
    axis,
    size: table[axis],
  });

describe("scatterAdd", () => {
  for (const { table, indices, axis } of GATHER_CASES.filter((c) => c.axis >= 0)) {
    it(`rows of updates into f32[${table}] along axis ${axis} by i32[${indices}]`, async () => {
      // Few distinct indices, so most rows receive several updates.
      const inputs = { indices: integers(indices, 0, Math.min(3, table[axis]), 5), updates: uniform(pickedShape(table, indices, axis), 0.5, 1.5, 4) };
      await expectMatchesInterpreter(scatterGraph(table, indices, axis), inputs);
    });
  }

  it("sums repeated indices and leaves unindexed rows zero", async () => {
    const { wasm } = await expectMatchesInterpreter(scatterGraph([4, 5], [4], 0), {
      indices: [2, 0, 2, 2],
      updates: Array.from({ length: 20 }, (_, i) => i),
    });
    const row = (r: number) => [...wasm.outputs.y.data.slice(5 * r, 5 * r + 5)];
    expect(row(0)).toEqual([5, 6, 7, 8, 9]);
    expect(row(1)).toEqual([0, 0, 0, 0, 0]);
    expect(row(2)).toEqual([0 + 10 + 15, 1 + 11 + 16, 2 + 12 + 17, 3 + 13 + 18, 4 + 14 + 19]);
    expect(row(3)).toEqual([0, 0, 0, 0, 0]);
  });

  it("along axis 1 sends each column of updates to its indexed column", async () => {
    const { wasm } = await expectMatchesInterpreter(scatterGraph([2, 3], [2], 1), { indices: [1, 1], updates: [1, 2, 3, 4] });
    expect([...wasm.outputs.y.data]).toEqual([0, 3, 0, 0, 7, 0]);
  });

  it("is gather's transpose: <gather(t, i), u> = <t, scatterAdd(i, u)>", async () => {
    const table = [9, 6];
    const indices = [3, 4];
    const t = uniform(table, -1, 1, 21);
    const i = integers(indices, 0, 9, 22);
    const u = uniform(pickedShape(table, indices, 0), -1, 1, 23);
    const picked = (await runWasm(gatherGraph("f32", table, indices, 0), { table: t, indices: i })).outputs.y.data;
    const spread = (await runWasm(scatterGraph(table, indices, 0), { indices: i, updates: u })).outputs.y.data;
    const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((s, v, k) => s + v * b[k], 0);
    expect(dot(picked, u)).toBeCloseTo(dot(t.map(Math.fround), spread), 4);
  });

  for (const index of [-1, 4]) {
    it(`traps on index ${index} outside [0, 4), as the interpreter throws`, async () => {
      const g = scatterGraph([4, 3], [3], 0);
      const inputs = { indices: [0, index, 1], updates: uniform([3, 3], 0, 1) };
      expect(() => interpret(g, inputs)).toThrow(/out of range/);
      await expect(runWasm(g, inputs)).rejects.toThrow(/unreachable/);
    });
  }
});
