// WGSL kernels of sum, mean, max, softmax, logSoftmax, layerNorm, batchNorm,
// batchNormRunningStat, softmaxCrossEntropy and mse against the reference interpreter on a WebGPU
// device. Shapes cover both reduction paths (an invocation per result for rows under 32
// elements, a workgroup per result from 32 on), first/middle/last/several axes, keepDims, empty
// and identity reductions, 1-byte results and rows longer than the workgroup. Cases are batched
// into one graph per family. Metrics as in the WASM tests (wasm-reduction.test.ts,
// wasm-norm.test.ts): sums get positive terms (a float32 sum is accurate relative to the sum of
// |x|), normalizations compare values near zero absolutely (floors 1e-3 / 1e-2).

import { describe, expect, it } from "vitest";
import type { DType, TensorType } from "../../compiler/ir/types.ts";
import { batchedCases, expectWgslMatchesInterpreter, wgslDevice, type OpCase } from "../support/wgsl-harness.ts";
import { uniform } from "../support/wasm-reduction-kit.ts";

const t = (dtype: DType, ...shape: number[]): TensorType => ({ dtype, shape });
const f32 = (...shape: number[]) => t("f32", ...shape);

const AXIS_CASES: { shape: number[]; axes: number[] }[] = [
  ...[1, 5, 33, 1000].map((n) => ({ shape: [n], axes: [0] })),
  { shape: [3, 33], axes: [1] },
  { shape: [3, 33], axes: [0] },
  { shape: [1000, 5], axes: [0] },
  { shape: [5, 1000], axes: [-1] },
  { shape: [4, 7, 5], axes: [1] },
  { shape: [4, 7, 5], axes: [0, 2] },
  { shape: [2, 3, 4, 5], axes: [1, 3] },
  { shape: [2, 9, 4, 37], axes: [0, 2] },
  { shape: [4, 1, 6], axes: [0, 1] },
  { shape: [64, 7, 7, 18], axes: [0, 1, 2] },
  { shape: [3, 5], axes: [] },
  { shape: [3, 0], axes: [1] },
];

describe("sum, mean, max", () => {
  for (const op of ["sum", "mean", "max"]) {
    it(`${op} (f32) over every axis pattern, with and without keepDims`, async () => {
      const cases: OpCase[] = AXIS_CASES.filter((c) => op !== "max" || !c.shape.includes(0)).flatMap(({ shape, axes }) =>
        [false, true].map((keepDims) => ({
          op, types: [f32(...shape)], attrs: { axes, keepDims },
          data: [op === "max" ? uniform(shape, -3, 1, 11) : uniform(shape, 0.25, 1.25, 11)],
        })));
      const { graph, inputs } = batchedCases(op, cases);
      await expectWgslMatchesInterpreter(graph, inputs);
    });
  }

  it("integer sums wrap and maxima are exact (i32, i8, u8)", async () => {
    const ints = (n: number, lo: number, span: number) => Float64Array.from({ length: n }, (_, i) => lo + ((i * 7919 + 13) % span));
    const cases: OpCase[] = [];
    for (const op of ["sum", "max"]) {
      cases.push({ op, types: [t("i32", 4, 40)], attrs: { axes: [1] }, data: [ints(160, -(2 ** 30), 2 ** 31)] });
      cases.push({ op, types: [t("i32", 3, 5)], attrs: { axes: [0] }, data: [ints(15, -50, 100)] });
      cases.push({ op, types: [t("i8", 6, 7)], attrs: { axes: [1] }, data: [ints(42, -128, 256)] });
      cases.push({ op, types: [t("u8", 5, 40)], attrs: { axes: [1] }, data: [ints(200, 0, 256)] });
    }
    const { graph, inputs } = batchedCases("integer-reductions", cases);
    await expectWgslMatchesInterpreter(graph, inputs);
  });
});

describe("fusedReduce", () => {
  it("sum, mean and max of fused bodies over broadcast operands (both reduction paths)", async () => {
    const cases: OpCase[] = [
      { op: "fusedReduce", types: [f32(8, 40), f32(40)], attrs: { body: "mul(x0, x1); exp(t0)", reduce: "sum", axes: [1] } },
      { op: "fusedReduce", types: [f32(64, 3), f32(64, 3)], attrs: { body: "mul(x0, x1)", reduce: "sum", axes: [0], keepDims: true } },
      { op: "fusedReduce", types: [f32(4, 5, 6), f32(5, 1)], attrs: { body: "sub(x0, x1); mul(t0, t0)", reduce: "mean", axes: [0, 2] } },
      { op: "fusedReduce", types: [f32(3, 100)], attrs: { body: "abs(x0); neg(t0)", reduce: "max", axes: [-1] } },
      { op: "fusedReduce", types: [f32(6, 7)], attrs: { body: "tanh(x0)", reduce: "max", axes: [0] } },
    ];
    const data = cases.map((c) => ({ ...c, data: c.types.map((t) => uniform(t.shape, 0.25, 1.25, 5)) }));
    const { graph, inputs } = batchedCases("fusedReduce", data);
    await expectWgslMatchesInterpreter(graph, inputs);
  });
});

describe("softmax and logSoftmax", () => {
  it("along last, first and middle axes; rows shorter and longer than a workgroup", async () => {
    const shapes: [number[], number][] = [[[4, 10], -1], [[3, 1000], 1], [[9, 21], 0], [[2, 3, 4, 5], 2], [[1], 0], [[2, 70, 3], 1]];
    const cases: OpCase[] = ["softmax", "logSoftmax"].flatMap((op) => shapes.map(([shape, axis]) => ({ op, types: [f32(...shape)], attrs: { axis }, data: [uniform(shape, -20, 20, 3)] })));
    const { graph, inputs } = batchedCases("softmax", cases);
    // Logits spread over [-20, 20] make one entry dominate many rows, so logSoftmax's largest
    // entries are -log(1 + tiny): the reference's float64 1 + tiny only resolves ~1e-16, so values
    // below 1e-10 are compared absolutely (as in wasm-reduction.test.ts).
    await expectWgslMatchesInterpreter(graph, inputs, { floor: 1e-10 });
  });
});

