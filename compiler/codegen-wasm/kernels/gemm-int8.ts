// The blocked int8 GEMM behind matmulInteger: C[i32] = A[i8/u8] B[i8/u8] with plain WASM SIMD128
// (no relaxed SIMD). The arithmetic is `i32x4.dot_i16x8_s`: both operands are widened to i16
// (sign- or zero-extended by their dtype), so each i32 lane gets a[p]·b[p] + a[p+1]·b[p+1], pairs
// of k steps at once. Widened to i16 every dtype pair is exact: |products| ≤ 255·255 and a pair
// sum ≤ 130050 are computed in i32 by the instruction, so i8×i8, u8×i8, i8×u8 and u8×u8 all run
// this one kernel at the same speed. Sums are exact while they fit i32 (K ≤ 33025 even with
// 255·255 everywhere); past that the i32 lanes wrap modulo 2^32, where the interpreter's exact
// sum would not fit the result type either — far beyond real layers.
//
// Layout, in the GotoBLAS/BLIS style of the f32 GEMM (gemm-core.ts) with k counted in pairs:
//   packed B  all of B, in NR-column panels; a panel holds, per k pair q, 2·NR i16
//             [b(2q,j) b(2q+1,j)] for j = 0..NR-1, widened once by the packing (widening in the
//             micro-kernel with `load8x8` cost a shuffle per load). Packed once per call: B is a
//             param (a run-time value), and at K·N elements the copy costs ~1/M of the product.
//   packed A  MC rows at a time, in MR-row panels; per k pair q, MR i32 words, word r = the i16
//             pair (a(r,2q), a(r,2q+1)) already widened, so the micro-kernel splats it with one
//             `v128.load32_splat`. 4 rows × 8 k widen with `load8x8` and interleave with a 4×4
//             transpose of 32-bit lanes (gemm-pack.ts).
//   micro     MR×NR = 4×8 accumulators (8 i32x4), per k pair: 2 B loads, 4 A splats, 8 dot + 8
//             add, i.e. 64 multiply-adds in 22 instructions where the f32 micro-kernel does 32.
//             As in gemm-core.ts it is not unrolled and both panels advance by ONE induction
//             variable from 0. Any even MR works (packing: 4-row groups, a last 2-row one); 6×8
//             (15 live v128) measured 1.2-1.5x f32 against 4×8's ~2x on the bench machine (spills).
//             Unrolling two pairs per pass (panels padded to an even pair count) measured slower
//             too (1.5-1.9x against 1.6-2.0x, interleaved runs).
//             The ceiling: the f32 kernel's mul and add go to different FP pipes while pmaddwd
//             shares the multiply pipes, so 8 products per dot make int8 at most ~2x f32 per cycle.
//   macro     B panels outside (one stays in L1), A panels of the block inside (in L2); edge
//             tiles through a scratch tile.
//   few rows  M < MR (batch 1 inference) skips packing, which would cost as much as the product
//             and fill MR-row tiles with padding: per row, the A pairs become splat-ready words
//             in the workspace once, then per 8 columns and k pair rows 2q, 2q+1 of B are
//             interleaved and widened in registers (the packing's shuffle) for 2 dots;
//             columns past the last multiple of 8 are summed scalar.
// An odd K pads the last pair with a zero k step on both sides; partial panels are zero-padded.
// Strides: A rows are K bytes apart, B rows N bytes, C rows 4N bytes (matmulInteger's operands are
// contiguous; leading axes of A fold into M).

import type { DType } from "../../ir/types.ts";
import type { Expr, FunctionBuilder, Local } from "../module.ts";
import { transpose4x4 } from "./gemm-pack.ts";

