// blockSparseMatmul's backend cases, shared by test/codegen-wasm/wasm-block-sparse.test.ts and
// test/codegen-wgsl/wgsl-block-sparse.test.ts: one graph applying the op to weights packed by
// ir/block-sparse.ts, over row counts with and without a tile tail (M % 4), output widths with and
// without a partial last block (n % 4), batched x, and random block patterns at several
// densities with an all-zero block column, an all-dense one and all-zero / all-dense input rows.
// values, rows and starts are graph inputs, so the kernels read the structure at run time.

import { GraphBuilder } from "../../compiler/ir/builder.ts";
import type { Graph } from "../../compiler/ir/graph.ts";
import { BLOCK_COLS, blockColumns, packBlockSparse } from "../../compiler/ir/block-sparse.ts";
import { pack24 } from "../../compiler/ir/sparse24.ts";
import { rng } from "./seeded-random.ts";

export interface BlockSparseCase {
  readonly x: readonly number[];
  readonly k: number;
  readonly n: number;
  readonly density: number;
}

/**
 * A [K, n] weight whose 1x4 blocks are kept with probability `density`; with `extremes`, block
 * column 0 all zero and the last all kept (when there are 3+), input row 0 all kept and row 1 all
 * zero (K >= 3).
 */
export function blockPatternWeight(k: number, n: number, density: number, seed: number, extremes = true): Float64Array {
  const random = rng(seed);
  const w = new Float64Array(k * n);
  const nb = blockColumns(n);
  for (let r = 0; r < k; r++) {
    for (let j = 0; j < nb; j++) {
      let keep = random() < density;
      if (extremes && nb >= 3 && j === 0) keep = false;
      if (extremes && nb >= 3 && j === nb - 1) keep = true;
      if (extremes && k >= 3 && r === 0) keep = true;
      if (extremes && k >= 3 && r === 1) keep = false;
      if (!keep) continue;
      for (let c = j * BLOCK_COLS; c < Math.min(n, (j + 1) * BLOCK_COLS); c++) w[r * n + c] = Math.fround(random() * 2 - 1);
    }
  }
  return w;
}

export function blockSparseGraph(): { graph: Graph; inputs: Record<string, number[]> } {
  const b = new GraphBuilder("block-sparse-cases");
  const inputs: Record<string, number[]> = {};
  const shapes: { x: number[]; n: number; density: number }[] = [
    { x: [1, 5], n: 4, density: 1 },
    { x: [4, 8], n: 8, density: 0.5 },
    { x: [7, 13], n: 10, density: 0.3 },
    { x: [9, 33], n: 23, density: 0.1 },
    { x: [2, 3, 17], n: 3, density: 0.6 },
    { x: [6, 12], n: 16, density: 0 },
    { x: [13, 40], n: 36, density: 0.2 },
  ];
  const random = rng(7);
  shapes.forEach(({ x, n, density }, i) => {
    const k = x[x.length - 1];
    const packed = packBlockSparse(blockPatternWeight(k, n, density, 100 + i), k, n);
    const xs = b.addInput({ name: `x${i}`, type: { dtype: "f32", shape: x } });
    const values = b.addInput({ name: `values${i}`, type: { dtype: "f32", shape: [packed.blocks, BLOCK_COLS] } });
    const rows = b.addInput({ name: `rows${i}`, type: { dtype: "i32", shape: [packed.blocks] } });
    const starts = b.addInput({ name: `starts${i}`, type: { dtype: "i32", shape: [blockColumns(n) + 1] } });
    inputs[`x${i}`] = Array.from({ length: x.reduce((p, d) => p * d, 1) }, () => Math.fround(random() * 2 - 1));
    inputs[`values${i}`] = Array.from(packed.values);
    inputs[`rows${i}`] = Array.from(packed.rows);
    inputs[`starts${i}`] = Array.from(packed.starts);
    b.output(`y${i}`, b.op("blockSparseMatmul", [xs, values, rows, starts], { n }));
  });
  return { graph: b.build(), inputs };
}

/**
 * A [K, n] 2:4 weight: in each group of four input rows of a channel, `kept(g, c)` (0, 1 or 2) of
 * the rows at random hold a nonzero; the first channel keeps none, the second always two.
 */
export function twoFourWeight(k: number, n: number, seed: number): Float64Array {
  const random = rng(seed);
  const w = new Float64Array(k * n);
  for (let g = 0; g < k / 4; g++) {
    for (let c = 0; c < n; c++) {
      const kept = c === 0 ? 0 : c === 1 ? 2 : Math.floor(random() * 3);
      const rows = [0, 1, 2, 3].sort(() => random() - 0.5).slice(0, kept);
      for (const r of rows) w[(4 * g + r) * n + c] = Math.fround(random() * 2 - 1) || 0.5;
    }
  }
  return w;
}

/** sparse24Matmul's backend cases: row tiles with tails, channel counts with a scalar tail, batched x. */
export function sparse24Graph(): { graph: Graph; inputs: Record<string, number[]> } {
  const b = new GraphBuilder("sparse24-cases");
  const inputs: Record<string, number[]> = {};
  const random = rng(24);
  [{ x: [1, 4], n: 4 }, { x: [5, 8], n: 7 }, { x: [9, 32], n: 12 }, { x: [2, 3, 16], n: 3 }, { x: [13, 44], n: 21 }, { x: [37, 12], n: 5 }, { x: [16, 8], n: 2 }].forEach(({ x, n }, i) => {
    const k = x[x.length - 1];
    const packed = pack24(twoFourWeight(k, n, 200 + i), k, n);
    const xs = b.addInput({ name: `x${i}`, type: { dtype: "f32", shape: x } });
    const values = b.addInput({ name: `values${i}`, type: { dtype: "f32", shape: [n, k / 2] } });
    const index = b.addInput({ name: `index${i}`, type: { dtype: "u8", shape: [n, k / 2] } });
    inputs[`x${i}`] = Array.from({ length: x.reduce((p, d) => p * d, 1) }, () => Math.fround(random() * 2 - 1));
    inputs[`values${i}`] = Array.from(packed.values);
    inputs[`index${i}`] = Array.from(packed.index);
    b.output(`y${i}`, b.op("sparse24Matmul", [xs, values, index]));
  });
  return { graph: b.build(), inputs };
}
