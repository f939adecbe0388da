// Loop nests shared by the window kernels (depthwise convolution, pooling and their gradients):
// output pixels, the in-bounds taps of each pixel's window, and channel chunks. Geometry comes
// from the op records' Window2d (compiler/ir/ops/window.ts), so every kernel walks exactly the
// windows the interpreter walks. Sizes are compile-time constants; only the loop counters and
// the addresses derived from them are run-time values.
//
// NHWC keeps a pixel's channels contiguous, so the innermost work is over channels, 16 at a
// time (four f32x4 registers), then 4, then one.

import type { Window2d } from "../../ir/ops/window.ts";
import type { Expr, FunctionBuilder, Local } from "../module.ts";

export interface WindowGeometry {
  readonly batch: number;
  readonly inH: number;
  readonly inW: number;
  readonly win: Window2d;
}

/** Loop counters of the current output pixel; `pixel` is its flat index (n, oy, ox). */
export interface PixelLocals {
  readonly n: Local;
  readonly oy: Local;
  readonly ox: Local;
  readonly pixel: Local;
}

/** Runs `body` for every output pixel in row-major (n, oy, ox) order. */
export function forEachOutputPixel(f: FunctionBuilder, g: WindowGeometry, body: (px: PixelLocals) => Expr[]): Expr {
  const px: PixelLocals = { n: f.local("i32"), oy: f.local("i32"), ox: f.local("i32"), pixel: f.local("i32") };
  return f.block([
    f.set(px.pixel, f.i32.const(0)),
    f.forRange(px.n, 0, g.batch, 1, [
      f.forRange(px.oy, 0, g.win.outH, 1, [
        f.forRange(px.ox, 0, g.win.outW, 1, [
          ...body(px),
          f.set(px.pixel, f.i32.add(f.get(px.pixel), f.i32.const(1))),
        ]),
      ]),
    ]),
  ]);
}

/** The current tap: kernel position and the flat index of the input pixel it reads. */
export interface TapLocals {
  readonly ky: Local;
  readonly kx: Local;
  readonly inPixel: Local;
}

/** Whether some window reaches past the input along an axis (so taps need a bounds check). */
export function axisNeedsCheck(inSize: number, out: number, kernel: number, stride: number, dilation: number, padBefore: number): boolean {
  return padBefore > 0 || (out - 1) * stride + (kernel - 1) * dilation >= inSize;
}

/**
 * Runs `body` for every tap of the current pixel's window that lies inside the input, in window
 * order (rows, then columns), skipping padding. Bounds checks are emitted only along axes where
 * some window reaches into padding.
 */
export function forEachTap(f: FunctionBuilder, g: WindowGeometry, px: PixelLocals, body: (tap: TapLocals) => Expr[]): Expr {
  const { win } = g;
  const tap: TapLocals = { ky: f.local("i32"), kx: f.local("i32"), inPixel: f.local("i32") };
  const iy = f.local("i32");
  const ix = f.local("i32");
  const c = (v: number) => f.i32.const(v);
  // input coordinate = out * stride - padBefore + k * dilation
  const coord = (out: Local, k: Local, stride: number, pad: number, dilation: number) =>
    f.i32.add(f.i32.sub(f.i32.mul(f.get(out), c(stride)), c(pad)), f.i32.mul(f.get(k), c(dilation)));
  const checkRows = axisNeedsCheck(g.inH, win.outH, win.kernelH, win.strideH, win.dilationH, win.padTop);
  const checkCols = axisNeedsCheck(g.inW, win.outW, win.kernelW, win.strideW, win.dilationW, win.padLeft);
  const guarded = (check: boolean, v: Local, size: number, stmts: Expr[]): Expr[] =>
    check ? [f.if(f.i32.lt_u(f.get(v), c(size)), stmts)] : stmts;
  const inner = [
    f.set(ix, coord(px.ox, tap.kx, win.strideW, win.padLeft, win.dilationW)),
    ...guarded(checkCols, ix, g.inW, [
      f.set(tap.inPixel, f.i32.add(f.i32.mul(f.i32.add(f.i32.mul(f.get(px.n), c(g.inH)), f.get(iy)), c(g.inW)), f.get(ix))),
      ...body(tap),
    ]),
  ];
  return f.forRange(tap.ky, 0, win.kernelH, 1, [
    f.set(iy, coord(px.oy, tap.ky, win.strideH, win.padTop, win.dilationH)),
    ...guarded(checkRows, iy, g.inH, [f.forRange(tap.kx, 0, win.kernelW, 1, inner)]),
  ]);
}

/**
 * A run of channels starting at channel `c()` (a fresh expression per call): `vectors` f32x4
 * registers (4 or 1), or `vectors` = 0 for a single scalar lane. The run's byte offsets are
 * 4 * c + 16 * q.
 */
export interface ChannelChunk {
  readonly vectors: 0 | 1 | 4;
  readonly c: () => Expr;
}

/**
 * Splits `channels` into runs of 16 (in a loop), then 4, then 1 (unrolled, at most three each)
 * and returns the statements that run `body` on each. `body` is called once per distinct chunk
 * shape and offset, so it must build fresh expressions on each call.
 */
export function forEachChannelChunk(f: FunctionBuilder, channels: number, body: (chunk: ChannelChunk) => Expr[]): Expr[] {
  const out: Expr[] = [];
  const wide = Math.floor(channels / 16) * 16;
  if (wide === 16) out.push(...body({ vectors: 4, c: () => f.i32.const(0) }));
  else if (wide > 16) {
    const c = f.local("i32");
    out.push(f.forRange(c, 0, wide, 16, body({ vectors: 4, c: () => f.get(c) })));
  }
  for (let c = wide; c + 4 <= channels; c += 4) out.push(...body({ vectors: 1, c: () => f.i32.const(c) }));
  for (let c = wide + Math.floor((channels - wide) / 4) * 4; c < channels; c++) out.push(...body({ vectors: 0, c: () => f.i32.const(c) }));
  return out;
}

/**
 * Byte address of channel run `chunk` in the channel vector of flat pixel `pixel` of a tensor at
 * `base` with `channels` channels of `bytes` bytes each.
 */
export function pixelAddress(f: FunctionBuilder, base: number, pixel: Expr, channels: number, chunk: ChannelChunk, bytes = 4): Expr {
  return f.i32.add(f.i32.add(f.i32.mul(pixel, f.i32.const(bytes * channels)), f.i32.shl(chunk.c(), f.i32.const(Math.log2(bytes)))), f.i32.const(base));
}

/** Whether two windows of `win` can share an input pixel (so gradients add up there). */
export function windowsOverlap(win: Window2d): boolean {
  return win.strideH < (win.kernelH - 1) * win.dilationH + 1 || win.strideW < (win.kernelW - 1) * win.dilationW + 1;
}
