// WGSL layout kernels (reshape, copy, transpose, slice, concat, broadcastTo, pad, gather, oneHot,
// scatterAdd) against the reference interpreter on a WebGPU device: ranks 0-4, size-1 and empty
// axes, 1- and 4-byte dtypes (byte tensors are packed four to a word, so odd lengths exercise the
// partial last word). Layout kernels move bits, so the comparison is exact; the arena starts
// poisoned with NaN, so an element a kernel forgets to write cannot pass.

import { describe, it } from "vitest";
import { GraphBuilder } from "../../compiler/ir/builder.ts";
import type { Graph } from "../../compiler/ir/graph.ts";
import type { DType, TensorType } from "../../compiler/ir/types.ts";
import { batchedCases, expectWgslMatchesInterpreter, type OpCase } from "../support/wgsl-harness.ts";

const t = (dtype: DType, ...shape: number[]): TensorType => ({ dtype, shape });
const f32 = (...shape: number[]) => t("f32", ...shape);

/** Distinct values for integer inputs (the random ones only use 0 and 1). */
function distinct(dtype: DType, n: number): Float64Array {
  const span = dtype === "bool" ? 2 : 251;
  const low = dtype === "i8" || dtype === "i32" ? -123 : 0;
  return Float64Array.from({ length: n }, (_, i) => low + ((i * 37 + 11) % span));
}

function withData(cases: OpCase[]): OpCase[] {
  return cases.map((c) => ({ ...c, data: c.data ?? c.types.map((x) => (x.dtype === "f32" ? undefined : distinct(x.dtype, x.shape.reduce((p, d) => p * d, 1)))) }));
}

async function matches(name: string, cases: OpCase[]): Promise<void> {
  const { graph, inputs } = batchedCases(name, withData(cases));
  await expectWgslMatchesInterpreter(graph, inputs);
}

describe("layout ops", () => {
  it("reshape and copy, 1- and 4-byte dtypes", () =>
    matches("reshape", [
      { op: "reshape", types: [f32(6, 4)], attrs: { shape: [4, -1] } },
      { op: "reshape", types: [f32()], attrs: { shape: [1, 1] } },
      { op: "reshape", types: [t("i8", 2, 3, 5)], attrs: { shape: [30] } },
      { op: "copy", types: [f32(33)] },
      { op: "copy", types: [t("bool", 7)] },
    ]));

  it("transpose: 2-D to 4-D permutations, size-1 axes, 1-byte elements", () =>
    matches("transpose", [
      { op: "transpose", types: [f32(5, 7)], attrs: { perm: [1, 0] } },
      { op: "transpose", types: [f32(33, 64)], attrs: { perm: [1, 0] } },
      { op: "transpose", types: [f32(2, 3, 4)], attrs: { perm: [2, 0, 1] } },
      { op: "transpose", types: [f32(2, 3, 4, 5)], attrs: { perm: [3, 1, 0, 2] } },
      { op: "transpose", types: [f32(4, 1, 6)], attrs: { perm: [1, 2, 0] } },
      { op: "transpose", types: [f32()], attrs: { perm: [] } },
      { op: "transpose", types: [t("u8", 3, 5)], attrs: { perm: [1, 0] } },
      { op: "transpose", types: [t("i32", 2, 3, 4)], attrs: { perm: [2, 1, 0] } },
    ]));

  it("slice: boxes, whole axes, empty results", () =>
    matches("slice", [
      { op: "slice", types: [f32(6, 7)], attrs: { begin: [1, 2], size: [3, -1] } },
      { op: "slice", types: [f32(2, 3, 4, 5)], attrs: { begin: [1, 0, 1, 2], size: [1, 3, 2, 3] } },
      { op: "slice", types: [t("u8", 9)], attrs: { begin: [3], size: [5] } },
      { op: "slice", types: [t("i8", 4, 6)], attrs: { begin: [1, 1], size: [2, 3] } },
      { op: "slice", types: [f32(4, 4)], attrs: { begin: [2, 0], size: [0, 4] } },
    ]));

  it("concat along every axis, empty operands, 1-byte dtypes", () =>
    matches("concat", [
      { op: "concat", types: [f32(2, 3), f32(2, 5)], attrs: { axis: 1 } },
      { op: "concat", types: [f32(2, 3), f32(4, 3), f32(1, 3)], attrs: { axis: 0 } },
      { op: "concat", types: [f32(2, 3, 4), f32(2, 1, 4)], attrs: { axis: -2 } },
      { op: "concat", types: [f32(2, 0), f32(2, 3), f32(2, 0)], attrs: { axis: 1 } },
      { op: "concat", types: [t("u8", 3), t("u8", 2)], attrs: { axis: 0 } },
      { op: "concat", types: [t("bool", 2, 3), t("bool", 2, 2)], attrs: { axis: 1 } },
      { op: "concat", types: [f32(5)], attrs: { axis: 0 } },
    ]));

  it("broadcastTo and pad", () =>
    matches("broadcast-pad", [
      { op: "broadcastTo", types: [f32(1, 3)], attrs: { shape: [4, 3] } },
      { op: "broadcastTo", types: [f32()], attrs: { shape: [2, 5] } },
      { op: "broadcastTo", types: [f32(3, 1)], attrs: { shape: [2, 3, 7] } },
      { op: "broadcastTo", types: [t("u8", 5)], attrs: { shape: [3, 5] } },
      { op: "pad", types: [f32(2, 3)], attrs: { before: [1, 0], after: [0, 2] } },
      { op: "pad", types: [f32(2, 3, 4)], attrs: { before: [0, 1, 2], after: [1, 0, 1] } },
      { op: "pad", types: [t("i8", 5)], attrs: { before: [3], after: [2] } },
      { op: "pad", types: [f32(1, 4, 4, 2)], attrs: { before: [0, 1, 1, 0], after: [0, 1, 1, 0] } },
    ]));
});

