// The quantization ops' backend cases, shared by test/codegen-wasm/wasm-quant.test.ts and
// test/codegen-wgsl/wgsl-quant.test.ts: one graph per op applying it over shapes with SIMD tails
// (sizes that are not multiples of 4), per tensor (scale [] and [1]) and per channel along first,
// middle, last and negative axes, i8 and u8, f32/f16/bf16 data, with data that hits the clamps,
// exact rounding ties (power-of-two scales, half-steps), NaN, and zero points; matmulInteger over
// i8/u8 operands from 1x1 to sums past 2^16 and K = 0. Scales and zero points are graph inputs, so
// the kernels read them at run time.

import { GraphBuilder } from "../../compiler/ir/builder.ts";
import { roundTo } from "../../compiler/ir/dtype-round.ts";
import type { Graph } from "../../compiler/ir/graph.ts";
import type { AttrValue } from "../../compiler/ir/op-def.ts";
import type { DType, TensorType } from "../../compiler/ir/types.ts";
import { randomData } from "./op-fixtures.ts";

export interface QuantGraph {
  readonly graph: Graph;
  readonly inputs: Record<string, number[]>;
}

const numel = (shape: readonly number[]) => shape.reduce((p, d) => p * d, 1);
const uniform = (n: number, seed: number, lo: number, hi: number) => Array.from(randomData(n, seed), (u) => lo + ((u + 1) / 2) * (hi - lo));
const ints = (n: number, seed: number, lo: number, hi: number) => uniform(n, seed, lo, hi + 1).map((v) => Math.min(hi, Math.floor(v)));

interface Case {
  readonly types: readonly TensorType[];
  readonly data: readonly number[][];
  readonly attrs: Record<string, AttrValue>;
}

function build(op: string, cases: readonly Case[]): QuantGraph {
  const b = new GraphBuilder(op);
  const inputs: Record<string, number[]> = {};
  cases.forEach((c, k) => {
    const names = c.types.map((type, i) => {
      inputs[`c${k}_${i}`] = c.data[i].map((v) => roundTo(type.dtype, v));
      return b.addInput({ name: `c${k}_${i}`, type });
    });
    b.output(`y${k}`, b.op(op, names, c.attrs));
  });
  return { graph: b.build(), inputs };
}

/** Where a case's scale and zero point go: per tensor (a shape of [] or [1]) or along an axis. */
interface Layout {
  readonly shape: number[];
  readonly axis: number | null;
  /** Per-tensor parameters as [1] instead of []. */
  readonly one?: boolean;
}

const LAYOUTS: readonly Layout[] = [
  { shape: [13], axis: null },
  { shape: [3, 7], axis: null, one: true },
  { shape: [5, 6], axis: 1 },
  { shape: [5, 7], axis: 0 },
  { shape: [2, 3, 3, 5], axis: -1 },
  { shape: [2, 3, 2, 5], axis: 1 },
];

function paramTypes(l: Layout, float: DType): TensorType[] {
  const rank = l.shape.length;
  const shape = l.axis === null ? (l.one ? [1] : []) : [l.shape[(l.axis + rank) % rank]];
  return [{ dtype: float, shape }, { dtype: "i32", shape }];
}

/**
 * Data in units of the scale: random values that reach 1.3x past the range on both sides, every
 * third element an exact half-step (a tie), one NaN where `nan`.
 */
function steps(n: number, seed: number, halfRange: number, nan: boolean): number[] {
  return uniform(n, seed, -1.3 * halfRange, 1.3 * halfRange).map((v, i) => (nan && i === 1 ? NaN : i % 3 === 0 ? Math.round(v) + 0.5 : v));
}

/** Power-of-two scales (so half-steps stay exact ties in every float dtype) or arbitrary ones. */
function scales(n: number, seed: number, exact: boolean): number[] {
  return uniform(n, seed, 0.01, 0.2).map((v) => (exact ? 2 ** Math.round(Math.log2(v)) : v));
}

/** Zero points inside the range of `dtype` (i8: -20..20, u8: 100..150). */
function zeroPoints(n: number, seed: number, dtype: "i8" | "u8"): number[] {
  return dtype === "i8" ? ints(n, seed, -20, 20) : ints(n, seed, 100, 150);
}

