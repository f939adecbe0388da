// Block-sparse kernels for the driver (`mlc build --sparse --weights W`, docs/COMPRESSION.md
// "Block-sparse kernels"): measures each dense layer's weight, picks the block-sparse kernel where
// it is faster than the dense GEMM, and packs those weights for the bundle's weights file.
//
// The rule is one threshold on the block density (kept 1x4 blocks over all blocks, the fraction of
// the dense multiply-adds the sparse kernel does): at most SPARSE_MAX_DENSITY, the block-sparse
// kernel; above it, dense. bench/sparse-gemm.ts measured where the two cross on the bench machine
// (single thread): the sparse kernel does a kept block's work at ~0.7 to 0.9 of the dense GEMM's
// speed per multiply-add, so it breaks even near 70% to 80% kept blocks, the latest at a batch of
// one row; the threshold sits below that, where it wins on every measured shape
// (docs/COMPRESSION.md has the figures). A weight left dense by that rule that is 2:4 (at most two
// nonzeros in every group of four input rows of a channel) runs the 2:4 kernel when x has
// TWO_FOUR_ROWS rows, where the same bench measured it faster than dense.

import type { Graph } from "../ir/graph.ts";
import { BLOCK_COLS, blockColumns, packBlockSparse } from "../ir/block-sparse.ts";
import type { TensorType } from "../ir/types.ts";
import { fits24, pack24 } from "../ir/sparse24.ts";
import { blockSparseCandidates, blockSparseNames } from "../passes/block-sparse.ts";
import { sparse24Names } from "../passes/sparse-24.ts";

/** Kept blocks over all blocks at or below which a layer runs the block-sparse kernel. */
export const SPARSE_MAX_DENSITY = 0.6;

/**
 * Rows of x (the product's M) for which a 2:4 weight runs the 2:4 kernel: measured faster than the
 * dense GEMM from 4 to 64 rows, slower for one row (its lanes run over rows) and level from 128.
 */
export const TWO_FOUR_ROWS = { min: 4, max: 64 } as const;

export interface BlockSparseLayerReport {
  readonly weight: string;
  readonly shape: readonly [number, number];
  /** Kept 1x4 blocks over all blocks. */
  readonly density: number;
  readonly kernel: "block-sparse" | "2:4" | "dense";
  /** Rows of x: the 2:4 kernel's rule depends on them. */
  readonly rows: number;
  /** Bytes of W dense, and of its packed form when it runs block-sparse. */
  readonly bytes: { readonly dense: number; readonly sparse?: number };
}

export interface BlockSparsification {
  /** The block-sparse pass's options: kept blocks per weight. */
  readonly layers: Readonly<Record<string, number>>;
  /** The packed params' values, by name, with their types. */
  readonly tensors: Readonly<Record<string, { type: TensorType; data: Float64Array }>>;
  /** The sparse-2-4 pass's option: the weights that run the 2:4 kernel. */
  readonly twoFour: readonly string[];
  /** The dense weights the packed ones replace. */
  readonly removed: readonly string[];
  readonly report: readonly BlockSparseLayerReport[];
}

/**
 * Chooses the kernel of each dense layer (block-sparse, else 2:4 for a 2:4 weight with 4 to 64
 * rows of x, else dense) of `graph` (a cleaned f32 inference graph) from its
 * weight's values (`values`, by param name; weights not given stay dense).
 */
export function blockSparseModel(graph: Graph, values: Readonly<Record<string, ArrayLike<number>>>, maxDensity = SPARSE_MAX_DENSITY): BlockSparsification {
  const layers: Record<string, number> = Object.create(null);
  const tensors: Record<string, { type: TensorType; data: Float64Array }> = Object.create(null);
  const removed: string[] = [];
  const twoFour: string[] = [];
  const report: BlockSparseLayerReport[] = [];
  for (const c of blockSparseCandidates(graph)) {
    if (!Object.hasOwn(values, c.weight)) continue;
    const packed = packBlockSparse(values[c.weight], c.k, c.n);
    // An all-zero weight keeps one (zero) block: a tensor of no elements has no place in the arena.
    const blocks = Math.max(1, packed.blocks);
    const density = packed.blocks / (c.k * blockColumns(c.n));
    const dense = c.k * c.n * 4;
    const rowsOf = { rows: c.rows };
    if (density > maxDensity) {
      const w = values[c.weight];
      if (c.rows >= TWO_FOUR_ROWS.min && c.rows <= TWO_FOUR_ROWS.max && fits24(w, c.k, c.n)) {
        const p = pack24(w, c.k, c.n);
        const names = sparse24Names(c.weight);
        tensors[names.values] = { type: { dtype: "f32", shape: [c.n, c.k / 2] }, data: p.values };
        tensors[names.index] = { type: { dtype: "u8", shape: [c.n, c.k / 2] }, data: p.index };
        twoFour.push(c.weight);
        removed.push(c.weight);
        report.push({ weight: c.weight, shape: [c.k, c.n], density, kernel: "2:4", ...rowsOf, bytes: { dense, sparse: (c.k / 2) * c.n * 5 } });
        continue;
      }
      report.push({ weight: c.weight, shape: [c.k, c.n], density, kernel: "dense", ...rowsOf, bytes: { dense } });
      continue;
    }
    const names = blockSparseNames(c.weight);
    const rows = packed.blocks > 0 ? packed.rows : Float64Array.of(0);
    const starts = packed.blocks > 0 ? packed.starts : Float64Array.from(packed.starts, (_, j) => (j === 0 ? 0 : 1));
    tensors[names.values] = { type: { dtype: "f32", shape: [blocks, BLOCK_COLS] }, data: packed.blocks > 0 ? packed.values : new Float64Array(BLOCK_COLS) };
    tensors[names.rows] = { type: { dtype: "i32", shape: [blocks] }, data: rows };
    tensors[names.starts] = { type: { dtype: "i32", shape: [starts.length] }, data: starts };
    layers[c.weight] = blocks;
    removed.push(c.weight);
    report.push({ weight: c.weight, shape: [c.k, c.n], density, kernel: "block-sparse", ...rowsOf, bytes: { dense, sparse: blocks * BLOCK_COLS * 4 + blocks * 4 + starts.length * 4 } });
  }
  return { layers, tensors, twoFour, removed, report };
}

/** The kernel choice as a table (`mlc build --sparse` prints it). */
export function formatBlockSparseReport(report: readonly BlockSparseLayerReport[]): string {
  const lines = [`sparse kernels (--sparse; block-sparse at <= ${Math.round(SPARSE_MAX_DENSITY * 100)}% kept 1x4 blocks, 2:4 weights with ${TWO_FOUR_ROWS.min}-${TWO_FOUR_ROWS.max} rows):`];
  if (report.length === 0) return `${lines[0]}\n  no dense layer with a constant [K, N] weight`;
  const w = Math.max(6, ...report.map((r) => r.weight.length));
  lines.push(`  ${"weight".padEnd(w)}  ${"shape".padEnd(11)}  rows  kept blocks  kernel        bytes`);
  const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
  for (const r of report) {
    const bytes = r.bytes.sparse !== undefined ? `${kib(r.bytes.dense)} -> ${kib(r.bytes.sparse)}` : kib(r.bytes.dense);
    lines.push(`  ${r.weight.padEnd(w)}  ${`[${r.shape.join(",")}]`.padEnd(11)}  ${String(r.rows).padStart(4)}  ${`${(r.density * 100).toFixed(1)}%`.padStart(11)}  ${r.kernel.padEnd(12)}  ${bytes}`);
  }
  return lines.join("\n");
}
