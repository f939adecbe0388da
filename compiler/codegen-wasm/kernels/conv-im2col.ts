// The column matrix of a convolution (see conv-plan.ts): im2col copies each output pixel's window
// of one channel group into a row, zeros where the window covers padding; col2im is its
// transpose, adding each row back into the pixels it came from (conv2dBackpropInput).
//
// Row r of a block is output pixel p0 + r; its columns run over (ky, kx, channel of the group),
// the order of the filter's rows, so column matrix x filter is the convolution. Both walk a block
// row by row with running pointers; channel runs move with f32x4 loads and stores.

import { DTYPE_BYTES, type DType } from "../../ir/types.ts";
import type { Expr, FunctionBuilder, Local } from "../module.ts";
import { loadLanes, loadScalar } from "./access.ts";
import type { ConvPlan } from "./conv-plan.ts";
import { Lanes } from "./lanes.ts";
import { axisNeedsCheck } from "./window-loops.ts";

type Addr = () => Expr;

/** Vector-at-a-time loops longer than this many f32x4 are emitted as loops rather than unrolled. */
const UNROLL_VECTORS = 8;

/**
 * `count` f32 values widened from `src` (f16/bf16 elements) into the f32 run at `dst`: im2col of
 * a 16-bit image into its f32 column buffer.
 */
function widenRun(f: FunctionBuilder, dst: Addr, src: Addr, count: number, dtype: DType): Expr[] {
  const eb = DTYPE_BYTES[dtype];
  const vectors = Math.floor(count / 4);
  const L4 = new Lanes(f, 4);
  const L1 = new Lanes(f, 1);
  const at = (a: Addr, off: number) => (off === 0 ? a() : f.i32.add(a(), f.i32.const(off)));
  const out: Expr[] = [];
  const vec = (d: Addr, s: Addr, q: number) => {
    const value = loadLanes(L4, dtype, at(s, 4 * q * eb));
    return [...L4.body.splice(0), f.v128.store(16 * q, 4, d(), value)];
  };
  if (vectors <= UNROLL_VECTORS) {
    for (let q = 0; q < vectors; q++) out.push(...vec(dst, src, q));
  } else {
    const d = f.local("i32");
    const s = f.local("i32");
    const n = f.local("i32");
    out.push(
      f.set(d, dst()),
      f.set(s, src()),
      f.set(n, f.i32.const(vectors)),
      f.countDown(n, [
        ...vec(() => f.get(d), () => f.get(s), 0),
        f.set(d, f.i32.add(f.get(d), f.i32.const(16))),
        f.set(s, f.i32.add(f.get(s), f.i32.const(4 * eb))),
      ]),
    );
  }
  for (let i = vectors * 4; i < count; i++) {
    const value = loadScalar(L1, dtype, at(src, i * eb));
    out.push(...L1.body.splice(0), f.storeF32(at(dst, 4 * i), value));
  }
  return out;
}

/**
 * `count` floats at dst, each `op(dst value, src value)` (or a plain copy / zero when op says
 * so). Addresses are thunks so each use builds fresh expressions.
 */
function floatRun(f: FunctionBuilder, dst: Addr, src: Addr | null, count: number, mode: "copy" | "zero" | "add"): Expr[] {
  const vec = (at: Expr, off: number, s: Expr | null): Expr => {
    if (mode === "zero") return f.v128.store(off, 4, at, f.v128.const(new Array(16).fill(0)));
    if (mode === "copy") return f.v128.store(off, 4, at, f.v128.load(off, 4, s!));
    return f.v128.store(off, 4, at, f.f32x4.add(f.v128.load(off, 4, dst()), f.v128.load(off, 4, s!)));
  };
  const one = (off: number): Expr => {
    const at = f.i32.add(dst(), f.i32.const(off));
    if (mode === "zero") return f.storeF32(at, f.f32.const(0));
    const from = f.loadF32(f.i32.add(src!(), f.i32.const(off)));
    return f.storeF32(at, mode === "copy" ? from : f.f32.add(f.loadF32(f.i32.add(dst(), f.i32.const(off))), from));
  };
  const vectors = Math.floor(count / 4);
  const out: Expr[] = [];
  if (vectors <= UNROLL_VECTORS) {
    for (let q = 0; q < vectors; q++) out.push(vec(dst(), 16 * q, src ? src() : null));
  } else {
    const d = f.local("i32");
    const s = f.local("i32");
    const n = f.local("i32");
    out.push(
      f.set(d, dst()),
      ...(src ? [f.set(s, src())] : []),
      f.set(n, f.i32.const(vectors)),
      f.countDown(n, [
        mode === "add"
          ? f.v128.store(0, 4, f.get(d), f.f32x4.add(f.v128.load(0, 4, f.get(d)), f.v128.load(0, 4, f.get(s))))
          : vec(f.get(d), 0, src ? f.get(s) : null),
        f.set(d, f.i32.add(f.get(d), f.i32.const(16))),
        ...(src ? [f.set(s, f.i32.add(f.get(s), f.i32.const(16)))] : []),
      ]),
    );
  }
  for (let i = vectors * 4; i < count; i++) out.push(one(4 * i));
  return out;
}

export interface BlockLocals {
  /** First output pixel of the block and its number of rows. */
  readonly p0: Local;
  readonly rows: Local;
  /** Channel group. */
  readonly group: Local;
}

/**
 * Walks the rows of a block: for each row, `perTapRow(ky)` sees the locals of the row's pixel and
 * the running column pointer. Shared by im2col and col2im, which differ only in the direction of
 * each run's transfer.
 */