/** Quantize-like cases: data in `dataType`, scale in `float`, zero points of `q`'s range. */
function scaledCases(dataType: DType, float: DType, q: "i8" | "u8", seed: number, half: number, extra: (l: Layout) => Record<string, AttrValue>, integerData = false): Case[] {
  return LAYOUTS.map((l, k) => {
    const [sType, zType] = paramTypes(l, float);
    const channels = numel(sType.shape);
    const exact = k % 2 === 0;
    const s = scales(channels, seed + k, exact);
    const z = zeroPoints(channels, seed + 50 + k, q);
    const x = integerData ? ints(numel(l.shape), seed + 100 + k, -40000, 40000) : steps(numel(l.shape), seed + 100 + k, half, k === 0).map((v) => v * s[0]);
    return { types: [{ dtype: dataType, shape: l.shape }, sType, zType], data: [x, s, z], attrs: { axis: l.axis, ...extra(l) } };
  });
}

export function quantizeCases(): QuantGraph[] {
  return (["f32", "f16", "bf16"] as const).flatMap((float, f) =>
    (["i8", "u8"] as const).map((q, j) => build("quantize", scaledCases(float, float, q, 10 * f + j, 128, () => ({ dtype: q })))),
  );
}

export function requantizeCases(): QuantGraph[] {
  return (["i8", "u8"] as const).map((q, j) => {
    const cases = scaledCases("i32", "f32", q, 70 + j, 128, () => ({ dtype: q }), true);
    // Multipliers that make ties of odd accumulators: 0.5 and 0.25.
    cases.push({ types: [{ dtype: "i32", shape: [9] }, { dtype: "f32", shape: [] }, { dtype: "i32", shape: [] }], data: [[1, 3, 5, -1, -3, -5, 2, 255, -256], [0.5], [q === "i8" ? 0 : 128]], attrs: { axis: null, dtype: q } });
    return build("requantize", cases);
  });
}

export function dequantizeCases(): QuantGraph[] {
  const out: QuantGraph[] = [];
  for (const [qType, lo, hi] of [["i8", -128, 127], ["u8", 0, 255], ["i32", -(2 ** 31), 2 ** 31 - 1]] as const) {
    for (const float of ["f32", "bf16"] as const) {
      const cases = LAYOUTS.map((l, k): Case => {
        const [sType, zType] = paramTypes(l, float);
        const channels = numel(sType.shape);
        return {
          types: [{ dtype: qType, shape: l.shape }, sType, zType],
          data: [ints(numel(l.shape), 200 + k, Math.max(lo, -(2 ** 20)), Math.min(hi, 2 ** 20)), scales(channels, 210 + k, false), ints(channels, 220 + k, qType === "u8" ? 100 : -20, qType === "u8" ? 150 : 20)],
          attrs: { axis: l.axis },
        };
      });
      out.push(build("dequantize", cases));
    }
  }
  return out;
}

const FAKE_RANGES: readonly (readonly [number, number, "i8" | "u8"])[] = [[-128, 127, "i8"], [0, 255, "u8"], [-8, 7, "i8"], [-127, 127, "i8"]];

export function fakeQuantCases(): QuantGraph[] {
  return (["f32", "f16"] as const).map((float, f) => {
    const cases = FAKE_RANGES.flatMap(([qmin, qmax, q], r) => scaledCases(float, float, q, 300 + 10 * f + r, (qmax - qmin) / 2, () => ({ qmin, qmax })));
    return build("fakeQuant", cases.map((c) => (c.attrs.qmin === -8 ? { ...c, data: [c.data[0], c.data[1], c.data[2].map(() => 0)] } : c)));
  });
}

/**
 * A per-tensor case's data with elements 2..7 at the half-steps around qmin and qmax (after the
 * zero point), where round-half-to-even decides whether the gradient passes; as is otherwise.
 */
function withEdgeTies(c: Case, qmin: number, qmax: number): number[][] {
  if (c.attrs.axis !== null) return [...c.data];
  const [x, s, z] = c.data;
  const edges = [qmin - 0.5, qmin + 0.5, qmin - 1.5, qmax - 0.5, qmax + 0.5, qmax + 1.5].map((v) => (v - z[0]) * s[0]);
  return [x.map((v, i) => (i >= 2 && i < 8 ? edges[i - 2] : v)), s, z];
}

