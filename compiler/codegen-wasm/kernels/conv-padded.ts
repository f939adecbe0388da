// Direct convolutions over a zero-padded copy of one image at a time, for stride-1, undilated,
// ungrouped convolutions with few channels (a small CNN's layers: 1 -> 8 and 8 -> 16 channels):
// all three ops, with no column buffer and no packing.
//
// Each image is copied into the workspace with its padding as zeros (rows by memory.copy, the
// borders by memory.fill; an unpadded image is read in place). In the padded image, the inputs
// of the taps (kx, c) of one kernel row are a contiguous run of kw*C floats at
// ((oy + ky) * Wp + ox) * C, and the filter rows w[ky, kx, c, :] are contiguous too, so every
// sum below is a register-blocked GEMM micro-kernel over such a run, reading both operands where
// they lie:
//
//   conv2d                out[px, o]   = sum_ky sum_(kx,c) xp[px + (ky, kx), c] w[ky, kx, c, o]
//                         MR adjacent output pixels x up to 16 output channels in f32x4 registers
//   conv2dBackpropInput   the same kernel over dy padded by (k - 1 - pad), with the filter
//                         flipped and transposed into the workspace (w'[ky', kx', o, c])
//   conv2dBackpropFilter  dw[ky, (kx,c), o] += sum_px xp[px + (ky, kx), c] dy[px, o]
//                         MR taps (kx, c) x up to 16 output channels, over every pixel of the image
//
// A fusedConv2d's epilogue whose extra operands are per-channel vectors or scalars (a bias add)
// runs on the accumulators before they are stored (registerEpilogue): the same f32 operations on
// the same rounded product as the separate pass over the output, without that pass.
//
// Why: with depth kh*kw*C of 9..72 and 8..16 output channels the im2col GEMM spends more time
// building and packing the column buffer than multiplying, and its 4 x 8 tiles leave 16 output
// channels in two tiles' edge handling; here each operand is read from where it lies and the
// padded image of a 28x28 or 14x14 layer stays in L1.

import { DTYPE_BYTES, numel, type TensorType } from "../../ir/types.ts";
import type { BufferRef, KernelArgs } from "../kernel.ts";
import type { Expr, FunctionBuilder, Local } from "../module.ts";
import type { ConvPlan } from "./conv-plan.ts";
import { outerProductStep } from "./gemm-core.ts";
import { Lanes } from "./lanes.ts";
import type { Epilogue } from "./matmul.ts";

export type PaddedConvOp = "conv2d" | "conv2dBackpropInput" | "conv2dBackpropFilter";

/** Most input and most output channels (forward sense) the padded kernels take. */
export const PADDED_MAX_CHANNELS = 32;
/** The padded image (and the input gradient's flipped filter) must fit this workspace. */
const PADDED_MAX_WORKSPACE_BYTES = 128 * 1024;
/** f32x4 accumulators a micro-kernel keeps (x64 has 16 vector registers; operands take the rest). */
const ACCUMULATORS = 8;
/** Output channels per micro-kernel call: four f32x4 registers. */
const CHUNK_VECTORS = 4;

/** The sliding window the kernels run: a "valid" stride-1 window over the padded source image. */
export interface PaddedGeometry {
  readonly images: number;
  /** The source image (x, or dy for the input gradient): rows, columns, channels. */
  readonly srcH: number;
  readonly srcW: number;
  readonly srcC: number;
  /** Zero rows above and columns left of the source in the padded image. */
  readonly padTop: number;
  readonly padLeft: number;
  /** The padded image. */
  readonly hp: number;
  readonly wp: number;
  readonly kh: number;
  readonly kw: number;
  /** The window's output: rows, columns (out / dx for the GEMM-like ops; dy's for the filter gradient). */
  readonly outH: number;
  readonly outW: number;
  /** Channels of the result the registers hold: O (conv2d, the filter gradient) or C (the input gradient). */
  readonly outC: number;
}

export function geometry(op: PaddedConvOp, p: ConvPlan): PaddedGeometry {
  const { win } = p;
  const common = { images: p.batch, kh: p.kernelH, kw: p.kernelW };
  if (op === "conv2dBackpropInput") {
    // dx[y, x, c] = sum dy[y + padTop - ky, x + padLeft - kx, o] w[ky, kx, c, o]: a valid window
    // over dy padded by k - 1 - pad, with the filter flipped.
    return {
      ...common, srcH: win.outH, srcW: win.outW, srcC: p.outChannels,
      padTop: p.kernelH - 1 - win.padTop, padLeft: p.kernelW - 1 - win.padLeft,
      hp: p.inH + p.kernelH - 1, wp: p.inW + p.kernelW - 1, outH: p.inH, outW: p.inW, outC: p.channels,
    };
  }
  return {
    ...common, srcH: p.inH, srcW: p.inW, srcC: p.channels, padTop: win.padTop, padLeft: win.padLeft,
    hp: win.outH + p.kernelH - 1, wp: win.outW + p.kernelW - 1, outH: win.outH, outW: win.outW, outC: p.outChannels,
  };
}

