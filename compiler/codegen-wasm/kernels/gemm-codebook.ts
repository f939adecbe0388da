// The GEMM of codebookMatmul (ir/ops/codebook.ts): C = A · W with W [K, N] stored as packed u8
// indices into an f32 table. It is the blocked f32 GEMM (gemm-core.ts: the same A packing, macro-
// and micro-kernel, tile and block sizes) with its own B packing, which decodes the indices while
// it lays out each KC x NC block of B as the micro-kernel's f32 panels: the decoded weights exist
// only there, one block at a time, in the node's workspace (never as an f32 copy of W).
//
// Decoding, per 8-column panel (NR):
// - 4-bit and smaller indices, full panels: two k steps at once. Their 2 x 8 nibbles (two 4-byte
//   loads) are split into 16 index bytes (and, shr_u, one shuffle), then `i8x16.swizzle` looks
//   each up in four 16-byte tables that hold byte b of every centroid (the table's 64 bytes
//   transposed once per pack call; a table of fewer than 16 entries is padded with zeros, so an
//   index past it reads 0), and three rounds of byte shuffles put each centroid's four bytes back
//   together: 16 f32 weights, 4 stores. An odd last k step does the same for one row.
// - 5- to 8-bit indices (one per byte), and the partial last panel of any width: one scalar table
//   load per weight (an index past the table reads 0), the missing lanes zero.
//
// With 1 to 3 rows (batch-1 inference) and 4-bit or smaller indices it packs nothing
// (smallBody): per 16-column block, each k step decodes one row of W's nibbles in registers and
// adds x[r, k] times it into the rows' accumulators, so W is decoded once per call, in registers.
//
// Strides and addresses are in bytes; A is f32 [M, K] row-major (leading axes folded into M), C f32
// [M, N] overwritten.

import type { Expr, FunctionBuilder, Local } from "../module.ts";
import { DEFAULT_TILING, gemmPieces, gemmWorkspaceBytes } from "./gemm-core.ts";
import { indicesPerByte } from "../../ir/ops/codebook.ts";

type Helper = (name: string, define: (w: import("../module.ts").WasmModule) => void) => string;

const T = DEFAULT_TILING;
const I32 = "i32" as const;

/**
 * Rows up to which a product with 4-bit or smaller indices skips packing (batch-1 inference): as
 * gemm.ts's small-m GEMM for f32, packing B costs more than a few rows of the product.
 */
export const CODEBOOK_SMALL_MAX_ROWS = 3;

const usesSmall = (m: number, bits: number) => m <= CODEBOOK_SMALL_MAX_ROWS && indicesPerByte(bits) === 2;

/** Workspace bytes of an m x n x k codebook product: the f32 GEMM's (edge tile, packed blocks), none unpacked. */
export function codebookGemmWorkspaceBytes(m: number, n: number, k: number, bits: number): number {
  return m === 0 || n === 0 || k === 0 || usesSmall(m, bits) ? 0 : gemmWorkspaceBytes(m, n, k, T);
}

/** The call C = A · decode(indices, table), defining the functions once per module and bit width. */
export function callCodebookGemm(
  f: FunctionBuilder, helper: Helper, bits: number,
  at: { a: number; indices: number; table: number; c: number; m: number; n: number; k: number; workspace: number },
): Expr {
  if (usesSmall(at.m, bits)) {
    const name = `codebook_small_b${bits}_m${at.m}`;
    const small = helper(name, (w) => w.funcWithParams(name, Array(6).fill(I32), "none", (g) => smallBody(g, bits, at.m)));
    return f.call(small, [at.a, at.indices, at.table, at.c, at.n, at.k].map((v) => f.i32.const(v)));
  }
  const c = (v: number) => f.i32.const(v);
  return callPackedCodebookGemm(f, helper, bits, { a: c(at.a), indices: c(at.indices), table: c(at.table), c: c(at.c), m: c(at.m), n: c(at.n), k: c(at.k), workspace: c(at.workspace) });
}