export function fakeQuantGradCases(): QuantGraph[] {
  return (["f32", "bf16"] as const).map((float, f) => {
    const cases = FAKE_RANGES.flatMap(([qmin, qmax, q], r) =>
      scaledCases(float, float, q, 400 + 10 * f + r, (qmax - qmin) / 2, () => ({ qmin, qmax })).map((c, k): Case => {
        const dy = uniform(c.data[0].length, 500 + k, -1, 1);
        return { types: [c.types[0], ...c.types], data: [dy, ...withEdgeTies(c, qmin, qmax)], attrs: c.attrs };
      }),
    );
    return build("fakeQuantGrad", cases.map((c) => (c.attrs.qmin === -8 ? { ...c, data: [c.data[0], c.data[1], c.data[2], c.data[3].map(() => 0)] } : c)));
  });
}

export function matmulIntegerCases(): QuantGraph {
  const shapes: [number[], number[]][] = [[[1, 1], [1, 1]], [[5, 7], [7, 3]], [[2, 3, 17], [17, 9]], [[4, 300], [300, 5]], [[2, 0], [0, 3]], [[3, 4], [4, 1]]];
  const cases: Case[] = [];
  const range = { i8: [-128, 127], u8: [0, 255] } as const;
  shapes.forEach(([as, ws], k) => {
    for (const [ad, wd] of [["i8", "i8"], ["u8", "i8"], ["u8", "u8"], ["i8", "u8"]] as const) {
      cases.push({
        types: [{ dtype: ad, shape: as }, { dtype: wd, shape: ws }],
        data: [ints(numel(as), 600 + k, range[ad][0], range[ad][1]), ints(numel(ws), 700 + k, range[wd][0], range[wd][1])],
        attrs: {},
      });
    }
  });
  return build("matmulInteger", cases);
}

/**
 * convInteger over shapes whose GEMM has SIMD tails (output channels not a multiple of 4 or 8,
 * odd K, fewer than 4 output pixels), "same"/explicit/valid padding, strides, dilation, a 1x1
 * convolution (read without im2col), and zero points 0, inside and at the ends of the range.
 */
export function convIntegerCases(): QuantGraph {
  const shapes: [number[], number[], Record<string, AttrValue>][] = [
    [[2, 7, 6, 3], [3, 3, 3, 5], { padding: "same" }],
    [[1, 9, 8, 4], [3, 2, 4, 9], { padding: "explicit", pads: [2, 0, 1, 3], stride: [2, 2], dilation: [1, 2] }],
    [[3, 5, 5, 1], [3, 3, 1, 8], { padding: "same" }],
    [[1, 3, 3, 2], [3, 3, 2, 3], { padding: "valid" }],
    [[2, 4, 4, 6], [1, 1, 6, 7], {}],
    [[1, 6, 6, 16], [3, 3, 16, 12], { padding: "same", stride: [2, 2] }],
  ];
  const zeroPoints = { u8: [0, 131, 255], i8: [-128, 0, 17] } as const;
  const range = { i8: [-128, 127], u8: [0, 255] } as const;
  const cases: Case[] = [];
  shapes.forEach(([xs, ws, attrs], k) => {
    for (const [xd, wd] of [["u8", "i8"], ["i8", "i8"], ["u8", "u8"]] as const) {
      const z = zeroPoints[xd][k % 3];
      cases.push({
        types: [{ dtype: xd, shape: xs }, { dtype: wd, shape: ws }],
        data: [ints(numel(xs), 800 + k, range[xd][0], range[xd][1]), ints(numel(ws), 900 + k, wd === "i8" ? -127 : 0, range[wd][1])],
        attrs: { ...attrs, inputZeroPoint: z },
      });
    }
  });
  return build("convInteger", cases);
}

/** Every graph above, labelled. */
export function allQuantGraphs(): { label: string; g: QuantGraph }[] {
  const dtypes = (list: readonly { type: TensorType }[]) => [...new Set(list.map((v) => v.type.dtype))].join(", ");
  const label = (g: QuantGraph) => `${g.graph.name}(${dtypes(g.graph.inputs)}) -> ${dtypes(g.graph.nodes)}`;
  return [...quantizeCases(), ...requantizeCases(), ...dequantizeCases(), ...fakeQuantCases(), ...fakeQuantGradCases(), matmulIntegerCases(), convIntegerCases()].map((g) => ({ label: label(g), g }));
}