export const padded = (g: PaddedGeometry) => g.padTop > 0 || g.padLeft > 0 || g.hp !== g.srcH || g.wp !== g.srcW;
export const imageBytes = (g: PaddedGeometry) => (padded(g) ? g.hp * g.wp * g.srcC * 4 : 0);
const flippedBytes = (op: PaddedConvOp, p: ConvPlan) => (op === "conv2dBackpropInput" ? p.kernelH * p.kernelW * p.channels * p.outChannels * 4 : 0);
export const align16 = (n: number) => Math.ceil(n / 16) * 16;

/** Whether `op` of this (f32) convolution runs the padded direct kernel. */
export function usesPaddedConv(op: PaddedConvOp, p: ConvPlan): boolean {
  const { win } = p;
  if (p.groups !== 1 || p.strategy !== "im2col" || p.pixels === 0) return false;
  if (win.strideH !== 1 || win.strideW !== 1 || win.dilationH !== 1 || win.dilationW !== 1) return false;
  if (p.channels > PADDED_MAX_CHANNELS || p.outChannels > PADDED_MAX_CHANNELS) return false;
  // Padding past the kernel would crop the input gradient's window; such convolutions are rare.
  if (win.padTop >= p.kernelH || win.padBottom >= p.kernelH || win.padLeft >= p.kernelW || win.padRight >= p.kernelW) return false;
  const g = geometry(op, p);
  if (g.outC % 4 !== 0) return false;
  return paddedWorkspaceBytes(op, p) <= PADDED_MAX_WORKSPACE_BYTES;
}

/** Workspace: [padded image][flipped filter (input gradient)], each 16-byte aligned. */
export function paddedWorkspaceBytes(op: PaddedConvOp, p: ConvPlan): number {
  return align16(imageBytes(geometry(op, p))) + align16(flippedBytes(op, p));
}

/** An extra operand of an epilogue that the registers can read: one value per channel, or one value. */
export type ExtraRead = { readonly ref: BufferRef; readonly perChannel: boolean };

/**
 * How conv2d's `epilogue` reads its extra operands in registers: each must be f32 and either a
 * scalar or vary along the channel axis only (a bias, [O] or [1, 1, 1, O]); undefined otherwise
 * (or for a scalar-only body), and the epilogue then runs as its own pass.
 */
export function registerEpilogue(epilogue: Epilogue, out: TensorType): readonly ExtraRead[] | undefined {
  if (!epilogue.vector) return undefined;
  const O = out.shape[out.shape.length - 1];
  const reads: ExtraRead[] = [];
  for (const e of epilogue.extras) {
    if (e.type.dtype !== "f32") return undefined;
    const n = numel(e.type.shape);
    const last = e.type.shape.length ? e.type.shape[e.type.shape.length - 1] : 1;
    if (n === 1) reads.push({ ref: e, perChannel: false });
    else if (n === O && last === O) reads.push({ ref: e, perChannel: true });
    else return undefined;
  }
  return reads;
}

/** Rows of a micro-kernel for `vectors` f32x4 columns: as many as the accumulators allow. */
export const rowsFor = (vectors: number) => Math.max(1, Math.floor(ACCUMULATORS / vectors));

/** The output channels in chunks of up to CHUNK_VECTORS registers: [first channel, vectors]. */
export function chunks(channels: number): [number, number][] {
  const out: [number, number][] = [];
  for (let c = 0; c < channels; c += 4 * CHUNK_VECTORS) out.push([c, Math.min(CHUNK_VECTORS, (channels - c) / 4)]);
  return out;
}