export const INT8_TILE = { mr: 4, nr: 8, mc: 64 } as const;
const { mr: MR, nr: NR, mc: MC } = INT8_TILE;
if (MR % 2 !== 0 || MC % MR !== 0) throw new Error("gemm-int8: MR must be even and divide MC");
/** Bytes per k pair of a packed A panel (MR i32 words) and of a packed B panel (2·NR i16). */
const PAIR_BYTES = MR * 4;
const B_PAIR_BYTES = NR * 4;
/** One induction variable walks both panels in steps of STEP bytes: A at i·A_SCALE, B at i·B_SCALE. */
const gcd = (x: number, y: number): number => (y === 0 ? x : gcd(y, x % y));
const STEP = gcd(PAIR_BYTES, B_PAIR_BYTES);
const A_SCALE = PAIR_BYTES / STEP;
const B_SCALE = B_PAIR_BYTES / STEP;

const roundUp = (x: number, to: number) => Math.ceil(x / to) * to;
const TILE_BYTES = MR * NR * 4;

/**
 * Scratch bytes of an m×n×k product: the edge tile, all of packed B and one packed A block; with
 * fewer than MR rows, one row's A pair words.
 */
export function int8GemmWorkspaceBytes(m: number, n: number, k: number): number {
  if (m === 0 || n === 0 || k === 0) return 0;
  const pairs = Math.ceil(k / 2);
  if (m < MR) return roundUp(pairs * 4, 16);
  return roundUp(TILE_BYTES + roundUp(n, NR) * pairs * 4 + roundUp(Math.min(MC, m), MR) * pairs * 4, 16);
}

type Helper = (name: string, define: (w: import("../module.ts").WasmModule) => void) => string;
const i32 = (f: FunctionBuilder, v: number) => f.i32.const(v);
const add = (f: FunctionBuilder, a: Expr, b: Expr) => f.i32.add(a, b);
const mul = (f: FunctionBuilder, a: Expr, b: Expr) => f.i32.mul(a, b);
const signed = (d: DType) => d === "i8";

/**
 * The call of the int8 GEMM for operand dtypes `aType`, `bType` (defining its functions in the
 * module once per pair): C (m×n i32, overwritten) = A (m×k) B (k×n), `workspace` sized by
 * int8GemmWorkspaceBytes. All operands are static here but passed as parameters, so one set of
 * functions serves every matmulInteger of a module.
 */
export function callInt8Gemm(
  f: FunctionBuilder, helper: Helper, aType: DType, bType: DType,
  at: { a: number; b: number; c: number; workspace: number; m: number; n: number; k: number },
): Expr {
  const I32 = "i32" as const;
  if (at.m > 0 && at.m < MR) {
    const name = `qgemv_${aType}_${bType}`;
    const gemv = helper(name, (w) => w.funcWithParams(name, Array(7).fill(I32), "none", (g) => fewRowsBody(g, aType, bType)));
    return f.call(gemv, [at.a, at.b, at.c, at.m, at.n, at.k, at.workspace].map((v) => f.i32.const(v)));
  }
  const packA = helper(`qgemm_pack_a_${aType}`, (w) => w.funcWithParams(`qgemm_pack_a_${aType}`, Array(4).fill(I32), "none", (g) => packABody(g, aType)));
  const packB = helper(`qgemm_pack_b_${bType}`, (w) => w.funcWithParams(`qgemm_pack_b_${bType}`, Array(4).fill(I32), "none", (g) => packBBody(g, bType)));
  const micro = helper("qgemm_micro", (w) => w.funcWithParams("qgemm_micro", Array(5).fill(I32), "none", (g) => microBody(g)));
  const macro = helper("qgemm_macro", (w) => w.funcWithParams("qgemm_macro", Array(8).fill(I32), "none", (g) => macroBody(g, micro)));
  const driverName = `qgemm_${aType}_${bType}`;
  const driver = helper(driverName, (w) => w.funcWithParams(driverName, Array(7).fill(I32), "none", (g) => driverBody(g, packA, packB, macro)));
  return f.call(driver, [at.a, at.b, at.c, at.m, at.n, at.k, at.workspace].map((v) => f.i32.const(v)));
}

