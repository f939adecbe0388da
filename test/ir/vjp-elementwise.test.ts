// VJP rules of the elementwise ops: every differentiable op against float64 central finite
// differences (test/support/gradcheck.ts) on several shapes, broadcasting both ways; the points finite
// differences cannot see (ties, kinks, 0^0) against PyTorch's conventions, read straight off the
// backward graph; and the op table's promise that every op has a rule or is known not to.

import { describe, expect, it } from "vitest";
import { GraphBuilder } from "../../compiler/ir/builder.ts";
import type { AttrValue } from "../../compiler/ir/op-def.ts";
import { interpret } from "../../compiler/ir/interpreter.ts";
import { getOp, OPS } from "../../compiler/ir/ops.ts";
import { numel, type DType, type Shape } from "../../compiler/ir/types.ts";
import { autodiff, AutodiffError } from "../../compiler/passes/autodiff.ts";
import { runPass } from "../../compiler/passes/pass.ts";
import { gradCheck, type Operand } from "../support/gradcheck.ts";
import { sequence } from "../support/kernel-harness.ts";

const ty = (shape: Shape, dtype: DType = "f32") => ({ dtype, shape });

function expectGradientsMatch(op: string, operands: Operand[], attrs: Record<string, AttrValue> = {}): void {
  const { worst, details } = gradCheck(op, operands, attrs);
  expect(worst, `${op}:\n${details.join("\n")}`).toBeLessThan(1e-6);
}

/** Values in ±[0.1, 2): both signs, never near 0, where relu, abs and division have kinks or poles. */
function awayFromZero(shape: Shape, seed = 1): number[] {
  return sequence(numel(shape), 0.1, 2, seed).map((v, i) => (i % 3 === 1 ? -v : v));
}

/**
 * Values of two operands that never tie, however they broadcast: k + 1/4 against k + 3/4 for
 * small integers k, so |a - b| >= 1/2 everywhere and both operands win somewhere.
 */
const offGrid = (shape: Shape, offset: number) => Array.from({ length: numel(shape) }, (_, i) => ((i * 7) % 5) - 2 + offset);

/** Unary operand shapes, each wrapped as one test.each argument: a scalar, a vector, rank 3. */
const UNARY_SHAPES: [Shape][] = [[[]], [[5]], [[2, 3, 4]]];

/** Operand shapes of binary ops: equal, a scalar on either side, size-1 axes, rank mismatch either side. */
const BINARY_SHAPES: [Shape, Shape][] = [
  [[2, 3], [2, 3]],
  [[2, 3], []],
  [[], [4]],
  [[2, 1, 4], [3, 1]],
  [[4], [2, 3, 4]],
  [[2, 3, 4], [1, 4]],
];

describe("VJPs of unary ops match finite differences", () => {
  const normal = (shape: Shape): Operand => ({ type: ty(shape) });
  const positive = (shape: Shape): Operand => ({ type: ty(shape), range: [0.2, 3] });
  const signed = (shape: Shape): Operand => ({ type: ty(shape), values: awayFromZero(shape) });
  const cases: [string, (shape: Shape) => Operand, Record<string, AttrValue>][] = [
    ["neg", normal, {}],
    ["exp", normal, {}],
    ["log", positive, {}],
    ["sqrt", positive, {}],
    ["rsqrt", positive, {}],
    ["abs", signed, {}],
    ["tanh", normal, {}],
    ["sigmoid", (shape) => ({ type: ty(shape), range: [-6, 6] }), {}],
    ["relu", signed, {}],
    ["gelu", (shape) => ({ type: ty(shape), range: [-4, 4] }), { approximate: "none" }],
    ["gelu", (shape) => ({ type: ty(shape), range: [-4, 4] }), { approximate: "tanh" }],
  ];
  for (const [op, operand, attrs] of cases) {
    it.each(UNARY_SHAPES)(`${op} ${JSON.stringify(attrs)} on %j`, (shape) => expectGradientsMatch(op, [operand(shape)], attrs));
  }

  it.each(["none", "tanh"])("gelu (%s) also at 0 and far into both tails", (approximate) => {
    expectGradientsMatch("gelu", [{ type: ty([6]), values: [0, -8, -3, 1e-3, 5, 12] }], { approximate });
  });
});

