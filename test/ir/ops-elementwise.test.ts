// Elementwise op records: shape/dtype rules (every ShapeError path), kernels on hand-computed
// values, broadcasting against a naive index formula, integer semantics, cast, const, dropout.
// The special functions (erf, gelu, sigmoid tails) are held to mpmath/PyTorch fixtures in
// ops-special-functions.test.ts.

import { describe, expect, it } from "vitest";
import { GraphBuilder } from "../../compiler/ir/builder.ts";
import { roundArray } from "../../compiler/ir/dtype-round.ts";
import { getOp } from "../../compiler/ir/ops.ts";
import { broadcastAll, broadcastIndexMap, broadcastsTo } from "../../compiler/ir/ops/broadcast.ts";
import { ELEMENTWISE_OPS } from "../../compiler/ir/ops/elementwise.ts";
import { philox4x32 } from "../../compiler/ir/rng.ts";
import { ShapeError, type DType, type Shape } from "../../compiler/ir/types.ts";
import { inferOp, naiveBroadcastIndex, opNamed, runOp, sequence, tensor, tensorFrom } from "../support/kernel-harness.ts";

const op = (name: string) => opNamed(ELEMENTWISE_OPS, name);
const t = tensor;
const f32 = (shape: Shape) => ({ dtype: "f32" as DType, shape });
const i32 = (shape: Shape) => ({ dtype: "i32" as DType, shape });
const bool = (shape: Shape) => ({ dtype: "bool" as DType, shape });

/** Values equal including NaN, and -0 distinct from +0 (Object.is). */
function expectSame(actual: readonly number[], expected: readonly number[]): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((v, i) => {
    if (!Object.is(v, expected[i])) throw new Error(`element ${i}: got ${v}, expected ${expected[i]}`);
  });
}

describe("the elementwise table", () => {
  it("holds exactly the ops of docs/IR.md, each registered in the op table", () => {
    const names = "neg exp log sqrt rsqrt abs tanh sigmoid relu gelu add sub mul div pow maximum minimum less greater equal where cast const dropout";
    expect(ELEMENTWISE_OPS.map((o) => o.name)).toEqual(names.split(" "));
    for (const o of ELEMENTWISE_OPS) {
      expect(getOp(o.name)).toBe(o);
      expect(o.kind).toBe(o.name === "const" ? "source" : "elementwise");
      expect(o.tolerance).toBeGreaterThanOrEqual(0);
    }
  });
});

describe("broadcast helpers", () => {
  it.each([
    [[3], [2, 3]],
    [[2, 1, 4], [3, 2, 5, 4]],
    [[], [2, 2]],
    [[1, 1], [1, 1]],
    [[5, 1], [0, 5, 3]],
  ] as [Shape, Shape][])("maps every output index of %j broadcast to %j like the naive formula", (from, to) => {
    expect(broadcastsTo(from, to)).toBe(true);
    const map = broadcastIndexMap(from, to);
    expect([...map]).toEqual([...map].map((_, i) => naiveBroadcastIndex(i, to, from)));
  });

  it("finds the common shape of several operands or names them all", () => {
    expect(broadcastAll([[2, 1], [3], []])).toEqual([2, 3]);
    expect(broadcastAll([])).toEqual([]);
    expect(() => broadcastAll([[2], [3], [1]])).toThrow("shapes [2], [3] and [1] do not broadcast");
    expect(broadcastsTo([2, 3], [3])).toBe(false);
  });
});