/** fewRows(a, b, c, m, n, k, ws): C = A B for m < MR rows without packing (see the header). */
function fewRowsBody(f: FunctionBuilder, aType: DType, bType: DType): Expr[] {
  const [a, b, c, m, n, k, ws] = f.params;
  const [i, ap, q, j, s, w, cp, full, p, sum, blocks] = Array.from({ length: 11 }, () => f.local("i32"));
  const [av, v, acc0, acc1] = Array.from({ length: 4 }, () => f.local("v128"));
  const loadA = (addr: Expr) => (signed(aType) ? f.loadI8(addr) : f.loadU8(addr));
  const loadB = (addr: Expr) => (signed(bType) ? f.loadI8(addr) : f.loadU8(addr));
  const interleave = Array.from({ length: 8 }, (_, x) => [x, 16 + x]).flat();
  const zero = () => f.v128.const(new Array(16).fill(0));
  const low = (x: Expr) => (signed(bType) ? f.i16x8.extend_low_i8x16_s(x) : f.i16x8.extend_low_i8x16_u(x));
  const high = (x: Expr) => (signed(bType) ? f.i16x8.extend_high_i8x16_s(x) : f.i16x8.extend_high_i8x16_u(x));
  const pairStep = (second: Expr): Expr[] => [
    f.set(av, f.v128.load32_splat(0, 4, f.get(w))),
    f.set(v, f.i8x16.shuffle(f.v128.load64_zero(0, 1, f.get(s)), second, interleave)),
    f.set(acc0, f.i32x4.add(f.get(acc0), f.i32x4.dot_i16x8_s(f.get(av), low(f.get(v))))),
    f.set(acc1, f.i32x4.add(f.get(acc1), f.i32x4.dot_i16x8_s(f.get(av), high(f.get(v))))),
  ];
  const odd = () => f.i32.and(f.get(k), i32(f, 1));
  return [
    f.set(full, f.i32.shr_u(f.get(k), i32(f, 1))),
    f.set(blocks, f.i32.and(f.get(n), i32(f, -8))),
    f.forDynamic(i, i32(f, 0), f.get(m), i32(f, 1), [
      f.set(ap, add(f, f.get(a), mul(f, f.get(i), f.get(k)))),
      f.set(cp, add(f, f.get(c), f.i32.shl(mul(f, f.get(i), f.get(n)), i32(f, 2)))),
      // The row's k pairs as i32 words (a(2q) | a(2q+1) << 16, widened), an odd K's last half 0.
      f.forDynamic(q, i32(f, 0), f.get(full), i32(f, 1), [
        f.storeI32(add(f, f.get(ws), f.i32.shl(f.get(q), i32(f, 2))), f.i32.or(
          f.i32.and(loadA(add(f, f.get(ap), f.i32.shl(f.get(q), i32(f, 1)))), i32(f, 0xffff)),
          f.i32.shl(loadA(add(f, add(f, f.get(ap), f.i32.shl(f.get(q), i32(f, 1))), i32(f, 1))), i32(f, 16)))),
      ]),
      f.if(odd(), [f.storeI32(add(f, f.get(ws), f.i32.shl(f.get(full), i32(f, 2))), f.i32.and(loadA(add(f, f.get(ap), f.i32.sub(f.get(k), i32(f, 1)))), i32(f, 0xffff)))]),
      f.forDynamic(j, i32(f, 0), f.get(blocks), i32(f, 8), [
        f.set(acc0, zero()),
        f.set(acc1, zero()),
        f.set(s, add(f, f.get(b), f.get(j))),
        f.set(w, f.get(ws)),
        f.if(f.get(full), [
          f.set(q, f.get(full)),
          f.countDown(q, [
            ...pairStep(f.v128.load64_zero(0, 1, add(f, f.get(s), f.get(n)))),
            f.set(s, add(f, f.get(s), f.i32.shl(f.get(n), i32(f, 1)))),
            f.set(w, add(f, f.get(w), i32(f, 4))),
          ]),
        ]),
        f.if(odd(), pairStep(zero())),
        f.v128.store(0, 4, add(f, f.get(cp), f.i32.shl(f.get(j), i32(f, 2))), f.get(acc0)),
        f.v128.store(16, 4, add(f, f.get(cp), f.i32.shl(f.get(j), i32(f, 2))), f.get(acc1)),
      ]),
      f.forDynamic(j, f.get(blocks), f.get(n), i32(f, 1), [
        f.set(sum, i32(f, 0)),
        f.forDynamic(p, i32(f, 0), f.get(k), i32(f, 1), [
          f.set(sum, add(f, f.get(sum), mul(f, loadA(add(f, f.get(ap), f.get(p))), loadB(add(f, f.get(b), add(f, mul(f, f.get(p), f.get(n)), f.get(j))))))),
        ]),
        f.storeI32(add(f, f.get(cp), f.i32.shl(f.get(j), i32(f, 2))), f.get(sum)),
      ]),
    ]),
  ];
}

