// Winograd convolutions F(2x2, 3x3) for 3x3, stride-1, undilated, ungrouped f32 convolutions
// with 4 to 32 channels, multiples of 4 (a small CNN's inner layers): conv2d and conv2dBackpropInput, which
// conv-padded.ts runs otherwise. The geometry is conv-padded.ts's: a "valid" stride-1 window over
// a zero-padded copy of one image at a time (the input gradient: over dy padded by k - 1 - pad,
// with the filter flipped and transposed).
//
// Each 2x2 block of outputs ("tile") comes from a 4x4 patch d of the padded image (Lavin & Gray,
// "Fast Algorithms for Convolutional Neural Networks", 2016):
//
//   Y = A^T [ U ⊙ V ] A,   U = G g G^T (per input/output channel pair),   V = B^T d B (per channel)
//
// and the products ⊙ summed over the input channels are, for each of the 16 positions of the
// 4x4 transform, one small GEMM: M[p][tile, o] = sum_c V[p][tile, c] U[p][c, o]. That is 16 * C * O
// multiply-adds per tile against 36 * C * O for the direct kernel; the transforms are additions
// (and halvings of the filter, once per call). Per image the kernel pads the image into the
// workspace, then for each row of tiles transforms the row's patches (V), multiplies (M) and
// transforms back into the output, where a fusedConv2d's bias-like epilogue runs on the values
// before they are stored (as in conv-padded.ts).
//
// Rounding: the result is the same sum as the direct kernel's in exact arithmetic; in f32 it
// differs by a few ulps of the operands' scale (the op records' tolerance covers it), and is the
// same on every run (the same operations in the same order).

import { DTYPE_BYTES } from "../../ir/types.ts";
import type { BufferRef, KernelArgs } from "../kernel.ts";
import type { Expr, FunctionBuilder, Local } from "../module.ts";
import type { ConvPlan } from "./conv-plan.ts";
import { outerProductStep } from "./gemm-core.ts";
import { align16, chunks, geometry, imageBytes, padded, padImage, registerEpilogue, rowsFor, usesPaddedConv, type ExtraRead, type PaddedGeometry } from "./conv-padded.ts";
import { Lanes } from "./lanes.ts";
import type { Epilogue } from "./matmul.ts";

export type WinogradOp = "conv2d" | "conv2dBackpropInput";

/**
 * Fewer channels than this on either side leave too few products to pay for the transforms. At 4
 * (one f32x4 register of channels) all three ops still beat the padded direct kernel, whose
 * micro-kernel then spends one splat of the image per f32x4 product (a channel-pruned CNN's 4 -> 8
 * and 8 -> 4 layers, bench sparse's stages).
 */
const MIN_CHANNELS = 4;
/** The padded image, the transformed filter and one row of tiles' V and M must fit this workspace. */
const MAX_WORKSPACE_BYTES = 128 * 1024;
/** Positions of the 4x4 transform. */
const POSITIONS = 16;

/** Where the workspace's parts lie, relative to its start, and the tiles of one row. */
interface WinogradLayout {
  readonly g: PaddedGeometry;
  readonly tiles: number;
  readonly u: number;
  readonly v: number;
  readonly m: number;
  readonly total: number;
}

function layoutOf(op: WinogradOp, p: ConvPlan): WinogradLayout {
  const g = geometry(op, p);
  const tiles = g.outW / 2;
  const u = align16(imageBytes(g));
  const v = u + POSITIONS * g.srcC * g.outC * 4;
  const m = v + POSITIONS * tiles * g.srcC * 4;
  return { g, tiles, u, v, m, total: m + POSITIONS * tiles * g.outC * 4 };
}

/** Whether `op` of this (f32) convolution runs the Winograd kernel. */
export function usesWinogradConv(op: string, p: ConvPlan): op is WinogradOp {
  if (op !== "conv2d" && op !== "conv2dBackpropInput") return false;
  // Stride 1, undilated, one group, at most 32 channels, padding within the kernel.
  if (!usesPaddedConv(op, p) || p.kernelH !== 3 || p.kernelW !== 3) return false;
  const g = geometry(op, p);
  if (g.srcC % 4 !== 0 || g.outC % 4 !== 0 || g.srcC < MIN_CHANNELS || g.outC < MIN_CHANNELS) return false;
  // Whole tiles only: an odd output edge would need a half tile.
  if (g.outH % 2 !== 0 || g.outW % 2 !== 0 || g.outH === 0) return false;
  return layoutOf(op, p).total <= MAX_WORKSPACE_BYTES;
}

