// WASM elementwise kernels against the reference interpreter (native precision): every op, shapes
// that exercise the SIMD body and its scalar tail (1, 3, 4, 5, 7, 8, 33, 1000 elements), every
// broadcasting pattern the loop nest specialises (same shape, scalar, bias row, outer product,
// rank 4, empty tensors), integer wrap-around and division, casts with saturation, special float
// values, dropout's Philox mask bit for bit, and results written in place over an operand.

import { describe, expect, it } from "vitest";
import { naivePlan } from "../../compiler/codegen-wasm/naive-plan.ts";
import { GraphBuilder } from "../../compiler/ir/builder.ts";
import type { Graph } from "../../compiler/ir/graph.ts";
import { dropoutMask } from "../../compiler/ir/rng.ts";
import type { DType, TensorType } from "../../compiler/ir/types.ts";
import { expectMatchesInterpreter, opCases, runWasm } from "../support/wasm-harness.ts";

const t = (dtype: DType, ...shape: number[]): TensorType => ({ dtype, shape });
const f32 = (...shape: number[]) => t("f32", ...shape);

/** Flat sizes around the four-lane boundary, plus rank 0 and rank 3. */
const UNARY_SHAPES = [f32(), f32(1), f32(3), f32(4), f32(5), f32(7), f32(8), f32(33), f32(1000), f32(2, 3, 5), f32(0)];

/** [a, b] pairs covering each path of the broadcasting loop nest. */
const BROADCASTS: [TensorType, TensorType][] = [
  [f32(), f32()],
  [f32(7), f32(7)],
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
  [f32(4, 0), f32()],
];

/** Special float values, repeated to fill `n` (so they land in SIMD lanes and the tail). */
function specials(n: number): Float64Array {
  const values = [0, -0, 1, -1, 0.5, -2.5, 1e-40, -1e-45, 3e38, -3e38, Infinity, -Infinity, NaN, 88.7, -88.7, 100, -100, 1e-7];
  return Float64Array.from({ length: n }, (_, i) => values[i % values.length] * (1 + Math.floor(i / values.length) * 0.37));
}

describe("unary float ops", () => {
  const ops: [string, Record<string, string>?][] = [
    ["neg"], ["exp"], ["log"], ["sqrt"], ["rsqrt"], ["abs"], ["tanh"], ["sigmoid"], ["relu"],
    ["gelu", { approximate: "none" }], ["gelu", { approximate: "tanh" }],
  ];
  for (const [op, attrs] of ops) {
    const label = attrs ? `${op} ${JSON.stringify(attrs)}` : op;
    it(`${label}: random inputs over every shape`, async () => {
      await expectMatchesInterpreter(opCases(op, UNARY_SHAPES.map((s) => [s]), attrs));
    });
    it(`${label}: NaN, infinities, zeros, subnormals and overflow`, async () => {
      const g = opCases(op, [[f32(37)]], attrs);
      await expectMatchesInterpreter(g, { a0: specials(37) });
    });
  }
});

describe("binary float ops", () => {
  for (const op of ["add", "sub", "mul", "div", "pow", "maximum", "minimum"]) {
    it(`${op}: every broadcasting pattern`, async () => {
      await expectMatchesInterpreter(opCases(op, BROADCASTS));
    });
    it(`${op}: special values against each other`, async () => {
      const a = specials(18 * 18);
      const b = Float64Array.from({ length: 18 * 18 }, (_, i) => a[Math.floor(i / 18) + 18 * (i % 18)]);
      await expectMatchesInterpreter(opCases(op, [[f32(18 * 18), f32(18 * 18)]]), { a0: a, b0: b });
    });
  }

  it("pow: negative bases with integer exponents keep their sign", async () => {
    const a = Float64Array.from({ length: 40 }, (_, i) => -3 + i * 0.25);
    const b = Float64Array.from({ length: 40 }, (_, i) => (i % 7) - 3);
    await expectMatchesInterpreter(opCases("pow", [[f32(40), f32(40)]]), { a0: a, b0: b });
  });
});

