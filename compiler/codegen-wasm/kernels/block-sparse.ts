// blockSparseMatmul (ir/ops/sparse.ts, format in ir/block-sparse.ts): y[M, n] = x[M, K] times a
// weight kept as 1x4 blocks over output channels. The zero blocks are never visited: for each
// tile of MR rows of x and each block column j (four output channels), the kernel walks block
// column j's kept blocks only, and each block is one f32x4 load of its four weights, times one
// load32_splat of x[m, k] per row of the tile, added into that row's f32x4 accumulator. MR rows
// share each block's weight load and index; the tile of x (MR rows of K floats) stays in L1 while
// the block columns stream past. The block loop is one induction variable (the byte offset into
// `rows`, the values' offset being four times it) counted down, not unrolled, as the dense
// micro-kernel (gemm-core.ts's header says why). A last block column narrower than four channels
// stores its lanes one by one; the rows past the last whole tile run as one shorter tile.

import { attr } from "../../ir/op-def.ts";
import { BLOCK_COLS, blockColumns } from "../../ir/block-sparse.ts";
import { numel } from "../../ir/types.ts";
import { signature, signedTable } from "../../ir/dtypes.ts";
import type { KernelEmitter, KernelTable } from "../kernel.ts";
import type { Expr } from "../module.ts";

/** Rows of x per tile: accumulators held in registers at once (measured: bench/sparse-gemm.ts). */
export const SPARSE_MR = 4;

const blockSparseMatmul: KernelEmitter = ({ f, node, inputs: [x, values, rows, starts], output }) => {
  const n = attr.num(node.attrs, "n");
  const k = x.type.shape[x.type.shape.length - 1];
  const m = numel(x.type.shape) / k;
  const whole = Math.floor(n / BLOCK_COLS);
  const nb = blockColumns(n);
  const mt = f.local("i32");
  const j = f.local("i32");
  const xb = f.local("i32");
  const yb = f.local("i32");
  const pr = f.local("i32");
  const count = f.local("i32");
  const w = f.local("v128");
  const a = f.local("i32");
  const acc = Array.from({ length: SPARSE_MR }, () => f.local("v128"));

  /** acc[0..mr) = the tile's four outputs of block column j (a run-time local or a constant). */
  const columnSums = (mr: number, col: () => Expr): Expr[] => [
    ...acc.slice(0, mr).map((v) => f.set(v, f.v128.const(new Array(16).fill(0)))),
    f.set(pr, f.i32.shl(f.loadI32(f.at(starts.offset, col(), 4)), f.i32.const(2))),
    f.set(count, f.i32.sub(f.loadI32(f.at(starts.offset + 4, col(), 4)), f.loadI32(f.at(starts.offset, col(), 4)))),
    f.if(f.i32.gt_s(f.get(count), f.i32.const(0)), [
      f.countDown(count, [
        f.set(w, f.v128.load(values.offset, 4, f.i32.shl(f.get(pr), f.i32.const(2)))),
        f.set(a, f.i32.add(f.get(xb), f.i32.shl(f.i32.load(rows.offset, 4, f.get(pr)), f.i32.const(2)))),
        ...acc.slice(0, mr).map((v, r) => f.set(v, f.f32x4.add(f.get(v), f.f32x4.mul(f.v128.load32_splat(4 * r * k, 4, f.get(a)), f.get(w))))),
        f.set(pr, f.i32.add(f.get(pr), f.i32.const(4))),
      ]),
    ]),
  ];

  /** One tile of mr rows of x, whose first row's x and y addresses are in xb and yb. */
  const tile = (mr: number): Expr[] => {
    const body: Expr[] = [];
    if (whole > 0) {
      body.push(f.forRange(j, 0, whole, 1, [
        ...columnSums(mr, () => f.get(j)),
        ...acc.slice(0, mr).map((v, r) => f.v128.store(4 * r * n, 4, f.i32.add(f.get(yb), f.i32.shl(f.get(j), f.i32.const(4))), f.get(v))),
      ]));
    }
    if (whole < nb) {
      body.push(...columnSums(mr, () => f.i32.const(whole)));
      for (let r = 0; r < mr; r++) {
        for (let c = 0; c < n - whole * BLOCK_COLS; c++) {
          body.push(f.f32.store(4 * (r * n + whole * BLOCK_COLS + c), 4, f.get(yb), f.f32x4.extract_lane(f.get(acc[r]), c)));
        }
      }
    }
    return body;
  };

  const tiles = Math.floor(m / SPARSE_MR);
  const rest = m % SPARSE_MR;
  const out: Expr[] = [];
  if (tiles > 0) {
    out.push(f.forRange(mt, 0, tiles, 1, [
      f.set(xb, f.i32.add(f.i32.mul(f.get(mt), f.i32.const(SPARSE_MR * k * 4)), f.i32.const(x.offset))),
      f.set(yb, f.i32.add(f.i32.mul(f.get(mt), f.i32.const(SPARSE_MR * n * 4)), f.i32.const(output.offset))),
      ...tile(SPARSE_MR),
    ]));
  }
  if (rest > 0) {
    out.push(f.set(xb, f.i32.const(x.offset + tiles * SPARSE_MR * k * 4)), f.set(yb, f.i32.const(output.offset + tiles * SPARSE_MR * n * 4)), ...tile(rest));
  }
  return out.length > 0 ? out : [f.nop()];
};

export const SPARSE_KERNELS: KernelTable = signedTable("wasm sparse kernels", {
  blockSparseMatmul: [{ op: "blockSparseMatmul", dtypes: [signature(["f32", "f32", "i32", "i32"], "f32")], kernel: blockSparseMatmul }],
});