describe("VJPs of binary ops match finite differences, undoing broadcasting", () => {
  const normal = (shape: Shape): Operand => ({ type: ty(shape) });
  const cases: [string, (shape: Shape) => Operand, (shape: Shape) => Operand][] = [
    ["add", normal, normal],
    ["sub", normal, normal],
    ["mul", normal, normal],
    ["div", normal, (shape) => ({ type: ty(shape), values: awayFromZero(shape, 5) })],
    ["pow", (shape) => ({ type: ty(shape), range: [0.3, 2.5] }), (shape) => ({ type: ty(shape), range: [-2, 3] })],
    ["maximum", (shape) => ({ type: ty(shape), values: offGrid(shape, 0.25) }), (shape) => ({ type: ty(shape), values: offGrid(shape, 0.75).reverse() })],
    ["minimum", (shape) => ({ type: ty(shape), values: offGrid(shape, 0.25) }), (shape) => ({ type: ty(shape), values: offGrid(shape, 0.75).reverse() })],
  ];
  for (const [op, left, right] of cases) {
    it.each(BINARY_SHAPES)(`${op} of %j and %j`, (a, b) => expectGradientsMatch(op, [left(a), right(b)]));
  }

  it.each(["add", "sub", "mul", "div", "pow"])("%s with one operand a plain input (its cotangent is skipped)", (op) => {
    expectGradientsMatch(op, [{ type: ty([2, 3]), range: [0.5, 2] }, { type: ty([3]), range: [0.5, 2], differentiable: false }]);
    expectGradientsMatch(op, [{ type: ty([3]), range: [0.5, 2], differentiable: false }, { type: ty([2, 3]), range: [0.5, 2] }]);
  });

  it("pow at a negative base with integer exponents", () => {
    expectGradientsMatch("pow", [{ type: ty([3]), values: [-1.5, -0.7, -2] }, { type: ty([3]), values: [2, 3, -1], differentiable: false }]);
  });
});

describe("VJPs of where, cast and dropout match finite differences", () => {
  const mask = (shape: Shape) => Array.from({ length: numel(shape) }, (_, i) => (i * 5) % 3 === 0 ? 1 : 0);
  it.each([
    [[2, 3], [2, 3], [2, 3]],
    [[2, 1], [3], []],
    [[4], [2, 1, 4], [1]],
    [[], [2, 3], [1, 3]],
  ] as [Shape, Shape, Shape][])("where(cond %j, a %j, b %j)", (cond, a, b) => {
    expectGradientsMatch("where", [
      { type: ty(cond, "bool"), values: mask(cond), differentiable: false },
      { type: ty(a) },
      { type: ty(b) },
    ]);
  });

  it.each([
    ["f32", "f16"],
    ["f32", "bf16"],
    ["f16", "f32"],
    ["f32", "f32"],
  ] as [DType, DType][])("cast from %s to %s", (from, to) => {
    expectGradientsMatch("cast", [{ type: ty([2, 3], from) }], { dtype: to });
  });

  it.each([
    [[4, 5], 0.3, 7],
    [[], 0.5, 1],
    [[3, 1, 2], 0, 3],
  ] as [Shape, number, number][])("dropout on %j at rate %s", (shape, rate, seed) => {
    expectGradientsMatch("dropout", [{ type: ty(shape) }, { type: ty([], "i32"), values: [11], differentiable: false }], { rate, seed });
  });
});

/** Gradients of loss = sum(op(params)) at the given values, from the backward graph autodiff builds. */
function gradientsOfSum(op: string, operands: { shape: Shape; values: number[] }[], attrs: Record<string, AttrValue> = {}): number[][] {
  const b = new GraphBuilder(`grad_${op}`);
  const names = operands.map((o, i) => b.addParam({ name: `p${i}`, type: ty(o.shape), init: "zeros", trainable: true }));
  const y = b.op(op, names, attrs);
  b.output("loss", b.op("sum", [y], { axes: b.typeOf(y).shape.map((_, i) => i) }));
  const { graph } = runPass(autodiff, b.build(), { loss: "loss", exposeGradients: true });
  const params = Object.fromEntries(names.map((n, i) => [n, operands[i].values]));
  const result = interpret(graph, {}, { precision: "f64", params });
  return names.map((n) => [...result.outputs[`grad/${n}`].data]);
}

describe("gradients where finite differences cannot look follow PyTorch", () => {
  it("maximum and minimum split a tie half and half, also when broadcast", () => {
    const a = { shape: [3], values: [1, 2, 3] };
    const b = { shape: [3], values: [1, 0, 5] };
    expect(gradientsOfSum("maximum", [a, b])).toEqual([[0.5, 1, 0], [0.5, 0, 1]]);
    expect(gradientsOfSum("minimum", [a, b])).toEqual([[0.5, 0, 1], [0.5, 1, 0]]);
    // A scalar tied with two elements collects both halves.
    expect(gradientsOfSum("minimum", [{ shape: [2], values: [2, 2] }, { shape: [], values: [2] }])).toEqual([[0.5, 0.5], [1]]);
  });

  it("abs and relu have gradient 0 at 0", () => {
    expect(gradientsOfSum("abs", [{ shape: [3], values: [-2, 0, 3] }])).toEqual([[-1, 0, 1]]);
    expect(gradientsOfSum("relu", [{ shape: [3], values: [-2, 0, 3] }])).toEqual([[0, 0, 1]]);
  });

  it("gelu's gradient at 0 is 1/2 in both forms", () => {
    for (const approximate of ["none", "tanh"]) {
      expect(gradientsOfSum("gelu", [{ shape: [1], values: [0] }], { approximate })).toEqual([[0.5]]);
    }
  });

  it("pow at a zero base: 0 where the exponent is 0 or the base's gradient would be 0·inf, -inf where it truly is", () => {
    // torch.pow(a, b).sum().backward() with a = [0, 0, 0, 2], b = [2, 0, -1, 0].
    const [da, db] = gradientsOfSum("pow", [{ shape: [4], values: [0, 0, 0, 2] }, { shape: [4], values: [2, 0, -1, 0] }]);
    expect(da).toEqual([0, 0, -Infinity, 0]);
    expect(db).toEqual([0, 0, -Infinity, Math.LN2]);
  });
});