/** Integers across the whole range of `dtype`, with the wrap-around and division edge cases. */
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
  for (const dtype of ["i32", "i8", "u8"] as const) {
    for (const op of ["add", "sub", "mul", "div", "maximum", "minimum"]) {
      it(`${op} on ${dtype}: wrap-around, x / 0 = 0, MIN / -1, broadcasting`, async () => {
        const g = opCases(op, [[t(dtype, 121), t(dtype, 121)], [t(dtype, 5, 7), t(dtype, 7)], [t(dtype, 3, 1), t(dtype, 1, 9)]]);
        const inputs: Record<string, Float64Array> = {};
        for (const input of g.inputs) inputs[input.name] = integers(dtype, input.type.shape.reduce((p, d) => p * d, 1), input.name.charCodeAt(0) + input.name.length);
        await expectMatchesInterpreter(g, inputs);
      });
    }
    for (const op of ["neg", "abs", "relu"]) {
      it(`${op} on ${dtype}`, async () => {
        await expectMatchesInterpreter(opCases(op, [[t(dtype, 41)]]), { a0: integers(dtype, 41, 5) });
      });
    }
  }
});

describe("comparisons and where", () => {
  for (const op of ["less", "greater", "equal"]) {
    it(`${op} on f32 (NaN compares false), i32, u8 and broadcasting`, async () => {
      const g = opCases(op, [[f32(37), f32(37)], [t("i32", 33), t("i32", 33)], [t("u8", 6, 5), t("u8", 5)], [f32(4, 1), f32(1, 9)]]);
      const a = specials(37);
      await expectMatchesInterpreter(g, {
        a0: a, b0: Float64Array.from(a, (v, i) => (i % 3 === 0 ? v : a[(i * 5) % 37])),
        a1: integers("i32", 33, 1), b1: Float64Array.from(integers("i32", 33, 2), (v, i) => (i % 4 === 0 ? integers("i32", 33, 1)[i] : v)),
        a2: integers("u8", 30, 3).map((v) => v % 4), b2: integers("u8", 5, 4).map((v) => v % 4),
        a3: specials(4), b3: specials(9),
      });
    });
  }

  it("equal on bool operands", async () => {
    const bits = (n: number, k: number) => Float64Array.from({ length: n }, (_, i) => ((i * k) >> 1) & 1);
    await expectMatchesInterpreter(opCases("equal", [[t("bool", 13), t("bool", 13)]]), { a0: bits(13, 3), b0: bits(13, 5) });
  });

  it("where: f32 and i32 data, broadcasting condition and branches", async () => {
    const g = opCases("where", [
      [t("bool", 37), f32(37), f32(37)],
      [t("bool", 5, 1), f32(1, 7), f32()],
      [t("bool", 9), t("i32", 4, 9), t("i32", 9)],
      [t("bool"), t("u8", 6), t("u8", 6)],
    ]);
    await expectMatchesInterpreter(g);
  });

  it("where inside a fused body: bool conditions (per element, broadcast, scalar) select float branches, NaN in the branch not taken", async () => {
    const b = new GraphBuilder("fused-where");
    const cases: { types: TensorType[]; body: string }[] = [
      { types: [t("bool", 37), f32(37), f32(37)], body: "mul(x1, 2); where(x0, t0, x2); add(t1, 0.5)" },
      { types: [t("bool"), f32(6, 33), f32(6, 33)], body: "where(x0, x1, 0); mul(t0, x2)" },
      { types: [t("bool", 6, 1), f32(6, 33), f32(33)], body: "relu(x1); where(x0, x2, t0)" },
      { types: [f32(5), t("bool", 5), t("bool")], body: "where(x1, x0, 1); where(x2, t0, -0)" },
    ];
    const inputs: Record<string, Float64Array> = {};
    cases.forEach(({ types, body }, k) => {
      const xs = types.map((type, i) => {
        const n = type.shape.reduce((p, d) => p * d, 1);
        inputs[`x${k}_${i}`] = type.dtype === "bool" ? Float64Array.from({ length: n }, (_, j) => ((j * (k + 3)) >> 1) & 1) : Float64Array.from(specials(n), (v, j) => (j % 11 === 5 ? NaN : v));
        return b.addInput({ name: `x${k}_${i}`, type });
      });
      b.output(`y${k}`, b.op("fused", xs, { body }));
    });
    await expectMatchesInterpreter(b.build(), inputs);
  });
});