describe("unary ops", () => {
  const cases: [string, number[], number[]][] = [
    ["neg", [1.5, -2, 0], [-1.5, 2, -0]],
    ["exp", [0, 1, -1, -Infinity], [1, Math.E, 1 / Math.E, 0]],
    ["log", [1, Math.E, 0, -1], [0, 1, -Infinity, NaN]],
    ["sqrt", [4, 2.25, 0, -1], [2, 1.5, 0, NaN]],
    ["rsqrt", [4, 0.25, 0, 16], [0.5, 2, Infinity, 0.25]],
    ["abs", [-3, 2.5, -0], [3, 2.5, 0]],
    ["tanh", [0, 50, -50], [0, 1, -1]],
    ["sigmoid", [0, 800, -800], [0.5, 1, 0]],
    ["relu", [-1, 0, 2.5, NaN, -Infinity], [0, 0, 2.5, NaN, 0]],
    ["gelu", [0, 1e300, -1e300], [0, 1e300, -0]],
  ];
  it.each(cases)("%s computes hand-checked values", (name, xs, want) => {
    const r = runOp(op(name), [t("f32", [xs.length], xs)]);
    expect(r.type).toEqual(f32([xs.length]));
    expectSame(r.values, want);
  });

  it("keep shape and dtype, including scalars, empty tensors and other float dtypes", () => {
    expect(runOp(op("exp"), [t("f32", [], [0])])).toEqual({ type: f32([]), values: [1] });
    expect(runOp(op("tanh"), [t("f16", [0, 3], [])])).toEqual({ type: { dtype: "f16", shape: [0, 3] }, values: [] });
    expect(inferOp(op("sqrt"), [{ dtype: "bf16", shape: [2, 1] }])).toEqual({ dtype: "bf16", shape: [2, 1] });
  });

  it("neg, abs and relu also take integers, never giving -0", () => {
    expectSame(runOp(op("neg"), [t("i32", [3], [3, -4, 0])]).values, [-3, 4, 0]);
    expectSame(runOp(op("abs"), [t("i8", [2], [-7, 7])]).values, [7, 7]);
    expectSame(runOp(op("relu"), [t("i32", [3], [-5, 0, 5])]).values, [0, 0, 5]);
    expect(inferOp(op("neg"), [{ dtype: "u8", shape: [2] }])).toEqual({ dtype: "u8", shape: [2] });
  });

  it.each(["exp", "log", "sqrt", "rsqrt", "tanh", "sigmoid", "gelu"])("%s rejects integer operands", (name) => {
    expect(() => inferOp(op(name), [i32([3])])).toThrow(ShapeError);
    expect(() => inferOp(op(name), [i32([3])])).toThrow(`${name}: expects float operands, got i32[3]`);
  });

  it.each(["neg", "abs", "relu"])("%s rejects bool operands", (name) => {
    expect(() => inferOp(op(name), [bool([2])])).toThrow(`${name}: expects numeric (not bool) operands, got bool[2]`);
  });

  it("gelu defaults to the exact form and validates approximate", () => {
    const b = new GraphBuilder("g");
    const x = b.addInput({ name: "x", type: f32([4]) });
    const exact = b.op("gelu", [x]);
    const approx = b.op("gelu", [x], { approximate: "tanh" });
    expect(b.nodes.map((n) => n.attrs)).toEqual([{ approximate: "none" }, { approximate: "tanh" }]);
    expect(b.typeOf(exact)).toEqual(f32([4]));
    expect(b.typeOf(approx)).toEqual(f32([4]));
    expect(() => b.op("gelu", [x], { approximate: "fast" })).toThrow(ShapeError);
  });
});