/** The kernel; for conv2d `epilogue` (a fusedConv2d's, which registerEpilogue accepts) runs before each store. */
export function emitPaddedConv(op: PaddedConvOp, args: KernelArgs, p: ConvPlan, epilogue?: Epilogue): Expr[] {
  const { f, inputs, output } = args;
  if (paddedWorkspaceBytes(op, p) > 0 && args.workspace === undefined) throw new Error(`${op} %${args.node.id}: the padded kernel needs a workspace and the plan gave none`);
  const ws = args.workspace ?? 0;
  const g = geometry(op, p);
  const flipped = ws + align16(imageBytes(g));
  const [first, second] = inputs;
  for (const b of [first, second, output]) if (DTYPE_BYTES[b.type.dtype] !== 4) throw new Error(`${op}: the padded kernel is f32-only`);
  const n = f.local("i32");
  const src = f.local("i32");
  const img = f.local("i32");
  const c = (v: number) => f.i32.const(v);
  const perImage = (body: Expr[]): Expr =>
    f.forRange(n, 0, g.images, 1, [
      f.set(src, f.i32.add(c(first.offset), f.i32.mul(f.get(n), c(g.srcH * g.srcW * g.srcC * 4)))),
      ...(padded(g) ? [...padImage(f, g, src, ws), f.set(img, c(ws))] : [f.set(img, f.get(src))]),
      ...body,
    ]);
  if (op === "conv2dBackpropFilter") {
    return [
      f.fill(output.offset, 0, numel(output.type.shape) * 4),
      perImage(filterGradient(f, g, img, second, output, n)),
    ];
  }
  const filter = op === "conv2d" ? second.offset : flipped;
  return [
    ...(op === "conv2dBackpropInput" ? flipFilter(f, p, second, flipped) : []),
    perImage(slidingProduct(f, g, img, filter, output, n, epilogue && { epilogue, reads: registerEpilogue(epilogue, output.type)! })),
  ];
}

/** Copies image `src` into `ws` with its zero border: [hp, wp, C], the image at (padTop, padLeft). */
export function padImage(f: FunctionBuilder, g: PaddedGeometry, src: Local, ws: number): Expr[] {
  const C4 = g.srcC * 4;
  const rowBytes = g.srcW * C4;
  const pitch = g.wp * C4;
  const gap = (g.wp - g.srcW) * C4; // a row's right border and the next row's left border
  const y = f.local("i32");
  const c = (v: number) => f.i32.const(v);
  const rowAt = (row: Expr) => f.i32.add(c(ws + g.padTop * pitch + g.padLeft * C4), f.i32.mul(row, c(pitch)));
  const srcAt = (row: Expr) => f.i32.add(f.get(src), f.i32.mul(row, c(rowBytes)));
  const last = g.srcH - 1;
  const tail = (g.padTop + last) * pitch + g.padLeft * C4 + rowBytes;
  const out: Expr[] = [];
  if (g.padTop * pitch + g.padLeft * C4 > 0) out.push(f.fill(ws, 0, g.padTop * pitch + g.padLeft * C4));
  if (last > 0) {
    out.push(f.forRange(y, 0, last, 1, [
      f.copyAt(rowAt(f.get(y)), srcAt(f.get(y)), c(rowBytes)),
      ...(gap > 0 ? [f.fillAt(f.i32.add(rowAt(f.get(y)), c(rowBytes)), c(0), c(gap))] : []),
    ]));
  }
  out.push(f.copyAt(rowAt(c(last)), srcAt(c(last)), c(rowBytes)));
  if (g.hp * pitch > tail) out.push(f.fill(ws + tail, 0, g.hp * pitch - tail));
  return out;
}

/** w'[T-1-t, o, c] = w[t, c, o] over the kernel's taps t: the input gradient's filter. */
function flipFilter(f: FunctionBuilder, p: ConvPlan, w: BufferRef, dest: number): Expr[] {
  const C = p.channels;
  const O = p.outChannels;
  const taps = p.kernelH * p.kernelW;
  const t = f.local("i32");
  const o = f.local("i32");
  const ch = f.local("i32");
  const c = (v: number) => f.i32.const(v);
  // dest + ((T-1-t) * O + o) * C + ch  <-  w + (t * C + ch) * O + o
  const to = f.i32.add(c(dest), f.i32.shl(f.i32.add(f.i32.mul(f.i32.add(f.i32.mul(f.i32.sub(c(taps - 1), f.get(t)), c(O)), f.get(o)), c(C)), f.get(ch)), c(2)));
  const from = f.i32.add(c(w.offset), f.i32.shl(f.i32.add(f.i32.mul(f.i32.add(f.i32.mul(f.get(t), c(C)), f.get(ch)), c(O)), f.get(o)), c(2)));
  return [f.forRange(t, 0, taps, 1, [f.forRange(o, 0, O, 1, [f.forRange(ch, 0, C, 1, [f.storeF32(to, f.loadF32(from))])])])];
}

