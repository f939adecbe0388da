// WGSL elementwise kernels (and fused bodies, const, iota, dropout) against the reference
// interpreter on a WebGPU device (SwiftShader on a CPU-only machine): every op over shapes on both
// sides of the byte-packing word boundary, every broadcasting pattern, special float values,
// integer wrap-around and division, casts with saturation, dropout's Philox mask bit for bit, and
// results written in place over an operand. Cases are batched into a few graphs per op family so
// one device program covers many kernels.

import { describe, expect, it } from "vitest";
import { GraphBuilder } from "../../compiler/ir/builder.ts";
import type { Graph } from "../../compiler/ir/graph.ts";
import { dropoutMask } from "../../compiler/ir/rng.ts";
import type { DType, TensorType } from "../../compiler/ir/types.ts";
import { batchedCases, expectWgslMatchesInterpreter, type OpCase } from "../support/wgsl-harness.ts";

const t = (dtype: DType, ...shape: number[]): TensorType => ({ dtype, shape });
const f32 = (...shape: number[]) => t("f32", ...shape);

const UNARY_SHAPES = [f32(), f32(1), f32(3), f32(4), f32(5), f32(33), f32(1000), f32(2, 3, 5), f32(0)];

const BROADCASTS: [TensorType, TensorType][] = [
  [f32(), f32()],
  [f32(33), f32(33)],
  [f32(5, 7), f32()],
  [f32(), f32(1000)],
  [f32(6, 33), f32(33)],
  [f32(6, 33), f32(6, 1)],
  [f32(6, 1), f32(6, 33)],
  [f32(7), f32(3, 7)],
  [f32(5, 1), f32(1, 7)],
  [f32(3, 1, 5), f32(4, 1)],
  [f32(2, 3, 4, 5), f32(3, 1, 5)],
  [f32(1, 9), f32(4, 1, 1)],
  [f32(0, 3), f32(3)],
];

/**
 * Special float values, repeated to fill `n`. No subnormals: WGSL lets an implementation flush
 * them to zero (SwiftShader does), so log(1e-40) may rightly be -inf.
 */
function specials(n: number): Float64Array {
  const values = [0, -0, 1, -1, 0.5, -2.5, 1e-37, -2e-38, 3e38, -3e38, Infinity, -Infinity, NaN, 88.7, -88.7, 100, -100, 1e-7, 7.5, -7.5, 20, -20];
  return Float64Array.from({ length: n }, (_, i) => values[i % values.length] * (1 + Math.floor(i / values.length) * 0.37));
}

const UNARY: [string, Record<string, string>?][] = [
  ["neg"], ["exp"], ["log"], ["sqrt"], ["rsqrt"], ["abs"], ["tanh"], ["sigmoid"], ["relu"],
  ["gelu", { approximate: "none" }], ["gelu", { approximate: "tanh" }],
];

describe("unary float ops", () => {
  it("every op over every shape (random inputs)", async () => {
    const cases: OpCase[] = UNARY.flatMap(([op, attrs]) => UNARY_SHAPES.map((s) => ({ op, types: [s], attrs })));
    const { graph, inputs } = batchedCases("unary", cases);
    await expectWgslMatchesInterpreter(graph, inputs);
  });

  it("NaN, infinities, zeros, tiny and huge values, overflow", async () => {
    const cases: OpCase[] = UNARY.map(([op, attrs]) => ({ op, types: [f32(44)], attrs, data: [specials(44)] }));
    const { graph, inputs } = batchedCases("specials", cases);
    await expectWgslMatchesInterpreter(graph, inputs);
  });

  it("a spread of magnitudes for the math library (|x| up to 15)", async () => {
    const xs = Float64Array.from({ length: 601 }, (_, i) => -15 + i * 0.05);
    const cases: OpCase[] = UNARY.filter(([op]) => op !== "log" && op !== "sqrt" && op !== "rsqrt").map(([op, attrs]) => ({ op, types: [f32(601)], attrs, data: [xs] }));
    cases.push(...["log", "sqrt", "rsqrt"].map((op) => ({ op, types: [f32(601)], data: [xs.map((x) => Math.exp(x * 5))] })));
    const { graph, inputs } = batchedCases("spread", cases);
    await expectWgslMatchesInterpreter(graph, inputs);
  });
});

describe("binary float ops", () => {
  const OPS = ["add", "sub", "mul", "div", "pow", "maximum", "minimum"];
  it("every op over every broadcasting pattern", async () => {
    const cases: OpCase[] = OPS.flatMap((op) => BROADCASTS.map((types) => ({ op, types })));
    const { graph, inputs } = batchedCases("binary", cases);
    await expectWgslMatchesInterpreter(graph, inputs);
  });

  it("special values against each other", async () => {
    const a = specials(22 * 22);
    const b = Float64Array.from({ length: 22 * 22 }, (_, i) => a[Math.floor(i / 22) + 22 * (i % 22)]);
    const cases: OpCase[] = OPS.map((op) => ({ op, types: [f32(22 * 22), f32(22 * 22)], data: [a, b] }));
    const { graph, inputs } = batchedCases("binary-specials", cases);
    await expectWgslMatchesInterpreter(graph, inputs);
  });

  it("pow: negative bases with integer exponents keep their sign", async () => {
    const a = Float64Array.from({ length: 40 }, (_, i) => -3 + i * 0.25);
    const b = Float64Array.from({ length: 40 }, (_, i) => (i % 7) - 3);
    const { graph, inputs } = batchedCases("pow", [{ op: "pow", types: [f32(40), f32(40)], data: [a, b] }]);
    await expectWgslMatchesInterpreter(graph, inputs);
  });
});