function walkBlock(
  f: FunctionBuilder, p: ConvPlan, x: number, col: Addr, b: BlockLocals,
  transfer: (colAt: Addr, xAt: Addr, count: number) => Expr[],
  padding: ((colAt: Addr, count: number) => Expr[]) | null,
  xBytes = 4,
): Expr {
  const { win } = p;
  const c = (v: number) => f.i32.const(v);
  const r = f.local("i32");
  const pixel = f.local("i32");
  const n = f.local("i32");
  const oy = f.local("i32");
  const ox = f.local("i32");
  const ky = f.local("i32");
  const kx = f.local("i32");
  const iy = f.local("i32");
  const ix = f.local("i32");
  const rowPtr = f.local("i32"); // column buffer, at (r, ky, kx)
  const xPtr = f.local("i32"); // input, at (n, iy, ix, group channel 0)
  const run = p.groupChannels;
  const checkRows = axisNeedsCheck(p.inH, win.outH, win.kernelH, win.strideH, win.dilationH, win.padTop);
  const checkCols = axisNeedsCheck(p.inW, win.outW, win.kernelW, win.strideW, win.dilationW, win.padLeft);
  const tapBytes = 4 * run;
  const colAt: Addr = () => f.get(rowPtr);
  const xAt: Addr = () => f.get(xPtr);
  const advance = (l: Local, bytes: number) => f.set(l, f.i32.add(f.get(l), c(bytes)));
  const inputPixel = () =>
    f.i32.add(f.i32.mul(f.i32.add(f.i32.mul(f.get(n), c(p.inH)), f.get(iy)), c(p.inW)), f.get(ix));
  const setXPtr = () => f.set(xPtr, f.i32.add(
    f.i32.mul(inputPixel(), c(xBytes * p.channels)),
    f.i32.add(f.i32.mul(f.get(b.group), c(xBytes * run)), c(x)),
  ));
  // One tap: transfer its channel run, or zeros when it lies in the padding.
  const tap = (checked: boolean): Expr[] => {
    const moved = [setXPtr(), ...transfer(colAt, xAt, run)];
    return [
      f.set(ix, f.i32.add(f.i32.sub(f.i32.mul(f.get(ox), c(win.strideW)), c(win.padLeft)), f.i32.mul(f.get(kx), c(win.dilationW)))),
      ...(checked ? [f.if(f.i32.lt_u(f.get(ix), c(p.inW)), moved, padding ? padding(colAt, run) : undefined)] : moved),
      advance(rowPtr, tapBytes),
    ];
  };
  // A whole kernel row in one run when its taps are adjacent in memory (groups = 1, dilation 1).
  const wholeRow = p.groups === 1 && win.dilationW === 1;
  const rowOfTaps = (): Expr[] => {
    const perTap = [f.forRange(kx, 0, win.kernelW, 1, tap(checkCols))];
    if (!wholeRow) return perTap;
    const firstColumn = f.set(ix, f.i32.sub(f.i32.mul(f.get(ox), c(win.strideW)), c(win.padLeft)));
    const contiguous = [setXPtr(), ...transfer(colAt, xAt, win.kernelW * run), advance(rowPtr, win.kernelW * tapBytes)];
    if (!checkCols) return [firstColumn, ...contiguous];
    const inside = f.i32.and(f.i32.ge_s(f.get(ix), c(0)), f.i32.le_s(f.i32.add(f.get(ix), c(win.kernelW)), c(p.inW)));
    return [firstColumn, f.if(inside, contiguous, perTap)];
  };
  const kernelRowBytes = win.kernelW * tapBytes;
  return f.block([
    f.set(rowPtr, col()),
    f.forDynamic(r, c(0), f.get(b.rows), c(1), [
      f.set(pixel, f.i32.add(f.get(b.p0), f.get(r))),
      f.set(n, f.i32.div_u(f.get(pixel), c(win.outH * win.outW))),
      f.set(oy, f.i32.rem_u(f.i32.div_u(f.get(pixel), c(win.outW)), c(win.outH))),
      f.set(ox, f.i32.rem_u(f.get(pixel), c(win.outW))),
      f.forRange(ky, 0, win.kernelH, 1, [
        f.set(iy, f.i32.add(f.i32.sub(f.i32.mul(f.get(oy), c(win.strideH)), c(win.padTop)), f.i32.mul(f.get(ky), c(win.dilationH)))),
        ...(checkRows
          ? [f.if(f.i32.lt_u(f.get(iy), c(p.inH)), rowOfTaps(), [
            ...(padding ? padding(colAt, win.kernelW * run) : []),
            advance(rowPtr, kernelRowBytes),
          ])]
          : rowOfTaps()),
      ]),
    ]),
  ]);
}

/** Fills the block's f32 column buffer at `col` from the input at byte offset `x`, stored as `dtype` (widened). */
export function emitIm2col(f: FunctionBuilder, p: ConvPlan, x: number, col: Addr, b: BlockLocals, dtype: DType = "f32"): Expr {
  const copy = dtype === "f32"
    ? (colAt: Addr, xAt: Addr, count: number) => floatRun(f, colAt, xAt, count, "copy")
    : (colAt: Addr, xAt: Addr, count: number) => widenRun(f, colAt, xAt, count, dtype);
  return walkBlock(f, p, x, col, b, copy, (colAt, count) => floatRun(f, colAt, null, count, "zero"), DTYPE_BYTES[dtype]);
}

/** Adds the block's column buffer at `col` into the image gradient at byte offset `dx`. */
export function emitCol2imAdd(f: FunctionBuilder, p: ConvPlan, dx: number, col: Addr, b: BlockLocals): Expr {
  return walkBlock(f, p, dx, col, b, (colAt, xAt, count) => floatRun(f, xAt, colAt, count, "add"), null);
}