export function winogradWorkspaceBytes(op: WinogradOp, p: ConvPlan): number {
  return layoutOf(op, p).total;
}

/** The kernel; for conv2d `epilogue` (a fusedConv2d's, which registerEpilogue accepts) runs before each store. */
export function emitWinogradConv(op: WinogradOp, args: KernelArgs, p: ConvPlan, epilogue?: Epilogue): Expr[] {
  const { f, inputs, output } = args;
  if (args.workspace === undefined) throw new Error(`${op} %${args.node.id}: the Winograd kernel needs a workspace and the plan gave none`);
  const ws = args.workspace;
  const layout = layoutOf(op, p);
  const { g } = layout;
  const [first, second] = inputs;
  for (const b of [first, second, output]) if (DTYPE_BYTES[b.type.dtype] !== 4) throw new Error(`${op}: the Winograd kernel is f32-only`);
  const reads = epilogue ? registerEpilogue(epilogue, output.type) : undefined;
  if (epilogue && !reads) throw new Error(`${op} %${args.node.id}: the epilogue cannot run in registers`);
  const n = f.local("i32");
  const src = f.local("i32");
  const img = f.local("i32");
  const ty = f.local("i32");
  const c = (v: number) => f.i32.const(v);
  return [
    ...transformFilter(f, op, p, second, ws + layout.u),
    f.forRange(n, 0, g.images, 1, [
      f.set(src, f.i32.add(c(first.offset), f.i32.mul(f.get(n), c(g.srcH * g.srcW * g.srcC * 4)))),
      ...(padded(g) ? [...padImage(f, g, src, ws), f.set(img, c(ws))] : [f.set(img, f.get(src))]),
      f.forRange(ty, 0, g.outH / 2, 1, [
        transformInputs(f, layout.g, layout.tiles, img, () => f.get(ty), ws + layout.v, "F(2,3)"),
        multiply(f, layout, ws),
        transformOutputs(f, layout, ws + layout.m, output, n, ty, epilogue && reads ? { epilogue, reads } : undefined),
      ]),
    ]),
  ];
}

/**
 * U[p][s, d] = (G g G^T)[p] for every source channel s and result channel d, g the 3x3 taps that
 * multiply source channel s into result channel d: w[ky, kx, s, d] for conv2d, w[2-ky, 2-kx, d, s]
 * for the input gradient (the flipped, transposed filter). Scalar: C * O pairs, once per call.
 */
