// In-graph block scores, block-mask expansion and N:M masks for the `prune` pass (pruning while
// training, docs/COMPRESSION.md), composed of existing ops so that the masks follow mlc prune's
// (ir/prune-masks.ts) on the same weights:
//   block:RxC  the weight's matrix view [rows, cols] (every axis but the last, by the last) is
//              cut into RxC blocks, partial at the bottom and right edges as mlc prune's (the
//              view is zero-padded to whole blocks and each block's sum divided by its own
//              element count). Scores: mean |w| (L1) or mean w² (L2: mlc prune's root-mean-square
//              without the square root, the same ranking), one per block, [rows/R, cols/C]
//              rounded up, row-major, so pruneMask's lower-index-first ties are mlc prune's.
//              The mask is stored per block and expanded to the weight's shape where it is used.
//   n:m        in each group of m consecutive rows of a column, an element is kept when fewer
//              than n others of its group beat it: a larger |w|, or an equal |w| at a lower row
//              (mlc prune keeps the lower index among equals). The m x m comparisons of every
//              group run on each step (no branch skips them between recomputations): m times
//              the weight's elements (per rival row: two comparisons and a fused where chain).

import type { GraphBuilder } from "../ir/builder.ts";
import { matrixView, type PruneStructure } from "../ir/prune-masks.ts";
import type { ParamDecl } from "../ir/graph.ts";
import { scalar } from "../ir/vjp-kit.ts";

type Block = Extract<PruneStructure, { kind: "block" }>;

/** The per-block mask's shape: [ceil(rows / R), ceil(cols / C)] of the weight's matrix view. */
export function blockGrid(shape: readonly number[], s: Block): [number, number] {
  const { rows, cols } = matrixView(shape);
  return [Math.ceil(rows / s.rows), Math.ceil(cols / s.cols)];
}

/**
 * Block scores of `w` (a value of p's shape), [blockRows, blockCols]; `comparable`: means even
 * where the weight's blocks are all whole (global scope ranks blocks of different weights).
 */
export function blockScores(b: GraphBuilder, w: string, p: ParamDecl, s: Block, comparable: boolean): string {
  const { rows, cols } = matrixView(p.type.shape);
  const [br, bc] = blockGrid(p.type.shape, s);
  const magnitude = s.norm === 2 ? b.op("mul", [w, w]) : b.op("abs", [w]);
  const blocks = (v: string) => {
    const matrix = b.op("reshape", [v], { shape: [rows, cols] });
    const padded = br * s.rows === rows && bc * s.cols === cols ? matrix : b.op("pad", [matrix], { before: [0, 0], after: [br * s.rows - rows, bc * s.cols - cols] });
    return b.op("sum", [b.op("reshape", [padded], { shape: [br, s.rows, bc, s.cols] })], { axes: [1, 3] });
  };
  const sums = blocks(magnitude);
  // Whole blocks share one size: their sums rank as their means within a weight. Partial edge
  // blocks divide by their own count (a constant the compiler folds), as mlc prune compares means.
  if (rows % s.rows === 0 && cols % s.cols === 0) return comparable ? b.op("div", [sums, scalar(b, s.rows * s.cols, "f32")]) : sums;
  return b.op("div", [sums, blocks(b.op("const", [], { value: 1, dtype: "f32", shape: [...p.type.shape] }))]);
}

/**
 * A per-block mask [blockRows, blockCols] expanded to p's shape, its nodes named `${id}/…` (the
 * pass expands the stored mask amid the copied nodes, whose ids the builder's own must not take).
 */
export function expandBlocks(b: GraphBuilder, mask: string, p: ParamDecl, s: Block, id: string): string {
  const { rows, cols } = matrixView(p.type.shape);
  const [br, bc] = blockGrid(p.type.shape, s);
  const spread = b.op("broadcastTo", [b.op("reshape", [mask], { shape: [br, 1, bc, 1] }, p.loc, `${id}/grid`)], { shape: [br, s.rows, bc, s.cols] }, p.loc, `${id}/spread`);
  let matrix = b.op("reshape", [spread], { shape: [br * s.rows, bc * s.cols] }, p.loc, `${id}/padded`);
  if (br * s.rows !== rows || bc * s.cols !== cols) matrix = b.op("slice", [matrix], { begin: [0, 0], size: [rows, cols] }, p.loc, `${id}/matrix`);
  return b.op("reshape", [matrix], { shape: [...p.type.shape] }, p.loc, id);
}

/** The N:M keep mask (1 kept, 0 pruned, f32) of `w`, p's shape (its row count a multiple of m). */
export function nmKeep(b: GraphBuilder, w: string, p: ParamDecl, n: number, m: number): string {
  const { rows, cols } = matrixView(p.type.shape);
  const magnitude = b.op("reshape", [b.op("abs", [w])], { shape: [rows / m, m, cols] });
  const f32 = (v: string) => b.op("cast", [v], { dtype: "f32" });
  const row = b.op("iota", [], { shape: [1, m, 1], axis: 1 });
  // One rival row i at a time against every element j of its group, so that the sum is an
  // elementwise chain (fused into one sweep) rather than an m x m tensor reduced over an axis:
  // i beats j when |w_i| > |w_j|, or |w_i| >= |w_j| (not below) for a lower row i < j.
  let rank: string | undefined;
  for (let i = 0; i < m; i++) {
    const rival = b.op("slice", [magnitude], { begin: [0, i, 0], size: [rows / m, 1, cols] });
    // 0/1 by where (fused with the sum) rather than by casts of the comparisons (kernels of their own).
    const [one, zero] = [scalar(b, 1, "f32"), scalar(b, 0, "f32")];
    const above = b.op("where", [b.op("greater", [rival, magnitude]), one, zero]);
    const notBelow = b.op("where", [b.op("less", [rival, magnitude]), zero, one]);
    const beats = b.op("where", [b.op("less", [scalar(b, i, "i32"), row]), notBelow, above]);
    rank = rank === undefined ? beats : b.op("add", [rank, beats]);
  }
  return b.op("reshape", [f32(b.op("less", [rank!, scalar(b, n, "f32")]))], { shape: [...p.type.shape] });
}
