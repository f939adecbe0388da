// codebookMatmul's record (compiler/ir/ops/codebook.ts) against a float64 oracle written here
// independently (decode every index by hand from the packed bytes, then a plain triple loop), for
// 4-bit (two per byte, N odd and even) and 5..8-bit (one per byte) packings, batch axes, an index
// past a 3-bit table; every shape-rule error; FLOPs; and the k-means that makes the tables
// (passes/quantize/kmeans.ts): linear initialisation, convergence, determinism, nearest-centroid
// indices.

import { describe, expect, it } from "vitest";
import type { Tensor } from "../../compiler/ir/op-def.ts";
import { CODEBOOK_OPS, packCodebookIndices } from "../../compiler/ir/ops/codebook.ts";
import { parseGraph } from "../../compiler/ir/parser.ts";
import { valueTypes } from "../../compiler/ir/graph.ts";
import { nodeFlops } from "../../compiler/passes/checkpoint/cost.ts";
import { kmeansCodebook } from "../../compiler/passes/quantize/kmeans.ts";
import { findOp, inferOp, runOp, tensor, type } from "../support/op-fixtures.ts";

const op = findOp(CODEBOOK_OPS, "codebookMatmul");

/** Deterministic values in [0, 1) (an LCG). */
function uniform(n: number, seed: number): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  });
}

/** The oracle: W[p][j] from the bytes as the format describes them, then x · W in float64. */
function oracle(x: number[], xShape: number[], bytes: number[], table: number[], n: number, bits: number): number[] {
  const k = xShape[xShape.length - 1];
  const rows = x.length / k;
  const rowBytes = bits <= 4 ? Math.ceil(n / 2) : n;
  const w = (p: number, j: number) => {
    const i = bits <= 4 ? (j % 2 === 0 ? bytes[p * rowBytes + j / 2] & 0x0f : bytes[p * rowBytes + (j - 1) / 2] >> 4) : bytes[p * rowBytes + j];
    return i < table.length ? table[i] : 0;
  };
  const out: number[] = [];
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += x[r * k + p] * w(p, j);
      out.push(s);
    }
  }
  return out;
}

function caseOf(xShape: number[], n: number, bits: number, seed: number) {
  const k = xShape[xShape.length - 1];
  const count = xShape.reduce((a, d) => a * d, 1);
  const x = uniform(count, seed).map((v) => Math.fround(v * 2 - 1));
  const table = uniform(2 ** bits, seed + 1).map((v) => Math.fround(v - 0.5));
  const idx = uniform(k * n, seed + 2).map((v) => Math.floor(v * 2 ** bits));
  const bytes = Array.from(packCodebookIndices(idx, k, n, bits));
  return { x, table, bytes, idx, k };
}

