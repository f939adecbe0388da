// WASM kernels with 16-bit storage (f16, bf16) against the reference interpreter in native
// precision. The interpreter computes each node in float64 and rounds the result to nearest even
// in the node's dtype; the kernels widen 16-bit operands to f32, compute and accumulate in f32 and
// round each result once. The two roundings of one value differ only where the f32 result and the
// float64 one straddle a rounding boundary of the 16-bit format, so a result must be the
// interpreter's or one 16-bit ulp from it (relative 2^-10 for f16, 2^-7 for bf16; below f16's
// least normal 2^-14 the ulp is the absolute 2^-24), on top of the op's own f32 budget.
//
// Cases: every op of the op table at its sample (test/support/op-samples.ts, its f32 values
// retyped by the precision pass with f16/bf16 inputs), then shapes that reach each kernel's
// paths: SIMD bodies and scalar tails (odd sizes), broadcasting, GEMM blocks (k > 256, chunks of
// rows, transposes, batches, epilogues), convolution strategies (im2col blocks, pointwise,
// groups, depthwise, strides), overlapping pooling windows, multi-axis reductions and long rows.
// The contraction cases run on dirty memory (wasm-contraction-harness.ts), which also checks
// that no kernel writes into its operands.

import { describe, it } from "vitest";
import { GraphBuilder } from "../../compiler/ir/builder.ts";
import type { Graph } from "../../compiler/ir/graph.ts";
import type { AttrValue } from "../../compiler/ir/op-def.ts";
import { OPS } from "../../compiler/ir/ops.ts";
import type { DType, TensorType } from "../../compiler/ir/types.ts";
import { precision, type HalfDType } from "../../compiler/passes/precision.ts";
import { sampleGraph } from "../support/op-samples.ts";
import { expectKernelsMatch } from "../support/wasm-contraction-harness.ts";
import { halfCompare, HALVES } from "../support/half.ts";
import { expectMatchesInterpreter } from "../support/wasm-harness.ts";

/** `g` with every f32 value, inputs and outputs included, stored as `dtype`. */
function retyped(g: Graph, dtype: HalfDType): Graph {
  return precision.run(g, { ...precision.defaults, dtype, io: dtype, keepF32: [] }).graph;
}

/** A graph applying `op` once per case, case k reading inputs `x${k}_${i}`, its result output `y${k}`. */
function cases(name: string, list: readonly { op: string; types: readonly TensorType[]; attrs?: Record<string, AttrValue> }[]): Graph {
  const b = new GraphBuilder(name);
  list.forEach((c, k) => {
    const operands = c.types.map((type, i) => b.addInput({ name: `x${k}_${i}`, type }));
    b.output(`y${k}`, b.op(c.op, operands, c.attrs ?? {}));
  });
  return b.build();
}

const t = (dtype: DType, ...shape: number[]): TensorType => ({ dtype, shape });

describe("every op with 16-bit storage on wasm-simd", () => {
  for (const dtype of HALVES) {
    it(`matches the interpreter on every op's sample in ${dtype}`, async () => {
      const failures: string[] = [];
      for (const op of OPS.keys()) {
        const g = retyped(sampleGraph(op), dtype);
        try {
          await expectMatchesInterpreter(g, undefined, halfCompare(g, dtype));
        } catch (e) {
          failures.push(`${op}: ${(e as Error).message}`);
        }
      }
      if (failures.length > 0) throw new Error(failures.join("\n"));
    });
  }
});