/**
 * conv2d (and the input gradient): every output row of image `n` in blocks of MR adjacent
 * pixels (a static tail block for the rest), each block times every chunk of output channels.
 */
function slidingProduct(f: FunctionBuilder, g: PaddedGeometry, img: Local, filter: number, out: BufferRef, n: Local, epi?: StoreEpilogue): Expr[] {
  const C4 = g.srcC * 4;
  const O = g.outC;
  const oy = f.local("i32");
  const block = f.local("i32");
  const rowA = f.local("i32");
  const rowOut = f.local("i32");
  const c = (v: number) => f.i32.const(v);
  const body: Expr[] = [];
  for (const [c0, vectors] of chunks(O)) {
    const mr = rowsFor(vectors);
    const full = Math.floor(g.outW / mr);
    const rest = g.outW - full * mr;
    // `px()`: the block's first pixel in the row (a fresh expression per use).
    const micro = (rows: number, px: () => Expr) => productMicro(f, g, rows, vectors, f.i32.add(f.get(rowA), f.i32.mul(px(), c(C4))), filter + 4 * c0,
      f.i32.add(f.get(rowOut), f.i32.add(f.i32.mul(px(), c(4 * O)), c(4 * c0))), epi && { ...epi, c0 });
    if (full > 0) body.push(f.forRange(block, 0, full, 1, micro(mr, () => f.i32.mul(f.get(block), c(mr)))));
    if (rest > 0) body.push(...micro(rest, () => c(full * mr)));
  }
  return [f.forRange(oy, 0, g.outH, 1, [
    f.set(rowA, f.i32.add(f.get(img), f.i32.mul(f.get(oy), c(g.wp * C4)))),
    f.set(rowOut, f.i32.add(c(out.offset), f.i32.mul(f.i32.add(f.i32.mul(f.get(n), c(g.outH)), f.get(oy)), c(g.outW * O * 4)))),
    ...body,
  ])];
}

/**
 * out[r, q] = sum_ky sum_i A[ky][r * C + i] B[ky][i, q] for `rows` pixels and `vectors` f32x4
 * columns: A the padded image from `aStart` (row ky at + ky * wp * C), B the filter from `bStart`
 * (row ky at + ky * kw * C * O floats, rows O floats apart). One induction variable `i` (bytes
 * into the A run, starting at 0) addresses both operands, as in gemm-core.ts's micro-kernel.
 */
function productMicro(f: FunctionBuilder, g: PaddedGeometry, rows: number, vectors: number, aStart: Expr, bStart: number, outAt: Expr, epi?: StoreEpilogue & { c0: number }): Expr[] {
  const C4 = g.srcC * 4;
  const O = g.outC;
  const acc = Array.from({ length: rows }, () => Array.from({ length: vectors }, () => f.local("v128")));
  const bv = Array.from({ length: vectors }, () => f.local("v128"));
  const av = f.local("v128");
  const a = f.local("i32");
  const b = f.local("i32");
  const i = f.local("i32");
  const k = f.local("i32");
  const ky = f.local("i32");
  const dst = f.local("i32");
  const c = (v: number) => f.i32.const(v);
  const step = outerProductStep(f, acc, bv, av, (q) => f.v128.load(16 * q, 4, f.i32.add(f.get(b), f.i32.mul(f.get(i), c(O)))),
    (r) => f.v128.load32_splat(r * C4, 4, f.i32.add(f.get(a), f.get(i))));
  return [
    ...acc.flat().map((r) => f.set(r, f.v128.const(new Array(16).fill(0)))),
    f.set(a, aStart),
    f.set(b, c(bStart)),
    f.set(ky, c(g.kh)),
    f.countDown(ky, [
      f.set(i, c(0)),
      f.set(k, c(g.kw * g.srcC)),
      f.countDown(k, [...step, f.set(i, f.i32.add(f.get(i), c(4)))]),
      f.set(a, f.i32.add(f.get(a), c(g.wp * C4))),
      f.set(b, f.i32.add(f.get(b), c(g.kw * g.srcC * O * 4))),
    ]),
    f.set(dst, outAt),
    ...acc.flatMap((row, r) => row.flatMap((v, q) => {
      if (!epi) return [f.v128.store(r * O * 4 + 16 * q, 4, f.get(dst), f.get(v))];
      const L = new Lanes(f, 4);
      const extras = epi.reads.map((e) => () => e.perChannel
        ? f.v128.load(e.ref.offset + 4 * (epi.c0 + 4 * q), 4, c(0))
        : f.v128.load32_splat(e.ref.offset, 4, c(0)));
      const value = epi.epilogue.fn(L, [() => f.get(v), ...extras]);
      return [...L.body.splice(0), f.v128.store(r * O * 4 + 16 * q, 4, f.get(dst), value)];
    })),
  ];
}

