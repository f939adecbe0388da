// Layout op records: shape rules (every ShapeError path) and kernels against hand-written values
// or naive index loops written out in the test.

import { describe, expect, it } from "vitest";
import { GraphBuilder } from "../../compiler/ir/builder.ts";
import { getOp } from "../../compiler/ir/ops.ts";
import { LAYOUT_OPS } from "../../compiler/ir/ops/layout.ts";
import { ShapeError, type DType, type Shape } from "../../compiler/ir/types.ts";
import { inferOp, naiveBroadcastIndex, opNamed, runOp, tensor, tensorFrom } from "../support/kernel-harness.ts";

const op = (name: string) => opNamed(LAYOUT_OPS, name);
const ty = (dtype: DType, shape: Shape) => ({ dtype, shape });
/** f32 tensor whose element i is i (so values name their source position). */
const iota = (shape: Shape, dtype: DType = "f32") => tensorFrom(dtype, shape, (i) => i);

describe("the layout table", () => {
  it("holds exactly the ops of docs/IR.md, each registered, with exact kernels", () => {
    expect(LAYOUT_OPS.map((o) => o.name)).toEqual(["reshape", "copy", "transpose", "slice", "concat", "broadcastTo", "gather", "oneHot"]);
    for (const o of LAYOUT_OPS) {
      expect(getOp(o.name)).toBe(o);
      expect(o.tolerance).toBe(0);
    }
  });
});

describe("reshape", () => {
  it.each([
    [[2, 3], [3, -1], [3, 2]],
    [[2, 3], [-1], [6]],
    [[2, 3], [1, 6, 1], [1, 6, 1]],
    [[], [1, 1], [1, 1]],
    [[1], [], []],
    [[0, 3], [3, 0], [3, 0]],
    [[0, 3], [-1, 3], [0, 3]],
  ] as [Shape, number[], Shape][])("%j with shape=%j gives %j, same row-major elements", (from, spec, want) => {
    const x = iota(from, "i32");
    const r = runOp(op("reshape"), [x], { shape: spec });
    expect(r.type).toEqual(ty("i32", want));
    expect(r.values).toEqual([...x.data]);
  });

  it.each([
    [[6], [4], "cannot reshape f32[6] to [4]: 6 elements vs 4"],
    [[6], [4, -1], "cannot reshape f32[6] to [4, -1]: 6 elements do not divide into rows of 4"],
    [[6], [-1, -1], "more than one -1"],
    [[6], [-2, -3], "negative dimension"],
    [[0, 3], [-1, 0], "-1 is ambiguous next to a 0 dimension"],
  ] as [Shape, number[], string][])("%j to %j is a ShapeError", (from, spec, message) => {
    expect(() => inferOp(op("reshape"), [ty("f32", from)], { shape: spec })).toThrow(ShapeError);
    expect(() => inferOp(op("reshape"), [ty("f32", from)], { shape: spec })).toThrow(message);
  });
});

describe("transpose", () => {
  it("swaps the axes of a matrix", () => {
    expect(runOp(op("transpose"), [iota([2, 3])], { perm: [1, 0] })).toEqual({ type: ty("f32", [3, 2]), values: [0, 3, 1, 4, 2, 5] });
  });

  it("permutes rank 3 as out[i][j][k] = x[j][k][i] for perm [2, 0, 1]", () => {
    const [A, B, C] = [2, 3, 4];
    const r = runOp(op("transpose"), [iota([A, B, C])], { perm: [2, 0, 1] });
    expect(r.type.shape).toEqual([C, A, B]);
    const want: number[] = [];
    for (let i = 0; i < C; i++) for (let j = 0; j < A; j++) for (let k = 0; k < B; k++) want.push((j * B + k) * C + i);
    expect(r.values).toEqual(want);
  });

  it("handles scalars, identity and empty tensors", () => {
    expect(runOp(op("transpose"), [tensor("f32", [], [5])], { perm: [] }).values).toEqual([5]);
    expect(runOp(op("transpose"), [iota([2, 2])], { perm: [0, 1] }).values).toEqual([0, 1, 2, 3]);
    expect(runOp(op("transpose"), [iota([0, 2])], { perm: [1, 0] })).toEqual({ type: ty("f32", [2, 0]), values: [] });
  });

  it.each([[[0, 0]], [[0]], [[0, 2]], [[1, 0, 2]], [[-1, 0]]])("perm %j on f32[2,3] is a ShapeError", (perm) => {
    expect(() => inferOp(op("transpose"), [ty("f32", [2, 3])], { perm })).toThrow(
      `transpose: perm [${perm.join(", ")}] is not a permutation of the 2 axes of f32[2,3]`,
    );
  });
});

