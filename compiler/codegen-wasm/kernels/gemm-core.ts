// The blocked f32 GEMM every contraction kernel calls: C (+)= op(A) op(B), with A, B and C at
// run-time addresses and strides; A and B may be stored as f16/bf16 (widened by the packing, so
// the micro-kernel is the same), C is f32 (16-bit results go through kernels/gemm.ts's chunks).
// It is emitted once per module as a few shared functions:
//
//   gemm      the driver: GotoBLAS/BLIS loops over NC-wide column blocks, KC-deep k blocks and
//             MC-tall row blocks; packs the B block (KC x NC, meant to stay in L2/L3) and each A
//             block (MC x KC, meant to stay in L2), then runs the macro-kernel.
//   macro     walks the packed blocks in MR x NR tiles; B's micro-panel (KC x NR, in L1) is reused
//             across every row tile. Edge tiles go through a scratch tile.
//   micro     the register-blocked kernel: MR x NR accumulators (f32x4), one f32x4 B load per
//             four columns and one load32_splat per row and k step, 16 f32x4 mul/add per step.
//             Two details of its loop decide its speed under V8 (measured on the bench machine):
//             - it is NOT unrolled: binaryen folds unrolled updates of an accumulator into one
//               expression tree and V8 hoists all the steps' loads to the top of the body; either
//               way every step's operands are live at once and spill (18-29 vs 42 GFLOP/s);
//             - both panels are addressed from ONE induction variable that starts at the constant
//               0 rather than from pointers passed in: V8 must zero-extend an i32 it cannot prove
//               non-negative before each address, and the two extra moves per step cost 9%.
//   pack_a/b  gemm-pack.ts.
//
// The tile and block sizes were picked by measurement on the bench machine (bench/gemm.ts).
// Strides and addresses are in bytes.

import type { DType } from "../../ir/types.ts";
import type { Expr, FunctionBuilder, Local, WasmModule } from "../module.ts";
import { packBody } from "./gemm-pack.ts";

export interface GemmTiling {
  /** Rows and columns of the micro-kernel's register tile (nr a multiple of 4). */
  readonly mr: number;
  readonly nr: number;
  /** Block sizes: k depth, rows of a packed A block, columns of a packed B block. */
  readonly kc: number;
  readonly mc: number;
  readonly nc: number;
}

export const DEFAULT_TILING: GemmTiling = { mr: 4, nr: 8, kc: 256, mc: 64, nc: 1024 };

const roundUp = (x: number, to: number) => Math.ceil(x / to) * to;

/** Scratch bytes the driver needs for an m x n x k product: the edge tile and both packed blocks. */
export function gemmWorkspaceBytes(m: number, n: number, k: number, t: GemmTiling = DEFAULT_TILING): number {
  const kc = Math.min(t.kc, k);
  const tile = t.mr * t.nr * 4;
  const packedB = kc * roundUp(Math.min(t.nc, n), t.nr) * 4;
  const packedA = kc * roundUp(Math.min(t.mc, m), t.mr) * 4;
  return roundUp(tile + packedB + packedA, 16);
}

/** Operands of one call of the driver; any field may be a run-time expression. */
export interface GemmCall {
  readonly a: Expr; readonly aRowStride: Expr; readonly aColStride: Expr;
  readonly b: Expr; readonly bRowStride: Expr; readonly bColStride: Expr;
  readonly c: Expr; readonly cRowStride: Expr;
  readonly m: Expr; readonly n: Expr; readonly k: Expr;
  /** Nonzero: add the product to C; zero: overwrite C. */
  readonly accumulate: Expr;
  readonly workspace: Expr;
}

type Helper = (name: string, define: (w: WasmModule) => void) => string;

/** The storage dtypes of A and B (packing widens f16/bf16 to the f32 panels); C is f32. */
export interface GemmDTypes {
  readonly a: DType;
  readonly b: DType;
}

export const F32_GEMM: GemmDTypes = { a: "f32", b: "f32" };

/**
 * Defines the GEMM functions in the module (once per tiling and operand dtypes; f32 operands keep
 * the plain names) and returns the call of the driver.
 */
