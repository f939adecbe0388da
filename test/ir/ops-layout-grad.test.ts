// The backward-only layout ops (layout-grad.ts): kernels on hand-computed values, every
// ShapeError path, and the adjoint identities that make them the transposes of slice and gather:
// <slice(x), y> = <x, pad(y)> and <gather(t, i), u> = <t, scatterAdd(i, u)>.

import { describe, expect, it } from "vitest";
import { getOp } from "../../compiler/ir/ops.ts";
import { LAYOUT_GRAD_OPS } from "../../compiler/ir/ops/layout-grad.ts";
import { ShapeError, type DType, type Shape } from "../../compiler/ir/types.ts";
import { inferOp, opNamed, runOp, sequence, tensor, tensorFrom } from "../support/kernel-harness.ts";

const op = (name: string) => opNamed(LAYOUT_GRAD_OPS, name);
const ty = (dtype: DType, shape: Shape) => ({ dtype, shape });
/** Element i is i + 1, so every value names its source position and none is 0 like padding. */
const counting = (shape: Shape, dtype: DType = "f32") => tensorFrom(dtype, shape, (i) => i + 1);
const dot = (p: readonly number[], q: readonly number[]) => p.reduce((s, v, i) => s + v * q[i], 0);

describe("the layout-grad table", () => {
  it("holds pad and scatterAdd, registered, each with a VJP", () => {
    expect(LAYOUT_GRAD_OPS.map((o) => o.name)).toEqual(["pad", "scatterAdd"]);
    for (const o of LAYOUT_GRAD_OPS) {
      expect(getOp(o.name)).toBe(o);
      expect(o.vjp).toBeTypeOf("function");
    }
  });
});

describe("pad", () => {
  it.each([
    [[3], [1], [2], [6], [0, 1, 2, 3, 0, 0]],
    [[2, 2], [1, 0], [0, 1], [3, 3], [0, 0, 0, 1, 2, 0, 3, 4, 0]],
    [[1, 2, 1], [0, 0, 1], [1, 1, 0], [2, 3, 2], [0, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0]],
    [[2], [0], [0], [2], [1, 2]],
    [[], [], [], [], [1]],
    [[0, 2], [1, 0], [0, 1], [1, 3], [0, 0, 0]],
  ] as [Shape, number[], number[], Shape, number[]][])("%j with before %j, after %j is %j of %j", (shape, before, after, outShape, want) => {
    const r = runOp(op("pad"), [counting(shape)], { before, after });
    expect(r).toEqual({ type: ty("f32", outShape), values: want });
  });

  it("keeps the dtype, padding bools with false", () => {
    expect(runOp(op("pad"), [tensor("bool", [2], [1, 1])], { before: [1], after: [1] })).toEqual({ type: ty("bool", [4]), values: [0, 1, 1, 0] });
  });

  it.each([
    [[2, 3], [1], [0, 0], "pad: before [1], after [0, 0] must have one entry per axis of f32[2,3]"],
    [[2, 3], [0, 0], [0], "pad: before [0, 0], after [0] must have one entry per axis of f32[2,3]"],
    [[2, 3], [0, -1], [0, 0], "pad: before [0, -1], after [0, 0] has a negative width"],
  ] as [Shape, number[], number[], string][])("%j with before %j, after %j is a ShapeError", (shape, before, after, message) => {
    const infer = () => inferOp(op("pad"), [ty("f32", shape)], { before, after });
    expect(infer).toThrow(ShapeError);
    expect(infer).toThrow(message);
  });

  it("is the adjoint of slice: <slice(x), y> = <x, pad(y)>", () => {
    const x = tensor("f32", [4, 5], sequence(20, -1, 1, 3));
    const y = tensor("f32", [2, 3], sequence(6, -1, 1, 4));
    const sliced = runOp(getOp("slice"), [x], { begin: [1, 2], size: [2, 3] });
    const padded = runOp(op("pad"), [y], { before: [1, 2], after: [1, 0] });
    expect(dot(padded.values, [...x.data])).toBeCloseTo(dot(sliced.values, [...y.data]), 14);
  });
});

