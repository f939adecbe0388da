// VJP rules of the layout ops (layout.ts) and of their transposes (layout-grad.ts): each against
// float64 central finite differences on several shapes, plus the backward graph's structure where
// it matters (which op a rule emits, and that unneeded operands get nothing).

import { describe, expect, it } from "vitest";
import { GraphBuilder } from "../../compiler/ir/builder.ts";
import type { AttrValue } from "../../compiler/ir/op-def.ts";
import { getOp } from "../../compiler/ir/ops.ts";
import type { DType, Shape } from "../../compiler/ir/types.ts";
import { autodiff } from "../../compiler/passes/autodiff.ts";
import { runPass } from "../../compiler/passes/pass.ts";
import { gradCheck, type Operand } from "../support/gradcheck.ts";

const ty = (shape: Shape, dtype: DType = "f32") => ({ dtype, shape });
const data = (shape: Shape): Operand => ({ type: ty(shape) });
const indices = (shape: Shape, values: number[]): Operand => ({ type: ty(shape, "i32"), values, differentiable: false });

function expectGradientsMatch(op: string, operands: Operand[], attrs: Record<string, AttrValue> = {}): void {
  const { worst, details } = gradCheck(op, operands, attrs);
  expect(worst, `${op} ${JSON.stringify(attrs)}:\n${details.join("\n")}`).toBeLessThan(1e-6);
}

describe("VJPs of layout ops match finite differences", () => {
  it.each([
    [[2, 3], [3, -1]],
    [[2, 3, 4], [-1]],
    [[], [1, 1]],
    [[6], [2, 1, 3]],
  ] as [Shape, number[]][])("reshape %j to %j", (shape, spec) => expectGradientsMatch("reshape", [data(shape)], { shape: spec }));

  it.each([[[]], [[4]], [[2, 3]]] as [Shape][])("copy of %j", (shape) => expectGradientsMatch("copy", [data(shape)]));

  it.each([
    [[2, 3], [1, 0]],
    [[2, 3, 4], [2, 0, 1]],
    [[2, 3, 4], [1, 2, 0]],
    [[2, 1, 3, 2], [3, 1, 0, 2]],
    [[], []],
  ] as [Shape, number[]][])("transpose %j by %j", (shape, perm) => expectGradientsMatch("transpose", [data(shape)], { perm }));

  it.each([
    [[5], [1], [3]],
    [[4, 5], [1, 2], [2, -1]],
    [[3, 4, 2], [0, 1, 1], [3, 2, 1]],
    [[2, 3], [0, 0], [2, 3]],
    [[], [], []],
  ] as [Shape, number[], number[]][])("slice of %j from %j, size %j", (shape, begin, size) =>
    expectGradientsMatch("slice", [data(shape)], { begin, size }),
  );

  it.each([
    [[[2, 3], [2, 1], [2, 4]], 1],
    [[[1, 3], [4, 3]], 0],
    [[[2, 2, 1], [2, 2, 3]], -1],
    [[[5]], 0],
  ] as [Shape[], number][])("concat of %j along %d", (shapes, axis) => expectGradientsMatch("concat", shapes.map(data), { axis }));

  it("concat where only some operands need a cotangent", () => {
    const operands = [data([2, 3]), { ...data([2, 2]), differentiable: false }, data([2, 1])];
    expectGradientsMatch("concat", operands, { axis: 1 });
  });

  it.each([
    [[], [2, 3]],
    [[3], [2, 3]],
    [[2, 1], [2, 3]],
    [[1, 3, 1], [2, 3, 4]],
    [[2, 3], [2, 3]],
  ] as [Shape, number[]][])("broadcastTo %j to %j", (shape, target) => expectGradientsMatch("broadcastTo", [data(shape)], { shape: target }));

  it.each([
    [[5, 3], [4], [0, 3, 3, 1], 0],
    [[2, 4, 3], [2, 2], [3, 0, 3, 3], 1],
    [[3, 4], [], [2], -1],
    [[4], [2, 3], [0, 1, 1, 3, 0, 0], 0],
  ] as [Shape, Shape, number[], number][])("gather from %j by indices %j %j on axis %d (repeats sum)", (table, shape, values, axis) =>
    expectGradientsMatch("gather", [data(table), indices(shape, values)], { axis }),
  );

  it.each([
    [[3], [1], [2]],
    [[2, 3], [1, 0], [0, 2]],
    [[2, 1, 2], [0, 2, 1], [1, 0, 0]],
    [[], [], []],
  ] as [Shape, number[], number[]][])("pad %j by %j before and %j after", (shape, before, after) =>
    expectGradientsMatch("pad", [data(shape)], { before, after }),
  );

  it.each([
    [[4], [0, 3, 3, 1], [4, 2], 0, 5],
    [[2, 2], [3, 0, 3, 3], [2, 2, 2, 3], 1, 4],
    [[], [2], [3, 4], -1, 3],
  ] as [Shape, number[], Shape, number, number][])("scatterAdd of indices %j %j into updates %j on axis %d, size %d", (shape, values, updates, axis, size) =>
    expectGradientsMatch("scatterAdd", [indices(shape, values), data(updates)], { axis, size }),
  );
});

