// VJP rules of the reduction, normalization and loss ops, checked against float64 central finite
// differences (test/support/gradcheck.ts) over several shapes and attribute combinations, plus the
// tie-breaking conventions of max, which finite differences cannot see.

import { describe, expect, it } from "vitest";
import { GraphBuilder } from "../../compiler/ir/builder.ts";
import { interpret } from "../../compiler/ir/interpreter.ts";
import type { AttrValue } from "../../compiler/ir/op-def.ts";
import { REDUCTION_OPS } from "../../compiler/ir/ops/reduction.ts";
import type { DType, TensorType } from "../../compiler/ir/types.ts";
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
const typed = (dtype: DType, shape: number[], extra: Partial<Operand> = {}): Operand => ({ type: { dtype, shape }, ...extra });

/**
 * n distinct values 0.1 apart in a scrambled order (7919 is prime, so i*7919 mod n permutes
 * 0..n-1): a max never ties, and no finite-difference step (1e-5) can change which element wins.
 */
function distinct(n: number): number[] {
  return Array.from({ length: n }, (_, i) => ((i * 7919) % n) * 0.1 - n * 0.05);
}

const AXIS_SETS: [number[], string][] = [
  [[], "no axes (identity)"],
  [[0], "axis 0"],
  [[1], "axis 1"],
  [[-1], "the last axis, negative"],
  [[0, 2], "axes 0 and 2"],
  [[2, 0, 1], "every axis, unordered"],
];

function reductionCases(): Case[] {
  const cases: Case[] = [];
  for (const op of ["sum", "mean", "max"]) {
    for (const [axes, what] of AXIS_SETS) {
      for (const keepDims of [false, true]) {
        const x = op === "max" ? f32([2, 3, 4], { values: distinct(24) }) : f32([2, 3, 4]);
        cases.push({ op, label: `[2,3,4] over ${what}${keepDims ? ", keepDims" : ""}`, operands: [x], attrs: { axes, keepDims } });
      }
    }
    const vector = op === "max" ? f32([7], { values: distinct(7) }) : f32([7]);
    cases.push({ op, label: "a vector to a scalar", operands: [vector], attrs: { axes: [0] } });
    const ones = op === "max" ? f32([3, 1, 2], { values: distinct(6) }) : f32([3, 1, 2]);
    cases.push({ op, label: "over a size-1 axis", operands: [ones], attrs: { axes: [1] } });
  }
  return cases;
}

function softmaxCases(): Case[] {
  const cases: Case[] = [];
  for (const op of ["softmax", "logSoftmax"]) {
    for (const axis of [-1, 0, 1]) cases.push({ op, label: `[2,3,4] along axis ${axis}`, operands: [f32([2, 3, 4])], attrs: { axis } });
    cases.push({ op, label: "a vector", operands: [f32([5])] });
    cases.push({ op, label: "large logits (the max shift matters)", operands: [f32([3, 4], { range: [40, 60] })] });
  }
  return cases;
}

function normalizationCases(): Case[] {
  const params = (len: number) => [f32([len], { range: [0.5, 1.5] }), f32([len])];
  return [
    { op: "layerNorm", label: "[3,5] over the last axis", operands: [f32([3, 5]), ...params(5)] },
    { op: "layerNorm", label: "[2,4,3] over axis 1 (not last)", operands: [f32([2, 4, 3]), ...params(4)], attrs: { axis: 1 } },
    { op: "layerNorm", label: "[4,2,3] over axis 0, eps 1e-2", operands: [f32([4, 2, 3]), ...params(4)], attrs: { axis: 0, eps: 1e-2 } },
    { op: "layerNorm", label: "a vector", operands: [f32([6]), ...params(6)] },
    { op: "layerNorm", label: "only gamma and beta trainable", operands: [f32([3, 5], { differentiable: false }), ...params(5)] },
    { op: "batchNorm", label: "rank 2 [6,3]", operands: [f32([6, 3]), ...params(3)] },
    { op: "batchNorm", label: "rank 4 NHWC [2,3,2,4]", operands: [f32([2, 3, 2, 4]), ...params(4)] },
    { op: "batchNorm", label: "rank 3, eps 1e-1", operands: [f32([3, 2, 2]), ...params(2)], attrs: { eps: 0.1 } },
    { op: "batchNorm", label: "only x trainable", operands: [f32([5, 3]), ...params(3).map((p) => ({ ...p, differentiable: false }))] },
    { op: "batchNorm", label: "only beta trainable", operands: [f32([4, 2], { differentiable: false }), f32([2], { differentiable: false }), f32([2])] },
  ];
}

function lossCases(): Case[] {
  const labels = (shape: number[], values: number[]) => typed("i32", shape, { values, differentiable: false });
  return [
    { op: "softmaxCrossEntropy", label: "[4,5] logits", operands: [f32([4, 5]), labels([4], [0, 4, 2, 2])] },
    { op: "softmaxCrossEntropy", label: "[2,3,4] logits, two leading axes", operands: [f32([2, 3, 4]), labels([2, 3], [3, 0, 1, 1, 2, 3])] },
    { op: "softmaxCrossEntropy", label: "a single position", operands: [f32([3], { range: [-3, 3] }), labels([], [1])] },
    { op: "softmaxCrossEntropy", label: "f16 logits (the f32 loss is cast back)", operands: [typed("f16", [3, 4]), labels([3], [1, 3, 0])] },
    { op: "mse", label: "[3,4]", operands: [f32([3, 4]), f32([3, 4])] },
    { op: "mse", label: "a scalar pair", operands: [f32([]), f32([])] },
    { op: "mse", label: "a constant target", operands: [f32([5]), f32([5], { differentiable: false })] },
  ];
}

