// Direct conv2d for few input channels (an image's first layer: 1 or 3 channels), with the output
// channels held in f32x4 registers: for each output pixel, each in-bounds tap and each input
// channel, one input value is splatted and multiplied into every output-channel register by the
// filter row w[ky, kx, c, :] (contiguous in conv2d's [kh, kw, C, O] layout).
//
// Why: with C <= 4 the im2col GEMM has depth kh*kw*C = 9..36, too shallow to amortise building
// the column buffer and packing it (the copies cost as much as the products); the direct loop
// reads each input value once per tap and writes each output once, with no scratch memory.
// Stride-1 undilated convolutions (the CNN example's first layer) run conv-padded.ts's kernel
// instead, which needs no bounds checks; this one takes the strided and dilated ones.

import { DTYPE_BYTES } from "../../ir/types.ts";
import type { KernelArgs } from "../kernel.ts";
import { loadScalar } from "./access.ts";
import { Lanes } from "./lanes.ts";
import type { Expr, Local } from "../module.ts";
import type { ConvPlan } from "./conv-plan.ts";
import { forEachOutputPixel, forEachTap } from "./window-loops.ts";

/** Most input channels the direct kernel takes, and most output channels (O / 4 registers). */
export const DIRECT_MAX_CHANNELS = 4;
export const DIRECT_MAX_OUT_CHANNELS = 32;

/** Whether a forward conv2d runs direct: one group, few input channels, output channels in whole f32x4 registers. */
export function usesDirectConv(p: ConvPlan): boolean {
  return p.groups === 1 && p.channels <= DIRECT_MAX_CHANNELS && p.outChannels % 4 === 0 && p.outChannels <= DIRECT_MAX_OUT_CHANNELS && p.pixels > 0;
}

/**
 * For 16-bit storage: `w` is read from an f32 copy at `wOffset` (widened once per call by the
 * caller), x elements are widened as they are splatted, and each pixel's output channels go
 * through `storePixel` (which may write them to f32 scratch and round them, after an epilogue,
 * into the output) instead of straight into the output.
 */
export interface DirectHalf {
  readonly wOffset: number;
  readonly storePixel: (pixel: () => Expr, acc: readonly Local[]) => Expr[];
}

export function emitDirectConv({ f, inputs, output }: KernelArgs, p: ConvPlan, half?: DirectHalf): Expr[] {
  const [x, wRef] = inputs;
  const w = half ? { offset: half.wOffset } : wRef;
  const xd = x.type.dtype;
  const xb = DTYPE_BYTES[xd];
  const C = p.channels;
  const O = p.outChannels;
  const c = (v: number) => f.i32.const(v);
  const acc: Local[] = Array.from({ length: O / 4 }, () => f.local("v128"));
  const xv = f.local("v128");
  const wRow = f.local("i32");
  const geometry = { batch: p.batch, inH: p.inH, inW: p.inW, win: p.win };
  return [forEachOutputPixel(f, geometry, (px) => [
    ...acc.map((r) => f.set(r, f.v128.const(new Array(16).fill(0)))),
    forEachTap(f, geometry, px, (tap) => {
      const perChannel: Expr[] = [
        // Byte address of w[ky, kx, 0, 0].
        f.set(wRow, f.i32.add(c(w.offset), f.i32.mul(f.i32.add(f.i32.mul(f.get(tap.ky), c(p.kernelW)), f.get(tap.kx)), c(4 * C * O)))),
      ];
      for (let ch = 0; ch < C; ch++) {
        if (xb === 4) {
          perChannel.push(f.set(xv, f.v128.load32_splat(x.offset + 4 * ch, 4, f.i32.mul(f.get(tap.inPixel), c(4 * C)))));
        } else {
          const L = new Lanes(f, 1);
          const value = loadScalar(L, xd, f.i32.add(f.i32.mul(f.get(tap.inPixel), c(xb * C)), c(x.offset + xb * ch)));
          perChannel.push(...L.body, f.set(xv, f.f32x4.splat(value)));
        }
        acc.forEach((r, q) => perChannel.push(
          f.set(r, f.f32x4.add(f.get(r), f.f32x4.mul(f.get(xv), f.v128.load(4 * (ch * O + 4 * q), 4, f.get(wRow))))),
        ));
      }
      return perChannel;
    }),
    ...(half ? half.storePixel(() => f.get(px.pixel), acc) : acc.map((r, q) => f.v128.store(output.offset + 16 * q, 4, f.i32.mul(f.get(px.pixel), c(4 * O)), f.get(r)))),
  ])];
}
