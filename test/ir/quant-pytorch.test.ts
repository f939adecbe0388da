// The quantization ops against PyTorch (Debian's python3-torch, test/oracle/quant_oracle.py), an
// oracle written independently of mlc's formulas: torch.quantize_per_tensor / _per_channel
// (int_repr), torch.fake_quantize_per_tensor_affine / _per_channel_affine (values and the
// gradient for a random cotangent), and an int8 x int8 matmul with int32 accumulation. mlc runs
// in native precision (f32 arithmetic, what the backends compute) and must agree exactly, rounding
// ties included: the cases mix random values with exact half-steps.

import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { GraphBuilder } from "../../compiler/ir/builder.ts";
import { interpret } from "../../compiler/ir/interpreter.ts";
import type { AttrValue } from "../../compiler/ir/op-def.ts";
import type { DType } from "../../compiler/ir/types.ts";
import { randomData } from "../support/op-fixtures.ts";

const ORACLE = new URL("../oracle/quant_oracle.py", import.meta.url).pathname;

interface Operand {
  dtype: DType;
  shape: number[];
  data: number[];
}

/** `op` applied once to the operands, run by the interpreter in native precision. */
function runNative(op: string, operands: Operand[], attrs: Record<string, AttrValue>): number[] {
  const b = new GraphBuilder(op);
  const names = operands.map((o, i) => b.addInput({ name: `x${i}`, type: { dtype: o.dtype, shape: o.shape } }));
  b.output("y", b.op(op, names, attrs));
  const inputs = Object.fromEntries(operands.map((o, i) => [`x${i}`, o.data]));
  return Array.from(interpret(b.build(), inputs).outputs.y.data);
}

const f32 = (n: number, seed: number, lo: number, hi: number) => Array.from(randomData(n, seed), (u) => Math.fround(lo + ((u + 1) / 2) * (hi - lo)));
const ints = (n: number, seed: number, lo: number, hi: number) => Array.from(randomData(n, seed), (u) => Math.min(hi, Math.floor(lo + ((u + 1) / 2) * (hi - lo + 1))));
const numel = (shape: number[]) => shape.reduce((p, d) => p * d, 1);

interface QuantCase {
  label: string;
  x: number[];
  shape: number[];
  scale: number[];
  zeroPoint: number[];
  axis: number | null;
}

/** Random values plus exact half-steps of the first scale (ties for every rounding). */
function withTies(values: number[], scale: number, count: number): number[] {
  return values.map((v, i) => (i % 5 === 0 ? Math.fround(((i % count) - count / 2 + 0.5) * scale) : v));
}

const QUANTIZE: (QuantCase & { dtype: "i8" | "u8" })[] = [
  { label: "per tensor i8", x: withTies(f32(600, 1, -2, 2), 0.0125, 300), shape: [600], scale: [Math.fround(0.0125)], zeroPoint: [-5], axis: null, dtype: "i8" },
  { label: "per tensor i8, power-of-two scale (exact ties)", x: withTies(f32(200, 2, -40, 40), 0.25, 600), shape: [10, 20], scale: [0.25], zeroPoint: [3], axis: null, dtype: "i8" },
  { label: "per tensor u8, zero point 128", x: f32(500, 3, -1.5, 1.5), shape: [500], scale: [Math.fround(0.01)], zeroPoint: [128], axis: null, dtype: "u8" },
  { label: "fbgemm's reciprocal example", x: [Math.fround(0.273939937)], shape: [1], scale: [Math.fround(0.00214854861)], zeroPoint: [0], axis: null, dtype: "u8" },
  {
    label: "per channel i8 along axis 1", x: withTies(f32(400, 4, -1, 1), 0.01, 200), shape: [50, 8],
    scale: f32(8, 5, 0.002, 0.02), zeroPoint: ints(8, 6, -10, 10), axis: 1, dtype: "i8",
  },
  {
    label: "per channel u8 along axis 0 of rank 3", x: f32(60, 7, -0.5, 0.5), shape: [4, 3, 5],
    scale: f32(4, 8, 0.002, 0.01), zeroPoint: ints(4, 9, 100, 150), axis: 0, dtype: "u8",
  },
];