/** micro(pa, pb, pairs, c, ldc): C[MR×NR] = Apanel · Bpanel over pairs ≥ 1 k pairs. */
function microBody(f: FunctionBuilder): Expr[] {
  const [pa, pb, pairs, c, ldc] = f.params;
  const vectors = NR / 4;
  const acc = Array.from({ length: MR }, () => Array.from({ length: vectors }, () => f.local("v128")));
  const bv = Array.from({ length: vectors }, () => f.local("v128"));
  const av = f.local("v128");
  const i = f.local("i32");
  const n = f.local("i32");
  const row = f.local("i32");
  const scaled = (x: number) => (x === 1 ? f.get(i) : mul(f, f.get(i), i32(f, x)));
  const bAt = () => add(f, f.get(pb), scaled(B_SCALE));
  const step: Expr[] = bv.map((b, q) => f.set(b, f.v128.load(16 * q, 4, bAt())));
  for (let r = 0; r < MR; r++) {
    step.push(f.set(av, f.v128.load32_splat(4 * r, 4, add(f, f.get(pa), scaled(A_SCALE)))));
    for (let q = 0; q < vectors; q++) step.push(f.set(acc[r][q], f.i32x4.add(f.get(acc[r][q]), f.i32x4.dot_i16x8_s(f.get(av), f.get(bv[q])))));
  }
  const stores: Expr[] = [f.set(row, f.get(c))];
  for (let r = 0; r < MR; r++) {
    stores.push(...acc[r].map((a, q) => f.v128.store(16 * q, 4, f.get(row), f.get(a))));
    if (r + 1 < MR) stores.push(f.set(row, add(f, f.get(row), f.get(ldc))));
  }
  return [
    ...acc.flat().map((a) => f.set(a, f.v128.const(new Array(16).fill(0)))),
    f.set(i, i32(f, 0)),
    f.set(n, f.get(pairs)),
    f.countDown(n, [...step, f.set(i, add(f, f.get(i), i32(f, STEP)))]),
    ...stores,
  ];
}