/**
 * The packed GEMM alone, with run-time operands (codebookConv2d's blocks of im2col rows): C (m x n,
 * row stride n) = A (m x k, row stride k) · decode(indices, table); `workspace` holds
 * codebookGemmWorkspaceBytes(the largest m, n, k, bits) bytes. Needs m, n, k >= 1.
 */
export function callPackedCodebookGemm(
  f: FunctionBuilder, helper: Helper, bits: number,
  at: { a: Expr; indices: Expr; table: Expr; c: Expr; m: Expr; n: Expr; k: Expr; workspace: Expr },
): Expr {
  const { packA, macro } = gemmPieces(helper, T);
  const packName = `codebook_pack_b_${T.nr}_b${bits}`;
  const packB = helper(packName, (w) => w.funcWithParams(packName, Array(7).fill(I32), "none", (g) => packCodebookBody(g, bits)));
  const driverName = `codebook_gemm_b${bits}`;
  const driver = helper(driverName, (w) => w.funcWithParams(driverName, Array(8).fill(I32), "none", (g) => driverBody(g, bits, packA, packB, macro)));
  // Operands are expressions (binaryen's ExpressionRef is a number too: no constants here).
  return f.call(driver, [at.a, at.indices, at.table, at.c, at.m, at.n, at.k, at.workspace]);
}

const i32 = (f: FunctionBuilder, v: number) => f.i32.const(v);
const add = (f: FunctionBuilder, a: Expr, b: Expr) => f.i32.add(a, b);
const mul = (f: FunctionBuilder, a: Expr, b: Expr) => f.i32.mul(a, b);
const min = (f: FunctionBuilder, a: Local, b: Expr) => f.select(f.i32.lt_s(f.get(a), b), f.get(a), b);

/** Bytes of one row of the packed indices of an n-column weight. */
const rowBytesOf = (f: FunctionBuilder, n: Local, bits: number) =>
  indicesPerByte(bits) === 2 ? f.i32.shr_u(add(f, f.get(n), i32(f, 1)), i32(f, 1)) : f.get(n);

/** driver(a, idx, table, c, m, n, k, ws): gemm-core's blocked loops with the codebook B packing. */
function driverBody(f: FunctionBuilder, bits: number, packA: string, packB: string, macro: string): Expr[] {
  const [a, idx, table, c, m, n, k, ws] = f.params;
  const jc = f.local("i32");
  const pc = f.local("i32");
  const ic = f.local("i32");
  const nc = f.local("i32");
  const kc = f.local("i32");
  const mc = f.local("i32");
  const tile = f.local("i32");
  const bp = f.local("i32");
  const ap = f.local("i32");
  const ncMax = f.local("i32");
  const rowBytes = f.local("i32");
  const aRs = () => f.i32.shl(f.get(k), i32(f, 2));
  const ldc = () => f.i32.shl(f.get(n), i32(f, 2));
  return [
    f.set(rowBytes, rowBytesOf(f, n, bits)),
    // Workspace: [edge tile][packed B block][packed A block], as gemm-core's driver.
    f.set(tile, f.get(ws)),
    f.set(bp, add(f, f.get(ws), i32(f, T.mr * T.nr * 4))),
    f.set(ncMax, f.i32.and(add(f, min(f, n, i32(f, T.nc)), i32(f, T.nr - 1)), i32(f, -T.nr))),
    f.set(ap, add(f, f.get(bp), mul(f, min(f, k, i32(f, T.kc)), f.i32.shl(f.get(ncMax), i32(f, 2))))),
    f.forDynamic(jc, i32(f, 0), f.get(n), i32(f, T.nc), [
      f.set(nc, f.i32.sub(f.get(n), f.get(jc))),
      f.set(nc, min(f, nc, i32(f, T.nc))),
      f.forDynamic(pc, i32(f, 0), f.get(k), i32(f, T.kc), [
        f.set(kc, f.i32.sub(f.get(k), f.get(pc))),
        f.set(kc, min(f, kc, i32(f, T.kc))),
        f.call(packB, [add(f, f.get(idx), mul(f, f.get(pc), f.get(rowBytes))), f.get(rowBytes), f.get(jc), f.get(nc), f.get(kc), f.get(bp), f.get(table)]),
        f.forDynamic(ic, i32(f, 0), f.get(m), i32(f, T.mc), [
          f.set(mc, f.i32.sub(f.get(m), f.get(ic))),
          f.set(mc, min(f, mc, i32(f, T.mc))),
          f.call(packA, [
            add(f, f.get(a), add(f, mul(f, f.get(ic), aRs()), f.i32.shl(f.get(pc), i32(f, 2)))),
            aRs(), i32(f, 4), f.get(mc), f.get(kc), f.get(ap),
          ]),
          f.call(macro, [
            f.get(ap), f.get(bp), f.get(mc), f.get(nc), f.get(kc),
            add(f, f.get(c), add(f, mul(f, f.get(ic), ldc()), f.i32.shl(f.get(jc), i32(f, 2)))),
            ldc(), f.get(pc), f.get(tile),
          ]),
        ]),
      ]),
    ]),
  ];
}

