// VJP rules of the contraction and pooling ops (matmul, conv2d, maxPool2d, avgPool2d) and of
// the backward ops they emit, checked against float64 central finite differences
// (test/support/gradcheck.ts) over the attribute combinations real models use, plus max pooling's tie
// rule, which finite differences cannot see.

import { describe, expect, it } from "vitest";
import { GraphBuilder } from "../../compiler/ir/builder.ts";
import { interpret } from "../../compiler/ir/interpreter.ts";
import { completeAttrs, type AttrValue } from "../../compiler/ir/op-def.ts";
import { getOp } from "../../compiler/ir/ops.ts";
import { NN_OPS } from "../../compiler/ir/ops/nn.ts";
import { NN_GRAD_OPS } from "../../compiler/ir/ops/nn-grad.ts";
import { autodiff } from "../../compiler/passes/autodiff.ts";
import { runPass } from "../../compiler/passes/pass.ts";
import { gradCheck, type Operand } from "../support/gradcheck.ts";

interface Case {
  op: string;
  label: string;
  operands: Operand[];
  attrs?: Record<string, AttrValue>;
}

const f32 = (shape: number[], extra: Partial<Operand> = {}): Operand => ({ type: { dtype: "f32", shape }, ...extra });

/**
 * The values of an NHWC image for max pooling: distinct and 0.1 apart in a scrambled order
 * (i*7919 mod n permutes 0..n-1 as 7919 is prime), so no window ties and no finite-difference
 * step changes which pixel wins.
 */
function distinctImage(shape: number[]): Operand {
  const n = shape.reduce((p, d) => p * d, 1);
  return f32(shape, { values: Array.from({ length: n }, (_, i) => ((i * 7919) % n) * 0.1 - n * 0.05) });
}

const MATMUL_CASES: Case[] = [
  { op: "matmul", label: "[3,4] x [4,5]", operands: [f32([3, 4]), f32([4, 5])] },
  { op: "matmul", label: "transposeA", operands: [f32([4, 3]), f32([4, 5])], attrs: { transposeA: true } },
  { op: "matmul", label: "transposeB", operands: [f32([3, 4]), f32([5, 4])], attrs: { transposeB: true } },
  { op: "matmul", label: "both transposed", operands: [f32([4, 3]), f32([5, 4])], attrs: { transposeA: true, transposeB: true } },
  { op: "matmul", label: "a batch against one shared matrix", operands: [f32([2, 3, 4]), f32([4, 5])] },
  { op: "matmul", label: "one shared matrix against a batch, transposeB", operands: [f32([3, 4]), f32([2, 5, 4])], attrs: { transposeB: true } },
  { op: "matmul", label: "both batches broadcast ([2,1] vs [3])", operands: [f32([2, 1, 3, 4]), f32([3, 4, 2])] },
  { op: "matmul", label: "size-1 batch axis stretched, transposeA", operands: [f32([1, 4, 3]), f32([2, 4, 5])], attrs: { transposeA: true } },
  { op: "matmul", label: "batched, both transposed", operands: [f32([2, 4, 3]), f32([2, 2, 4])], attrs: { transposeA: true, transposeB: true } },
  { op: "matmul", label: "only b trainable", operands: [f32([3, 4], { differentiable: false }), f32([4, 2])] },
];