describe("slice", () => {
  it("takes a box, size -1 running to the end", () => {
    // x is 3x4 with x[r][c] = 4r + c; rows 1..2, columns 1..3.
    const r = runOp(op("slice"), [iota([3, 4])], { begin: [1, 1], size: [2, -1] });
    expect(r).toEqual({ type: ty("f32", [2, 3]), values: [5, 6, 7, 9, 10, 11] });
  });

  it("slices rank 3 like nested loops", () => {
    const r = runOp(op("slice"), [iota([3, 4, 5])], { begin: [1, 0, 2], size: [2, 2, 3] });
    const want: number[] = [];
    for (let a = 1; a < 3; a++) for (let b = 0; b < 2; b++) for (let c = 2; c < 5; c++) want.push((a * 4 + b) * 5 + c);
    expect(r.values).toEqual(want);
  });

  it("allows empty results and whole-axis slices", () => {
    expect(runOp(op("slice"), [iota([3, 4])], { begin: [3, 0], size: [-1, -1] })).toEqual({ type: ty("f32", [0, 4]), values: [] });
    expect(runOp(op("slice"), [iota([2, 2])], { begin: [0, 1], size: [2, 0] }).type.shape).toEqual([2, 0]);
    expect(runOp(op("slice"), [tensor("i32", [], [9])], { begin: [], size: [] })).toEqual({ type: ty("i32", []), values: [9] });
  });

  it.each([
    [[0], [1], "must have one entry per axis of f32[3,4]"],
    [[-1, 0], [1, 1], "out of bounds for f32[3,4] on axis 0"],
    [[0, 2], [1, 3], "out of bounds for f32[3,4] on axis 1"],
    [[4, 0], [-1, 1], "out of bounds for f32[3,4] on axis 0"],
    [[0, 0], [1, -2], "out of bounds for f32[3,4] on axis 1"],
  ] as [number[], number[], string][])("begin %j size %j is a ShapeError", (begin, size, message) => {
    expect(() => inferOp(op("slice"), [ty("f32", [3, 4])], { begin, size })).toThrow(`slice: begin [${begin.join(", ")}], size [${size.join(", ")}]`);
    expect(() => inferOp(op("slice"), [ty("f32", [3, 4])], { begin, size })).toThrow(message);
  });
});

