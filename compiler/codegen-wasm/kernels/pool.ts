// 2-D pooling over NHWC tensors and its backward ops, vectorised over channels: for each output
// pixel and each run of channels, the window's in-bounds taps are folded into registers (or, for
// the gradients, added into dx). Windows, padding and "same" geometry come from the op records
// (poolWindow), and padding never takes part: not in the max, not in the average's count.
//
//   maxPool2d      max over the taps; f32x4.max propagates NaN as the reference's max does
//   avgPool2d      sum over the taps divided by their count
//   maxPool2dGrad  pass 1 finds each lane's winner (first maximum in window order, NaN wins, as
//                  the reference's beatsMax); pass 2 adds dy into the winner's dx lanes only
//   avgPool2dGrad  dy / count added to every tap's dx
// Both gradients zero dx first: overlapping windows accumulate.

import { poolWindow } from "../../ir/ops/nn.ts";
import type { KernelArgs, KernelEmitter, KernelRegistration } from "../kernel.ts";
import type { Expr, FunctionBuilder, Local } from "../module.ts";
import { FLOATS } from "./dtype-sets.ts";
import { Lanes } from "./lanes.ts";
import { forEachChannelChunk, forEachOutputPixel, forEachTap, pixelAddress, type ChannelChunk, type PixelLocals, type TapLocals, type WindowGeometry } from "./window-loops.ts";

function geometryOf(op: string, node: KernelArgs["node"], x: readonly number[]): WindowGeometry {
  return { batch: x[0], inH: x[1], inW: x[2], win: poolWindow(op, x, node.attrs) };
}

/** Registers of one channel chunk: four or one f32x4 (or i32x4), or one scalar. */
function chunkRegisters(f: FunctionBuilder, L: Lanes, chunk: ChannelChunk, kind: "float" | "int"): Local[] {
  return Array.from({ length: Math.max(chunk.vectors, 1) }, () => f.local(kind === "float" ? L.floatType : L.intType));
}

/** Loads register q of a chunk at byte address `addr` (i32 lanes when `int`). */
function loadLane(f: FunctionBuilder, chunk: ChannelChunk, addr: Expr, q: number, int = false): Expr {
  if (chunk.vectors > 0) return f.v128.load(16 * q, 4, addr);
  return int ? f.loadI32(addr) : f.loadF32(addr);
}

function storeLane(f: FunctionBuilder, chunk: ChannelChunk, addr: Expr, q: number, value: Expr, int = false): Expr {
  if (chunk.vectors > 0) return f.v128.store(16 * q, 4, addr, value);
  return int ? f.storeI32(addr, value) : f.storeF32(addr, value);
}

/** Counts the in-bounds taps of the current pixel's window into `count`. */
function countTaps(f: FunctionBuilder, g: WindowGeometry, px: PixelLocals, count: Local): Expr[] {
  return [
    f.set(count, f.i32.const(0)),
    forEachTap(f, g, px, () => [f.set(count, f.i32.add(f.get(count), f.i32.const(1)))]),
  ];
}

// ---- forward ---------------------------------------------------------------------------------

function emitMaxPool({ f, node, inputs: [x], output }: KernelArgs): Expr[] {
  const int = x.type.dtype === "i32";
  const g = geometryOf("maxPool2d", node, x.type.shape);
  const channels = x.type.shape[3];
  return [forEachOutputPixel(f, g, (px) => forEachChannelChunk(f, channels, (chunk) => {
    const L = new Lanes(f, chunk.vectors ? 4 : 1);
    const acc = chunkRegisters(f, L, chunk, int ? "int" : "float");
    const v = f.local(int ? L.intType : L.floatType);
    const larger = (r: Local): Expr => {
      if (!int) return L.max(f.get(r), f.get(v));
      return chunk.vectors ? f.i32x4.max_s(f.get(r), f.get(v)) : f.select(f.i32.gt_s(f.get(v), f.get(r)), f.get(v), f.get(r));
    };
    return [
      ...acc.map((r) => f.set(r, int ? L.ic(-0x80000000) : L.c(-Infinity))),
      forEachTap(f, g, px, (tap) => acc.flatMap((r, q) => [
        f.set(v, loadLane(f, chunk, pixelAddress(f, x.offset, f.get(tap.inPixel), channels, chunk), q, int)),
        f.set(r, larger(r)),
      ])),
      ...acc.map((r, q) => storeLane(f, chunk, pixelAddress(f, output.offset, f.get(px.pixel), channels, chunk), q, f.get(r), int)),
    ];
  }))];
}

function emitAvgPool({ f, node, inputs: [x], output }: KernelArgs): Expr[] {
  const g = geometryOf("avgPool2d", node, x.type.shape);
  const channels = x.type.shape[3];
  const count = f.local("i32");
  const divisor = f.local("f32");
  return [forEachOutputPixel(f, g, (px) => [
    ...countTaps(f, g, px, count),
    f.set(divisor, f.f32.convert_s.i32(f.get(count))),
    ...forEachChannelChunk(f, channels, (chunk) => {
      const L = new Lanes(f, chunk.vectors ? 4 : 1);
      const acc = chunkRegisters(f, L, chunk, "float");
      const d = () => (chunk.vectors ? f.f32x4.splat(f.get(divisor)) : f.get(divisor));
      return [
        ...acc.map((r) => f.set(r, L.c(0))),
        forEachTap(f, g, px, (tap) => acc.map((r, q) =>
          f.set(r, L.add(f.get(r), loadLane(f, chunk, pixelAddress(f, x.offset, f.get(tap.inPixel), channels, chunk), q))))),
        ...acc.map((r, q) => storeLane(f, chunk, pixelAddress(f, output.offset, f.get(px.pixel), channels, chunk), q, L.div(f.get(r), d()))),
      ];
    }),
  ])];
}

