// The WASM blockSparseMatmul and sparse24Matmul kernels (codegen-wasm/kernels/block-sparse.ts,
// sparse24.ts) against the
// interpreter over test/support/block-sparse-cases.ts (tile and lane tails, random block
// patterns, all-zero and all-kept block columns and rows, an all-zero weight; 2:4 groups keeping
// 0, 1 or 2), and the packed formats against the dense weights they came from.
import { describe, expect, it } from "vitest";
import { blockDensity, blockStructureError, packBlockSparse, unpackBlockSparse } from "../../compiler/ir/block-sparse.ts";
import { fits24, pack24, unpack24 } from "../../compiler/ir/sparse24.ts";
import { blockPatternWeight, blockSparseGraph, sparse24Graph, twoFourWeight } from "../support/block-sparse-cases.ts";
import { expectMatchesInterpreter } from "../support/wasm-harness.ts";

describe("blockSparseMatmul on wasm-simd", () => {
  it("matches the interpreter on every case", async () => {
    const { graph, inputs } = blockSparseGraph();
    await expectMatchesInterpreter(graph, inputs);
  });
});

describe("sparse24Matmul on wasm-simd", () => {
  it("matches the interpreter on every case (row and channel tails, groups keeping 0, 1 or 2)", async () => {
    const { graph, inputs } = sparse24Graph();
    // An output's rounding error scales with its partial sums, not its (possibly cancelled) value.
    await expectMatchesInterpreter(graph, inputs, { relativeToMax: true });
  });
});

describe("the 2:4 format", () => {
  it("packs a 2:4 weight and unpacks to the same weight; refuses one that is not 2:4", () => {
    const w = twoFourWeight(12, 7, 3);
    expect(fits24(w, 12, 7)).toBe(true);
    expect(Array.from(unpack24(pack24(w, 12, 7)))).toEqual(Array.from(w));
    const three = Float64Array.from(w);
    for (const r of [0, 1, 2]) three[r * 7 + 2] = 1;
    expect(fits24(three, 12, 7)).toBe(false);
    expect(() => pack24(three, 12, 7)).toThrow(/not 2:4/);
    expect(fits24(new Float64Array(6 * 2), 6, 2)).toBe(false);
  });
});

describe("the block-sparse format", () => {
  it("packs a weight into kept 1x4 blocks and unpacks to the same weight, with a valid structure", () => {
    for (const [k, n, d] of [[9, 23, 0.3], [5, 4, 1], [6, 16, 0], [1, 1, 1]] as const) {
      const w = blockPatternWeight(k, n, d, k * n);
      const p = packBlockSparse(w, k, n);
      expect(Array.from(unpackBlockSparse(p))).toEqual(Array.from(w));
      expect(blockStructureError(p.rows, p.starts, k, p.blocks)).toBeUndefined();
      expect(blockDensity(w, k, n)).toBeCloseTo(p.blocks / (k * Math.ceil(n / 4)), 12);
    }
  });

  it("names what is wrong with a structure", () => {
    expect(blockStructureError([0, 5], [0, 1, 2], 5, 2)).toMatch(/rows\[1\] = 5 is outside \[0, 5\)/);
    expect(blockStructureError([0, 1], [0, 2, 1], 5, 2)).toMatch(/starts\[2\] = 1 is below/);
    expect(blockStructureError([0, 1], [0, 1, 3], 5, 2)).toMatch(/not the block count 2/);
    expect(blockStructureError([0, 1], [1, 1, 2], 5, 2)).toMatch(/starts\[0\] is 1/);
  });
});