/** macro(ap, bp, mc, n, pairs, c, ldc, tile): every MR×NR tile of an mc×n block of C. */
function macroBody(f: FunctionBuilder, micro: string): Expr[] {
  const [ap, bp, mc, n, pairs, c, ldc, tile] = f.params;
  const [jr, ir, pa, pb, cp, rows, cols, r, dst, src, j] = Array.from({ length: 11 }, () => f.local("i32"));
  const panelBytes = () => mul(f, f.get(pairs), i32(f, PAIR_BYTES));
  const bPanelBytes = () => mul(f, f.get(pairs), i32(f, B_PAIR_BYTES));
  const edgeTile: Expr[] = [
    f.call(micro, [f.get(pa), f.get(pb), f.get(pairs), f.get(tile), i32(f, NR * 4)]),
    f.forDynamic(r, i32(f, 0), f.get(rows), i32(f, 1), [
      f.set(dst, add(f, f.get(cp), mul(f, f.get(r), f.get(ldc)))),
      f.set(src, add(f, f.get(tile), mul(f, f.get(r), i32(f, NR * 4)))),
      f.forDynamic(j, i32(f, 0), f.get(cols), i32(f, 1), [
        f.storeI32(f.get(dst), f.loadI32(f.get(src))),
        f.set(dst, add(f, f.get(dst), i32(f, 4))),
        f.set(src, add(f, f.get(src), i32(f, 4))),
      ]),
    ]),
  ];
  const clamp = (l: Local, to: number) => f.set(l, f.select(f.i32.lt_s(f.get(l), i32(f, to)), f.get(l), i32(f, to)));
  return [
    f.set(pb, f.get(bp)),
    f.forDynamic(jr, i32(f, 0), f.get(n), i32(f, NR), [
      f.set(pa, f.get(ap)),
      f.set(cp, add(f, f.get(c), f.i32.shl(f.get(jr), i32(f, 2)))),
      f.forDynamic(ir, i32(f, 0), f.get(mc), i32(f, MR), [
        f.set(rows, f.i32.sub(f.get(mc), f.get(ir))),
        f.set(cols, f.i32.sub(f.get(n), f.get(jr))),
        f.if(f.i32.and(f.i32.ge_s(f.get(rows), i32(f, MR)), f.i32.ge_s(f.get(cols), i32(f, NR))),
          [f.call(micro, [f.get(pa), f.get(pb), f.get(pairs), f.get(cp), f.get(ldc)])],
          [clamp(rows, MR), clamp(cols, NR), ...edgeTile]),
        f.set(pa, add(f, f.get(pa), panelBytes())),
        f.set(cp, add(f, f.get(cp), mul(f, f.get(ldc), i32(f, MR)))),
      ]),
      f.set(pb, add(f, f.get(pb), bPanelBytes())),
    ]),
  ];
}

/** driver(a, b, c, m, n, k, ws): packs B, then per MC-row block packs A and runs the macro-kernel. */
function driverBody(f: FunctionBuilder, packA: string, packB: string, macro: string): Expr[] {
  const [a, b, c, m, n, k, ws] = f.params;
  const [pairs, bp, ap, ic, mc] = Array.from({ length: 5 }, () => f.local("i32"));
  const ldc = () => f.i32.shl(f.get(n), i32(f, 2));
  return [
    f.if(f.i32.or(f.i32.eqz(f.get(m)), f.i32.eqz(f.get(n))), [f.return()]),
    f.if(f.i32.eqz(f.get(k)), [f.fillAt(f.get(c), i32(f, 0), mul(f, mul(f, f.get(m), f.get(n)), i32(f, 4))), f.return()]),
    // Workspace: [edge tile][packed B][packed A block] (as int8GemmWorkspaceBytes).
    f.set(pairs, f.i32.shr_u(add(f, f.get(k), i32(f, 1)), i32(f, 1))),
    f.set(bp, add(f, f.get(ws), i32(f, TILE_BYTES))),
    f.set(ap, add(f, f.get(bp), mul(f, f.i32.and(add(f, f.get(n), i32(f, NR - 1)), i32(f, -NR)), f.i32.shl(f.get(pairs), i32(f, 2))))),
    f.call(packB, [f.get(b), f.get(n), f.get(k), f.get(bp)]),
    f.forDynamic(ic, i32(f, 0), f.get(m), i32(f, MC), [
      f.set(mc, f.i32.sub(f.get(m), f.get(ic))),
      f.set(mc, f.select(f.i32.lt_s(f.get(mc), i32(f, MC)), f.get(mc), i32(f, MC))),
      f.call(packA, [add(f, f.get(a), mul(f, f.get(ic), f.get(k))), f.get(k), f.get(mc), f.get(ap)]),
      f.call(macro, [f.get(ap), f.get(bp), f.get(mc), f.get(n), f.get(pairs), add(f, f.get(c), mul(f, f.get(ic), ldc())), ldc(), f.get(ws)]),
    ]),
  ];
}

