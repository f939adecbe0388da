// The block-sparse dense layer (docs/COMPRESSION.md "Block-sparse kernels"): a matmul by a
// constant weight stored in the format of ir/block-sparse.ts, which the block-sparse pass puts in
// place of `matmul(x, W)` where the weights make it pay.
//
//   blockSparseMatmul(x: f32 [..., K], values: f32 [B, 4], rows: i32 [B], starts: i32 [ceil(n/4)+1]) {n} -> f32 [..., n]
//
// y[m, 4j + c] = sum over p in starts[j] .. starts[j+1] of x[m, rows[p]] * values[p, c]. The
// structure (rows, starts) is data, read by the kernels unchecked: a bundle checks it when it
// loads a weights file (runtime/bundle-io.js, the params' `blockStructure`), and the interpreter
// names what is wrong here.

import { attr, type OpDef } from "../op-def.ts";
import { BLOCK_COLS, blockColumns, blockStructureError } from "../block-sparse.ts";
import { formatType, numel, ShapeError } from "../types.ts";
import { requireFloat } from "./operand-checks.ts";

const blockSparseMatmul: OpDef = {
  name: "blockSparseMatmul",
  summary: "x[..., K] times a constant [K, n] weight stored as kept 1x4 blocks (values [B,4], rows [B], starts [ceil(n/4)+1])",
  kind: "contraction",
  operands: ["x", "values", "rows", "starts"],
  attrs: { n: { kind: "int", doc: "output channels (columns of the dense weight)" } },
  tolerance: 1e-4,
  infer([x, values, rows, starts], attrs) {
    const n = attr.num(attrs, "n");
    if (!Number.isInteger(n) || n < 1) throw new ShapeError(`blockSparseMatmul: n must be a positive integer, got ${n}`);
    if (x.shape.length < 1) throw new ShapeError(`blockSparseMatmul: x must have rank >= 1, got ${formatType(x)}`);
    requireFloat("blockSparseMatmul", "x", x);
    if (x.dtype !== "f32") throw new ShapeError(`blockSparseMatmul: x must be f32, got ${formatType(x)}`);
    if (values.dtype !== "f32" || values.shape.length !== 2 || values.shape[1] !== BLOCK_COLS) {
      throw new ShapeError(`blockSparseMatmul: values must be f32 [B, ${BLOCK_COLS}], got ${formatType(values)}`);
    }
    const blocks = values.shape[0];
    if (rows.dtype !== "i32" || rows.shape.length !== 1 || rows.shape[0] !== blocks) {
      throw new ShapeError(`blockSparseMatmul: rows must be i32 [${blocks}] (one per block of values), got ${formatType(rows)}`);
    }
    const nb = blockColumns(n);
    if (starts.dtype !== "i32" || starts.shape.length !== 1 || starts.shape[0] !== nb + 1) {
      throw new ShapeError(`blockSparseMatmul: starts must be i32 [${nb + 1}] (ceil(n/${BLOCK_COLS}) + 1 for n = ${n}), got ${formatType(starts)}`);
    }
    return { dtype: "f32", shape: [...x.shape.slice(0, -1), n] };
  },
  interpret([x, values, rows, starts], attrs, out) {
    const n = attr.num(attrs, "n");
    const k = x.type.shape[x.type.shape.length - 1];
    const why = blockStructureError(rows.data, starts.data, k, values.type.shape[0]);
    if (why) throw new Error(`blockSparseMatmul: invalid block structure: ${why}`);
    const m = numel(x.type.shape) / k;
    const y = new Float64Array(numel(out.shape));
    for (let j = 0; j < blockColumns(n); j++) {
      for (let p = starts.data[j]; p < starts.data[j + 1]; p++) {
        const r = rows.data[p];
        for (let c = 0; c < BLOCK_COLS && j * BLOCK_COLS + c < n; c++) {
          const v = values.data[p * BLOCK_COLS + c];
          for (let i = 0; i < m; i++) y[i * n + j * BLOCK_COLS + c] += x.data[i * k + r] * v;
        }
      }
    }
    return y;
  },
  // The structure's indices: a bundle checks a weights file's rows and starts against these
  // (bundle/index-ranges.ts), so the kernels' reads stay inside x and the blocks.
  indexOperands: (node, [x, values]) => [
    { operand: 2, size: x.shape[x.shape.length - 1], what: `input rows of the kept blocks of blockSparseMatmul over K = ${x.shape[x.shape.length - 1]}` },
    { operand: 3, size: values.shape[0] + 1, what: `block column starts of blockSparseMatmul over ${values.shape[0]} blocks` },
  ],
  // 2 per multiply-add of the kept blocks' four lanes.
  flops(node, [x, values]) {
    const k = x.shape[x.shape.length - 1];
    return 2 * (numel(x.shape) / k) * values.shape[0] * BLOCK_COLS;
  },
  // An inference rewrite of f32 weights: the kernels compute in f32 only.
  f32Only: true,
};