/** A fusedConv2d's epilogue run on the accumulators, and how it reads its extra operands. */
interface StoreEpilogue {
  readonly epilogue: Epilogue;
  readonly reads: readonly ExtraRead[];
}

/**
 * conv2dBackpropFilter, image `n`: for each kernel row ky, the run of kw*C taps (kx, c) in
 * groups of MR (a static tail group for the rest), each group times every chunk of output
 * channels, accumulated into dw over the image's output pixels.
 */
function filterGradient(f: FunctionBuilder, g: PaddedGeometry, img: Local, dy: BufferRef, dw: BufferRef, n: Local): Expr[] {
  const run = g.kw * g.srcC;
  const O = g.outC;
  const ky = f.local("i32");
  const group = f.local("i32");
  const rowA = f.local("i32");
  const dyImage = f.local("i32");
  const c = (v: number) => f.i32.const(v);
  const body: Expr[] = [];
  for (const [c0, vectors] of chunks(O)) {
    const mr = rowsFor(vectors);
    const full = Math.floor(run / mr);
    const rest = run - full * mr;
    // Taps [t0, t0 + rows) of kernel row ky: A from rowA + 4 t0, dw rows (ky * run + t0).
    const micro = (rows: number, t0: () => Expr) => filterMicro(f, g, rows, vectors,
      f.i32.add(f.get(rowA), f.i32.shl(t0(), c(2))),
      f.i32.add(f.get(dyImage), c(4 * c0)),
      f.i32.add(c(dw.offset + 4 * c0), f.i32.mul(f.i32.add(f.i32.mul(f.get(ky), c(run)), t0()), c(4 * O))));
    if (full > 0) body.push(f.forRange(group, 0, full, 1, micro(mr, () => f.i32.mul(f.get(group), c(mr)))));
    if (rest > 0) body.push(...micro(rest, () => c(full * mr)));
  }
  return [
    f.set(dyImage, f.i32.add(c(dy.offset), f.i32.mul(f.get(n), c(g.outH * g.outW * O * 4)))),
    f.forRange(ky, 0, g.kh, 1, [
      f.set(rowA, f.i32.add(f.get(img), f.i32.mul(f.get(ky), c(g.wp * g.srcC * 4)))),
      ...body,
    ]),
  ];
}

/**
 * dw[r, q] += sum over the image's output pixels px of A[px][r] dy[px, q], for `rows` taps (A
 * from `aStart`, one float apart; pixel px = (oy, ox) at + (oy * wp + ox) * C) and `vectors`
 * f32x4 columns of dy (from `dyStart`, rows O floats apart).
 */
function filterMicro(f: FunctionBuilder, g: PaddedGeometry, rows: number, vectors: number, aStart: Expr, dyStart: Expr, dwAt: Expr): Expr[] {
  const C4 = g.srcC * 4;
  const O = g.outC;
  const acc = Array.from({ length: rows }, () => Array.from({ length: vectors }, () => f.local("v128")));
  const bv = Array.from({ length: vectors }, () => f.local("v128"));
  const av = f.local("v128");
  const a = f.local("i32");
  const d = f.local("i32");
  const oy = f.local("i32");
  const ox = f.local("i32");
  const dst = f.local("i32");
  const c = (v: number) => f.i32.const(v);
  const step = outerProductStep(f, acc, bv, av, (q) => f.v128.load(16 * q, 4, f.get(d)), (r) => f.v128.load32_splat(4 * r, 4, f.get(a)));
  return [
    f.set(dst, dwAt),
    ...acc.flatMap((row, r) => row.map((v, q) => f.set(v, f.v128.load(r * O * 4 + 16 * q, 4, f.get(dst))))),
    f.set(a, aStart),
    f.set(d, dyStart),
    f.set(oy, c(g.outH)),
    f.countDown(oy, [
      f.set(ox, c(g.outW)),
      f.countDown(ox, [...step, f.set(a, f.i32.add(f.get(a), c(C4))), f.set(d, f.i32.add(f.get(d), c(O * 4)))]),
      f.set(a, f.i32.add(f.get(a), c((g.wp - g.outW) * C4))),
    ]),
    ...acc.flatMap((row, r) => row.map((v, q) => f.v128.store(r * O * 4 + 16 * q, 4, f.get(dst), f.get(v)))),
  ];
}