/**
 * packB(b, n, k, dst): B (k×n bytes, rows n apart) into NR-column panels of k pairs. Full panels
 * interleave rows 2q and 2q+1 with one shuffle per pair (an odd K's last row with zeros); the
 * partial last panel is zero-filled and gathered byte by byte.
 */
function packBBody(f: FunctionBuilder, bType: DType): Expr[] {
  const [b, n, k, dst] = f.params;
  const [j, s, d, q, p, cols, col, full] = Array.from({ length: 8 }, () => f.local("i32"));
  const interleave = Array.from({ length: 8 }, (_, x) => [x, 16 + x]).flat();
  const zero = () => f.v128.const(new Array(16).fill(0));
  const pairBytes = () => f.i32.shl(f.get(n), i32(f, 1));
  const v = f.local("v128");
  // The 16 interleaved bytes of one pair (NR = 8 columns), widened to i16 in two vectors.
  const storeWidened = (): Expr[] => [
    f.v128.store(0, 4, f.get(d), signed(bType) ? f.i16x8.extend_low_i8x16_s(f.get(v)) : f.i16x8.extend_low_i8x16_u(f.get(v))),
    f.v128.store(16, 4, f.get(d), signed(bType) ? f.i16x8.extend_high_i8x16_s(f.get(v)) : f.i16x8.extend_high_i8x16_u(f.get(v))),
    f.set(d, add(f, f.get(d), i32(f, B_PAIR_BYTES))),
  ];
  return [
    f.set(d, f.get(dst)),
    f.set(full, f.i32.shr_u(f.get(k), i32(f, 1))),
    f.forDynamic(j, i32(f, 0), f.get(n), i32(f, NR), [
      f.set(s, add(f, f.get(b), f.get(j))),
      f.set(cols, f.i32.sub(f.get(n), f.get(j))),
      f.if(f.i32.ge_s(f.get(cols), i32(f, NR)), [
        f.if(f.get(full), [
          f.set(q, f.get(full)),
          f.countDown(q, [
            f.set(v, f.i8x16.shuffle(f.v128.load64_zero(0, 1, f.get(s)), f.v128.load64_zero(0, 1, add(f, f.get(s), f.get(n))), interleave)),
            ...storeWidened(),
            f.set(s, add(f, f.get(s), pairBytes())),
          ]),
        ]),
        f.if(f.i32.and(f.get(k), i32(f, 1)), [
          f.set(v, f.i8x16.shuffle(f.v128.load64_zero(0, 1, f.get(s)), zero(), interleave)),
          ...storeWidened(),
        ]),
      ], [
        f.fillAt(f.get(d), i32(f, 0), mul(f, f.i32.shr_u(add(f, f.get(k), i32(f, 1)), i32(f, 1)), i32(f, B_PAIR_BYTES))),
        f.forDynamic(p, i32(f, 0), f.get(k), i32(f, 1), [
          f.forDynamic(col, i32(f, 0), f.get(cols), i32(f, 1), [
            f.i32.store16(0, 2,
              add(f, f.get(d), add(f, mul(f, f.i32.shr_u(f.get(p), i32(f, 1)), i32(f, B_PAIR_BYTES)), add(f, f.i32.shl(f.get(col), i32(f, 2)), f.i32.shl(f.i32.and(f.get(p), i32(f, 1)), i32(f, 1))))),
              (signed(bType) ? f.loadI8 : f.loadU8).call(f, add(f, f.get(s), add(f, mul(f, f.get(p), f.get(n)), f.get(col)))),
            ),
          ]),
        ]),
      ]),
    ]),
  ];
}

/**
 * packA(a, k, rows, dst): `rows` rows of A (k bytes apart) into MR-row panels of k pairs of
 * widened i16. Full panels: 8 k steps of 4 rows per `load8x8` ×4 and a 4×4 transpose, the last
 * k mod 8 scalar; a partial panel is zero-filled and gathered.
 */