describe("scatterAdd", () => {
  it("adds rows of updates into a zero table along axis 0, summing repeats", () => {
    const r = runOp(op("scatterAdd"), [tensor("i32", [3], [2, 0, 2]), counting([3, 2])], { size: 4 });
    expect(r).toEqual({ type: ty("f32", [4, 2]), values: [3, 4, 0, 0, 6, 8, 0, 0] });
  });

  it("scatters along an inner axis with 2-D indices", () => {
    // updates[o][k0][k1][i] goes to table[o][idx[k0][k1]][i]; idx = [[1, 0], [1, 1]].
    const r = runOp(op("scatterAdd"), [tensor("i32", [2, 2], [1, 0, 1, 1]), counting([2, 2, 2, 1])], { axis: 1, size: 3 });
    expect(r).toEqual({ type: ty("f32", [2, 3, 1]), values: [2, 1 + 3 + 4, 0, 6, 5 + 7 + 8, 0] });
  });

  it("takes a scalar index and a negative axis (counted on the table's rank)", () => {
    const r = runOp(op("scatterAdd"), [tensor("i32", [], [1]), counting([2])], { axis: -1, size: 3 });
    expect(r).toEqual({ type: ty("f32", [2, 3]), values: [0, 1, 0, 0, 2, 0] });
  });

  it("gives an all-zero table for no indices", () => {
    expect(runOp(op("scatterAdd"), [tensor("i32", [0], []), tensor("f32", [0, 2], [])], { size: 2 }).values).toEqual([0, 0, 0, 0]);
  });

  it("rejects an out-of-range index when it runs", () => {
    expect(() => runOp(op("scatterAdd"), [tensor("i32", [2], [0, 3]), counting([2])], { size: 3 })).toThrow(
      "scatterAdd: index 3 is out of range for axis 0 of size 3 (table f32[3])",
    );
    expect(() => runOp(op("scatterAdd"), [tensor("i32", [1], [-1]), counting([1])], { size: 3 })).toThrow("index -1 is out of range");
  });

  it.each([
    ["scatterAdd: indices must be i32, got f32[2]", ty("f32", [2]), ty("f32", [2]), {}],
    ["scatterAdd: updates must be a float tensor, got i32[2]", ty("i32", [2]), ty("i32", [2]), {}],
    ["scatterAdd: updates f32[6] has fewer axes than indices i32[2,3]", ty("i32", [2, 3]), ty("f32", [6]), {}],
    ["scatterAdd: axis 2 is out of range for a rank-2 table", ty("i32", [2]), ty("f32", [2, 3]), { axis: 2 }],
    ["scatterAdd: axis -3 is out of range for a rank-2 table", ty("i32", [2]), ty("f32", [2, 3]), { axis: -3 }],
    ["scatterAdd: size -1 must be a non-negative integer", ty("i32", [2]), ty("f32", [2, 3]), { size: -1 }],
    ["scatterAdd: updates f32[3,2] must have the indices' shape [2] at axis 0, got [3]", ty("i32", [2]), ty("f32", [3, 2]), {}],
  ] as [string, ReturnType<typeof ty>, ReturnType<typeof ty>, Record<string, number>][])(
    "rejects bad operands or attributes: %s",
    (message, indices, updates, attrs) => {
      const infer = () => inferOp(op("scatterAdd"), [indices, updates], { size: 4, ...attrs });
      expect(infer).toThrow(ShapeError);
      expect(infer).toThrow(message);
    },
  );

  it("is the adjoint of gather: <gather(t, i), u> = <t, scatterAdd(i, u)>", () => {
    const idx = tensor("i32", [2, 2], [3, 0, 3, 1]);
    const table = tensor("f32", [2, 4, 3], sequence(24, -1, 1, 5));
    const u = tensor("f32", [2, 2, 2, 3], sequence(24, -1, 1, 6));
    const gathered = runOp(getOp("gather"), [table, idx], { axis: 1 });
    const scattered = runOp(op("scatterAdd"), [idx, u], { axis: 1, size: 4 });
    expect(scattered.type).toEqual(table.type);
    expect(dot(scattered.values, [...table.data])).toBeCloseTo(dot(gathered.values, [...u.data]), 14);
  });
});