describe.each(HALVES)("%s elementwise, layout and source kernels", (dtype) => {
  const h = (...shape: number[]) => t(dtype, ...shape);

  it("run SIMD bodies, scalar tails and broadcasts", async () => {
    const unary = ["neg", "abs", "relu", "sqrt", "rsqrt", "exp", "log", "tanh", "sigmoid", "gelu"];
    const binary = ["add", "sub", "mul", "div", "maximum", "minimum", "pow"];
    const g = cases("elementwise", [
      ...unary.map((op) => ({ op, types: [h(3, 37)] })),
      ...binary.map((op) => ({ op, types: [h(5, 1, 7), h(7)] })),
      ...binary.map((op) => ({ op, types: [h(41), h(41)] })),
      { op: "gelu", types: [h(19)], attrs: { approximate: "tanh" } },
      { op: "less", types: [h(4, 9), h(9)] },
      { op: "equal", types: [h(11), h(11)] },
      { op: "where", types: [t("bool", 3, 13), h(3, 13), h(13)] },
    ]);
    await expectMatchesInterpreter(g, undefined, halfCompare(g, dtype));
  });

  it("cast between f32, f16, bf16, integers and bool", async () => {
    const other: DType = dtype === "f16" ? "bf16" : "f16";
    const g = cases("casts", [
      { op: "cast", types: [t("f32", 37)], attrs: { dtype } },
      { op: "cast", types: [h(37)], attrs: { dtype: "f32" } },
      { op: "cast", types: [h(37)], attrs: { dtype: other } },
      { op: "cast", types: [h(37)], attrs: { dtype: "i32" } },
      { op: "cast", types: [h(37)], attrs: { dtype: "i8" } },
      { op: "cast", types: [t("i32", 37)], attrs: { dtype } },
      { op: "cast", types: [h(37)], attrs: { dtype: "bool" } },
      { op: "cast", types: [t("bool", 37)], attrs: { dtype } },
    ]);
    await expectMatchesInterpreter(g, undefined, halfCompare(g, dtype));
  });

  it("moves elements (transpose, slice, concat, broadcastTo, pad, gather) and fills sources", async () => {
    const g = cases("layout", [
      { op: "transpose", types: [h(3, 5, 7)], attrs: { perm: [2, 0, 1] } },
      { op: "transpose", types: [h(9, 13)], attrs: { perm: [1, 0] } },
      { op: "slice", types: [h(6, 21)], attrs: { begin: [1, 3], size: [4, 17] } },
      { op: "concat", types: [h(3, 5), h(3, 11)], attrs: { axis: 1 } },
      { op: "broadcastTo", types: [h(1, 19)], attrs: { shape: [3, 19] } },
      { op: "broadcastTo", types: [h(5, 1)], attrs: { shape: [5, 21] } },
      { op: "pad", types: [h(3, 5)], attrs: { before: [1, 2], after: [2, 3] } },
      { op: "gather", types: [h(7, 9), t("i32", 5)] },
      { op: "reshape", types: [h(6, 7)], attrs: { shape: [7, 6] } },
      { op: "oneHot", types: [t("i32", 5)], attrs: { depth: 7, dtype } },
      { op: "iota", types: [], attrs: { shape: [3, 9], axis: 1, dtype } },
      { op: "const", types: [], attrs: { value: 0.1, dtype, shape: [11] } },
      { op: "const", types: [], attrs: { value: 1 + 2 ** -11 + 2 ** -30, dtype, shape: [3] } },
      { op: "dropout", types: [h(3, 37), t("i32")], attrs: { rate: 0.3, seed: 5 } },
    ]);
    await expectMatchesInterpreter(g, undefined, halfCompare(g, dtype));
  });
});