describe("binary arithmetic", () => {
  const elementFns: Record<string, (a: number, b: number) => number> = {
    add: (a, b) => a + b,
    sub: (a, b) => a - b,
    mul: (a, b) => a * b,
    div: (a, b) => a / b,
    pow: (a, b) => Math.pow(a, b),
    maximum: (a, b) => (a > b ? a : b),
    minimum: (a, b) => (a < b ? a : b),
  };
  const shapePairs: [Shape, Shape, Shape][] = [
    [[2, 3], [2, 3], [2, 3]],
    [[2, 3], [3], [2, 3]],
    [[], [2, 2], [2, 2]],
    [[2, 2], [], [2, 2]],
    [[2, 1], [1, 3], [2, 3]],
    [[4, 1, 3], [2, 1], [4, 2, 3]],
    [[1], [5, 1, 1], [5, 1, 1]],
    [[0, 3], [3], [0, 3]],
    [[2, 0], [2, 1], [2, 0]],
  ];
  for (const [name, fn] of Object.entries(elementFns)) {
    it.each(shapePairs)(`${name} broadcasts %j with %j to %j`, (sa, sb, want) => {
      const na = sa.reduce((p, d) => p * d, 1);
      const nb = sb.reduce((p, d) => p * d, 1);
      const a = t("f32", sa, sequence(na, 0.5, 4, 3));
      const b = t("f32", sb, sequence(nb, -2, 2, 5));
      const r = runOp(op(name), [a, b]);
      expect(r.type).toEqual(f32(want));
      const expected = r.values.map((_, i) =>
        fn(a.data[naiveBroadcastIndex(i, want, sa)], b.data[naiveBroadcastIndex(i, want, sb)]),
      );
      expectSame(r.values, expected);
    });
  }

  it("add lays a column against a row as by hand", () => {
    const r = runOp(op("add"), [t("f32", [2, 1], [1, 2]), t("f32", [1, 3], [10, 20, 30])]);
    expect(r).toEqual({ type: f32([2, 3]), values: [11, 21, 31, 12, 22, 32] });
  });

  it("names the op and both shapes when shapes do not broadcast", () => {
    expect(() => inferOp(op("add"), [f32([64, 10]), f32([3])])).toThrow("add: shapes [64, 10] and [3] do not broadcast");
    expect(() => inferOp(op("mul"), [f32([2, 3]), f32([3, 2])])).toThrow(ShapeError);
    expect(() => inferOp(op("maximum"), [f32([0]), f32([2])])).toThrow("maximum: shapes [0] and [2] do not broadcast");
  });

  it("requires equal dtypes and a legal dtype", () => {
    expect(() => inferOp(op("sub"), [f32([2]), i32([2])])).toThrow("sub: operands must have the same dtype, got f32[2] and i32[2]");
    expect(() => inferOp(op("add"), [bool([2]), bool([2])])).toThrow("add: expects numeric (not bool) operands, got bool[2] and bool[2]");
    expect(() => inferOp(op("pow"), [i32([2]), i32([2])])).toThrow("pow: expects float operands, got i32[2] and i32[2]");
    expect(inferOp(op("add"), [i32([2, 1]), i32([3])])).toEqual(i32([2, 3]));
  });

  it("divides floats by zero as IEEE does", () => {
    expectSame(runOp(op("div"), [t("f32", [3], [1, -1, 0]), t("f32", [], [0])]).values, [Infinity, -Infinity, NaN]);
  });

  it("divides integers truncating toward zero, with x / 0 = 0", () => {
    const r = runOp(op("div"), [t("i32", [6], [7, -7, 7, -7, 5, 0]), t("i32", [6], [2, 2, -2, -2, 0, 3])]);
    expect(r.type).toEqual(i32([6]));
    expectSame(r.values, [3, -3, -3, 3, 0, 0]);
  });

  it("multiplies i32 with exact two's-complement wrap-around", () => {
    const as = [65536, 2 ** 31 - 1, 123456789, -987654321];
    const bs = [65536, 2, 987654321, 3];
    const want = as.map((a, i) => Number(BigInt.asIntN(32, BigInt(a) * BigInt(bs[i]))));
    expectSame(runOp(op("mul"), [t("i32", [4], as), t("i32", [4], bs)]).values, want);
    expectSame(runOp(op("mul"), [t("i8", [2], [-128, 100]), t("i8", [2], [-1, 3])]).values, [128, 300]); // wrapped on store
  });

  it("adds i32 leaving the wrap to the dtype rounding", () => {
    const r = runOp(op("add"), [t("i32", [1], [2 ** 31 - 1]), t("i32", [1], [1])]);
    expectSame([...roundArray("i32", Float64Array.from(r.values))], [-(2 ** 31)]);
  });

  it("pow follows C99 for the special cases", () => {
    const r = runOp(op("pow"), [t("f32", [7], [2, 9, 1, 1, -1, NaN, -8]), t("f32", [7], [10, 0.5, NaN, Infinity, -Infinity, 0, 1 / 3])]);
    expectSame(r.values, [1024, 3, 1, 1, 1, 1, NaN]);
  });

  it("maximum and minimum propagate NaN and work on integers", () => {
    expectSame(runOp(op("maximum"), [t("f32", [3], [NaN, 1, 2]), t("f32", [3], [1, NaN, -2])]).values, [NaN, NaN, 2]);
    expectSame(runOp(op("minimum"), [t("f32", [3], [NaN, 1, 2]), t("f32", [3], [1, NaN, -2])]).values, [NaN, NaN, -2]);
    expectSame(runOp(op("maximum"), [t("i32", [2, 1], [-3, 4]), t("i32", [2], [0, 5])]).values, [0, 5, 4, 5]);
  });
});