export function callGemm(f: FunctionBuilder, helper: Helper, call: GemmCall, t: GemmTiling = DEFAULT_TILING, dtypes: GemmDTypes = F32_GEMM): Expr {
  const suffix = gemmSuffix(t);
  const tag = (d: DType) => (d === "f32" ? "" : `_${d}`);
  const operands = dtypes.a === "f32" && dtypes.b === "f32" ? "" : `_${dtypes.a}_${dtypes.b}`;
  const I32 = "i32" as const;
  const packAName = `gemm_pack_a_${t.mr}${tag(dtypes.a)}`;
  const packBName = `gemm_pack_b_${t.nr}${tag(dtypes.b)}`;
  // Defined in this order (A's packing, B's, then gemmPieces' micro and macro), as modules always had them.
  helper(packAName, (w) => w.funcWithParams(packAName, Array(6).fill(I32), "none", (g) => packBody(g, t.mr, dtypes.a)));
  const packB = helper(packBName, (w) => w.funcWithParams(packBName, Array(6).fill(I32), "none", (g) => packBody(g, t.nr, dtypes.b)));
  const { packA, macro } = gemmPieces(helper, t, dtypes.a);
  const driverName = `gemm_${suffix}${operands}`;
  const driver = helper(driverName, (w) => w.funcWithParams(driverName, Array(13).fill(I32), "none", (g) => driverBody(g, t, packA, packB, macro)));
  return f.call(driver, [
    call.a, call.aRowStride, call.aColStride, call.b, call.bRowStride, call.bColStride,
    call.c, call.cRowStride, call.m, call.n, call.k, call.accumulate, call.workspace,
  ]);
}

const gemmSuffix = (t: GemmTiling) => `${t.mr}x${t.nr}_k${t.kc}_m${t.mc}_n${t.nc}`;

/**
 * The pieces of the blocked GEMM that a driver with its own B packing reuses (kernels/
 * gemm-codebook.ts): `packA(src, rowStride, colStride, rows, kc, dst)` (A stored as `aDtype`) and
 * `macro(ap, bp, mc, nc, kc, c, ldc, load, tile)` over packed f32 panels, defined once per module.
 */
export function gemmPieces(helper: Helper, t: GemmTiling = DEFAULT_TILING, aDtype: DType = "f32"): { packA: string; macro: string } {
  const suffix = gemmSuffix(t);
  const I32 = "i32" as const;
  const packAName = `gemm_pack_a_${t.mr}${aDtype === "f32" ? "" : `_${aDtype}`}`;
  const packA = helper(packAName, (w) => w.funcWithParams(packAName, Array(6).fill(I32), "none", (g) => packBody(g, t.mr, aDtype)));
  const micro = helper(`gemm_micro_${suffix}`, (w) => w.funcWithParams(`gemm_micro_${suffix}`, Array(6).fill(I32), "none", (g) => microBody(g, t)));
  const macro = helper(`gemm_macro_${suffix}`, (w) => w.funcWithParams(`gemm_macro_${suffix}`, Array(9).fill(I32), "none", (g) => macroBody(g, t, micro)));
  return { packA, macro };
}

const add = (f: FunctionBuilder, a: Expr, b: Expr) => f.i32.add(a, b);
const mul = (f: FunctionBuilder, a: Expr, b: Expr) => f.i32.mul(a, b);
const i32 = (f: FunctionBuilder, v: number) => f.i32.const(v);
const min = (f: FunctionBuilder, a: Local, b: Expr) => f.select(f.i32.lt_s(f.get(a), b), f.get(a), b);

/**
 * One k step of a register-blocked outer product, the body of every f32 micro-kernel's loop:
 * bv[q] = loadB(q) for each f32x4 column, then for each row r, av = splatA(r) (one A element in
 * every lane) and acc[r][q] += av * bv[q]. The callers own the locals and the loop (see the
 * header: not unrolled).
 */
export function outerProductStep(f: FunctionBuilder, acc: readonly (readonly Local[])[], bv: readonly Local[], av: Local,
  loadB: (q: number) => Expr, splatA: (r: number) => Expr): Expr[] {
  const step: Expr[] = bv.map((v, q) => f.set(v, loadB(q)));
  acc.forEach((row, r) => {
    step.push(f.set(av, splatA(r)));
    row.forEach((v, q) => step.push(f.set(v, f.f32x4.add(f.get(v), f.f32x4.mul(f.get(av), f.get(bv[q]))))));
  });
  return step;
}