describe("codebookMatmul", () => {
  const cases: [number[], number, number][] = [
    [[3, 5], 7, 4], [[2, 6], 8, 4], [[1, 1], 1, 4], [[2, 3, 4], 9, 3], [[4, 3], 5, 5], [[2, 9], 6, 8], [[5, 2], 3, 1], [[3, 7], 4, 7],
  ];
  it.each(cases)("x %j, N %d, %d-bit: equals decoding the table then a float64 matmul", (xShape, n, bits) => {
    const { x, table, bytes, k } = caseOf(xShape, n, bits, 7 * n + bits);
    const rowBytes = bits <= 4 ? Math.ceil(n / 2) : n;
    const y = runOp(op, [tensor("f32", xShape, x), tensor("u8", [k, rowBytes], bytes), tensor("f32", [2 ** bits], table)], { bits, n });
    expect(y.type).toEqual(type("f32", [...xShape.slice(0, -1), n]));
    const want = oracle(x, xShape, bytes, table, n, bits);
    expect(Array.from(y.data)).toEqual(want);
  });

  it("packs column 2c in the low nibble and 2c+1 in the high one, rows padded to whole bytes", () => {
    expect(Array.from(packCodebookIndices([1, 2, 3, 4, 5, 6], 2, 3, 4))).toEqual([0x21, 0x03, 0x54, 0x06]);
    expect(Array.from(packCodebookIndices([200, 7, 31, 0], 2, 2, 8))).toEqual([200, 7, 31, 0]);
  });

  it("reads 0 for an index past a 3-bit table (a nibble of 8..15)", () => {
    const x: Tensor = tensor("f32", [1, 2], [1, 10]);
    const bytes = tensor("u8", [2, 1], [0xf1, 0x08]); // row 0: indices 1, 15; row 1: 8, 0
    const table = tensor("f32", [8], [0, 0.5, 1, 1, 1, 1, 1, 1]);
    expect(Array.from(runOp(op, [x, bytes, table], { bits: 3, n: 2 }).data)).toEqual([0.5, 0]);
  });

  it("checks its operands with messages naming the rule", () => {
    const t = type;
    expect(inferOp(op, [t("f32", [2, 5, 6]), t("u8", [6, 4]), t("f32", [16])], { bits: 4, n: 7 })).toEqual(t("f32", [2, 5, 7]));
    expect(() => inferOp(op, [t("f32", [5, 6]), t("u8", [6, 4]), t("f32", [16])], { bits: 4, n: 9 })).toThrow(/indices must be u8\[6,5\] \(K 6 rows of 9 columns, two 4-bit indices per byte\), got u8\[6,4\]/);
    expect(inferOp(op, [t("f32", [5, 6]), t("u8", [6, 4]), t("f32", [32])], { bits: 5, n: 4 })).toEqual(t("f32", [5, 4]));
    expect(() => inferOp(op, [t("f32", [5, 6]), t("u8", [6, 2]), t("f32", [8])], { bits: 4, n: 4 })).toThrow(/table must be f32\[16\] \(2\^bits centroids\), got f32\[8\]/);
    expect(() => inferOp(op, [t("f32", [5, 6]), t("i8", [6, 2]), t("f32", [16])], { bits: 4, n: 4 })).toThrow(/indices must be u8\[6,2\]/);
    expect(() => inferOp(op, [t("f16", [5, 6]), t("u8", [6, 2]), t("f32", [16])], { bits: 4, n: 4 })).toThrow(/x must be f32, got f16\[5,6\]/);
    expect(() => inferOp(op, [t("f32", [6]), t("u8", [6, 2]), t("f32", [16])], { bits: 4, n: 4 })).toThrow(/x must have rank >= 2/);
    expect(() => inferOp(op, [t("f32", [5, 6]), t("u8", [6, 2]), t("f32", [512])], { bits: 9, n: 4 })).toThrow(/bits must be an integer in \[1, 8\], got 9/);
  });

  it("counts 2 FLOPs per multiply-add", () => {
    const g = parseGraph(`graph t {
  input %x: f32[2,3,5]
  input %i: u8[5,2]
  input %t: f32[16]
  %0:f32[2,3,4] = codebookMatmul %x, %i, %t {bits=4, n=4}
  output y = %0
}`);
    const types = valueTypes(g);
    expect(nodeFlops(g.nodes[0], (v) => types.get(v)!)).toBe(2 * 24 * 5);
  });
});

