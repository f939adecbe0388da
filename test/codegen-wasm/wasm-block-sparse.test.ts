// The WASM blockSparseMatmul kernel (codegen-wasm/kernels/block-sparse.ts) against the
// interpreter over test/support/block-sparse-cases.ts (tile and lane tails, random block
// patterns, all-zero and all-kept block columns and rows, an all-zero weight), and the packed
// format against the dense weight it came from.
import { describe, expect, it } from "vitest";
import { blockDensity, blockStructureError, packBlockSparse, unpackBlockSparse } from "../../compiler/ir/block-sparse.ts";
import { blockPatternWeight, blockSparseGraph } from "../support/block-sparse-cases.ts";
import { expectMatchesInterpreter } from "../support/wasm-harness.ts";

describe("blockSparseMatmul on wasm-simd", () => {
  it("matches the interpreter on every case", async () => {
    const { graph, inputs } = blockSparseGraph();
    await expectMatchesInterpreter(graph, inputs);
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