const CONV_CASES: Case[] = [
  { op: "conv2d", label: "3x3 valid", operands: [f32([2, 5, 6, 3]), f32([3, 3, 3, 4])] },
  { op: "conv2d", label: "3x3 same, stride 2", operands: [f32([2, 5, 6, 3]), f32([3, 3, 3, 4])], attrs: { padding: "same", stride: [2, 2] } },
  { op: "conv2d", label: "2x2 same (padding only at the end), stride 2", operands: [f32([1, 6, 5, 2]), f32([2, 2, 2, 3])], attrs: { padding: "same", stride: [2, 2] } },
  { op: "conv2d", label: "explicit asymmetric pads, stride [2,1]", operands: [f32([1, 6, 5, 2]), f32([3, 3, 2, 3])],
    attrs: { padding: "explicit", pads: [1, 0, 2, 1], stride: [2, 1] } },
  { op: "conv2d", label: "dilation 2, same", operands: [f32([1, 7, 7, 2]), f32([3, 3, 2, 2])], attrs: { padding: "same", dilation: [2, 2] } },
  { op: "conv2d", label: "dilation [2,1], valid, stride [1,2]", operands: [f32([2, 6, 7, 1]), f32([2, 3, 1, 2])], attrs: { dilation: [2, 1], stride: [1, 2] } },
  { op: "conv2d", label: "groups 2", operands: [f32([1, 5, 5, 4]), f32([3, 3, 2, 6])], attrs: { groups: 2, padding: "same" } },
  { op: "conv2d", label: "depthwise", operands: [f32([2, 5, 4, 3]), f32([3, 3, 1, 3])], attrs: { groups: 3, padding: "same" } },
  { op: "conv2d", label: "depthwise, multiplier 2, stride 2", operands: [f32([1, 6, 6, 2]), f32([3, 3, 1, 4])], attrs: { groups: 2, stride: [2, 2] } },
  { op: "conv2d", label: "non-square kernel and input", operands: [f32([1, 7, 4, 2]), f32([2, 3, 2, 3])] },
  { op: "conv2d", label: "1x1, stride 2 (some pixels unused)", operands: [f32([1, 5, 5, 3]), f32([1, 1, 3, 2])], attrs: { stride: [2, 2] } },
  { op: "conv2d", label: "only the filter trainable", operands: [f32([1, 5, 5, 2], { differentiable: false }), f32([3, 3, 2, 2])], attrs: { padding: "same" } },
];

/** The same window configurations for both pools. */
const POOL_CONFIGS: [string, number[], Record<string, AttrValue>][] = [
  ["2x2 stride 2, valid", [2, 4, 6, 3], { size: [2, 2], stride: [2, 2] }],
  ["3x3 stride 2, same", [1, 5, 6, 2], { size: [3, 3], stride: [2, 2], padding: "same" }],
  ["2x2 stride 2, same (odd input)", [1, 5, 5, 2], { size: [2, 2], stride: [2, 2], padding: "same" }],
  ["3x2 stride [1,2], overlapping rows", [1, 5, 6, 2], { size: [3, 2], stride: [1, 2] }],
  ["3x3 stride 1, overlapping, explicit pads", [1, 5, 4, 2], { size: [3, 3], stride: [1, 1], padding: "explicit", pads: [1, 1, 0, 2] }],
  ["2x2 stride 3 (gaps between windows)", [1, 7, 7, 1], { size: [2, 2], stride: [3, 3] }],
];

const POOL_CASES: Case[] = POOL_CONFIGS.flatMap(([label, shape, attrs]) => [
  { op: "maxPool2d", label, operands: [distinctImage(shape)], attrs },
  { op: "avgPool2d", label, operands: [f32(shape)], attrs },
]);

/** The result shape of a forward op, from its shape rule. */
function forwardShape(op: string, shapes: number[][], attrs: Record<string, AttrValue>): number[] {
  const def = getOp(op);
  return [...def.infer(shapes.map((shape) => ({ dtype: "f32", shape })), completeAttrs(def, attrs)).shape];
}

/** The backward ops are linear or bilinear too, so they have VJPs of their own (second order). */
function backwardCases(): Case[] {
  const convs: [string, number[], number[], Record<string, AttrValue>][] = [
    ["3x3 same, stride 2", [1, 5, 6, 2], [3, 3, 2, 3], { padding: "same", stride: [2, 2] }],
    ["groups 2, dilation 2, explicit pads", [1, 6, 6, 4], [2, 2, 2, 2], { groups: 2, dilation: [2, 2], padding: "explicit", pads: [1, 1, 0, 0] }],
  ];
  const pools: [string, number[], Record<string, AttrValue>][] = [
    ["3x3 stride 2, same", [1, 5, 6, 2], { size: [3, 3], stride: [2, 2], padding: "same" }],
    ["3x2 stride 1, explicit pads", [1, 5, 4, 2], { size: [3, 2], stride: [1, 1], padding: "explicit", pads: [1, 1, 0, 1] }],
  ];
  return [
    ...convs.flatMap(([label, x, w, attrs]): Case[] => {
      const y = f32(forwardShape("conv2d", [x, w], attrs));
      return [
        { op: "conv2dBackpropInput", label, operands: [y, f32(w)], attrs: { ...attrs, inputShape: x } },
        { op: "conv2dBackpropFilter", label, operands: [f32(x), y], attrs: { ...attrs, filterShape: w } },
      ];
    }),
    ...pools.map(([label, x, attrs]): Case => (
      { op: "avgPool2dGrad", label, operands: [f32(forwardShape("avgPool2d", [x], attrs))], attrs: { ...attrs, inputShape: x } })),
  ];
}