describe.each(HALVES)("%s GEMMs", (dtype) => {
  const h = (...shape: number[]) => t(dtype, ...shape);
  const mm = (a: number[], b: number[], transposeA = false, transposeB = false) => ({ op: "matmul", types: [h(...a), h(...b)], attrs: { transposeA, transposeB } });

  it("accumulate in f32 across k blocks and round each chunk of rows once (every transpose)", async () => {
    const list = [];
    for (const [m, n, k] of [[1, 5, 3], [3, 7, 9], [5, 9, 17], [64, 70, 300], [300, 33, 40], [2, 1030, 5]]) {
      for (const ta of [false, true]) for (const tb of [false, true]) list.push(mm(ta ? [k, m] : [m, k], tb ? [n, k] : [k, n], ta, tb));
    }
    const g = cases("gemm", list);
    await expectKernelsMatch(g, undefined, halfCompare(g, dtype, Math.sqrt(300)));
  });

  it("batch matrices: folded into m, broadcast on either side", async () => {
    const g = cases("batched", [mm([2, 3, 17, 9], [9, 5]), mm([3, 1, 4, 6], [1, 5, 6, 7]), mm([2, 6, 4], [2, 6, 3], true, false), mm([4, 300, 8], [8, 300], false, false)]);
    await expectKernelsMatch(g, undefined, halfCompare(g, dtype, 3));
  });

  it("fusedMatmul applies its epilogue to the f32 product before rounding (bias, residual, unfolded batch)", async () => {
    const g = cases("fused-matmul", [
      { op: "fusedMatmul", types: [h(70, 33), h(33, 21), h(21)], attrs: { epilogue: "add(x0, x1); relu(t0)" } },
      { op: "fusedMatmul", types: [h(2, 9, 300), h(300, 12), h(2, 9, 12)], attrs: { epilogue: "add(x0, x1)" } },
      { op: "fusedMatmul", types: [h(2, 5, 8), h(8, 6), h(2, 1, 6)], attrs: { epilogue: "mul(x0, x1); tanh(t0)" } },
    ]);
    await expectKernelsMatch(g, undefined, halfCompare(g, dtype, Math.sqrt(300)));
  });
});

describe.each(HALVES)("%s convolutions and pooling", (dtype) => {
  const h = (...shape: number[]) => t(dtype, ...shape);
  const conv = (x: number[], w: number[], attrs: Record<string, AttrValue> = {}) => ({ op: "conv2d", types: [h(...x), h(...w)], attrs: { padding: "same", ...attrs } });

  it("conv2d: im2col blocks, pointwise, groups, depthwise, strides, dilation, few channels", async () => {
    const g = cases("conv", [
      conv([4, 12, 12, 3], [3, 3, 3, 8]),
      conv([2, 9, 9, 3], [3, 3, 3, 5], { stride: [2, 2], padding: "valid" }),
      conv([2, 5, 5, 6], [1, 1, 6, 10], { padding: "valid" }),
      conv([2, 6, 6, 4], [3, 3, 2, 6], { groups: 2 }),
      conv([2, 6, 6, 5], [3, 3, 1, 5], { groups: 5 }),
      conv([1, 9, 9, 2], [3, 3, 2, 4], { dilation: [2, 2] }),
      conv([2, 10, 10, 1], [3, 3, 1, 8]),
    ]);
    await expectKernelsMatch(g, undefined, halfCompare(g, dtype, 6));
  });

  it("conv2dBackpropInput and conv2dBackpropFilter sum in f32 and round once", async () => {
    const bi = (dy: number[], w: number[], inputShape: number[], attrs: Record<string, AttrValue> = {}) =>
      ({ op: "conv2dBackpropInput", types: [h(...dy), h(...w)], attrs: { padding: "same", inputShape, ...attrs } });
    const bf = (x: number[], dy: number[], filterShape: number[], attrs: Record<string, AttrValue> = {}) =>
      ({ op: "conv2dBackpropFilter", types: [h(...x), h(...dy)], attrs: { padding: "same", filterShape, ...attrs } });
    const g = cases("conv-grads", [
      bi([4, 12, 12, 8], [3, 3, 3, 8], [4, 12, 12, 3]),
      bi([2, 5, 5, 10], [1, 1, 6, 10], [2, 5, 5, 6], { padding: "valid" }),
      bi([2, 6, 6, 6], [3, 3, 2, 6], [2, 6, 6, 4], { groups: 2 }),
      bf([4, 12, 12, 3], [4, 12, 12, 8], [3, 3, 3, 8]),
      bf([2, 5, 5, 6], [2, 5, 5, 10], [1, 1, 6, 10], { padding: "valid" }),
      bf([2, 9, 9, 3], [2, 4, 4, 5], [3, 3, 3, 5], { stride: [2, 2], padding: "valid" }),
    ]);
    await expectKernelsMatch(g, undefined, halfCompare(g, dtype, 24));
  });

  it("fusedConv2d applies its epilogue before rounding", async () => {
    const g = cases("fused-conv", [
      { op: "fusedConv2d", types: [h(4, 12, 12, 3), h(3, 3, 3, 8), h(8)], attrs: { padding: "same", epilogue: "add(x0, x1); relu(t0)" } },
      { op: "fusedConv2d", types: [h(2, 5, 5, 6), h(1, 1, 6, 10), h(2, 5, 5, 10)], attrs: { padding: "valid", epilogue: "add(x0, x1)" } },
    ]);
    await expectKernelsMatch(g, undefined, halfCompare(g, dtype, 6));
  });

  it("pools and their gradients, disjoint and overlapping windows", async () => {
    const pool = (op: string, x: number[], attrs: Record<string, AttrValue>) => ({ op, types: [h(...x)], attrs });
    const g = cases("pools", [
      pool("maxPool2d", [2, 8, 8, 21], { size: [2, 2], stride: [2, 2] }),
      pool("maxPool2d", [2, 7, 7, 5], { size: [3, 3], stride: [1, 1], padding: "same" }),
      pool("avgPool2d", [2, 7, 7, 18], { size: [3, 3], stride: [2, 2], padding: "same" }),
      { op: "maxPool2dGrad", types: [h(2, 8, 8, 21), h(2, 4, 4, 21)], attrs: { size: [2, 2], stride: [2, 2] } },
      { op: "maxPool2dGrad", types: [h(2, 7, 7, 5), h(2, 7, 7, 5)], attrs: { size: [3, 3], stride: [1, 1], padding: "same" } },
      { op: "avgPool2dGrad", types: [h(2, 4, 4, 18)], attrs: { size: [3, 3], stride: [2, 2], padding: "same", inputShape: [2, 7, 7, 18] } },
      { op: "avgPool2dGrad", types: [h(2, 4, 4, 6)], attrs: { size: [2, 2], stride: [2, 2], inputShape: [2, 8, 8, 6] } },
    ]);
    await expectKernelsMatch(g, undefined, halfCompare(g, dtype));
  });
});