describe("codebookConv2d", () => {
  const conv = findOp(CODEBOOK_OPS, "codebookConv2d");
  /** The oracle: the filter decoded by hand, then a direct float64 convolution (zero padding). */
  function direct(x: number[], [n, h, w, c]: number[], filt: (ky: number, kx: number, ci: number, o: number) => number, [kh, kw]: number[], o: number, stride: number, pad: number): number[] {
    const oh = Math.floor((h + 2 * pad - kh) / stride) + 1;
    const ow = Math.floor((w + 2 * pad - kw) / stride) + 1;
    const out: number[] = [];
    for (let b = 0; b < n; b++) for (let y = 0; y < oh; y++) for (let xx = 0; xx < ow; xx++) for (let oc = 0; oc < o; oc++) {
      let s = 0;
      for (let ky = 0; ky < kh; ky++) for (let kx = 0; kx < kw; kx++) {
        const iy = y * stride - pad + ky;
        const ix = xx * stride - pad + kx;
        if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
        for (let ci = 0; ci < c; ci++) s += x[((b * h + iy) * w + ix) * c + ci] * filt(ky, kx, ci, oc);
      }
      out.push(s);
    }
    return out;
  }

  it.each([[4, 5], [3, 4], [8, 3]] as const)("%d-bit indices, O %d: a direct convolution with the decoded filter (stride 2, explicit padding 1)", (bits, o) => {
    const xShape = [2, 5, 6, 3];
    const [kh, kw] = [3, 2];
    const k = kh * kw * 3;
    const x = uniform(2 * 5 * 6 * 3, bits).map((v) => Math.fround(v * 2 - 1));
    const table = uniform(2 ** bits, bits + 1).map((v) => Math.fround(v - 0.5));
    const idx = uniform(k * o, bits + 2).map((v) => Math.floor(v * 2 ** bits));
    const bytes = Array.from(packCodebookIndices(idx, k, o, bits));
    const rowBytes = bits <= 4 ? Math.ceil(o / 2) : o;
    const y = runOp(conv, [tensor("f32", xShape, x), tensor("u8", [k, rowBytes], bytes), tensor("f32", [2 ** bits], table)],
      { bits, kernel: [kh, kw], n: o, stride: [2, 2], padding: "explicit", pads: [1, 1, 1, 1] });
    expect(y.type).toEqual(type("f32", [2, 3, 4, o]));
    const want = direct(x, xShape, (ky, kx, ci, oc) => table[idx[((ky * kw + kx) * 3 + ci) * o + oc]], [kh, kw], o, 2, 1);
    const got = Array.from(y.data);
    want.forEach((v, i) => expect(got[i]).toBeCloseTo(v, 12));
  });

  it("checks its operands", () => {
    const t = type;
    expect(inferOp(conv, [t("f32", [1, 6, 6, 2]), t("u8", [18, 3]), t("f32", [16])], { bits: 4, kernel: [3, 3], n: 5, padding: "same" })).toEqual(t("f32", [1, 6, 6, 5]));
    expect(() => inferOp(conv, [t("f32", [1, 6, 6, 2]), t("u8", [18, 5]), t("f32", [16])], { bits: 4, kernel: [3, 3], n: 5 })).toThrow(/codebookConv2d: indices must be u8\[18,3\] \(kh\*kw\*C = 18 rows of 5 columns, two 4-bit indices per byte\), got u8\[18,5\]/);
    expect(() => inferOp(conv, [t("f32", [1, 6, 6, 2]), t("u8", [18, 3]), t("f32", [16])], { bits: 4, kernel: [3, 3], n: 5, groups: 2 })).toThrow(/only groups = 1/);
    expect(() => inferOp(conv, [t("f32", [6, 6, 2]), t("u8", [18, 3]), t("f32", [16])], { bits: 4, kernel: [3, 3], n: 5 })).toThrow(/x must be NHWC \(rank 4\)/);
    expect(() => inferOp(conv, [t("f32", [1, 6, 6, 2]), t("u8", [18, 3]), t("f32", [16])], { bits: 4, kernel: [3], n: 5 })).toThrow(/kernel must be \[kh, kw\]/);
  });
});

describe("kmeansCodebook", () => {
  it("starts from centroids spaced evenly between min and max and converges on separated clusters", () => {
    // Four tight clusters: 4 of 4 centroids land on their means.
    const values = [-1, -0.99, -1.01, 0, 0.01, -0.01, 2, 2.02, 1.98, 3, 3.01, 2.99];
    const cb = kmeansCodebook(values, 2);
    expect(cb.converged).toBe(true);
    expect(Array.from(cb.table)).toEqual([-1, 0, 2, 3].map(Math.fround));
    expect(Array.from(cb.indices)).toEqual([0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]);
  });

  it("gives each value its nearest f32 centroid, is deterministic, and errs less with more bits", () => {
    const values = uniform(5000, 3).map((v) => Math.fround((v - 0.5) * (v - 0.2)));
    const a = kmeansCodebook(values, 4);
    const b = kmeansCodebook(values, 4);
    expect(Array.from(a.table)).toEqual(Array.from(b.table));
    expect(Array.from(a.indices)).toEqual(Array.from(b.indices));
    expect(a.table.every((c) => Math.fround(c) === c)).toBe(true);
    for (let i = 0; i < values.length; i += 37) {
      const d = Math.abs(values[i] - a.table[a.indices[i]]);
      for (const c of a.table) expect(d).toBeLessThanOrEqual(Math.abs(values[i] - c));
    }
    const errors = [3, 4, 5, 8].map((bits) => kmeansCodebook(values, bits).relativeRms);
    for (let i = 1; i < errors.length; i++) expect(errors[i]).toBeLessThan(errors[i - 1]);
    expect(errors[1]).toBeLessThan(0.05);
  });

  it("stops at the iteration cap and says so", () => {
    const values = uniform(2000, 9).map((v) => v ** 3);
    const capped = kmeansCodebook(values, 4, 2);
    expect(capped.iterations).toBe(2);
    expect(capped.converged).toBe(false);
    expect(kmeansCodebook(values, 4).converged).toBe(true);
  });
});