const CASES = [...reductionCases(), ...softmaxCases(), ...normalizationCases(), ...lossCases()];

describe("VJPs match central finite differences (float64)", () => {
  for (const c of CASES) {
    it(`${c.op}: ${c.label}`, () => {
      const { worst, details } = gradCheck(c.op, c.operands, c.attrs ?? {});
      expect(worst, details.join("\n")).toBeLessThan(1e-6);
    });
  }

  it("every record of the group with a VJP is checked, and only batchNormRunningStat has none", () => {
    const withVjp = REDUCTION_OPS.filter((o) => o.vjp).map((o) => o.name);
    expect(new Set(CASES.map((c) => c.op))).toEqual(new Set(withVjp));
    expect(REDUCTION_OPS.filter((o) => !o.vjp).map((o) => o.name)).toEqual(["batchNormRunningStat"]);
  });
});

/** d loss / d x of the graph `loss = build(x)`, by autodiff and the float64 interpreter. */
function gradient(type: TensorType, values: number[], build: (b: GraphBuilder, x: string) => string): number[] {
  const b = new GraphBuilder("grad");
  const x = b.addParam({ name: "x", type, init: "zeros", trainable: true });
  b.output("loss", build(b, x));
  const { graph } = runPass(autodiff, b.build(), { loss: "loss", exposeGradients: true });
  return [...interpret(graph, {}, { precision: "f64", params: { x: values } }).outputs["grad/x"].data];
}

describe("max splits the cotangent evenly among tied maxima (torch.amax)", () => {
  it("a two-way tie in a vector", () => {
    const g = gradient({ dtype: "f32", shape: [4] }, [1, 3, 3, 2], (b, x) => b.op("max", [x], { axes: [0] }));
    expect(g).toEqual([0, 0.5, 0.5, 0]);
  });

  it("ties per output element, over two axes with keepDims", () => {
    // x[:, :, 0] = [[5, 5], [1, 5]] and x[:, :, 1] = [[2, 0], [0, 0]]: a three-way tie and a lone max.
    const x = [5, 2, 5, 0, 1, 0, 5, 0];
    const g = gradient({ dtype: "f32", shape: [2, 2, 2] }, x, (b, v) =>
      b.op("sum", [b.op("max", [v], { axes: [0, 1], keepDims: true })], { axes: [0, 1, 2] }));
    expect(g).toEqual([1 / 3, 1, 1 / 3, 0, 0, 0, 1 / 3, 0]);
  });
});

describe("the backward graph", () => {
  it("builds the normalization statistics only when x or gamma needs a cotangent", () => {
    const b = new GraphBuilder("ln");
    const x = b.addInput({ name: "x", type: { dtype: "f32", shape: [2, 3] } });
    const gamma = b.addInput({ name: "gamma", type: { dtype: "f32", shape: [3] } });
    const beta = b.addParam({ name: "beta", type: { dtype: "f32", shape: [3] }, init: "zeros", trainable: true });
    b.output("loss", b.op("sum", [b.op("layerNorm", [x, gamma, beta])], { axes: [0, 1] }));
    const forward = b.build();
    const { graph } = runPass(autodiff, forward, { loss: "loss" });
    const backward = graph.nodes.slice(forward.nodes.length).map((n) => n.op);
    expect(backward).not.toContain("rsqrt");
    expect(backward).not.toContain("mean");
  });
});

describe("cotangents with hand-computed values", () => {
  it("mean spreads 1/count over the reduced axes only", () => {
    const g = gradient({ dtype: "f32", shape: [2, 3] }, [1, 2, 3, 4, 5, 6], (b, x) =>
      b.op("sum", [b.op("mean", [x], { axes: [1] })], { axes: [0] }));
    expect(g).toEqual(new Array(6).fill(1 / 3));
  });

  it("softmaxCrossEntropy: (softmax - oneHot) / N", () => {
    // Equal logits: softmax is uniform, so row r's gradient is (1/3 - [c = label]) / 2.
    const b = new GraphBuilder("sce");
    const logits = b.addParam({ name: "x", type: { dtype: "f32", shape: [2, 3] }, init: "zeros", trainable: true });
    const labels = b.addInput({ name: "y", type: { dtype: "i32", shape: [2] } });
    b.output("loss", b.op("softmaxCrossEntropy", [logits, labels]));
    const { graph } = runPass(autodiff, b.build(), { loss: "loss", exposeGradients: true });
    const g = interpret(graph, { y: [2, 0] }, { precision: "f64", params: { x: [0, 0, 0, 7, 7, 7] } }).outputs["grad/x"].data;
    const third = 1 / 6;
    [third, third, third - 0.5, third - 0.5, third, third].forEach((want, i) => expect(g[i]).toBeCloseTo(want, 15));
  });
});