/**
 * small(a, idx, table, c, n, k) for m <= 3 rows and 4-bit or smaller indices, k >= 1: no packing.
 * Per block of 16 columns, each k step loads the row's 8 index bytes, decodes them in registers
 * (nibbleDecoder) and adds x[r, k] times them into 4 f32x4 accumulators per row; the last n % 16
 * columns take a scalar loop per element.
 */
function smallBody(f: FunctionBuilder, bits: number, m: number): Expr[] {
  const [a, idx, table, c, n, k] = f.params;
  const entries = 2 ** bits;
  const { setup, plane } = tablePlanes(f, table, entries);
  const decoder = nibbleDecoder(f, plane);
  const rowBytes = f.local("i32");
  const xStride = f.local("i32");
  const col0 = f.local("i32");
  const n16 = f.local("i32");
  const s = f.local("i32");
  const xp = f.local("i32");
  const count = f.local("i32");
  const v = f.local("v128");
  const av = f.local("v128");
  const w = Array.from({ length: 4 }, () => f.local("v128"));
  const acc = Array.from({ length: m }, () => Array.from({ length: 4 }, () => f.local("v128")));
  const xAt = (r: number) => (r === 0 ? f.get(xp) : add(f, f.get(xp), r === 1 ? f.get(xStride) : f.i32.shl(f.get(xStride), i32(f, 1))));
  const cRow = (r: number, col: Expr) => add(f, f.get(c), f.i32.shl(add(f, mul(f, i32(f, r), f.get(n)), col), i32(f, 2)));
  const { pre, vectors } = decoder(v, 4);
  const step: Expr[] = [
    f.set(v, f.v128.load64_zero(0, 1, f.get(s))),
    ...pre,
    ...vectors.map((x, q) => f.set(w[q], x)),
  ];
  acc.forEach((row, r) => {
    step.push(f.set(av, f.f32x4.splat(f.loadF32(xAt(r)))));
    row.forEach((x, q) => step.push(f.set(x, f.f32x4.add(f.get(x), f.f32x4.mul(f.get(av), f.get(w[q]))))));
  });
  step.push(f.set(s, add(f, f.get(s), f.get(rowBytes))), f.set(xp, add(f, f.get(xp), i32(f, 4))));

  // The tail: one column at a time.
  const j = f.local("i32");
  const p = f.local("i32");
  const index = f.local("i32");
  const sums = Array.from({ length: m }, () => f.local("f32"));
  const weight = f.local("f32");
  const indexAt = f.i32.and(f.i32.shr_u(f.loadU8(add(f, add(f, f.get(idx), mul(f, f.get(p), f.get(rowBytes))), f.i32.shr_u(f.get(j), i32(f, 1)))),
    f.i32.shl(f.i32.and(f.get(j), i32(f, 1)), i32(f, 2))), i32(f, 15));
  const lookup = f.loadF32(add(f, f.get(table), f.i32.shl(f.get(index), i32(f, 2))));
  const tail = f.forDynamic(j, f.get(n16), f.get(n), i32(f, 1), [
    ...sums.map((x) => f.set(x, f.f32.const(0))),
    f.set(xp, f.get(a)),
    f.forDynamic(p, i32(f, 0), f.get(k), i32(f, 1), [
      f.set(index, indexAt),
      f.set(weight, entries === 16 ? lookup : f.select(f.i32.lt_u(f.get(index), i32(f, entries)), lookup, f.f32.const(0))),
      ...sums.map((x, r) => f.set(x, f.f32.add(f.get(x), f.f32.mul(f.loadF32(xAt(r)), f.get(weight))))),
      f.set(xp, add(f, f.get(xp), i32(f, 4))),
    ]),
    ...sums.map((x, r) => f.storeF32(cRow(r, f.get(j)), f.get(x))),
  ]);

  return [
    ...setup,
    f.set(rowBytes, f.i32.shr_u(add(f, f.get(n), i32(f, 1)), i32(f, 1))),
    f.set(xStride, f.i32.shl(f.get(k), i32(f, 2))),
    f.set(n16, f.i32.and(f.get(n), i32(f, -16))),
    f.forDynamic(col0, i32(f, 0), f.get(n16), i32(f, 16), [
      ...acc.flat().map((x) => f.set(x, f.v128.const(new Array(16).fill(0)))),
      f.set(s, add(f, f.get(idx), f.i32.shr_u(f.get(col0), i32(f, 1)))),
      f.set(xp, f.get(a)),
      f.set(count, f.get(k)),
      f.countDown(count, step),
      ...acc.flatMap((row, r) => row.map((x, q) => f.v128.store(16 * q, 4, cRow(r, f.get(col0)), f.get(x)))),
    ]),
    tail,
  ];
}