describe("concat", () => {
  it("joins along axis 0", () => {
    const r = runOp(op("concat"), [tensor("f32", [1, 2], [1, 2]), tensor("f32", [2, 2], [3, 4, 5, 6])], { axis: 0 });
    expect(r).toEqual({ type: ty("f32", [3, 2]), values: [1, 2, 3, 4, 5, 6] });
  });

  it("joins three tensors along the last axis (negative axis)", () => {
    const a = tensor("i32", [2, 1], [1, 2]);
    const b = tensor("i32", [2, 2], [10, 11, 20, 21]);
    const c = tensor("i32", [2, 0], []);
    const r = runOp(op("concat"), [a, b, c, a], { axis: -1 });
    expect(r).toEqual({ type: ty("i32", [2, 4]), values: [1, 10, 11, 1, 2, 20, 21, 2] });
  });

  it("joins rank 3 along the middle axis like nested loops, and takes a single operand", () => {
    const a = iota([2, 1, 3]);
    const b = tensorFrom("f32", [2, 2, 3], (i) => 100 + i);
    const r = runOp(op("concat"), [a, b], { axis: 1 });
    const want: number[] = [];
    for (let i = 0; i < 2; i++) {
      for (let k = 0; k < 3; k++) want.push(a.data[i * 3 + k]);
      for (let j = 0; j < 2; j++) for (let k = 0; k < 3; k++) want.push(b.data[(i * 2 + j) * 3 + k]);
    }
    expect(r.values).toEqual(want);
    expect(runOp(op("concat"), [a], { axis: 2 }).values).toEqual([...a.data]);
  });

  it("rejects scalars, bad axes and operands that disagree", () => {
    const f = (shape: Shape) => ty("f32", shape);
    expect(() => inferOp(op("concat"), [f([]), f([])], { axis: 0 })).toThrow("concat: cannot concatenate scalars (f32[])");
    expect(() => inferOp(op("concat"), [f([2, 2]), f([2, 2])], { axis: 2 })).toThrow("concat: axis 2 is out of range for rank 2");
    expect(() => inferOp(op("concat"), [f([2, 2]), f([3, 3])], { axis: 0 })).toThrow("concat: f32[3,3] does not match f32[2,2] off axis 0");
    expect(() => inferOp(op("concat"), [f([2, 2]), f([2, 2, 1])], { axis: 0 })).toThrow(ShapeError);
    expect(() => inferOp(op("concat"), [f([2]), ty("i32", [2])], { axis: 0 })).toThrow("concat: i32[2] does not match f32[2] off axis 0");
    expect(() => inferOp(op("concat"), [f([2])])).toThrow("concat needs attribute 'axis'");
  });
});

describe("broadcastTo", () => {
  it.each([
    [[3], [2, 3]],
    [[2, 1], [2, 4]],
    [[], [2, 2]],
    [[1, 3, 1], [4, 3, 2]],
    [[1], [0]],
    [[2, 3], [2, 3]],
  ] as [Shape, Shape][])("%j to %j repeats as NumPy does", (from, to) => {
    const x = iota(from);
    const r = runOp(op("broadcastTo"), [x], { shape: to });
    expect(r.type).toEqual(ty("f32", to));
    expect(r.values).toEqual(r.values.map((_, i) => x.data[naiveBroadcastIndex(i, to, from)]));
  });

  it("repeats a row by hand", () => {
    expect(runOp(op("broadcastTo"), [tensor("f32", [3], [1, 2, 3])], { shape: [2, 3] }).values).toEqual([1, 2, 3, 1, 2, 3]);
  });

  it.each([
    [[3], [2, 4]],
    [[1, 3], [3]],
    [[2], [-2]],
    [[2, 1], [3, 1]],
  ] as [Shape, number[]][])("%j to %j is a ShapeError", (from, to) => {
    expect(() => inferOp(op("broadcastTo"), [ty("f32", from)], { shape: to })).toThrow(
      `broadcastTo: f32[${from.join(",")}] does not broadcast to [${to.join(", ")}]`,
    );
  });
});

describe("gather", () => {
  it("picks rows of a table (embedding lookup)", () => {
    const r = runOp(op("gather"), [iota([4, 3]), tensor("i32", [2], [3, 0])]);
    expect(r).toEqual({ type: ty("f32", [2, 3]), values: [9, 10, 11, 0, 1, 2] });
  });

  it("inserts the indices' shape at axis: out[o][k1][k2] = table[o][idx[k1][k2]]", () => {
    const idx = tensor("i32", [2, 2], [2, 0, 1, 1]);
    const r = runOp(op("gather"), [iota([2, 3]), idx], { axis: 1 });
    expect(r.type.shape).toEqual([2, 2, 2]);
    const want: number[] = [];
    for (let o = 0; o < 2; o++) for (const k of idx.data) want.push(o * 3 + k);
    expect(r.values).toEqual(want);
    expect(runOp(op("gather"), [iota([2, 3]), idx], { axis: -1 }).values).toEqual(want);
  });

  it("with scalar indices drops the axis; with empty indices gives an empty result", () => {
    expect(runOp(op("gather"), [iota([4, 3], "i32"), tensor("i32", [], [2])])).toEqual({ type: ty("i32", [3]), values: [6, 7, 8] });
    expect(runOp(op("gather"), [iota([4, 3]), tensor("i32", [0], [])])).toEqual({ type: ty("f32", [0, 3]), values: [] });
  });

  it("throws at run time on an index out of range, naming it and the dim", () => {
    expect(() => runOp(op("gather"), [iota([4, 3]), tensor("i32", [2], [1, 4])])).toThrow("gather: index 4 is out of range for axis 0 of size 4");
    expect(() => runOp(op("gather"), [iota([4, 3]), tensor("i32", [1], [-1])])).toThrow("gather: index -1 is out of range for axis 0 of size 4");
  });

  it("rejects non-i32 indices, scalar tables and bad axes", () => {
    expect(() => inferOp(op("gather"), [ty("f32", [4, 3]), ty("f32", [2])])).toThrow("gather: indices must be i32, got f32[2]");
    expect(() => inferOp(op("gather"), [ty("f32", []), ty("i32", [2])])).toThrow("gather: table must have rank >= 1, got f32[]");
    expect(() => inferOp(op("gather"), [ty("f32", [4, 3]), ty("i32", [2])], { axis: 2 })).toThrow("gather: axis 2 is out of range for rank 2");
  });
});