const FAKE_QUANT: (QuantCase & { qmin: number; qmax: number })[] = [
  { label: "per tensor [-128, 127]", x: withTies(f32(600, 11, -2, 2), 0.0125, 300), shape: [600], scale: [Math.fround(0.0125)], zeroPoint: [4], axis: null, qmin: -128, qmax: 127 },
  { label: "per tensor [0, 255]", x: f32(300, 12, -1, 2), shape: [30, 10], scale: [Math.fround(0.007)], zeroPoint: [90], axis: null, qmin: 0, qmax: 255 },
  { label: "per tensor 4-bit [-8, 7], ties at the edges", x: [-4.25, -4, -3.75, 3.75, 3.5, 3.25, 0.25, -0.25], shape: [8], scale: [0.5], zeroPoint: [0], axis: null, qmin: -8, qmax: 7 },
  {
    label: "per channel symmetric [-127, 127] along axis 0", x: withTies(f32(60, 13, -1, 1), 0.008, 250), shape: [6, 10],
    scale: f32(6, 14, 0.004, 0.01), zeroPoint: [0, 0, 0, 0, 0, 0], axis: 0, qmin: -127, qmax: 127,
  },
  {
    label: "per channel [0, 255] along the last axis", x: f32(120, 15, -1, 1), shape: [2, 6, 10],
    scale: f32(10, 16, 0.003, 0.01), zeroPoint: ints(10, 17, 60, 200), axis: 2, qmin: 0, qmax: 255,
  },
];

const MATMUL: { label: string; a: Operand; w: Operand }[] = [
  { label: "i8 [7,33] x i8 [33,5]", a: { dtype: "i8", shape: [7, 33], data: ints(231, 21, -128, 127) }, w: { dtype: "i8", shape: [33, 5], data: ints(165, 22, -128, 127) } },
  { label: "u8 [4,300] x i8 [300,3] (sums past 2^16)", a: { dtype: "u8", shape: [4, 300], data: ints(1200, 23, 0, 255) }, w: { dtype: "i8", shape: [300, 3], data: ints(900, 24, -127, 127) } },
];

// Explicit pads, so the oracle pads the same way; strides, dilation, groups and zero points that
// make the padding taps count.
const CONV: { label: string; x: Operand; w: Operand; attrs: Record<string, AttrValue> }[] = [
  {
    label: "u8 [2,7,6,5] x i8 3x3 -> 11, pads 1, zero point 131",
    x: { dtype: "u8", shape: [2, 7, 6, 5], data: ints(420, 31, 0, 255) }, w: { dtype: "i8", shape: [3, 3, 5, 11], data: ints(495, 32, -127, 127) },
    attrs: { padding: "explicit", pads: [1, 1, 1, 1], inputZeroPoint: 131 },
  },
  {
    label: "i8 [1,9,8,4] x i8 3x2 stride 2 dilation [1,2] uneven pads, zero point -7",
    x: { dtype: "i8", shape: [1, 9, 8, 4], data: ints(288, 33, -128, 127) }, w: { dtype: "i8", shape: [3, 2, 4, 6], data: ints(144, 34, -127, 127) },
    attrs: { padding: "explicit", pads: [2, 0, 1, 3], stride: [2, 2], dilation: [1, 2], inputZeroPoint: -7 },
  },
  {
    label: "u8 [1,5,5,6] x i8 groups 3, zero point 255",
    x: { dtype: "u8", shape: [1, 5, 5, 6], data: ints(150, 35, 0, 255) }, w: { dtype: "i8", shape: [3, 3, 2, 9], data: ints(162, 36, -127, 127) },
    attrs: { padding: "explicit", pads: [1, 1, 1, 1], groups: 3, inputZeroPoint: 255 },
  },
];