/** micro(pa, pb, kc, c, ldc, load): C[mr x nr] = (load ? C : 0) + Apanel * Bpanel over kc >= 1 steps. */
function microBody(f: FunctionBuilder, t: GemmTiling): Expr[] {
  if (t.nr % 4 !== 0 || t.nr % t.mr !== 0) throw new Error(`GEMM tile ${t.mr}x${t.nr}: nr must be a multiple of 4 and of mr`);
  const [pa, pb, kc, c, ldc, load] = f.params;
  const vectors = t.nr / 4;
  const acc = Array.from({ length: t.mr }, () => Array.from({ length: vectors }, () => f.local("v128")));
  const bv = Array.from({ length: vectors }, () => f.local("v128"));
  const av = f.local("v128");
  const row = f.local("i32");
  const n = f.local("i32");

  const forEachRow = (body: (r: number) => Expr[]): Expr[] => {
    const out: Expr[] = [f.set(row, f.get(c))];
    for (let r = 0; r < t.mr; r++) {
      out.push(...body(r));
      if (r + 1 < t.mr) out.push(f.set(row, add(f, f.get(row), f.get(ldc))));
    }
    return out;
  };
  const zero = () => f.v128.const(new Array(16).fill(0));

  // Byte offset of the current k step in the A panel; the B panel's is nr/mr times larger.
  const i = f.local("i32");
  const aAt = () => add(f, f.get(pa), f.get(i));
  const bAt = () => add(f, f.get(pb), mul(f, f.get(i), i32(f, t.nr / t.mr)));
  const kStep = outerProductStep(f, acc, bv, av, (q) => f.v128.load(16 * q, 4, bAt()), (r) => f.v128.load32_splat(4 * r, 4, aAt()));

  return [
    f.if(f.get(load),
      forEachRow((r) => acc[r].map((a, q) => f.set(a, f.v128.load(16 * q, 4, f.get(row))))),
      acc.flat().map((a) => f.set(a, zero()))),
    f.set(i, i32(f, 0)),
    f.set(n, f.get(kc)),
    f.countDown(n, [...kStep, f.set(i, add(f, f.get(i), i32(f, t.mr * 4)))]),
    ...forEachRow((r) => acc[r].map((a, q) => f.v128.store(16 * q, 4, f.get(row), f.get(a)))),
  ];
}

/**
 * macro(ap, bp, mc, nc, kc, c, ldc, load, tile): every MR x NR tile of an mc x nc block of C from
 * the packed blocks. Tiles that stick out of C are computed into `tile` and the part inside C is
 * then added (or copied) lane by lane.
 */
function macroBody(f: FunctionBuilder, t: GemmTiling, micro: string): Expr[] {
  const [ap, bp, mc, nc, kc, c, ldc, load, tile] = f.params;
  const jr = f.local("i32");
  const ir = f.local("i32");
  const pb = f.local("i32");
  const pa = f.local("i32");
  const cp = f.local("i32");
  const rows = f.local("i32");
  const cols = f.local("i32");
  const r = f.local("i32");
  const j = f.local("i32");
  const dst = f.local("i32");
  const src = f.local("i32");
  const aPanelBytes = mul(f, f.get(kc), i32(f, t.mr * 4));
  const bPanelBytes = mul(f, f.get(kc), i32(f, t.nr * 4));

  const edgeTile: Expr[] = [
    f.call(micro, [f.get(pa), f.get(pb), f.get(kc), f.get(tile), i32(f, t.nr * 4), i32(f, 0)]),
    f.forDynamic(r, i32(f, 0), f.get(rows), i32(f, 1), [
      f.set(dst, add(f, f.get(cp), mul(f, f.get(r), f.get(ldc)))),
      f.set(src, add(f, f.get(tile), mul(f, f.get(r), i32(f, t.nr * 4)))),
      f.forDynamic(j, i32(f, 0), f.get(cols), i32(f, 1), [
        f.storeF32(f.get(dst), f.f32.add(
          f.loadF32(f.get(src)),
          f.select(f.get(load), f.loadF32(f.get(dst)), f.f32.const(0)),
        )),
        f.set(dst, add(f, f.get(dst), i32(f, 4))),
        f.set(src, add(f, f.get(src), i32(f, 4))),
      ]),
    ]),
  ];

  return [
    f.set(pb, f.get(bp)),
    f.forDynamic(jr, i32(f, 0), f.get(nc), i32(f, t.nr), [
      f.set(cols, f.i32.sub(f.get(nc), f.get(jr))),
      f.set(pa, f.get(ap)),
      f.set(cp, add(f, f.get(c), f.i32.shl(f.get(jr), i32(f, 2)))),
      f.forDynamic(ir, i32(f, 0), f.get(mc), i32(f, t.mr), [
        f.set(rows, f.i32.sub(f.get(mc), f.get(ir))),
        f.if(f.i32.and(f.i32.ge_s(f.get(rows), i32(f, t.mr)), f.i32.ge_s(f.get(cols), i32(f, t.nr))),
          [f.call(micro, [f.get(pa), f.get(pb), f.get(kc), f.get(cp), f.get(ldc), f.get(load)])],
          [
            f.set(rows, f.select(f.i32.lt_s(f.get(rows), i32(f, t.mr)), f.get(rows), i32(f, t.mr))),
            f.set(cols, f.select(f.i32.lt_s(f.get(cols), i32(f, t.nr)), f.get(cols), i32(f, t.nr))),
            ...edgeTile,
          ]),
        f.set(pa, add(f, f.get(pa), aPanelBytes)),
        f.set(cp, add(f, f.get(cp), mul(f, f.get(ldc), i32(f, t.mr)))),
      ]),
      f.set(pb, add(f, f.get(pb), bPanelBytes)),
    ]),
  ];
}