// ---- backward --------------------------------------------------------------------------------

function emitMaxPoolGrad({ f, node, inputs: [x, dy], output }: KernelArgs): Expr[] {
  const g = geometryOf("maxPool2dGrad", node, x.type.shape);
  const channels = x.type.shape[3];
  const { kernelW } = g.win;
  const bytes = output.type.shape.reduce((p, d) => p * d, 4);
  const tapIndex = (tap: TapLocals) => f.i32.add(f.i32.mul(f.get(tap.ky), f.i32.const(kernelW)), f.get(tap.kx));
  return [
    f.fill(output.offset, 0, bytes),
    forEachOutputPixel(f, g, (px) => forEachChannelChunk(f, channels, (chunk) => {
      const L = new Lanes(f, chunk.vectors ? 4 : 1);
      const best = chunkRegisters(f, L, chunk, "float");
      const winner = chunkRegisters(f, L, chunk, "int");
      const v = f.local(L.floatType);
      const t = f.local(L.intType);
      const splatI = (e: Expr) => (chunk.vectors ? f.i32x4.splat(e) : e);
      // First visit, a larger value, or the first NaN replaces the running winner (beatsMax).
      const beats = (q: number) => L.maskOr(
        L.maskOr(L.ieq(f.get(winner[q]), L.ic(-1)), L.gt(f.get(v), f.get(best[q]))),
        L.maskAnd(L.ne(f.get(v), f.get(v)), L.eq(f.get(best[q]), f.get(best[q]))),
      );
      const mask = f.local(L.intType);
      return [
        ...best.map((r) => f.set(r, L.c(-Infinity))),
        ...winner.map((r) => f.set(r, L.ic(-1))),
        forEachTap(f, g, px, (tap) => [
          f.set(t, splatI(tapIndex(tap))),
          ...best.flatMap((r, q) => [
            f.set(v, loadLane(f, chunk, pixelAddress(f, x.offset, f.get(tap.inPixel), channels, chunk), q)),
            f.set(mask, beats(q)),
            f.set(r, L.select(f.get(mask), f.get(v), f.get(r))),
            f.set(winner[q], L.select(f.get(mask), f.get(t), f.get(winner[q]))),
          ]),
        ]),
        forEachTap(f, g, px, (tap) => [
          f.set(t, splatI(tapIndex(tap))),
          ...winner.map((w, q) => {
            const at = () => pixelAddress(f, output.offset, f.get(tap.inPixel), channels, chunk);
            const grad = loadLane(f, chunk, pixelAddress(f, dy.offset, f.get(px.pixel), channels, chunk), q);
            const won = L.ieq(f.get(w), f.get(t));
            const share = chunk.vectors ? f.v128.and(grad, won) : f.select(won, grad, f.f32.const(0));
            return storeLane(f, chunk, at(), q, L.add(loadLane(f, chunk, at(), q), share));
          }),
        ]),
      ];
    })),
  ];
}

function emitAvgPoolGrad({ f, node, inputs: [dy], output }: KernelArgs): Expr[] {
  const g = geometryOf("avgPool2dGrad", node, output.type.shape);
  const channels = output.type.shape[3];
  const bytes = output.type.shape.reduce((p, d) => p * d, 4);
  const count = f.local("i32");
  const divisor = f.local("f32");
  return [
    f.fill(output.offset, 0, bytes),
    forEachOutputPixel(f, g, (px) => [
      ...countTaps(f, g, px, count),
      f.set(divisor, f.f32.convert_s.i32(f.get(count))),
      ...forEachChannelChunk(f, channels, (chunk) => {
        const L = new Lanes(f, chunk.vectors ? 4 : 1);
        const share = chunkRegisters(f, L, chunk, "float");
        const d = () => (chunk.vectors ? f.f32x4.splat(f.get(divisor)) : f.get(divisor));
        return [
          ...share.map((r, q) => f.set(r, L.div(loadLane(f, chunk, pixelAddress(f, dy.offset, f.get(px.pixel), channels, chunk), q), d()))),
          forEachTap(f, g, px, (tap) => share.map((r, q) => {
            const at = () => pixelAddress(f, output.offset, f.get(tap.inPixel), channels, chunk);
            return storeLane(f, chunk, at(), q, L.add(loadLane(f, chunk, at(), q), f.get(r)));
          })),
        ];
      }),
    ]),
  ];
}

/** maxPool2d also folds i32 (4-byte integer lanes); the byte integer dtypes have no kernel here. */
export const POOL_KERNELS: readonly KernelRegistration[] = [
  { op: "maxPool2d", dtypes: ["f32", "i32"], kernel: emitMaxPool },
  { op: "avgPool2d", dtypes: FLOATS, kernel: emitAvgPool },
  { op: "maxPool2dGrad", dtypes: FLOATS, kernel: emitMaxPoolGrad },
  { op: "avgPool2dGrad", dtypes: FLOATS, kernel: emitAvgPoolGrad },
];