const params = (c: QuantCase): Operand[] => {
  const shape = c.axis === null ? [] : [c.scale.length];
  return [{ dtype: "f32", shape, data: c.scale }, { dtype: "i32", shape, data: c.zeroPoint }];
};
const xOf = (c: QuantCase): Operand => ({ dtype: "f32", shape: c.shape, data: c.x });
const axisAttr = (c: QuantCase) => ({ axis: c.axis });
const cotangent = (c: QuantCase) => f32(numel(c.shape), 99, -1, 1);

// One Python process for every case (importing torch dominates its time).
const requests = [
  ...QUANTIZE.map((c) => ({ kind: "quantize", ...c })),
  ...FAKE_QUANT.map((c) => ({ kind: "fakeQuant", ...c, dy: cotangent(c) })),
  ...MATMUL.map((c) => ({ kind: "matmulInteger", a: c.a.data, aShape: c.a.shape, w: c.w.data, wShape: c.w.shape })),
  ...CONV.map((c) => ({
    kind: "convInteger", x: c.x.data, xShape: c.x.shape, w: c.w.data, wShape: c.w.shape, zeroPoint: c.attrs.inputZeroPoint, pads: c.attrs.pads,
    stride: c.attrs.stride ?? [1, 1], dilation: c.attrs.dilation ?? [1, 1], groups: c.attrs.groups ?? 1,
  })),
];
let answers: Record<string, number[]>[] | undefined;
function torchAnswer(index: number): Record<string, number[]> {
  answers ??= JSON.parse(execFileSync("/usr/bin/python3", [ORACLE], { input: JSON.stringify(requests), maxBuffer: 64 << 20 }).toString());
  return answers![index];
}

/** The indices where two lists differ, with both values, for a readable failure. */
function differences(got: number[], want: number[]): string[] {
  return want.flatMap((w, i) => (Object.is(got[i], w) || got[i] === w ? [] : [`[${i}] mlc ${got[i]} torch ${w}`])).slice(0, 10);
}

describe("against PyTorch", () => {
  QUANTIZE.forEach((c, k) => {
    it(`quantize ${c.label}`, () => {
      const got = runNative("quantize", [xOf(c), ...params(c)], { ...axisAttr(c), dtype: c.dtype });
      const want = torchAnswer(k).q;
      expect(got.length).toBe(want.length);
      expect(differences(got, want)).toEqual([]);
    });
  });

  FAKE_QUANT.forEach((c, k) => {
    it(`fakeQuant ${c.label}: values and straight-through gradient`, () => {
      const attrs = { ...axisAttr(c), qmin: c.qmin, qmax: c.qmax };
      const dy: Operand = { dtype: "f32", shape: c.shape, data: cotangent(c) };
      const answer = torchAnswer(QUANTIZE.length + k);
      expect(differences(runNative("fakeQuant", [xOf(c), ...params(c)], attrs), answer.y)).toEqual([]);
      const dx = runNative("fakeQuantGrad", [dy, xOf(c), ...params(c)], attrs);
      expect(differences(dx, answer.dx)).toEqual([]);
      // The cases reach both sides of the range (a gradient that is all dy or all 0 shows nothing).
      expect(answer.dx.some((v) => v === 0)).toBe(true);
      expect(answer.dx.some((v) => v !== 0)).toBe(true);
    });
  });

  MATMUL.forEach((c, k) => {
    it(`matmulInteger ${c.label}`, () => {
      const got = runNative("matmulInteger", [c.a, c.w], {});
      expect(differences(got, torchAnswer(QUANTIZE.length + FAKE_QUANT.length + k).y)).toEqual([]);
    });
  });

  CONV.forEach((c, k) => {
    it(`convInteger ${c.label}: padding at the zero point`, () => {
      const got = runNative("convInteger", [c.x, c.w], c.attrs);
      const want = torchAnswer(QUANTIZE.length + FAKE_QUANT.length + MATMUL.length + k).y;
      expect(got.length).toBe(want.length);
      expect(differences(got, want)).toEqual([]);
    });
  });
});