describe("ops that pass no cotangent", () => {
  it("comparisons return a null per operand", () => {
    for (const op of ["less", "greater", "equal"]) {
      const b = new GraphBuilder("cmp");
      const [x, w] = [b.addInput({ name: "x", type: ty([3]) }), b.addInput({ name: "w", type: ty([3]) })];
      const y = b.op(op, [x, w]);
      const dy = b.op("const", [], { value: 1, dtype: "bool", shape: [3] });
      const before = b.nodes.length;
      expect(getOp(op).vjp!({ b, node: b.nodes.find((n) => n.id === y)!, dy, needs: [true, true] })).toEqual([null, null]);
      expect(b.nodes.length).toBe(before);
    }
  });

  it("a cast to an integer passes nothing back: only the other path reaches the param", () => {
    const b = new GraphBuilder("quantized");
    const w = b.addParam({ name: "w", type: ty([3]), init: "zeros", trainable: true });
    const rounded = b.op("cast", [b.op("cast", [w], { dtype: "i32" })], { dtype: "f32" });
    b.output("loss", b.op("sum", [b.op("mul", [rounded, w])], { axes: [0] }));
    const { graph } = runPass(autodiff, b.build(), { loss: "loss", exposeGradients: true });
    // d/dw sum(trunc(w) * w) = trunc(w) through the second factor only.
    const out = interpret(graph, {}, { precision: "f64", params: { w: [1.5, -2.7, 0.2] } });
    expect([...out.outputs["grad/w"].data]).toEqual([1, -2, 0]);
  });
});

/**
 * Ops that have no VJP on purpose, each with the reason. Any other op without a rule fails the
 * test below, so a new op cannot slip in undifferentiable by accident.
 */
const NON_DIFFERENTIABLE: Readonly<Record<string, string>> = {
  batchNormRunningStat: "its result only updates non-trainable running statistics, which no loss reads",
  maxPool2dGrad: "emitted by maxPool2d's VJP; differentiating it again (second order) is not supported",
  fused: "made by the fuse pass, which runs after autodiff on the graphs that are emitted",
  fusedMatmul: "made by the fuseEpilogues pass, which runs after autodiff on the graphs that are emitted",
  fusedConv2d: "made by the fuseEpilogues pass, which runs after autodiff on the graphs that are emitted",
  fusedReduce: "made by the fuseReductions pass, which runs after autodiff on the graphs that are emitted",
  blockSparseMatmul: "made by the block-sparse pass for inference (--sparse), whose packed weights are constants",
  sparse24Matmul: "made by the sparse-two-four pass for inference (--sparse), whose packed weights are constants",
};

describe("the op table", () => {
  it("gives every op a VJP rule unless it is listed as non-differentiable", () => {
    const missing = [...OPS.values()].filter((op) => !op.vjp && !(op.name in NON_DIFFERENTIABLE)).map((op) => op.name);
    expect(missing, "ops without a VJP rule (add one, or list the op in NON_DIFFERENTIABLE with a reason)").toEqual([]);
    for (const name of Object.keys(NON_DIFFERENTIABLE)) expect(getOp(name).vjp, `${name} is listed but has a rule`).toBeUndefined();
  });

  it("autodiff names an op without a rule and where it sits", () => {
    // Simulated on gelu by taking its rule away for the duration of the test.
    const gelu = getOp("gelu") as { vjp?: unknown };
    const rule = gelu.vjp;
    delete gelu.vjp;
    try {
      const b = new GraphBuilder("no_rule");
      const w = b.addParam({ name: "w", type: ty([2]), init: "zeros", trainable: true });
      const y = b.op("gelu", [w], {}, { file: "model.ts", line: 4, col: 9 });
      b.output("loss", b.op("sum", [y], { axes: [0] }));
      const run = () => runPass(autodiff, b.build(), { loss: "loss" });
      expect(run).toThrow(AutodiffError);
      expect(run).toThrow(`op 'gelu' has no VJP rule, so %${y} (model.ts:4:9) cannot be differentiated`);
    } finally {
      gelu.vjp = rule;
    }
  });
});