describe("normalizations", () => {
  it("layerNorm along every axis position, eps 1e-5 and 1e-3", async () => {
    const shapes: [number[], number][] = [[[3, 1], -1], [[3, 5], -1], [[3, 33], -1], [[3, 1000], -1], [[2, 6, 64], 2], [[3, 5, 7], 1], [[9, 21], 0], [[2, 3, 4, 5], -4]];
    const cases: OpCase[] = shapes.flatMap(([shape, axis]) => {
      const len = shape[axis < 0 ? axis + shape.length : axis];
      return [1e-5, 1e-3].map((eps) => ({ op: "layerNorm", types: [f32(...shape), f32(len), f32(len)], attrs: { axis, eps } }));
    });
    const { graph, inputs } = batchedCases("layerNorm", cases);
    await expectWgslMatchesInterpreter(graph, inputs, { floor: 1e-2 });
  });

  it("batchNorm and both running statistics over 2-D and 4-D channels-last inputs", async () => {
    const shapes = [[8, 3], [2, 70], [4, 5, 5, 3], [64, 2, 2, 16]];
    const cases: OpCase[] = shapes.flatMap((shape): OpCase[] => {
      const c = shape[shape.length - 1];
      return [
        { op: "batchNorm", types: [f32(...shape), f32(c), f32(c)] },
        { op: "batchNormRunningStat", types: [f32(...shape), f32(c)], attrs: { stat: "mean" } },
        { op: "batchNormRunningStat", types: [f32(...shape), f32(c)], attrs: { stat: "var", momentum: 0.3 } },
      ];
    });
    const { graph, inputs } = batchedCases("batchNorm", cases);
    await expectWgslMatchesInterpreter(graph, inputs, { floor: 1e-2 });
  });
});

describe("both forms of the workgroup folds", () => {
  it("the device offers subgroups, so the tests above ran the subgroup form", async () => {
    expect((await wgslDevice()).features.has("subgroups")).toBe(true);
  });

  it("the workgroup-memory tree (no subgroups): sums, maxima with NaN, softmax, layerNorm, a loss", async () => {
    const withNan = uniform([3, 100], -3, 1, 9).map((v, i) => (i === 150 ? NaN : v));
    const cases: OpCase[] = [
      { op: "sum", types: [f32(5, 1000)], attrs: { axes: [1] }, data: [uniform([5, 1000], 0.25, 1.25, 2)] },
      { op: "max", types: [f32(3, 100)], attrs: { axes: [1] }, data: [withNan] },
      { op: "sum", types: [t("i32", 4, 40)], attrs: { axes: [1] }, data: [Float64Array.from({ length: 160 }, (_, i) => (i * 7919) % 2001 - 1000)] },
      { op: "max", types: [t("i32", 4, 40)], attrs: { axes: [1] }, data: [Float64Array.from({ length: 160 }, (_, i) => (i * 7919) % 2001 - 1000)] },
      { op: "softmax", types: [f32(3, 1000)], attrs: { axis: 1 } },
      { op: "layerNorm", types: [f32(3, 70), f32(70), f32(70)], attrs: { axis: -1 } },
      { op: "softmaxCrossEntropy", types: [f32(200, 10), t("i32", 200)], data: [undefined, Float64Array.from({ length: 200 }, (_, i) => i % 10)] },
    ];
    const { graph, inputs } = batchedCases("tree", cases);
    await expectWgslMatchesInterpreter(graph, inputs, { floor: 1e-2, target: { subgroups: false } });
  });

  it("the subgroup form propagates a NaN through max", async () => {
    const withNan = uniform([3, 100], -3, 1, 9).map((v, i) => (i === 150 ? NaN : v));
    const { graph, inputs } = batchedCases("subgroup-nan", [{ op: "max", types: [f32(3, 100)], attrs: { axes: [1] }, data: [withNan] }]);
    const { gpu } = await expectWgslMatchesInterpreter(graph, inputs);
    expect(Number.isNaN(gpu.outputs.y0.data[1])).toBe(true);
  });
});

describe("losses", () => {
  it("softmaxCrossEntropy over 1, 3 and 200 rows and mse", async () => {
    const labels = (n: number, c: number) => Float64Array.from({ length: n }, (_, i) => (i * 7) % c);
    const cases: OpCase[] = [
      { op: "softmaxCrossEntropy", types: [f32(10), t("i32")], data: [uniform([10], -5, 5, 2), [3]] },
      { op: "softmaxCrossEntropy", types: [f32(3, 4), t("i32", 3)], data: [uniform([3, 4], -5, 5, 4), labels(3, 4)] },
      { op: "softmaxCrossEntropy", types: [f32(200, 10), t("i32", 200)], data: [uniform([200, 10], -30, 30, 5), labels(200, 10)] },
      { op: "softmaxCrossEntropy", types: [f32(2, 5, 7), t("i32", 2, 5)], data: [undefined, labels(10, 7)] },
      { op: "mse", types: [f32(7), f32(7)] },
      { op: "mse", types: [f32(64, 33), f32(64, 33)] },
    ];
    const { graph, inputs } = batchedCases("losses", cases);
    await expectWgslMatchesInterpreter(graph, inputs);
  });
});