/** Byte mask of an i8x16.shuffle from a list of 16 lane indices into (left ++ right). */
const interleave = (from: number, step: number) => Array.from({ length: 16 }, (_, i) => from + (i >> 1) + (i & 1) * step);

/**
 * The four byte planes of a table of `entries` (<= 16) f32 centroids at `table`: plane b holds
 * byte b of centroid i in lane i, lanes past the table zero (so an index past it decodes to 0).
 */
function tablePlanes(f: FunctionBuilder, table: Local, entries: number): { setup: Expr[]; plane: Local[] } {
  const t = Array.from({ length: 4 }, () => f.local("v128"));
  const plane = Array.from({ length: 4 }, () => f.local("v128"));
  const zero = () => f.v128.const(new Array(16).fill(0));
  const setup: Expr[] = [];
  for (let q = 0; q < 4; q++) {
    const load = entries >= 4 * (q + 1) ? f.v128.load(16 * q, 4, f.get(table))
      : entries === 2 && q === 0 ? f.v128.load64_zero(0, 4, f.get(table))
        : zero();
    setup.push(f.set(t[q], load));
  }
  const bytesOf = (lo: number, hi: number) => Array.from({ length: 16 }, (_, i) => (i < 8 ? 4 * i + lo : 4 * (i - 8) + hi));
  // A01 = plane0[0..7] ++ plane1[0..7] of t0 ++ t1; B01 = plane2 ++ plane3 likewise; then 23.
  const [a01, b01, a23, b23] = Array.from({ length: 4 }, () => f.local("v128"));
  setup.push(
    f.set(a01, f.i8x16.shuffle(f.get(t[0]), f.get(t[1]), bytesOf(0, 1))),
    f.set(b01, f.i8x16.shuffle(f.get(t[0]), f.get(t[1]), bytesOf(2, 3))),
    f.set(a23, f.i8x16.shuffle(f.get(t[2]), f.get(t[3]), bytesOf(0, 1))),
    f.set(b23, f.i8x16.shuffle(f.get(t[2]), f.get(t[3]), bytesOf(2, 3))),
  );
  const lowHalves = Array.from({ length: 16 }, (_, i) => (i < 8 ? i : i + 8));
  const highHalves = Array.from({ length: 16 }, (_, i) => (i < 8 ? i + 8 : i + 16));
  setup.push(
    f.set(plane[0], f.i8x16.shuffle(f.get(a01), f.get(a23), lowHalves)),
    f.set(plane[1], f.i8x16.shuffle(f.get(a01), f.get(a23), highHalves)),
    f.set(plane[2], f.i8x16.shuffle(f.get(b01), f.get(b23), lowHalves)),
    f.set(plane[3], f.i8x16.shuffle(f.get(b01), f.get(b23), highHalves)),
  );
  return { setup, plane };
}