/** gemm(a, aRs, aCs, b, bRs, bCs, c, ldc, m, n, k, accumulate, ws): the blocked loops. */
function driverBody(f: FunctionBuilder, t: GemmTiling, packA: string, packB: string, macro: string): Expr[] {
  const [a, aRs, aCs, b, bRs, bCs, c, ldc, m, n, k, accumulate, ws] = f.params;
  const jc = f.local("i32");
  const pc = f.local("i32");
  const ic = f.local("i32");
  const nc = f.local("i32");
  const kc = f.local("i32");
  const mc = f.local("i32");
  const load = f.local("i32");
  const tile = f.local("i32");
  const bp = f.local("i32");
  const ap = f.local("i32");
  const ncMax = f.local("i32");

  return [
    // Empty products write nothing but still owe C zeros when not accumulating.
    f.if(f.i32.or(f.i32.eqz(f.get(m)), f.i32.eqz(f.get(n))), [f.return()]),
    f.if(f.i32.eqz(f.get(k)), [
      f.if(f.i32.eqz(f.get(accumulate)), [
        f.forDynamic(ic, i32(f, 0), f.get(m), i32(f, 1), [
          f.fillAt(add(f, f.get(c), mul(f, f.get(ic), f.get(ldc))), i32(f, 0), f.i32.shl(f.get(n), i32(f, 2))),
        ]),
      ]),
      f.return(),
    ]),
    // Workspace: [edge tile][packed B block][packed A block] (sizes as in gemmWorkspaceBytes).
    f.set(tile, f.get(ws)),
    f.set(bp, add(f, f.get(ws), i32(f, t.mr * t.nr * 4))),
    f.set(ncMax, f.i32.and(add(f, min(f, n, i32(f, t.nc)), i32(f, t.nr - 1)), i32(f, -t.nr))),
    f.set(ap, add(f, f.get(bp), mul(f, min(f, k, i32(f, t.kc)), f.i32.shl(f.get(ncMax), i32(f, 2))))),
    f.forDynamic(jc, i32(f, 0), f.get(n), i32(f, t.nc), [
      f.set(nc, f.i32.sub(f.get(n), f.get(jc))),
      f.set(nc, min(f, nc, i32(f, t.nc))),
      f.forDynamic(pc, i32(f, 0), f.get(k), i32(f, t.kc), [
        f.set(kc, f.i32.sub(f.get(k), f.get(pc))),
        f.set(kc, min(f, kc, i32(f, t.kc))),
        f.set(load, f.i32.or(f.get(accumulate), f.get(pc))),
        f.call(packB, [
          add(f, f.get(b), add(f, mul(f, f.get(pc), f.get(bRs)), mul(f, f.get(jc), f.get(bCs)))),
          f.get(bCs), f.get(bRs), f.get(nc), f.get(kc), f.get(bp),
        ]),
        f.forDynamic(ic, i32(f, 0), f.get(m), i32(f, t.mc), [
          f.set(mc, f.i32.sub(f.get(m), f.get(ic))),
          f.set(mc, min(f, mc, i32(f, t.mc))),
          f.call(packA, [
            add(f, f.get(a), add(f, mul(f, f.get(ic), f.get(aRs)), mul(f, f.get(pc), f.get(aCs)))),
            f.get(aRs), f.get(aCs), f.get(mc), f.get(kc), f.get(ap),
          ]),
          f.call(macro, [
            f.get(ap), f.get(bp), f.get(mc), f.get(nc), f.get(kc),
            add(f, f.get(c), add(f, mul(f, f.get(ic), f.get(ldc)), f.i32.shl(f.get(jc), i32(f, 2)))),
            f.get(ldc), f.get(load), f.get(tile),
          ]),
        ]),
      ]),
    ]),
  ];
}