describe("comparisons", () => {
  const a = t("f32", [4], [1, 2, 3, NaN]);
  const b = t("f32", [4], [2, 2, 2, NaN]);
  it.each([
    ["less", [1, 0, 0, 0]],
    ["greater", [0, 0, 1, 0]],
    ["equal", [0, 1, 0, 0]],
  ] as const)("%s gives bool, NaN comparing false", (name, want) => {
    const r = runOp(op(name), [a, b]);
    expect(r.type).toEqual(bool([4]));
    expectSame(r.values, [...want]);
  });

  it("broadcast and take integers; equal also takes bool", () => {
    const r = runOp(op("less"), [t("i32", [2, 1], [1, 5]), t("i32", [3], [0, 2, 6])]);
    expect(r).toEqual({ type: bool([2, 3]), values: [0, 1, 1, 0, 0, 1] });
    expect(runOp(op("equal"), [t("bool", [2], [1, 0]), t("bool", [], [1])]).values).toEqual([1, 0]);
  });

  it("reject bad operands", () => {
    expect(() => inferOp(op("greater"), [bool([2]), bool([2])])).toThrow("greater: expects numeric (not bool) operands");
    expect(() => inferOp(op("equal"), [f32([2]), i32([2])])).toThrow("equal: operands must have the same dtype");
    expect(() => inferOp(op("less"), [f32([2]), f32([3])])).toThrow("less: shapes [2] and [3] do not broadcast");
  });
});

describe("where", () => {
  it("picks a where cond holds, b elsewhere", () => {
    const r = runOp(op("where"), [t("bool", [3], [1, 0, 1]), t("f32", [3], [1, 2, 3]), t("f32", [3], [10, 20, 30])]);
    expect(r).toEqual({ type: f32([3]), values: [1, 20, 3] });
  });

  it("broadcasts all three operands", () => {
    const r = runOp(op("where"), [t("bool", [2, 1], [1, 0]), t("i32", [3], [1, 2, 3]), t("i32", [], [-1])]);
    expect(r).toEqual({ type: i32([2, 3]), values: [1, 2, 3, -1, -1, -1] });
  });

  it("rejects a non-bool condition, mixed dtypes and shapes that do not broadcast", () => {
    expect(() => inferOp(op("where"), [f32([3]), f32([3]), f32([3])])).toThrow("where: condition must be bool, got f32[3]");
    expect(() => inferOp(op("where"), [bool([3]), f32([3]), i32([3])])).toThrow("where: operands must have the same dtype");
    expect(() => inferOp(op("where"), [bool([2]), f32([3]), f32([4])])).toThrow("where: shapes [2], [3] and [4] do not broadcast");
  });
});

describe("cast", () => {
  it("float to i32 truncates toward zero, saturates, and maps NaN to 0", () => {
    const r = runOp(op("cast"), [t("f32", [8], [1.7, -1.7, 0.5, -0.5, 3e9, -3e9, NaN, Infinity])], { dtype: "i32" });
    expect(r.type).toEqual(i32([8]));
    expectSame(r.values, [1, -1, 0, 0, 2 ** 31 - 1, -(2 ** 31), 0, 2 ** 31 - 1]);
  });

  it("float to u8/i8 saturates at their ranges", () => {
    expectSame(runOp(op("cast"), [t("f32", [3], [300, -5, 2.9])], { dtype: "u8" }).values, [255, 0, 2]);
    expectSame(runOp(op("cast"), [t("f32", [2], [-200, 127.9])], { dtype: "i8" }).values, [-128, 127]);
  });

  it("to bool is x != 0 (NaN is true)", () => {
    expectSame(runOp(op("cast"), [t("f32", [4], [0, -0, 2, NaN])], { dtype: "bool" }).values, [0, 0, 1, 1]);
  });

  it("int to int wraps when stored; bool and int to float are exact", () => {
    const r = runOp(op("cast"), [t("i32", [3], [300, -129, 5])], { dtype: "i8" });
    expectSame([...roundArray("i8", Float64Array.from(r.values))], [44, 127, 5]);
    expectSame(runOp(op("cast"), [t("bool", [2], [1, 0])], { dtype: "f32" }).values, [1, 0]);
    expect(runOp(op("cast"), [t("i32", [2, 0], [])], { dtype: "f16" }).type).toEqual({ dtype: "f16", shape: [2, 0] });
  });

  it("needs a valid dtype attribute", () => {
    expect(() => inferOp(op("cast"), [f32([2])], { dtype: "f64" })).toThrow(ShapeError);
    expect(() => inferOp(op("cast"), [f32([2])])).toThrow("cast needs attribute 'dtype'");
  });
});