/**
 * A decoder of 4-bit indices through the planes: `decode(v, count)` takes the 8 (count 4) or 4
 * (count 2) bytes at the start of `v` (index 2i in byte i's low nibble, 2i+1 in its high one) and
 * gives the statements to run first and `count` f32x4 expressions, each used once: the centroids
 * of indices 0-3, 4-7, (8-11, 12-15).
 */
function nibbleDecoder(f: FunctionBuilder, plane: readonly Local[]): (v: Local, count: 2 | 4) => { pre: Expr[]; vectors: Expr[] } {
  const ids = f.local("v128");
  const pb = Array.from({ length: 4 }, () => f.local("v128"));
  const [lo01, hi01, lo23, hi23] = Array.from({ length: 4 }, () => f.local("v128"));
  const words16 = [0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23];
  const words16High = words16.map((x) => x + 8);
  return (v, count) => {
    const pre: Expr[] = [
      f.set(ids, f.i8x16.shuffle(f.v128.and(f.get(v), f.i8x16.splat(i32(f, 15))), f.i8x16.shr_u(f.get(v), i32(f, 4)), interleave(0, 16))),
      ...pb.map((x, b) => f.set(x, f.i8x16.swizzle(f.get(plane[b]), f.get(ids)))),
      f.set(lo01, f.i8x16.shuffle(f.get(pb[0]), f.get(pb[1]), interleave(0, 16))),
      f.set(lo23, f.i8x16.shuffle(f.get(pb[2]), f.get(pb[3]), interleave(0, 16))),
      ...(count === 4 ? [
        f.set(hi01, f.i8x16.shuffle(f.get(pb[0]), f.get(pb[1]), interleave(8, 16))),
        f.set(hi23, f.i8x16.shuffle(f.get(pb[2]), f.get(pb[3]), interleave(8, 16))),
      ] : []),
    ];
    const vectors = [
      f.i8x16.shuffle(f.get(lo01), f.get(lo23), words16),
      f.i8x16.shuffle(f.get(lo01), f.get(lo23), words16High),
      ...(count === 4 ? [f.i8x16.shuffle(f.get(hi01), f.get(hi23), words16), f.i8x16.shuffle(f.get(hi01), f.get(hi23), words16High)] : []),
    ];
    return { pre, vectors };
  };
}

/**
 * pack(src, rowBytes, col0, cols, kc, dst, table): the codebook B block of `kc` rows (src: the
 * block's first row of indices) and columns [col0, col0 + cols) as NR-wide f32 panels at dst.
 */
