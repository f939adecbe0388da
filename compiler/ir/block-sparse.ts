// The block-sparse weight format of a dense layer's constant weight W [K, N] (docs/COMPRESSION.md
// "Block-sparse kernels"): W is cut into 1x4 blocks, one input row k by four consecutive output
// channels 4j..4j+3 (the last block of a row is padded with zeros when N is not a multiple of 4),
// and only the blocks that hold a nonzero are kept, in compressed-sparse-column order of block
// columns:
//
//   values  f32 [B, 4]        the kept blocks' four weights, block column by block column,
//                             ascending k within each
//   rows    i32 [B]           each kept block's input row k (0 <= k < K)
//   starts  i32 [ceil(N/4)+1] block column j's blocks are values[starts[j] .. starts[j+1]);
//                             starts[0] = 0, ascending, starts[last] = B
//
// Four output channels per block is what the WASM micro-kernel wants: one f32x4 of weights times
// one splatted input element gives four outputs, so a block costs one vector load and no lane
// shuffles. Weights pruned in RxC blocks with C = 4 (or whole channels, or 4x4 blocks) fit it
// exactly; other patterns still pack, with the zeros of their partly kept blocks stored.

/** Output channels per block: the f32x4 lanes of the WASM kernel. */
export const BLOCK_COLS = 4;

export interface BlockSparseWeight {
  readonly k: number;
  readonly n: number;
  /** Kept blocks. */
  readonly blocks: number;
  readonly values: Float64Array;
  readonly rows: Float64Array;
  readonly starts: Float64Array;
}

/** Block columns of an N-wide weight. */
export function blockColumns(n: number): number {
  return Math.ceil(n / BLOCK_COLS);
}

/** Whether block (k, j) of a row-major [K, N] weight holds a nonzero (NaN counts as one). */
function blockKept(w: ArrayLike<number>, n: number, k: number, j: number): boolean {
  for (let c = j * BLOCK_COLS; c < Math.min(n, (j + 1) * BLOCK_COLS); c++) if (!(w[k * n + c] === 0)) return true;
  return false;
}

/** Kept blocks over all blocks of a [K, N] weight: the fraction of the dense work the sparse kernel does. */
export function blockDensity(w: ArrayLike<number>, k: number, n: number): number {
  let kept = 0;
  for (let j = 0; j < blockColumns(n); j++) for (let r = 0; r < k; r++) if (blockKept(w, n, r, j)) kept++;
  return k * n === 0 ? 1 : kept / (k * blockColumns(n));
}

/** Packs a row-major [K, N] weight into the block-sparse format. */
export function packBlockSparse(w: ArrayLike<number>, k: number, n: number): BlockSparseWeight {
  const nb = blockColumns(n);
  const values: number[] = [];
  const rows: number[] = [];
  const starts = new Float64Array(nb + 1);
  for (let j = 0; j < nb; j++) {
    for (let r = 0; r < k; r++) {
      if (!blockKept(w, n, r, j)) continue;
      rows.push(r);
      for (let c = 0; c < BLOCK_COLS; c++) values.push(j * BLOCK_COLS + c < n ? w[r * n + j * BLOCK_COLS + c] : 0);
    }
    starts[j + 1] = rows.length;
  }
  return { k, n, blocks: rows.length, values: Float64Array.from(values), rows: Float64Array.from(rows), starts };
}

/** The dense [K, N] weight of a packed one (row-major). */
export function unpackBlockSparse(s: Pick<BlockSparseWeight, "k" | "n" | "values" | "rows" | "starts">): Float64Array {
  const w = new Float64Array(s.k * s.n);
  for (let j = 0; j + 1 < s.starts.length; j++) {
    for (let p = s.starts[j]; p < s.starts[j + 1]; p++) {
      for (let c = 0; c < BLOCK_COLS && j * BLOCK_COLS + c < s.n; c++) w[s.rows[p] * s.n + j * BLOCK_COLS + c] = s.values[p * BLOCK_COLS + c];
    }
  }
  return w;
}

/**
 * Why `rows`/`starts` are not a valid structure for K input rows and B blocks, or undefined: the
 * kernels read x at every row index and the blocks between consecutive starts unchecked.
 */
export function blockStructureError(rows: ArrayLike<number>, starts: ArrayLike<number>, k: number, blocks: number): string | undefined {
  if (starts[0] !== 0) return `starts[0] is ${starts[0]}, not 0`;
  for (let j = 1; j < starts.length; j++) {
    if (!(starts[j] >= starts[j - 1])) return `starts[${j}] = ${starts[j]} is below starts[${j - 1}] = ${starts[j - 1]}`;
  }
  if (starts[starts.length - 1] !== blocks) return `starts[${starts.length - 1}] is ${starts[starts.length - 1]}, not the block count ${blocks}`;
  for (let p = 0; p < rows.length; p++) if (!(Number.isInteger(rows[p]) && rows[p] >= 0 && rows[p] < k)) return `rows[${p}] = ${rows[p]} is outside [0, ${k})`;
  return undefined;
}