describe.each(HALVES)("%s reductions, normalizations and losses", (dtype) => {
  const h = (...shape: number[]) => t(dtype, ...shape);

  it("sum, mean and max over one block and over several (f32 scratch), long rows, softmax on any axis", async () => {
    const g = cases("reductions", [
      { op: "sum", types: [h(3, 300)], attrs: { axes: [1] } },
      { op: "mean", types: [h(70, 9)], attrs: { axes: [0] } },
      { op: "max", types: [h(5, 37)], attrs: { axes: [-1] } },
      { op: "sum", types: [h(3, 4, 5)], attrs: { axes: [0, 2] } },
      { op: "mean", types: [h(3, 4, 5, 6)], attrs: { axes: [1, 3], keepDims: true } },
      { op: "max", types: [h(3, 4, 5)], attrs: { axes: [0, 2] } },
      { op: "softmax", types: [h(7, 37)], attrs: { axis: -1 } },
      { op: "softmax", types: [h(9, 21)], attrs: { axis: 0 } },
      { op: "logSoftmax", types: [h(4, 130)], attrs: { axis: 1 } },
    ]);
    await expectMatchesInterpreter(g, undefined, halfCompare(g, dtype, 1));
  });

  it("layerNorm, batchNorm and its running statistic, losses, scatterAdd", async () => {
    const g = cases("norms", [
      { op: "layerNorm", types: [h(4, 37), h(37), h(37)] },
      { op: "layerNorm", types: [h(3, 6, 5), h(6), h(6)], attrs: { axis: 1 } },
      { op: "batchNorm", types: [h(8, 5, 5, 6), h(6), h(6)] },
      { op: "batchNormRunningStat", types: [h(8, 5, 5, 6), h(6)], attrs: { stat: "var" } },
      { op: "softmaxCrossEntropy", types: [h(13, 10), t("i32", 13)] },
      { op: "mse", types: [h(3, 37), h(3, 37)] },
      { op: "scatterAdd", types: [t("i32", 40), h(40, 9)], attrs: { size: 6 } },
    ]);
    await expectMatchesInterpreter(g, undefined, halfCompare(g, dtype, 1));
  });
});