describe("gather, oneHot, scatterAdd", () => {
  it("gather along axes 0 and 1 with repeated indices; oneHot with out-of-range rows", () =>
    matches("gather", [
      { op: "gather", types: [f32(5, 3), t("i32", 7)], data: [undefined, [4, 0, 2, 2, 1, 4, 3]] },
      { op: "gather", types: [f32(2, 6, 3), t("i32", 2, 2)], attrs: { axis: 1 }, data: [undefined, [5, 0, 3, 5]] },
      { op: "gather", types: [t("u8", 4, 3), t("i32", 3)], data: [undefined, [3, 1, 1]] },
      { op: "oneHot", types: [t("i32", 6)], attrs: { depth: 4 }, data: [[0, 3, -1, 4, 2, 2]] },
      { op: "oneHot", types: [t("i32", 2, 3)], attrs: { depth: 5, dtype: "u8" }, data: [[1, 0, 4, 4, 2, 7]] },
    ]));

  it("scatterAdd sums repeated indices (gather's transpose)", async () => {
    const b = new GraphBuilder("scatter");
    const cases: [number[], number[], number, number][] = [[[7], [7, 3], 0, 5], [[2, 2], [2, 2, 2, 3], 1, 6]];
    const inputs: Record<string, ArrayLike<number>> = {};
    cases.forEach(([ishape, ushape, axis, size], k) => {
      const idx = b.addInput({ name: `i${k}`, type: t("i32", ...ishape) });
      const upd = b.addInput({ name: `u${k}`, type: f32(...ushape) });
      b.output(`y${k}`, b.op("scatterAdd", [idx, upd], { axis, size }));
      inputs[`i${k}`] = Array.from({ length: ishape.reduce((p, d) => p * d, 1) }, (_, i) => (i * 3) % size);
      inputs[`u${k}`] = Array.from({ length: ushape.reduce((p, d) => p * d, 1) }, (_, i) => Math.sin(i + k));
    });
    await expectWgslMatchesInterpreter(b.build(), inputs);
  });
});

describe("in place", () => {
  it("a reshape over its operand's slot reads the same bytes", async () => {
    const b = new GraphBuilder("alias");
    const x = b.addInput({ name: "x", type: f32(4, 6) });
    const e = b.op("neg", [x]);
    const r = b.op("reshape", [e], { shape: [6, 4] });
    b.output("y", b.op("transpose", [r], { perm: [1, 0] }));
    const g: Graph = b.build();
    await expectWgslMatchesInterpreter({ ...g, nodes: g.nodes.map((n) => (n.id === r ? { ...n, inplace: e } : n)) });
  });
});