function transformFilter(f: FunctionBuilder, op: WinogradOp, p: ConvPlan, w: BufferRef, dest: number): Expr[] {
  const S = op === "conv2d" ? p.channels : p.outChannels;
  const D = op === "conv2d" ? p.outChannels : p.channels;
  // The byte offset of tap (ky, kx) of the pair (s, d) from w + s * sStride + d * dStride.
  const sStride = op === "conv2d" ? p.outChannels * 4 : 4;
  const dStride = op === "conv2d" ? 4 : p.outChannels * 4;
  const tap = (ky: number, kx: number) => (op === "conv2d" ? ky * 3 + kx : (2 - ky) * 3 + (2 - kx)) * p.channels * p.outChannels * 4;
  const s = f.local("i32");
  const d = f.local("i32");
  const at = f.local("i32");
  const to = f.local("i32");
  const c = (v: number) => f.i32.const(v);
  const half = () => f.f32.const(0.5);
  const gl = Array.from({ length: 9 }, () => f.local("f32"));
  const ul = Array.from({ length: 12 }, () => f.local("f32"));
  const get = (l: Local) => f.get(l);
  const body: Expr[] = [
    f.set(at, f.i32.add(c(w.offset), f.i32.add(f.i32.mul(f.get(s), c(sStride)), f.i32.mul(f.get(d), c(dStride))))),
    f.set(to, f.i32.add(c(dest), f.i32.mul(f.i32.add(f.i32.mul(f.get(s), c(D)), f.get(d)), c(4)))),
  ];
  for (let ky = 0; ky < 3; ky++) for (let kx = 0; kx < 3; kx++) body.push(f.set(gl[ky * 3 + kx], f.f32.load(tap(ky, kx), 4, f.get(at))));
  // u = G g: rows g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2, per column j.
  for (let j = 0; j < 3; j++) {
    const [g0, g1, g2] = [gl[j], gl[3 + j], gl[6 + j]];
    body.push(
      f.set(ul[j], get(g0)),
      f.set(ul[3 + j], f.f32.mul(f.f32.add(f.f32.add(get(g0), get(g1)), get(g2)), half())),
      f.set(ul[6 + j], f.f32.mul(f.f32.add(f.f32.sub(get(g0), get(g1)), get(g2)), half())),
      f.set(ul[9 + j], get(g2)),
    );
  }
  // U = u G^T, row by row; U[i][j] is position 4 i + j.
  const plane = S * D * 4;
  for (let i = 0; i < 4; i++) {
    const [u0, u1, u2] = [ul[3 * i], ul[3 * i + 1], ul[3 * i + 2]];
    const row = [
      get(u0),
      f.f32.mul(f.f32.add(f.f32.add(get(u0), get(u1)), get(u2)), half()),
      f.f32.mul(f.f32.add(f.f32.sub(get(u0), get(u1)), get(u2)), half()),
      get(u2),
    ];
    row.forEach((value, j) => body.push(f.f32.store((4 * i + j) * plane, 4, f.get(to), value)));
  }
  return [f.forRange(s, 0, S, 1, [f.forRange(d, 0, D, 1, body)])];
}

/** Which transform the input patches take: F(2x2, 3x3)'s (convolutions) or F(3x3, 2x2)'s (filter gradients). */
export type InputTransform = "F(2,3)" | "F(3,2)";

/**
 * V[p][planeTile, c] = (B^T d B)[p] for the tiles of tile row `ty` (d the 4x4 patch of the padded
 * image at (2 ty, 2 tile)), four channels at a time, stored from `dest` (its tiles planeTiles
 * apart per position). The two B^T differ in their last row only: d1 - d3 for F(2x2, 3x3),
 * d3 - d1 for F(3x3, 2x2).
 */
export function transformInputs(f: FunctionBuilder, g: PaddedGeometry, planeTiles: number, img: Local, ty: () => Expr, dest: number, transform: InputTransform): Expr {
  const C4 = g.srcC * 4;
  const tx = f.local("i32");
  const a = f.local("i32");
  const to = f.local("i32");
  const c = (v: number) => f.i32.const(v);
  const dl = Array.from({ length: 16 }, () => f.local("v128"));
  const tl = Array.from({ length: 16 }, () => f.local("v128"));
  const get = (l: Local) => f.get(l);
  const add = (x: Expr, y: Expr) => f.f32x4.add(x, y);
  const sub = (x: Expr, y: Expr) => f.f32x4.sub(x, y);
  const last = (x1: Local, x3: Local) => (transform === "F(2,3)" ? sub(get(x1), get(x3)) : sub(get(x3), get(x1)));
  const body: Expr[] = [
    f.set(a, f.i32.add(f.get(img), f.i32.mul(f.i32.add(f.i32.mul(ty(), c(2 * g.wp)), f.i32.mul(f.get(tx), c(2))), c(C4)))),
    f.set(to, f.i32.add(c(dest), f.i32.mul(f.get(tx), c(C4)))),
  ];
  for (let cv = 0; cv < g.srcC / 4; cv++) {
    for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) body.push(f.set(dl[4 * i + j], f.v128.load(((i * g.wp + j) * g.srcC + 4 * cv) * 4, 4, f.get(a))));
    // t = B^T d, column by column: d0 - d2, d1 + d2, d2 - d1, and the last row.
    for (let j = 0; j < 4; j++) {
      const [d0, d1, d2, d3] = [dl[j], dl[4 + j], dl[8 + j], dl[12 + j]];
      body.push(
        f.set(tl[j], sub(get(d0), get(d2))),
        f.set(tl[4 + j], add(get(d1), get(d2))),
        f.set(tl[8 + j], sub(get(d2), get(d1))),
        f.set(tl[12 + j], last(d1, d3)),
      );
    }
    // V = t B, row by row, stored at position 4 i + j.
    for (let i = 0; i < 4; i++) {
      const [t0, t1, t2, t3] = [tl[4 * i], tl[4 * i + 1], tl[4 * i + 2], tl[4 * i + 3]];
      [sub(get(t0), get(t2)), add(get(t1), get(t2)), sub(get(t2), get(t1)), last(t1, t3)].forEach((value, j) =>
        body.push(f.v128.store((4 * i + j) * planeTiles * C4 + 16 * cv, 4, f.get(to), value)));
    }
  }
  return f.forRange(tx, 0, g.outW / 2, 1, body);
}