describe("oneHot", () => {
  it("puts a 1 at each index; out-of-range indices give all-zero rows", () => {
    const r = runOp(op("oneHot"), [tensor("i32", [4], [0, 2, 3, -1])], { depth: 3 });
    expect(r).toEqual({ type: ty("f32", [4, 3]), values: [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0] });
  });

  it("appends the depth axis to any index shape, in the requested dtype", () => {
    const r = runOp(op("oneHot"), [tensor("i32", [2, 1], [1, 0])], { depth: 2, dtype: "i32" });
    expect(r).toEqual({ type: ty("i32", [2, 1, 2]), values: [0, 1, 1, 0] });
    expect(runOp(op("oneHot"), [tensor("i32", [], [1])], { depth: 2 }).values).toEqual([0, 1]);
    expect(runOp(op("oneHot"), [tensor("i32", [3], [0, 0, 0])], { depth: 0 })).toEqual({ type: ty("f32", [3, 0]), values: [] });
  });

  it("rejects non-i32 indices and negative depths", () => {
    expect(() => inferOp(op("oneHot"), [ty("f32", [2])], { depth: 3 })).toThrow("oneHot: indices must be i32, got f32[2]");
    expect(() => inferOp(op("oneHot"), [ty("i32", [2])], { depth: -1 })).toThrow("oneHot: depth -1 is negative");
    expect(() => inferOp(op("oneHot"), [ty("i32", [2])])).toThrow("oneHot needs attribute 'depth'");
  });
});

describe("through the builder", () => {
  it("types a chain of layout ops and fills defaults", () => {
    const b = new GraphBuilder("layout");
    const x = b.addInput({ name: "x", type: ty("f32", [2, 3, 4]) });
    const ids = b.addInput({ name: "ids", type: ty("i32", [5]) });
    const flat = b.op("reshape", [x], { shape: [6, -1] });
    const t = b.op("transpose", [flat], { perm: [1, 0] });
    const s = b.op("slice", [t], { begin: [0, 2], size: [-1, 3] });
    const c = b.op("concat", [s, s, s], { axis: 0 });
    const wide = b.op("broadcastTo", [c], { shape: [2, 12, 3] });
    const g = b.op("gather", [flat, ids]);
    const h = b.op("oneHot", [ids], { depth: 7 });
    expect([flat, t, s, c, wide, g, h].map((v) => b.typeOf(v).shape)).toEqual([[6, 4], [4, 6], [4, 3], [12, 3], [2, 12, 3], [5, 4], [5, 7]]);
    expect(b.nodes.find((n) => n.id === g)!.attrs).toEqual({ axis: 0 });
    expect(b.nodes.find((n) => n.id === h)!.attrs).toEqual({ depth: 7, dtype: "f32" });
    expect(() => b.op("concat", [], { axis: 0 })).toThrow("concat takes at least 1 operands, got 0");
    expect(() => b.op("reshape", [x], { shape: [5, -1] })).toThrow("reshape: cannot reshape f32[2,3,4] to [5, -1]");
  });
});