function integers(dtype: DType, n: number, seed: number): Float64Array {
  const range: Record<string, [number, number]> = { i32: [-(2 ** 31), 2 ** 31 - 1], i8: [-128, 127], u8: [0, 255], bool: [0, 1] };
  const [lo, hi] = range[dtype];
  const edges = [0, 1, -1, 2, -2, lo, hi, lo + 1, hi - 1, 7, -7].filter((v) => v >= lo && v <= hi);
  let s = seed;
  return Float64Array.from({ length: n }, (_, i) => {
    if (i < edges.length * 2) return edges[(i * (seed + 3)) % edges.length];
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return lo + Math.floor((s / 2 ** 32) * (hi - lo + 1));
  });
}

describe("integer ops", () => {
  it("add, sub, mul, div, maximum, minimum, neg, abs, relu on i32, i8 and u8", async () => {
    const cases: OpCase[] = [];
    for (const dtype of ["i32", "i8", "u8"] as const) {
      for (const op of ["add", "sub", "mul", "div", "maximum", "minimum"]) {
        for (const [sa, sb] of [[[121], [121]], [[5, 7], [7]], [[3, 1], [1, 9]]]) {
          const seed = cases.length;
          cases.push({ op, types: [t(dtype, ...sa), t(dtype, ...sb)], data: [integers(dtype, sa.reduce((p, d) => p * d, 1), seed + 1), integers(dtype, sb.reduce((p, d) => p * d, 1), seed + 2)] });
        }
      }
      for (const op of ["neg", "abs", "relu"]) cases.push({ op, types: [t(dtype, 41)], data: [integers(dtype, 41, 5)] });
    }
    const { graph, inputs } = batchedCases("integers", cases);
    await expectWgslMatchesInterpreter(graph, inputs);
  });
});

describe("comparisons, where and cast", () => {
  it("less, greater, equal on f32 (NaN compares false), i32, u8, bool and broadcasting", async () => {
    const a = specials(37);
    const b = Float64Array.from(a, (v, i) => (i % 3 === 0 ? v : a[(i * 5) % 37]));
    const bits = (n: number, k: number) => Float64Array.from({ length: n }, (_, i) => ((i * k) >> 1) & 1);
    const cases: OpCase[] = ["less", "greater", "equal"].flatMap((op) => [
      { op, types: [f32(37), f32(37)], data: [a, b] },
      { op, types: [t("i32", 33), t("i32", 33)], data: [integers("i32", 33, 1), integers("i32", 33, 2)] },
      { op, types: [t("u8", 6, 5), t("u8", 5)], data: [integers("u8", 30, 3).map((v) => v % 4), integers("u8", 5, 4).map((v) => v % 4)] },
      { op, types: [f32(4, 1), f32(1, 9)] },
    ]);
    cases.push({ op: "equal", types: [t("bool", 13), t("bool", 13)], data: [bits(13, 3), bits(13, 5)] });
    const { graph, inputs } = batchedCases("compare", cases);
    await expectWgslMatchesInterpreter(graph, inputs);
  });

  it("where: f32, i32 and u8 data, broadcasting condition and branches", async () => {
    const cases: OpCase[] = [
      { op: "where", types: [t("bool", 37), f32(37), f32(37)] },
      { op: "where", types: [t("bool", 5, 1), f32(1, 7), f32()] },
      { op: "where", types: [t("bool", 9), t("i32", 4, 9), t("i32", 9)] },
      { op: "where", types: [t("bool"), t("u8", 6), t("u8", 6)] },
    ];
    const { graph, inputs } = batchedCases("where", cases);
    await expectWgslMatchesInterpreter(graph, inputs);
  });

  it("cast between every pair of dtypes (saturating, NaN -> 0, wrapping)", async () => {
    const dtypes: DType[] = ["f32", "i32", "i8", "u8", "bool"];
    const cases: OpCase[] = dtypes.flatMap((from) => {
      const data = from === "f32" ? Float64Array.from(specials(45), (v, i) => (i % 2 ? v * 1e3 : v - 0.5)) : integers(from, 45, 9);
      return dtypes.map((to) => ({ op: "cast", types: [t(from, 45)], attrs: { dtype: to }, data: [data] }));
    });
    const { graph, inputs } = batchedCases("cast", cases);
    await expectWgslMatchesInterpreter(graph, inputs);
  });
});

