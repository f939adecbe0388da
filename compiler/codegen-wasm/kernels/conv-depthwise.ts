// Depthwise convolution (groups = C, one output channel per input channel) and its gradients,
// computed directly: the filter [kh, kw, 1, C] is one channel vector per tap, so every tap is an
// elementwise product of channel vectors, vectorised 16 channels at a time.
//
//   conv2d                out[pixel] = sum over taps of x[tap's input pixel] * w[tap]
//   conv2dBackpropInput   dx[tap's input pixel] += dy[pixel] * w[tap]     (dx zeroed first)
//   conv2dBackpropFilter  dw[tap] += dy[pixel] * x[tap's input pixel]     (dw zeroed first)

import type { BufferRef, KernelArgs } from "../kernel.ts";
import type { Expr, FunctionBuilder, Local } from "../module.ts";
import type { ConvPlan } from "./conv-plan.ts";
import { forEachChannelChunk, forEachOutputPixel, forEachTap, pixelAddress, type ChannelChunk, type TapLocals, type WindowGeometry } from "./window-loops.ts";

type Role = "forward" | "input" | "filter";

function load(f: FunctionBuilder, chunk: ChannelChunk, addr: Expr, q: number): Expr {
  return chunk.vectors > 0 ? f.v128.load(16 * q, 4, addr) : f.loadF32(addr);
}

function store(f: FunctionBuilder, chunk: ChannelChunk, addr: Expr, q: number, v: Expr): Expr {
  return chunk.vectors > 0 ? f.v128.store(16 * q, 4, addr, v) : f.storeF32(addr, v);
}

function madd(f: FunctionBuilder, chunk: ChannelChunk, acc: Expr, a: Expr, b: Expr): Expr {
  return chunk.vectors > 0 ? f.f32x4.add(acc, f.f32x4.mul(a, b)) : f.f32.add(acc, f.f32.mul(a, b));
}

/**
 * The depthwise kernel of conv2d (role "forward": inputs x, w), conv2dBackpropInput ("input":
 * dy, w) or conv2dBackpropFilter ("filter": x, dy).
 */
export function emitDepthwise(role: Role, { f, inputs, output }: KernelArgs, p: ConvPlan): Expr[] {
  const g: WindowGeometry = { batch: p.batch, inH: p.inH, inW: p.inW, win: p.win };
  const C = p.channels;
  const tapIndex = (tap: TapLocals) => f.i32.add(f.i32.mul(f.get(tap.ky), f.i32.const(p.kernelW)), f.get(tap.kx));
  const at = (b: BufferRef | number, pixel: Expr, chunk: ChannelChunk) =>
    pixelAddress(f, typeof b === "number" ? b : b.offset, pixel, C, chunk);

  if (role === "forward") {
    const [x, w] = inputs;
    return [forEachOutputPixel(f, g, (px) => forEachChannelChunk(f, C, (chunk) => {
      const acc = registers(f, chunk);
      return [
        ...acc.map((r) => f.set(r, zero(f, chunk))),
        forEachTap(f, g, px, (tap) => acc.map((r, q) =>
          f.set(r, madd(f, chunk, f.get(r), load(f, chunk, at(x, f.get(tap.inPixel), chunk), q), load(f, chunk, at(w, tapIndex(tap), chunk), q))))),
        ...acc.map((r, q) => store(f, chunk, at(output, f.get(px.pixel), chunk), q, f.get(r))),
      ];
    }))];
  }

  // Both gradients scatter dy[pixel] * (the other operand) into the output, tap by tap.
  const [first, second] = inputs;
  const dy = role === "input" ? first : second;
  const other = role === "input" ? second : first; // w for dx, x for dw
  return [
    f.fill(output.offset, 0, 4 * output.type.shape.reduce((n, d) => n * d, 1)),
    forEachOutputPixel(f, g, (px) => forEachChannelChunk(f, C, (chunk) => {
      const grad = registers(f, chunk);
      return [
        ...grad.map((r, q) => f.set(r, load(f, chunk, at(dy, f.get(px.pixel), chunk), q))),
        forEachTap(f, g, px, (tap) => grad.map((r, q) => {
          const target = () => (role === "input" ? at(output, f.get(tap.inPixel), chunk) : at(output, tapIndex(tap), chunk));
          const factor = role === "input" ? at(other, tapIndex(tap), chunk) : at(other, f.get(tap.inPixel), chunk);
          return store(f, chunk, target(), q, madd(f, chunk, load(f, chunk, target(), q), f.get(r), load(f, chunk, factor, q)));
        })),
      ];
    })),
  ];
}

function registers(f: FunctionBuilder, chunk: ChannelChunk): Local[] {
  return Array.from({ length: Math.max(1, chunk.vectors) }, () => f.local(chunk.vectors > 0 ? "v128" : "f32"));
}

function zero(f: FunctionBuilder, chunk: ChannelChunk): Expr {
  return chunk.vectors > 0 ? f.v128.const(new Array(16).fill(0)) : f.f32.const(0);
}