// 2:4 (format in ir/sparse24.ts): y[m, c] = sum over groups g and i = 0, 1 of
// x[m, 4g + index[c, 2g + i]] * values[c, 2g + i].
const sparse24Matmul: OpDef = {
  name: "sparse24Matmul",
  summary: "x[..., K] times a constant [K, N] 2:4 weight stored channel by channel as its kept half (values f32 [N, K/2]) and their rows within each group of four (index u8 [N, K/2])",
  kind: "contraction",
  operands: ["x", "values", "index"],
  attrs: {},
  tolerance: 1e-4,
  infer([x, values, index]) {
    if (x.shape.length < 1 || x.dtype !== "f32") throw new ShapeError(`sparse24Matmul: x must be f32 of rank >= 1, got ${formatType(x)}`);
    const k = x.shape[x.shape.length - 1];
    if (k % 4 !== 0) throw new ShapeError(`sparse24Matmul: x's last axis (K = ${k}) must be a multiple of 4, got ${formatType(x)}`);
    if (values.dtype !== "f32" || values.shape.length !== 2 || values.shape[1] !== k / 2) {
      throw new ShapeError(`sparse24Matmul: values must be f32 [N, ${k / 2}] (K/2 kept weights per channel), got ${formatType(values)}`);
    }
    if (index.dtype !== "u8" || index.shape.length !== 2 || index.shape[0] !== values.shape[0] || index.shape[1] !== values.shape[1]) {
      throw new ShapeError(`sparse24Matmul: index must be u8 of values' shape [${values.shape.join(",")}], got ${formatType(index)}`);
    }
    return { dtype: "f32", shape: [...x.shape.slice(0, -1), values.shape[0]] };
  },
  interpret([x, values, index], _attrs, out) {
    const k = x.type.shape[x.type.shape.length - 1];
    const n = values.type.shape[0];
    const half = k / 2;
    const m = numel(x.type.shape) / k;
    const y = new Float64Array(numel(out.shape));
    for (let c = 0; c < n; c++) {
      for (let p = 0; p < half; p++) {
        const r = index.data[c * half + p];
        if (!(r >= 0 && r < 4)) throw new Error(`sparse24Matmul: index[${c}, ${p}] = ${r} is not a row of a group of four (0..3)`);
        const row = 4 * Math.floor(p / 2) + r;
        const v = values.data[c * half + p];
        for (let i = 0; i < m; i++) y[i * n + c] += x.data[i * k + row] * v;
      }
    }
    return y;
  },
  indexOperands: () => [{ operand: 2, size: 4, what: "rows within each group of four of sparse24Matmul's kept weights" }],
  // 2 per multiply-add of the kept half.
  flops(node, [x, values]) {
    const k = x.shape[x.shape.length - 1];
    return 2 * (numel(x.shape) / k) * numel(values.shape);
  },
  f32Only: true,
};

export const SPARSE_OPS: readonly OpDef[] = [blockSparseMatmul, sparse24Matmul];