describe("const", () => {
  it("fills its shape with value", () => {
    expect(runOp(op("const"), [], { value: 2.5, dtype: "f32", shape: [2, 3] })).toEqual({ type: f32([2, 3]), values: Array(6).fill(2.5) });
    expect(runOp(op("const"), [], { value: 7, dtype: "i32", shape: [] })).toEqual({ type: i32([]), values: [7] });
    expect(runOp(op("const"), [], { value: 1, dtype: "f32", shape: [0, 4] }).values).toEqual([]);
    expectSame(runOp(op("const"), [], { value: -Infinity, dtype: "f32", shape: [1] }).values, [-Infinity]);
    expectSame(runOp(op("const"), [], { value: NaN, dtype: "bf16", shape: [1] }).values, [NaN]);
  });

  it("rejects negative dims and values the dtype cannot hold", () => {
    expect(() => inferOp(op("const"), [], { value: 1, dtype: "f32", shape: [2, -1] })).toThrow("const: shape [2, -1] has a negative dimension");
    expect(() => inferOp(op("const"), [], { value: 1.5, dtype: "i32", shape: [] })).toThrow("const: value 1.5 is not a valid i32");
    expect(() => inferOp(op("const"), [], { value: 200, dtype: "i8", shape: [] })).toThrow("const: value 200 is not a valid i8");
    expect(() => inferOp(op("const"), [], { value: 2, dtype: "bool", shape: [] })).toThrow(ShapeError);
    expect(() => inferOp(op("const"), [], { value: NaN, dtype: "u8", shape: [] })).toThrow(ShapeError);
  });

  it("builds with no operands through the builder", () => {
    const b = new GraphBuilder("c");
    const c = b.op("const", [], { value: 0, dtype: "bool", shape: [3] });
    expect(b.typeOf(c)).toEqual(bool([3]));
    expect(() => b.op("const", [c], { value: 0, dtype: "f32", shape: [] })).toThrow("const takes 0 operands, got 1");
  });
});

