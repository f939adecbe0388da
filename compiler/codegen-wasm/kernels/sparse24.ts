// sparse24Matmul (ir/ops/sparse.ts, format in ir/sparse24.ts): y[M, N] = x[M, K] times a 2:4
// weight stored channel by channel as its kept half. The lanes run over rows of x, not over
// channels: the kept rows of a channel differ from one channel to the next, so four channels
// cannot share an x vector, but every row of x meets the same kept weights of a channel. So x is
// first transposed into the workspace (xt [K, M4], M4 = M rounded up to 4, the extra rows zero),
// then for each chunk of up to 16 rows (four f32x4 accumulators; the chunk's slice of xt stays in
// cache) and each channel c, the channel's K/2 kept weights are walked in order: weight p sits at input row k = 4(p >> 1) + index[c, p],
// and each accumulator adds xt[k, its four rows] times the splatted weight. The chunk's results
// are then stored lane by lane into y's column c. Per kept weight that is one index byte, one
// splat and, per four rows, one load, one multiply and one add; only the kept half is visited.

import { signature, signedTable } from "../../ir/dtypes.ts";
import { numel, type TensorType } from "../../ir/types.ts";
import { withWorkspace, type KernelArgs, type KernelEmitter, type KernelTable } from "../kernel.ts";
import type { Expr, Local } from "../module.ts";

/** f32x4 accumulators per chunk of rows (16 rows). */
const VECTORS = 4;

const dims = (x: TensorType) => {
  const k = x.shape[x.shape.length - 1];
  const m = numel(x.shape) / k;
  return { k, m, m4: Math.ceil(m / 4) * 4 };
};

function emit({ f, inputs: [x, values, index], output, workspace }: KernelArgs): Expr[] {
  const { k, m, m4 } = dims(x.type);
  const n = values.type.shape[0];
  const half = k / 2;
  const xt = workspace!;
  const i = f.local("i32");
  const r = f.local("i32");
  const c = f.local("i32");
  const p = f.local("i32");
  const pv = f.local("i32");
  const count = f.local("i32");
  const row = f.local("i32");
  const w = f.local("v128");
  const ch = f.local("i32");
  const base = f.local("i32");
  const y = f.local("i32");
  const acc = Array.from({ length: VECTORS }, () => f.local("v128"));

  // xt[k][m] = x[m][k]; rows m..m4 stay zero.
  const out: Expr[] = [];
  if (m4 > m) out.push(f.fill(xt, 0, k * m4 * 4));
  out.push(f.forRange(r, 0, m, 1, [
    f.forRange(i, 0, k, 1, [
      f.f32.store(xt, 4, f.i32.shl(f.i32.add(f.i32.mul(f.get(i), f.i32.const(m4)), f.get(r)), f.i32.const(2)),
        f.f32.load(x.offset, 4, f.i32.shl(f.i32.add(f.i32.mul(f.get(r), f.i32.const(k)), f.get(i)), f.i32.const(2)))),
    ]),
  ]));

  /**
   * Column c of y for `vectors` f32x4 of rows starting at the byte offset in xt held by `base` (a
   * chunk's first row times 4), stored at `y` (the address of that row's channel 0) plus 4c;
   * `rows` of them are real (the rest pad to a multiple of four).
   */
  const column = (vectors: number, rows: number, base: Local, y: Local): Expr[] => {
    const body: Expr[] = [
      ...acc.slice(0, vectors).map((a) => f.set(a, f.v128.const(new Array(16).fill(0)))),
      // p: the element index of channel c's current kept weight; pv: of its first.
      f.set(p, f.get(pv)),
      f.set(count, f.i32.const(half)),
      f.countDown(count, [
        f.set(w, f.v128.load32_splat(values.offset, 4, f.i32.shl(f.get(p), f.i32.const(2)))),
        // The byte offset in xt of the chunk at input row k = 4 * (q >> 1) + index, q = p - pv.
        f.set(row, f.i32.add(f.i32.mul(
          f.i32.add(f.i32.shl(f.i32.shr_u(f.i32.sub(f.get(p), f.get(pv)), f.i32.const(1)), f.i32.const(2)), f.i32.load8_u(index.offset, 1, f.get(p))),
          f.i32.const(m4 * 4)), f.get(base))),
        ...acc.slice(0, vectors).map((a, q) => f.set(a, f.f32x4.add(f.get(a), f.f32x4.mul(f.v128.load(xt + 16 * q, 4, f.get(row)), f.get(w))))),
        f.set(p, f.i32.add(f.get(p), f.i32.const(1))),
      ]),
    ];
    for (let q = 0; q < vectors; q++) {
      for (let lane = 0; lane < 4 && 4 * q + lane < rows; lane++) {
        body.push(f.f32.store(4 * (4 * q + lane) * n, 4, f.i32.add(f.get(y), f.i32.shl(f.get(c), f.i32.const(2))), f.f32x4.extract_lane(f.get(acc[q]), lane)));
      }
    }
    return body;
  };

  /** Every channel for one chunk of rows: the chunk's slice of xt stays in cache while the channels pass. */
  const chunk = (vectors: number, rows: number): Expr =>
    f.forRange(c, 0, n, 1, [f.set(pv, f.i32.mul(f.get(c), f.i32.const(half))), ...column(vectors, rows, base, y)]);

  const rowsPerChunk = 4 * VECTORS;
  const full = Math.floor(m / rowsPerChunk);
  const rest = m - full * rowsPerChunk;
  if (full > 0) {
    out.push(f.forRange(ch, 0, full, 1, [
      f.set(base, f.i32.mul(f.get(ch), f.i32.const(rowsPerChunk * 4))),
      f.set(y, f.i32.add(f.i32.mul(f.get(ch), f.i32.const(rowsPerChunk * n * 4)), f.i32.const(output.offset))),
      chunk(VECTORS, rowsPerChunk),
    ]));
  }
  if (rest > 0) {
    out.push(f.set(base, f.i32.const(full * rowsPerChunk * 4)), f.set(y, f.i32.const(output.offset + full * rowsPerChunk * n * 4)), chunk(Math.ceil(rest / 4), rest));
  }
  return out;
}

const sparse24Matmul: KernelEmitter = withWorkspace(emit, (_node, [x]) => {
  const { k, m4 } = dims(x);
  return k * m4 * 4;
});

export const SPARSE24_KERNELS: KernelTable = signedTable("wasm 2:4 kernels", {
  sparse24Matmul: [{ op: "sparse24Matmul", dtypes: [signature(["f32", "f32", "u8"], "f32")], kernel: sparse24Matmul }],
});