const CASES = [...MATMUL_CASES, ...CONV_CASES, ...POOL_CASES, ...backwardCases()];

describe("VJPs match central finite differences (float64)", () => {
  for (const c of CASES) {
    it(`${c.op}: ${c.label}`, () => {
      const { worst, details } = gradCheck(c.op, c.operands, c.attrs ?? {});
      expect(worst, details.join("\n")).toBeLessThan(1e-6);
    });
  }

  it("every record of the group with a VJP is checked; only maxPool2dGrad has none", () => {
    const records = [...NN_OPS, ...NN_GRAD_OPS];
    expect(new Set(CASES.map((c) => c.op))).toEqual(new Set(records.filter((o) => o.vjp).map((o) => o.name)));
    expect(records.filter((o) => !o.vjp).map((o) => o.name)).toEqual(["maxPool2dGrad"]);
  });
});

describe("the backward graph", () => {
  function trainingGraph(pool: "maxPool2d" | "avgPool2d") {
    const b = new GraphBuilder("net");
    const x = b.addInput({ name: "x", type: { dtype: "f32", shape: [1, 4, 4, 1] } });
    const w = b.addParam({ name: "w", type: { dtype: "f32", shape: [1, 1, 1, 1] }, init: "ones", trainable: true });
    const pooled = b.op(pool, [b.op("conv2d", [x, w])], { size: [2, 2], stride: [2, 2] });
    b.output("loss", b.op("sum", [pooled], { axes: [0, 1, 2, 3] }));
    return runPass(autodiff, b.build(), { loss: "loss", exposeGradients: true }).graph;
  }

  it("uses the dedicated backward ops and builds no cotangent for the input x", () => {
    const ops = (pool: "maxPool2d" | "avgPool2d") => trainingGraph(pool).nodes.map((n) => n.op);
    expect(ops("maxPool2d")).toContain("maxPool2dGrad");
    expect(ops("avgPool2d")).toContain("avgPool2dGrad");
    // x is an input, so only the filter's cotangent is built.
    expect(ops("maxPool2d")).toContain("conv2dBackpropFilter");
    expect(ops("maxPool2d")).not.toContain("conv2dBackpropInput");
  });

  it("routes max pooling's cotangent to the winners and spreads average pooling's", () => {
    // y = w * x with w = 1 and x = 1..16 in a 4x4 image; loss = sum of the 2x2 pools, so
    // d loss / d w = sum over windows of what each window's backward reads from x.
    const ramp = Array.from({ length: 16 }, (_, i) => i + 1);
    const gradW = (pool: "maxPool2d" | "avgPool2d") =>
      [...interpret(trainingGraph(pool), { x: ramp }, { precision: "f64", params: { w: [1] } }).outputs["grad/w"].data];
    expect(gradW("maxPool2d")).toEqual([6 + 8 + 14 + 16]); // each window's bottom-right pixel
    expect(gradW("avgPool2d")).toEqual([136 / 4]); // every pixel once, a quarter each
  });

  it("max pooling gives a tied window's cotangent to its first maximum only (TensorFlow, PyTorch)", () => {
    // Two 2x2 windows of a 2x4 image: [[3, 3], [3, 0]] and [[1, 5], [5, 5]]. In window order (rows,
    // then columns) the first maxima are the top-left 3 and the top-right 5.
    const b = new GraphBuilder("tie");
    const x = b.addParam({ name: "x", type: { dtype: "f32", shape: [1, 2, 4, 1] }, init: "zeros", trainable: true });
    const pooled = b.op("maxPool2d", [x], { size: [2, 2], stride: [2, 2] });
    b.output("loss", b.op("sum", [pooled], { axes: [0, 1, 2, 3] }));
    const { graph } = runPass(autodiff, b.build(), { loss: "loss", exposeGradients: true });
    const g = interpret(graph, {}, { precision: "f64", params: { x: [3, 3, 1, 5, 3, 0, 5, 5] } }).outputs["grad/x"].data;
    expect([...g]).toEqual([1, 0, 0, 1, 0, 0, 0, 0]);
  });
});