describe("dropout", () => {
  const N = 100_000;
  const x = tensorFrom("f32", [N], (i) => 1 + (i % 7));
  const step = (s: number) => t("i32", [], [s]);
  const drop = (rate: number, seed: number, s: number, input = x) => runOp(op("dropout"), [input, step(s)], { rate, seed }).values;

  it("is the identity at rate 0 and all zeros at rate 1", () => {
    expectSame(drop(0, 3, 0), [...x.data]);
    expect(drop(1, 3, 0).every((v) => v === 0)).toBe(true);
  });

  it.each([0.1, 0.25, 0.5, 0.9])("at rate %f keeps about 1-rate of the elements, scaled by 1/(1-rate)", (rate) => {
    const out = drop(rate, 11, 4);
    const scale = 1 / (1 - rate);
    const kept = out.filter((v) => v !== 0).length;
    const misScaled = out.filter((v, i) => v !== 0 && v !== x.data[i] * scale).length;
    expect(misScaled).toBe(0);
    const sigma = Math.sqrt((rate * (1 - rate)) / N);
    expect(Math.abs(kept / N - (1 - rate))).toBeLessThan(5 * sigma);
  });

  it("follows the documented Philox scheme exactly", () => {
    const rate = 0.3;
    const out = drop(rate, 0xdeadbeef, 12, tensorFrom("f32", [64], () => 1));
    const threshold = Math.ceil(rate * 2 ** 24);
    out.forEach((v, i) => {
      const bits = philox4x32([Math.floor(i / 4), 0, 0, 0], [0xdeadbeef, 12])[i % 4];
      expect(v !== 0).toBe(Math.floor(bits / 256) >= threshold);
    });
  });

  it("is a pure function of (seed, step, index)", () => {
    const a = drop(0.5, 7, 1);
    expectSame(drop(0.5, 7, 1), a);
    const differing = (b: number[]) => a.filter((v, i) => (v === 0) !== (b[i] === 0)).length / N;
    // Two independent masks at rate 1/2 disagree on half the elements.
    expect(differing(drop(0.5, 7, 2))).toBeCloseTo(0.5, 1);
    expect(differing(drop(0.5, 8, 1))).toBeCloseTo(0.5, 1);
    const square = runOp(op("dropout"), [tensorFrom("f32", [4, 5], (i) => i + 1), step(3)], { rate: 0.5, seed: 9 });
    const flat = runOp(op("dropout"), [tensorFrom("f32", [20], (i) => i + 1), step(3)], { rate: 0.5, seed: 9 });
    expect(square.type.shape).toEqual([4, 5]);
    expectSame(square.values, flat.values);
  });

  it("validates its operands and attributes", () => {
    expect(() => inferOp(op("dropout"), [i32([4]), i32([])], { rate: 0.5, seed: 1 })).toThrow("dropout: expects float operands, got i32[4]");
    expect(() => inferOp(op("dropout"), [f32([4]), f32([])], { rate: 0.5, seed: 1 })).toThrow("dropout: step must be an i32 scalar, got f32[]");
    expect(() => inferOp(op("dropout"), [f32([4]), i32([1])], { rate: 0.5, seed: 1 })).toThrow("dropout: step must be an i32 scalar, got i32[1]");
    expect(() => inferOp(op("dropout"), [f32([4]), i32([])], { rate: 1.5, seed: 1 })).toThrow("dropout: rate 1.5 is outside [0, 1]");
    expect(() => inferOp(op("dropout"), [f32([4]), i32([])], { rate: -0.1, seed: 1 })).toThrow("dropout: rate -0.1 is outside [0, 1]");
    expect(() => inferOp(op("dropout"), [f32([4]), i32([])], { rate: 0.1, seed: -1 })).toThrow("dropout: seed -1 is outside [0, 2^32)");
    expect(() => inferOp(op("dropout"), [f32([4]), i32([])], { seed: 1 })).toThrow("dropout needs attribute 'rate'");
  });
});

describe("through the builder", () => {
  it("types a small graph of elementwise ops", () => {
    const b = new GraphBuilder("ew");
    const x = b.addInput({ name: "x", type: f32([8, 1]) });
    const y = b.addInput({ name: "y", type: f32([5]) });
    const s = b.addParam({ name: "rng.step", type: i32([]), init: "zeros", trainable: false });
    const sum = b.op("add", [x, y]);
    const mask = b.op("greater", [sum, b.op("const", [], { value: 0, dtype: "f32", shape: [] })]);
    const picked = b.op("where", [mask, sum, y]);
    const dropped = b.op("dropout", [b.op("sigmoid", [picked]), s], { rate: 0.1, seed: 3 });
    const ints = b.op("cast", [dropped], { dtype: "i32" });
    expect(b.typeOf(sum)).toEqual(f32([8, 5]));
    expect(b.typeOf(mask)).toEqual(bool([8, 5]));
    expect(b.typeOf(picked)).toEqual(f32([8, 5]));
    expect(b.typeOf(ints)).toEqual(i32([8, 5]));
    expect(() => b.op("add", [x, b.addInput({ name: "z", type: f32([3, 2]) })])).toThrow("add: shapes [8, 1] and [3, 2] do not broadcast");
    expect(() => b.op("neg", [x, y])).toThrow("neg takes 1 operand, got 2");
  });
});