function packCodebookBody(f: FunctionBuilder, bits: number): Expr[] {
  const [src, rowBytes, col0, cols, kc, dst, table] = f.params;
  const entries = 2 ** bits;
  const nibbles = indicesPerByte(bits) === 2;
  const panel = f.local("i32");
  const lanes = f.local("i32");
  const s = f.local("i32");
  const d = f.local("i32");
  const p = f.local("i32");
  const l = f.local("i32");
  const index = f.local("i32");

  /** The index of lane `l` of the row at `s` (its first column even). */
  const indexAt = (): Expr => nibbles
    ? f.i32.and(f.i32.shr_u(f.loadU8(add(f, f.get(s), f.i32.shr_u(f.get(l), i32(f, 1)))), f.i32.shl(f.i32.and(f.get(l), i32(f, 1)), i32(f, 2))), i32(f, 15))
    : f.loadU8(add(f, f.get(s), f.get(l)));
  const decoded = (): Expr => entries >= (nibbles ? 16 : 256)
    ? f.loadF32(add(f, f.get(table), f.i32.shl(f.get(index), i32(f, 2))))
    : f.select(f.i32.lt_u(f.get(index), i32(f, entries)), f.loadF32(add(f, f.get(table), f.i32.shl(f.get(index), i32(f, 2)))), f.f32.const(0));
  // Scalar: `lanes` lanes of every k step, the rest of the panel zero.
  const scalarPanel = (): Expr[] => [
    f.fillAt(f.get(d), i32(f, 0), f.i32.mul(f.get(kc), i32(f, T.nr * 4))),
    f.forDynamic(p, i32(f, 0), f.get(kc), i32(f, 1), [
      f.forDynamic(l, i32(f, 0), f.get(lanes), i32(f, 1), [
        f.set(index, indexAt()),
        f.storeF32(add(f, f.get(d), f.i32.shl(f.get(l), i32(f, 2))), decoded()),
      ]),
      f.set(s, add(f, f.get(s), f.get(rowBytes))),
      f.set(d, add(f, f.get(d), i32(f, T.nr * 4))),
    ]),
  ];

  const body: Expr[] = [];
  let fullPanel: Expr[] | undefined;
  if (nibbles) {
    const { setup, plane } = tablePlanes(f, table, entries);
    body.push(...setup);
    const v = f.local("v128");
    const decoder = nibbleDecoder(f, plane);
    /** Decodes the 16 (two rows) or 8 (one row) indices whose bytes are in `v`'s first 8 (4) bytes, stored as `count` f32x4 at d. */
    const decode = (count: 2 | 4): Expr[] => {
      const { pre, vectors } = decoder(v, count);
      return [...pre, ...vectors.map((x, q) => f.v128.store(16 * q, 4, f.get(d), x))];
    };
    const pairs = f.local("i32");
    fullPanel = [
      f.set(pairs, f.i32.shr_u(f.get(kc), i32(f, 1))),
      f.if(f.get(pairs), [
        f.countDown(pairs, [
          f.set(v, f.i32x4.replace_lane(f.i32x4.splat(f.loadI32(f.get(s))), 1, f.loadI32(add(f, f.get(s), f.get(rowBytes))))),
          ...decode(4),
          f.set(s, add(f, f.get(s), f.i32.shl(f.get(rowBytes), i32(f, 1)))),
          f.set(d, add(f, f.get(d), i32(f, 2 * T.nr * 4))),
        ]),
      ]),
      f.if(f.i32.and(f.get(kc), i32(f, 1)), [
        f.set(v, f.i32x4.splat(f.loadI32(f.get(s)))),
        ...decode(2),
        f.set(d, add(f, f.get(d), i32(f, T.nr * 4))),
      ]),
    ];
  }

  body.push(
    f.set(d, f.get(dst)),
    f.forDynamic(panel, i32(f, 0), f.get(cols), i32(f, T.nr), [
      f.set(s, add(f, f.get(src), nibbles ? f.i32.shr_u(add(f, f.get(col0), f.get(panel)), i32(f, 1)) : add(f, f.get(col0), f.get(panel)))),
      f.set(lanes, f.i32.sub(f.get(cols), f.get(panel))),
      f.if(f.i32.ge_s(f.get(lanes), i32(f, T.nr)), [f.set(lanes, i32(f, T.nr)), ...(fullPanel ?? scalarPanel())], scalarPanel()),
    ]),
  );
  return body;
}