/**
 * M[p][tile, o] = sum_s V[p][tile, s] U[p][s, o] for the 16 positions: per position a GEMM of
 * the row's tiles by the channels, in blocks of MR tiles x up to 16 output channels in registers.
 */
function multiply(f: FunctionBuilder, layout: WinogradLayout, ws: number): Expr {
  const { g, tiles } = layout;
  const S = g.srcC;
  const O = g.outC;
  const c = (v: number) => f.i32.const(v);
  const planes: Plane[] = [[ws + layout.v, tiles * S * 4], [ws + layout.u, S * O * 4], [ws + layout.m, tiles * O * 4]];
  return perPositionBlocks(f, planes, tiles, O, (rows, t0, c0, vectors, [a, b, m]) => productMicro(f, S, O, rows, vectors, c0,
    f.i32.add(f.get(a), f.i32.mul(t0(), c(S * 4))), f.get(b), f.i32.add(f.get(m), f.i32.mul(t0(), c(O * 4)))));
}

/** A matrix per transform position: the first one's address, and the bytes from one to the next. */
export type Plane = readonly [start: number, stride: number];

/**
 * The 16 positions' GEMMs, one loop iteration per position p with a local per plane holding its
 * matrix (start + p * stride): `rows` rows of the result in blocks of MR (rowsFor; a static tail
 * block for the rest), each block times every chunk of the O columns (chunks), by `micro`.
 */
export function perPositionBlocks(f: FunctionBuilder, planes: readonly Plane[], rows: number, O: number,
  micro: (rows: number, first: () => Expr, c0: number, vectors: number, bases: readonly Local[]) => Expr[]): Expr {
  const pos = f.local("i32");
  const block = f.local("i32");
  const c = (v: number) => f.i32.const(v);
  const bases = planes.map(() => f.local("i32"));
  const body: Expr[] = planes.map(([start, stride], k) => f.set(bases[k], f.i32.add(c(start), f.i32.mul(f.get(pos), c(stride)))));
  for (const [c0, vectors] of chunks(O)) {
    const mr = rowsFor(vectors);
    const full = Math.floor(rows / mr);
    const rest = rows - full * mr;
    if (full > 0) body.push(f.forRange(block, 0, full, 1, micro(mr, () => f.i32.mul(f.get(block), c(mr)), c0, vectors, bases)));
    if (rest > 0) body.push(...micro(rest, () => c(full * mr), c0, vectors, bases));
  }
  return f.forRange(pos, 0, POSITIONS, 1, body);
}

/**
 * out[r, c0 + 4q ..] = sum_k A[r, k] B[k, c0 + 4q ..] for `rows` rows of A (S floats apart) and
 * `vectors` f32x4 columns of B (O floats apart). A loop over k, one step per iteration, as in
 * conv-padded.ts's micro-kernel: unrolled over the depth, V8 spills the accumulators.
 */