/** The backward graph of loss = sum(op(x, ...rest)) with x the one param. */
function backwardOps(op: string, x: Shape, rest: { shape: Shape; dtype: DType }[], attrs: Record<string, AttrValue>): string[] {
  const b = new GraphBuilder(`backward_${op}`);
  const w = b.addParam({ name: "w", type: ty(x), init: "zeros", trainable: true });
  const others = rest.map((t, i) => b.addInput({ name: `in${i}`, type: ty(t.shape, t.dtype) }));
  const y = b.op(op, [w, ...others], attrs);
  b.output("loss", b.op("sum", [y], { axes: b.typeOf(y).shape.map((_, i) => i) }));
  const forward = b.build();
  const { graph } = runPass(autodiff, forward, { loss: "loss" });
  return graph.nodes.slice(forward.nodes.length).map((n) => n.op);
}

describe("layout VJPs emit the transposed layout op", () => {
  it("slice's cotangent is a pad, gather's a scatterAdd, each op's inverse", () => {
    expect(backwardOps("slice", [4, 5], [], { begin: [1, 2], size: [2, -1] })).toContain("pad");
    expect(backwardOps("gather", [5, 3], [{ shape: [4], dtype: "i32" }], {})).toContain("scatterAdd");
    expect(backwardOps("pad", [2], [], { before: [1], after: [0] })).toContain("slice");
    expect(backwardOps("transpose", [2, 3, 4], [], { perm: [2, 0, 1] })).toContain("transpose");
  });

  it("oneHot passes nothing back to its indices", () => {
    const b = new GraphBuilder("one_hot");
    const idx = b.addInput({ name: "idx", type: ty([3], "i32") });
    const y = b.op("oneHot", [idx], { depth: 4 });
    const dy = b.op("const", [], { value: 1, dtype: "f32", shape: [3, 4] });
    const node = b.nodes.find((n) => n.id === y)!;
    expect(getOp("oneHot").vjp!({ b, node, dy, needs: [true] })).toEqual([null]);
  });

  it("gather passes nothing to its indices, even when asked", () => {
    const b = new GraphBuilder("gather");
    const [table, idx] = [b.addInput({ name: "t", type: ty([4, 2]) }), b.addInput({ name: "idx", type: ty([3], "i32") })];
    const y = b.op("gather", [table, idx]);
    const node = b.nodes.find((n) => n.id === y)!;
    const grads = getOp("gather").vjp!({ b, node, dy: y, needs: [true, true] });
    expect(grads[1]).toBeNull();
    expect(b.typeOf(grads[0]!)).toEqual(ty([4, 2]));
  });
});
