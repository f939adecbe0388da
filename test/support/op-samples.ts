// A tiny valid use of every op in the op table, for tests that must cover all ops (text round
// trip, verifier). Ops whose operands are all f32[2,3] and whose attributes all have defaults
// need no entry: `sampleGraph` falls back to that. Any other op needs a row in SAMPLES; a new op
// without one makes the round-trip test fail with a message saying so.

import { GraphBuilder } from "../../compiler/ir/builder.ts";
import type { Graph } from "../../compiler/ir/graph.ts";
import { operandCount } from "../../compiler/ir/op-def.ts";
import { getOp } from "../../compiler/ir/ops.ts";
import type { DType } from "../../compiler/ir/types.ts";

type Sample = (b: GraphBuilder, loc: { file: string; line: number; col: number }) => string;

const inp = (b: GraphBuilder, name: string, dtype: DType, shape: number[]) => b.addInput({ name, type: { dtype, shape } });
const x23 = (b: GraphBuilder, name = "x") => inp(b, name, "f32", [2, 3]);
const qconst = (b: GraphBuilder, dtype: DType, shape: number[], value: number) => b.op("const", [], { value, dtype, shape });

export const SAMPLES: Readonly<Record<string, Sample>> = {
  where: (b, loc) => {
    const [a, c] = [x23(b, "a"), x23(b, "b")];
    return b.op("where", [b.op("less", [a, c]), a, c], {}, loc);
  },
  cast: (b, loc) => b.op("cast", [x23(b)], { dtype: "i32" }, loc),
  const: (b, loc) => b.op("const", [], { value: 1.5, dtype: "f32", shape: [2, 3] }, loc),
  pad: (b, loc) => b.op("pad", [x23(b)], { before: [1, 0], after: [0, 2] }, loc),
  scatterAdd: (b, loc) => b.op("scatterAdd", [inp(b, "idx", "i32", [2]), x23(b)], { size: 4 }, loc),
  iota: (b, loc) => b.op("iota", [], { shape: [2, 3], axis: 1 }, loc),
  conv2dBackpropInput: (b, loc) =>
    b.op("conv2dBackpropInput", [inp(b, "dy", "f32", [1, 2, 2, 3]), inp(b, "w", "f32", [3, 3, 2, 3])], { stride: [2, 2], padding: "same", inputShape: [1, 4, 4, 2] }, loc),
  conv2dBackpropFilter: (b, loc) =>
    b.op("conv2dBackpropFilter", [inp(b, "x", "f32", [1, 4, 4, 2]), inp(b, "dy", "f32", [1, 4, 4, 3])], { padding: "same", filterShape: [3, 3, 2, 3] }, loc),
  maxPool2dGrad: (b, loc) =>
    b.op("maxPool2dGrad", [inp(b, "x", "f32", [1, 4, 4, 2]), inp(b, "dy", "f32", [1, 2, 2, 2])], { size: [2, 2], stride: [2, 2] }, loc),
  avgPool2dGrad: (b, loc) =>
    b.op("avgPool2dGrad", [inp(b, "dy", "f32", [1, 4, 4, 2])], { size: [3, 3], stride: [1, 1], padding: "same", inputShape: [1, 4, 4, 2] }, loc),
  dropout: (b, loc) => b.op("dropout", [x23(b), inp(b, "rng.step", "i32", [])], { rate: 0.25, seed: 7 }, loc),
  reshape: (b, loc) => b.op("reshape", [x23(b)], { shape: [3, -1] }, loc),
  transpose: (b, loc) => b.op("transpose", [x23(b)], { perm: [1, 0] }, loc),
  slice: (b, loc) => b.op("slice", [x23(b)], { begin: [0, 1], size: [2, -1] }, loc),
  concat: (b, loc) => b.op("concat", [x23(b, "a"), x23(b, "b")], { axis: 1 }, loc),
  broadcastTo: (b, loc) => b.op("broadcastTo", [inp(b, "x", "f32", [1, 3])], { shape: [2, 3] }, loc),
  gather: (b, loc) => b.op("gather", [inp(b, "table", "f32", [4, 3]), inp(b, "idx", "i32", [2])], {}, loc),
  oneHot: (b, loc) => b.op("oneHot", [inp(b, "idx", "i32", [2])], { depth: 4 }, loc),
  sum: (b, loc) => b.op("sum", [x23(b)], { axes: [1] }, loc),
  mean: (b, loc) => b.op("mean", [x23(b)], { axes: [0, 1], keepDims: true }, loc),
  max: (b, loc) => b.op("max", [x23(b)], { axes: [-1] }, loc),
  layerNorm: (b, loc) => b.op("layerNorm", [x23(b), inp(b, "gamma", "f32", [3]), inp(b, "beta", "f32", [3])], {}, loc),
  batchNorm: (b, loc) => b.op("batchNorm", [x23(b), inp(b, "gamma", "f32", [3]), inp(b, "beta", "f32", [3])], {}, loc),
  batchNormRunningStat: (b, loc) =>
    b.op("batchNormRunningStat", [x23(b), inp(b, "running", "f32", [3])], { stat: "var" }, loc),
  softmaxCrossEntropy: (b, loc) => b.op("softmaxCrossEntropy", [x23(b), inp(b, "labels", "i32", [2])], {}, loc),
  matmul: (b, loc) => b.op("matmul", [x23(b, "a"), inp(b, "b", "f32", [3, 4])], {}, loc),
  conv2d: (b, loc) =>
    b.op("conv2d", [inp(b, "x", "f32", [1, 4, 4, 2]), inp(b, "w", "f32", [3, 3, 2, 3])], { padding: "same" }, loc),
  maxPool2d: (b, loc) => b.op("maxPool2d", [inp(b, "x", "f32", [1, 4, 4, 2])], { size: [2, 2], stride: [2, 2] }, loc),
  fusedMatmul: (b, loc) =>
    b.op("fusedMatmul", [x23(b, "a"), inp(b, "b", "f32", [3, 4]), inp(b, "bias", "f32", [4])], { epilogue: "add(x0, x1); relu(t0)" }, loc),
  fusedConv2d: (b, loc) =>
    b.op("fusedConv2d", [inp(b, "x", "f32", [1, 4, 4, 2]), inp(b, "w", "f32", [3, 3, 2, 3]), inp(b, "bias", "f32", [3])], { padding: "same", epilogue: "add(x0, x1); tanh(t0)" }, loc),
  fusedReduce: (b, loc) =>
    b.op("fusedReduce", [x23(b, "a"), inp(b, "s", "f32", [1, 3])], { body: "mul(x0, x1); add(t0, 0.5)", reduce: "mean", axes: [0], keepDims: false }, loc),
  fused: (b, loc) => b.op("fused", [x23(b, "a"), inp(b, "s", "f32", [])], { body: "mul(x0, x1); add(t0, 0.5); gelu[tanh](t1)" }, loc),
  avgPool2d: (b, loc) =>
    b.op("avgPool2d", [inp(b, "x", "f32", [1, 4, 4, 2])], { size: [3, 3], stride: [1, 1], padding: "same" }, loc),
  // Quantization parameters are constants (as after calibration): scales must be positive.
  quantize: (b, loc) => b.op("quantize", [x23(b), qconst(b, "f32", [3], 0.05), qconst(b, "i32", [3], 3)], { axis: 1, dtype: "i8" }, loc),
  dequantize: (b, loc) => b.op("dequantize", [inp(b, "q", "i8", [2, 3]), qconst(b, "f32", [], 0.25), qconst(b, "i32", [], -2)], {}, loc),
  requantize: (b, loc) =>
    b.op("requantize", [inp(b, "acc", "i32", [2, 3]), qconst(b, "f32", [3], 0.01), qconst(b, "i32", [3], 5)], { axis: 1, dtype: "u8" }, loc),
  fakeQuant: (b, loc) => b.op("fakeQuant", [x23(b), qconst(b, "f32", [], 0.1), qconst(b, "i32", [], 0)], { qmin: -8, qmax: 7 }, loc),
  fakeQuantGrad: (b, loc) =>
    b.op("fakeQuantGrad", [x23(b, "dy"), x23(b), qconst(b, "f32", [3], 0.1), qconst(b, "i32", [3], 1)], { axis: -1, qmin: -8, qmax: 7 }, loc),
  pruneMask: (b, loc) =>
    b.op("pruneMask", [x23(b, "scores"), qconst(b, "i32", [], 2), x23(b, "mask"), qconst(b, "i32", [], 1)], {}, loc),
  // Two kept blocks, both in input row 1, in the one block column of n = 4: starts = [0, 2].
  blockSparseMatmul: (b, loc) =>
    b.op("blockSparseMatmul", [x23(b), inp(b, "values", "f32", [2, 4]), qconst(b, "i32", [2], 1), b.op("concat", [qconst(b, "i32", [1], 0), qconst(b, "i32", [1], 2)], { axis: 0 })], { n: 4 }, loc),
  // Every kept weight at row 1 of its group of four.
  sparse24Matmul: (b, loc) => b.op("sparse24Matmul", [inp(b, "x", "f32", [2, 8]), inp(b, "values", "f32", [3, 4]), qconst(b, "u8", [3, 4], 1)], {}, loc),
  matmulInteger: (b, loc) => b.op("matmulInteger", [inp(b, "a", "i8", [2, 3]), inp(b, "w", "i8", [3, 4])], {}, loc),
  // A 4-bit codebook: two indices per byte, N odd (the last high nibble unused).
  codebookMatmul: (b, loc) =>
    b.op("codebookMatmul", [x23(b), inp(b, "indices", "u8", [3, 3]), inp(b, "table", "f32", [16])], { bits: 4, n: 5 }, loc),
  codebookConv2d: (b, loc) =>
    b.op("codebookConv2d", [inp(b, "x", "f32", [1, 4, 4, 2]), inp(b, "indices", "u8", [18, 2]), inp(b, "table", "f32", [16])], { padding: "same", bits: 4, kernel: [3, 3], n: 3 }, loc),
  convInteger: (b, loc) => b.op("convInteger", [inp(b, "x", "u8", [1, 4, 4, 2]), inp(b, "w", "i8", [3, 3, 2, 3])], { padding: "same", inputZeroPoint: 5 }, loc),
};

/** Operands f32[2,3], default attributes: enough for most elementwise ops and `mse`. */
const fallback = (op: string): Sample => (b, loc) => {
  const { min } = operandCount(getOp(op));
  const operands = Array.from({ length: min }, (_, i) => x23(b, `x${i}`));
  return b.op(op, operands, {}, loc);
};

/**
 * A graph named after `op` that applies it once (with a source location) and outputs the
 * result. Throws, naming the op, when neither a sample nor the fallback builds a valid node.
 */
export function sampleGraph(op: string): Graph {
  const b = new GraphBuilder(op);
  const sample = SAMPLES[op] ?? fallback(op);
  let result: string;
  try {
    result = sample(b, { file: "samples.ts", line: 10, col: 3 });
  } catch (e) {
    throw new Error(`no valid sample for op '${op}' (add one to test/support/op-samples.ts): ${(e as Error).message}`);
  }
  b.output("y", result);
  return b.build();
}