function packABody(f: FunctionBuilder, aType: DType): Expr[] {
  const [a, k, rows, dst] = f.params;
  const [r0, s, d, g, p, r, lane, tailPair] = Array.from({ length: 8 }, () => f.local("i32"));
  const v = Array.from({ length: 4 }, () => f.local("v128"));
  const panelBytes = () => mul(f, f.i32.shr_u(add(f, f.get(k), i32(f, 1)), i32(f, 1)), i32(f, PAIR_BYTES));
  const widen8 = (addr: Expr) => (signed(aType) ? f.v128.load8x8_s(0, 1, addr) : f.v128.load8x8_u(0, 1, addr));
  const load1 = (addr: Expr) => (signed(aType) ? f.loadI8(addr) : f.loadU8(addr));
  // a(r, p) for p from `from` to k into the panel at d (rows below `lanes`), the pairs' other halves already zero.
  const scalar = (from: Expr, lanes: Expr): Expr => f.forDynamic(r, i32(f, 0), lanes, i32(f, 1), [
    f.forDynamic(p, from, f.get(k), i32(f, 1), [
      f.i32.store16(0, 2,
        add(f, f.get(d), add(f, mul(f, f.i32.shr_u(f.get(p), i32(f, 1)), i32(f, PAIR_BYTES)), add(f, f.i32.shl(f.get(r), i32(f, 2)), f.i32.shl(f.i32.and(f.get(p), i32(f, 1)), i32(f, 1))))),
        load1(add(f, f.get(s), add(f, mul(f, f.get(r), f.get(k)), f.get(p)))),
      ),
    ]),
  ]);
  // Rows r0 + 4h .. of 8 k steps: 4 rows (or 2 and two zero rows) widened and transposed, so
  // vector q holds pair q's words of those rows.
  const groupBody: Expr[] = [];
  for (let h = 0; h < MR; h += 4) {
    const count = Math.min(4, MR - h);
    groupBody.push(...v.map((x, row) => f.set(x, row < count ? widen8(add(f, add(f, f.get(s), f.get(g)), mul(f, f.get(k), i32(f, h + row)))) : f.v128.const(new Array(16).fill(0)))));
    groupBody.push(...transpose4x4(f, v));
    groupBody.push(...v.map((x, q) => (count === 4 ? f.v128.store(q * PAIR_BYTES + 4 * h, 4, f.get(d), f.get(x)) : f.v128.store64_lane(q * PAIR_BYTES + 4 * h, 4, 0, f.get(d), f.get(x)))));
  }
  groupBody.push(f.set(d, add(f, f.get(d), i32(f, 4 * PAIR_BYTES))));
  return [
    f.set(d, f.get(dst)),
    f.forDynamic(r0, i32(f, 0), f.get(rows), i32(f, MR), [
      f.set(s, add(f, f.get(a), mul(f, f.get(r0), f.get(k)))),
      f.set(lane, f.i32.sub(f.get(rows), f.get(r0))),
      f.if(f.i32.ge_s(f.get(lane), i32(f, MR)), [
        f.forDynamic(g, i32(f, 0), f.i32.and(f.get(k), i32(f, -8)), i32(f, 8), groupBody),
        // d is at pair k/8*4 now: zero the pairs left (so an odd K's last half is 0), fill them in.
        f.set(tailPair, f.i32.shr_u(f.i32.and(f.get(k), i32(f, -8)), i32(f, 1))),
        f.fillAt(f.get(d), i32(f, 0), mul(f, f.i32.sub(f.i32.shr_u(add(f, f.get(k), i32(f, 1)), i32(f, 1)), f.get(tailPair)), i32(f, PAIR_BYTES))),
        f.set(d, f.i32.sub(f.get(d), mul(f, f.get(tailPair), i32(f, PAIR_BYTES)))),
        scalar(f.i32.and(f.get(k), i32(f, -8)), i32(f, MR)),
      ], [
        f.fillAt(f.get(d), i32(f, 0), panelBytes()),
        scalar(i32(f, 0), f.get(lane)),
      ]),
      f.set(d, add(f, f.get(d), panelBytes())),
    ]),
  ];
}