describe("cast", () => {
  const dtypes: DType[] = ["f32", "i32", "i8", "u8", "bool"];
  for (const from of dtypes) {
    it(`from ${from} to every dtype (saturating, NaN -> 0, wrapping)`, async () => {
      const b = new GraphBuilder(`cast_${from}`);
      const x = b.addInput({ name: "x", type: t(from, 45) });
      for (const to of dtypes) b.output(to, b.op("cast", [x], { dtype: to }));
      const data = from === "f32" ? Float64Array.from(specials(45), (v, i) => (i % 2 ? v * 1e3 : v - 0.5)) : integers(from, 45, 9);
      await expectMatchesInterpreter(b.build(), { x: data });
    });
  }
});

describe("dropout", () => {
  function dropoutGraph(n: number, rate: number, seed: number): Graph {
    const b = new GraphBuilder("dropout");
    const x = b.addInput({ name: "x", type: f32(n) });
    const step = b.addInput({ name: "step", type: t("i32") });
    b.output("y", b.op("dropout", [x, step], { rate, seed }));
    return b.build();
  }

  for (const n of [1, 3, 4, 5, 1000, 1003]) {
    for (const [rate, seed, step] of [[0.5, 7, 0], [0.1, 4294967295, 12345], [0.9, 0, -1], [0, 1, 2], [1, 1, 2]] as const) {
      it(`n=${n} rate=${rate} seed=${seed} step=${step}: the interpreter's mask bit for bit`, async () => {
        const g = dropoutGraph(n, rate, seed);
        const x = Float64Array.from({ length: n }, (_, i) => 1 + (i % 13));
        const { wasm } = await expectMatchesInterpreter(g, { x, step: [step] });
        const kept = Array.from(wasm.outputs.y.data, (v) => (v !== 0 ? 1 : 0));
        expect(kept).toEqual(Array.from(dropoutMask(n, rate, seed, step)));
      });
    }
  }
});

describe("in place", () => {
  /** exp, then add, then dropout, each writing over its first operand's slot. */
  function chain(): Graph {
    const b = new GraphBuilder("inplace");
    const x = b.addInput({ name: "x", type: f32(4, 33) });
    const bias = b.addInput({ name: "bias", type: f32(33) });
    const step = b.addInput({ name: "step", type: t("i32") });
    const e = b.op("exp", [x]);
    const s = b.op("add", [e, bias]);
    const d = b.op("dropout", [s, step], { rate: 0.3, seed: 11 });
    const r = b.op("relu", [d]);
    b.output("y", r);
    const g = b.build();
    const inplace: Record<string, string> = { [s]: e, [d]: s, [r]: d };
    return { ...g, nodes: g.nodes.map((n) => (inplace[n.id] ? { ...n, inplace: inplace[n.id] } : n)) };
  }

  it("the naive plan puts each marked node in its operand's slot", () => {
    const g = naivePlan(chain());
    const slots = g.memory!.slots;
    const [e, s, d, r] = g.nodes.map((n) => slots[n.id].offset);
    expect([s, d, r]).toEqual([e, e, e]);
    expect(slots.x.offset).not.toBe(e);
  });

  it("results computed over their operands match the interpreter", async () => {
    await expectMatchesInterpreter(chain(), undefined, { tolerance: 1e-5 });
  });

  it("a unary op over its own operand, at every tail length", async () => {
    for (const n of [1, 3, 5, 8, 33]) {
      const b = new GraphBuilder("inplace1");
      const x = b.addInput({ name: "x", type: f32(n) });
      const c = b.op("copy", [x]);
      b.output("y", b.op("tanh", [c]));
      const g = b.build();
      const planned: Graph = { ...g, nodes: g.nodes.map((node, i) => (i === 1 ? { ...node, inplace: c } : node)) };
      await expectMatchesInterpreter(planned);
    }
  });

  it("leaves inputs untouched when nothing is in place", async () => {
    const g = opCases("mul", [[f32(33), f32(33)]]);
    const a = Float64Array.from({ length: 33 }, (_, i) => i - 16);
    const { program } = await runWasm(g, { a0: a, b0: a });
    expect(Array.from(program.read("a0", "forward").data)).toEqual(Array.from(a));
  });
});