describe("sources and fused bodies", () => {
  it("const and iota of every dtype, odd sizes", () => {
    const b = new GraphBuilder("sources");
    const values: [DType, number][] = [["f32", 1.5], ["f32", -Infinity], ["f32", NaN], ["i32", -7], ["i8", -128], ["u8", 255], ["bool", 1]];
    values.forEach(([dtype, value], k) => b.output(`c${k}`, b.op("const", [], { value, dtype, shape: [3, 5] })));
    (["i32", "f32", "u8", "i8"] as DType[]).forEach((dtype, k) => b.output(`i${k}`, b.op("iota", [], { shape: [2, 7, 3], axis: k % 3, dtype })));
    return expectWgslMatchesInterpreter(b.build(), {});
  });

  it("fused bodies: broadcasting operands, literals, every step op", async () => {
    const bodies = [
      "mul(x0, x1); add(t0, 0.5); gelu[tanh](t1)",
      "add(x0, x1); relu(t0)",
      "sub(x0, x1); mul(t0, t0); exp(t1); log(t2); sqrt(t3); rsqrt(t4); neg(t5); abs(t6); tanh(t7); sigmoid(t8); gelu(t9)",
      "div(x0, x1); maximum(t0, -0.25); minimum(t1, inf); pow(t2, 2)",
    ];
    const cases: OpCase[] = bodies.map((body, k) => ({ op: "fused", types: k === 0 ? [f32(6, 33), f32()] : [f32(6, 33), f32(33)], attrs: { body } }));
    const { graph, inputs } = batchedCases("fused", cases);
    await expectWgslMatchesInterpreter(graph, inputs);
  });

  it("fused bodies with where: bool conditions per element, broadcast and scalar", async () => {
    const bool = (...shape: number[]): TensorType => ({ dtype: "bool", shape });
    const cases: OpCase[] = [
      { op: "fused", types: [bool(6, 33), f32(6, 33), f32(33)], attrs: { body: "mul(x1, 2); where(x0, t0, x2); add(t1, 0.5)" } },
      { op: "fused", types: [bool(), f32(6, 33), f32(6, 33)], attrs: { body: "where(x0, x1, 0); mul(t0, x2)" } },
      { op: "fused", types: [bool(6, 1), f32(6, 33), f32(33)], attrs: { body: "relu(x1); where(x0, x2, t0)" } },
    ];
    const { graph, inputs } = batchedCases("fused", cases);
    await expectWgslMatchesInterpreter(graph, inputs);
  });
});

describe("dropout", () => {
  it("the interpreter's Philox mask bit for bit (sizes, rates, seeds, steps)", async () => {
    const b = new GraphBuilder("dropout");
    const expected: { name: string; n: number; rate: number; seed: number; step: number }[] = [];
    const inputs: Record<string, ArrayLike<number>> = {};
    let k = 0;
    for (const n of [1, 3, 5, 1003]) {
      for (const [rate, seed, step] of [[0.5, 7, 0], [0.1, 4294967295, 12345], [0.9, 0, -1], [0, 1, 2], [1, 1, 2]] as const) {
        const x = b.addInput({ name: `x${k}`, type: f32(n) });
        const s = b.addInput({ name: `s${k}`, type: t("i32") });
        b.output(`y${k}`, b.op("dropout", [x, s], { rate, seed }));
        inputs[`x${k}`] = Float64Array.from({ length: n }, (_, i) => 1 + (i % 13));
        inputs[`s${k}`] = [step];
        expected.push({ name: `y${k}`, n, rate, seed, step });
        k++;
      }
    }
    const { gpu } = await expectWgslMatchesInterpreter(b.build(), inputs);
    for (const e of expected) {
      const kept = Array.from(gpu.outputs[e.name].data, (v) => (v !== 0 ? 1 : 0));
      expect(kept).toEqual(Array.from(dropoutMask(e.n, e.rate, e.seed, e.step)));
    }
  });
});

describe("in place", () => {
  it("results computed over their operands' slots match the interpreter", async () => {
    const b = new GraphBuilder("inplace");
    const x = b.addInput({ name: "x", type: f32(4, 33) });
    const bias = b.addInput({ name: "bias", type: f32(33) });
    const step = b.addInput({ name: "step", type: t("i32") });
    const e = b.op("exp", [x]);
    const s = b.op("add", [e, bias]);
    const d = b.op("dropout", [s, step], { rate: 0.3, seed: 11 });
    const r = b.op("relu", [d]);
    const c = b.op("cast", [b.op("greater", [r, bias])], { dtype: "u8" });
    const n = b.op("neg", [c]);
    b.output("y", r);
    b.output("n", n);
    const g = b.build();
    const inplace: Record<string, string> = { [s]: e, [d]: s, [r]: d, [n]: c };
    const planned: Graph = { ...g, nodes: g.nodes.map((node) => (inplace[node.id] ? { ...node, inplace: inplace[node.id] } : node)) };
    await expectWgslMatchesInterpreter(planned, undefined, { tolerance: 1e-5 });
  });
});
