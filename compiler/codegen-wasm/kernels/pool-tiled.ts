// maxPool2d and maxPool2dGrad over windows that tile the input (stride = size, no padding: the
// usual 2x2 pooling of a CNN), f32 with channels a multiple of 4. Every tap of every window is
// in bounds and belongs to one window only, so the taps are unrolled at constant offsets from the
// window's corner, and the gradient stores each input pixel's dx once (dy where the tap won, zero
// elsewhere) instead of zeroing dx and adding into it. Semantics are pool.ts's: the max
// propagates NaN (f32x4.max), the winner is the first maximum in window order and a NaN beats a
// number (the reference's beatsMax).

import { poolWindow } from "../../ir/ops/nn.ts";
import type { Window2d } from "../../ir/ops/window.ts";
import { numel, type Shape } from "../../ir/types.ts";
import type { KernelArgs } from "../kernel.ts";
import type { Expr, FunctionBuilder, Local } from "../module.ts";
import { forEachOutputPixel, type PixelLocals } from "./window-loops.ts";

/** Whether a max pooling (or its gradient) over input `x` runs the tiled kernel. */
export function usesTiledPool(op: "maxPool2d" | "maxPool2dGrad", a: KernelArgs, x: Shape): boolean {
  if (a.inputs.some((i) => i.type.dtype !== "f32") || a.output.type.dtype !== "f32" || x[3] % 4 !== 0) return false;
  const w = poolWindow(op, x, a.node.attrs);
  return w.strideH === w.kernelH && w.strideW === w.kernelW && w.dilationH === 1 && w.dilationW === 1 &&
    w.padTop === 0 && w.padBottom === 0 && w.padLeft === 0 && w.padRight === 0 && w.outH > 0 && w.outW > 0;
}

interface Tiling {
  readonly geometry: { batch: number; inH: number; inW: number; win: Window2d };
  readonly c4: number;
  /** Byte offsets of the taps from the window's corner, in window order. */
  readonly taps: readonly number[];
}

function tiling(op: string, a: KernelArgs, x: Shape): Tiling {
  const win = poolWindow(op, x, a.node.attrs);
  const c4 = x[3] * 4;
  const taps: number[] = [];
  for (let ky = 0; ky < win.kernelH; ky++) for (let kx = 0; kx < win.kernelW; kx++) taps.push((ky * x[2] + kx) * c4);
  return { geometry: { batch: x[0], inH: x[1], inW: x[2], win }, c4, taps };
}

/** Sets `corner` to the byte offset of the current window's top-left input pixel. */
function cornerOf(f: FunctionBuilder, t: Tiling, px: PixelLocals, corner: Local): Expr {
  const { inH, inW, win } = t.geometry;
  const c = (v: number) => f.i32.const(v);
  const row = f.i32.add(f.i32.mul(f.get(px.n), c(inH)), f.i32.mul(f.get(px.oy), c(win.kernelH)));
  return f.set(corner, f.i32.mul(f.i32.add(f.i32.mul(row, c(inW)), f.i32.mul(f.get(px.ox), c(win.kernelW))), c(t.c4)));
}

/** `body(lane)` for every f32x4 of a pixel's channels (`lane()`: its byte offset, a fresh expression). */
function forEachVector(f: FunctionBuilder, c4: number, body: (lane: () => Expr) => Expr[]): Expr[] {
  if (c4 === 16) return body(() => f.i32.const(0));
  const v = f.local("i32");
  return [f.forRange(v, 0, c4, 16, body(() => f.get(v)))];
}

export function emitTiledMaxPool(a: KernelArgs): Expr[] {
  const { f, inputs: [x], output } = a;
  const t = tiling("maxPool2d", a, x.type.shape);
  const corner = f.local("i32");
  const best = f.local("v128");
  return [forEachOutputPixel(f, t.geometry, (px) => [
    cornerOf(f, t, px, corner),
    ...forEachVector(f, t.c4, (lane) => {
      const at = () => f.i32.add(f.get(corner), lane());
      return [
        f.set(best, f.v128.load(x.offset + t.taps[0], 4, at())),
        ...t.taps.slice(1).map((off) => f.set(best, f.f32x4.max(f.get(best), f.v128.load(x.offset + off, 4, at())))),
        f.v128.store(output.offset, 4, f.i32.add(f.i32.mul(f.get(px.pixel), f.i32.const(t.c4)), lane()), f.get(best)),
      ];
    }),
  ])];
}

export function emitTiledMaxPoolGrad(a: KernelArgs): Expr[] {
  const { f, inputs: [x, dy], output: dx } = a;
  const t = tiling("maxPool2dGrad", a, x.type.shape);
  const { inH, inW, win } = t.geometry;
  const corner = f.local("i32");
  const best = f.local("v128");
  const winner = f.local("v128");
  const v = f.local("v128");
  const mask = f.local("v128");
  const grad = f.local("v128");
  // Rows or columns past the last window get no gradient.
  const covered = win.outH * win.kernelH === inH && win.outW * win.kernelW === inW;
  return [
    ...(covered ? [] : [f.fill(dx.offset, 0, numel(dx.type.shape) * 4)]),
    forEachOutputPixel(f, t.geometry, (px) => [
      cornerOf(f, t, px, corner),
      ...forEachVector(f, t.c4, (lane) => {
        const at = () => f.i32.add(f.get(corner), lane());
        const winnerIs = (k: number) => f.i32x4.eq(f.get(winner), f.i32x4.splat(f.i32.const(k)));
        return [
          f.set(best, f.v128.load(x.offset + t.taps[0], 4, at())),
          f.set(winner, f.i32x4.splat(f.i32.const(0))),
          ...t.taps.slice(1).flatMap((off, j) => [
            f.set(v, f.v128.load(x.offset + off, 4, at())),
            // A larger value, or the first NaN over a number, takes the window.
            f.set(mask, f.v128.or(
              f.f32x4.gt(f.get(v), f.get(best)),
              f.v128.and(f.f32x4.ne(f.get(v), f.get(v)), f.f32x4.eq(f.get(best), f.get(best))),
            )),
            f.set(best, f.v128.bitselect(f.get(v), f.get(best), f.get(mask))),
            f.set(winner, f.v128.bitselect(f.i32x4.splat(f.i32.const(j + 1)), f.get(winner), f.get(mask))),
          ]),
          f.set(grad, f.v128.load(dy.offset, 4, f.i32.add(f.i32.mul(f.get(px.pixel), f.i32.const(t.c4)), lane()))),
          ...t.taps.map((off, k) => f.v128.store(dx.offset + off, 4, at(), f.v128.and(f.get(grad), winnerIs(k)))),
        ];
      }),
    ]),
  ];
}