function productMicro(f: FunctionBuilder, S: number, O: number, rows: number, vectors: number, c0: number, aAt: Expr, bAt: Expr, outAt: Expr): Expr[] {
  const acc = Array.from({ length: rows }, () => Array.from({ length: vectors }, () => f.local("v128")));
  const bv = Array.from({ length: vectors }, () => f.local("v128"));
  const av = f.local("v128");
  const a = f.local("i32");
  const b = f.local("i32");
  const k = f.local("i32");
  const dst = f.local("i32");
  const c = (v: number) => f.i32.const(v);
  const step = outerProductStep(f, acc, bv, av, (q) => f.v128.load((c0 + 4 * q) * 4, 4, f.get(b)), (r) => f.v128.load32_splat(r * S * 4, 4, f.get(a)));
  return [
    ...acc.flat().map((r) => f.set(r, f.v128.const(new Array(16).fill(0)))),
    f.set(a, aAt),
    f.set(b, bAt),
    f.set(k, c(S)),
    f.countDown(k, [...step, f.set(a, f.i32.add(f.get(a), c(4))), f.set(b, f.i32.add(f.get(b), c(O * 4)))]),
    f.set(dst, outAt),
    ...acc.flatMap((row, r) => row.map((v, q) => f.v128.store((r * O + c0 + 4 * q) * 4, 4, f.get(dst), f.get(v)))),
  ];
}

/** A fusedConv2d's epilogue run before the store, and how it reads its extra operands. */
interface StoreEpilogue {
  readonly epilogue: Epilogue;
  readonly reads: readonly ExtraRead[];
}

/** out[2 ty + i, 2 tile + j, o] = (A^T M A)[i, j] for the row's tiles, four channels at a time. */
function transformOutputs(f: FunctionBuilder, layout: WinogradLayout, src: number, out: BufferRef, n: Local, ty: Local, epi?: StoreEpilogue): Expr {
  const { g, tiles } = layout;
  const O = g.outC;
  const O4 = O * 4;
  const tx = f.local("i32");
  const from = f.local("i32");
  const to = f.local("i32");
  const c = (v: number) => f.i32.const(v);
  const ml = Array.from({ length: 16 }, () => f.local("v128"));
  const sl = Array.from({ length: 8 }, () => f.local("v128"));
  const yl = f.local("v128");
  const get = (l: Local) => f.get(l);
  const add = (x: Expr, y: Expr) => f.f32x4.add(x, y);
  const sub = (x: Expr, y: Expr) => f.f32x4.sub(x, y);
  const body: Expr[] = [
    f.set(from, f.i32.add(c(src), f.i32.mul(f.get(tx), c(O4)))),
    // out + ((n * outH + 2 ty) * outW + 2 tx) * O * 4
    f.set(to, f.i32.add(c(out.offset), f.i32.mul(f.i32.add(f.i32.mul(f.i32.add(f.i32.mul(f.get(n), c(g.outH)), f.i32.mul(f.get(ty), c(2))), c(g.outW)), f.i32.mul(f.get(tx), c(2))), c(O4)))),
  ];
  for (let ov = 0; ov < O / 4; ov++) {
    for (let p = 0; p < POSITIONS; p++) body.push(f.set(ml[p], f.v128.load(p * tiles * O4 + 16 * ov, 4, f.get(from))));
    // s = A^T M, column by column: m0 + m1 + m2, m1 - m2 - m3.
    for (let j = 0; j < 4; j++) {
      const [m0, m1, m2, m3] = [ml[j], ml[4 + j], ml[8 + j], ml[12 + j]];
      body.push(f.set(sl[j], add(add(get(m0), get(m1)), get(m2))), f.set(sl[4 + j], sub(sub(get(m1), get(m2)), get(m3))));
    }
    // Y = s A, row by row.
    for (let i = 0; i < 2; i++) {
      const [s0, s1, s2, s3] = [sl[4 * i], sl[4 * i + 1], sl[4 * i + 2], sl[4 * i + 3]];
      [add(add(get(s0), get(s1)), get(s2)), sub(sub(get(s1), get(s2)), get(s3))].forEach((value, j) => {
        const offset = (i * g.outW + j) * O4 + 16 * ov;
        if (!epi) {
          body.push(f.v128.store(offset, 4, f.get(to), value));
          return;
        }
        // The epilogue may read its operand more than once: from a local.
        body.push(f.set(yl, value));
        const L = new Lanes(f, 4);
        const extras = epi.reads.map((e) => () => e.perChannel ? f.v128.load(e.ref.offset + 16 * ov, 4, c(0)) : f.v128.load32_splat(e.ref.offset, 4, c(0)));
        const result = epi.epilogue.fn(L, [() => f.get(yl), ...extras]);
        body.push(...L.body.splice(0), f.v128.store(offset, 4, f.get(to), result));
      });
    }
  }
  return f.forRange(tx, 0, tiles, 1, body);
}
