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
// Both gradients zero dx first: overlapping windows accumulate. Max pooling over windows that tile
// the input (f32, channels a multiple of 4) runs pool-tiled.ts's unrolled kernels instead.

import { poolWindow } from "../../ir/ops/nn.ts";
import type { Window2d } from "../../ir/ops/window.ts";
import { DTYPE_BYTES, numel, type DType, type TensorType } from "../../ir/types.ts";
import { withWorkspace, type BufferRef, type KernelArgs, type KernelRegistration } from "../kernel.ts";
import { isFloatLane, loadLanes, storeLanes } from "./access.ts";
import { emitMap } from "./map.ts";
import type { Expr, FunctionBuilder, Local } from "../module.ts";
import { FLOATS } from "../../ir/dtypes.ts";
import { Lanes } from "./lanes.ts";
import { emitTiledMaxPool, emitTiledMaxPoolGrad, usesTiledPool } from "./pool-tiled.ts";
import { forEachChannelChunk, forEachOutputPixel, forEachTap, pixelAddress, windowsOverlap, type ChannelChunk, type PixelLocals, type TapLocals, type WindowGeometry } from "./window-loops.ts";

function geometryOf(op: string, node: KernelArgs["node"], x: readonly number[]): WindowGeometry {
  return { batch: x[0], inH: x[1], inW: x[2], win: poolWindow(op, x, node.attrs) };
}

/** Registers of one channel chunk: four or one f32x4 (or i32x4), or one scalar. */
function chunkRegisters(f: FunctionBuilder, L: Lanes, chunk: ChannelChunk, kind: "float" | "int"): Local[] {
  return Array.from({ length: Math.max(chunk.vectors, 1) }, () => f.local(kind === "float" ? L.floatType : L.intType));
}

/** A tensor the kernel reads or writes: where it is and the dtype it stores. */
interface Buf {
  readonly offset: number;
  readonly dtype: DType;
}

const bufOf = (b: BufferRef): Buf => ({ offset: b.offset, dtype: b.type.dtype });

/** Byte address of chunk `chunk` of pixel `pixel` in `b`. */
function at(f: FunctionBuilder, b: Buf, pixel: Expr, channels: number, chunk: ChannelChunk): Expr {
  return pixelAddress(f, b.offset, pixel, channels, chunk, DTYPE_BYTES[b.dtype]);
}

/**
 * Loads register q of a chunk at byte address `addr` in its compute type (i32 lanes for an
 * integer dtype; f16/bf16 widened). `L` is the chunk's Lanes: its statements go first.
 */
function loadLane(L: Lanes, dtype: DType, chunk: ChannelChunk, addr: Expr, q: number): Expr {
  const f = L.f;
  const int = !isFloatLane(dtype);
  if (DTYPE_BYTES[dtype] === 4) {
    if (chunk.vectors > 0) return f.v128.load(16 * q, 4, addr);
    return int ? f.loadI32(addr) : f.loadF32(addr);
  }
  return loadLanes(L, dtype, q === 0 ? addr : f.i32.add(addr, f.i32.const(4 * q * DTYPE_BYTES[dtype])));
}

/** Stores register q of a chunk (narrowed to a 16-bit dtype). */
function storeLane(L: Lanes, dtype: DType, chunk: ChannelChunk, addr: Expr, q: number, value: Expr): Expr {
  const f = L.f;
  if (DTYPE_BYTES[dtype] === 4) {
    if (chunk.vectors > 0) return f.v128.store(16 * q, 4, addr, value);
    return isFloatLane(dtype) ? f.storeF32(addr, value) : f.storeI32(addr, value);
  }
  return storeLanes(L, dtype, q === 0 ? addr : f.i32.add(addr, f.i32.const(4 * q * DTYPE_BYTES[dtype])), value);
}

/** Statements built with `L`, its let statements first. */
function withBody(L: Lanes, build: () => Expr[]): Expr[] {
  const stmts = build();
  return [...L.body.splice(0), ...stmts];
}

/** Counts the in-bounds taps of the current pixel's window into `count`. */
function countTaps(f: FunctionBuilder, g: WindowGeometry, px: PixelLocals, count: Local): Expr[] {
  return [
    f.set(count, f.i32.const(0)),
    forEachTap(f, g, px, () => [f.set(count, f.i32.add(f.get(count), f.i32.const(1)))]),
  ];
}

// ---- forward ---------------------------------------------------------------------------------

function emitMaxPool(a: KernelArgs): Expr[] {
  const { f, node, inputs: [xRef], output: outRef } = a;
  if (usesTiledPool("maxPool2d", a, xRef.type.shape)) return emitTiledMaxPool(a);
  const x = bufOf(xRef);
  const output = bufOf(outRef);
  const int = x.dtype === "i32";
  const g = geometryOf("maxPool2d", node, xRef.type.shape);
  const channels = xRef.type.shape[3];
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
      forEachTap(f, g, px, (tap) => acc.flatMap((r, q) => withBody(L, () => [
        f.set(v, loadLane(L, x.dtype, chunk, at(f, x, f.get(tap.inPixel), channels, chunk), q)),
        f.set(r, larger(r)),
      ]))),
      ...acc.flatMap((r, q) => withBody(L, () => [storeLane(L, output.dtype, chunk, at(f, output, f.get(px.pixel), channels, chunk), q, f.get(r))])),
    ];
  }))];
}

function emitAvgPool({ f, node, inputs: [xRef], output: outRef }: KernelArgs): Expr[] {
  const x = bufOf(xRef);
  const output = bufOf(outRef);
  const g = geometryOf("avgPool2d", node, xRef.type.shape);
  const channels = xRef.type.shape[3];
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
        forEachTap(f, g, px, (tap) => acc.flatMap((r, q) => withBody(L, () => [
          f.set(r, L.add(f.get(r), loadLane(L, x.dtype, chunk, at(f, x, f.get(tap.inPixel), channels, chunk), q))),
        ]))),
        ...acc.flatMap((r, q) => withBody(L, () => [storeLane(L, output.dtype, chunk, at(f, output, f.get(px.pixel), channels, chunk), q, L.div(f.get(r), d()))])),
      ];
    }),
  ])];
}

// ---- backward --------------------------------------------------------------------------------

/**
 * Where a gradient kernel adds its contributions: the output itself, or, for a 16-bit output
 * whose windows overlap (so a pixel sums several contributions), an f32 workspace that is
 * rounded into the output once at the end (`finish`).
 */
function gradTarget(a: KernelArgs, win: Window2d): { target: Buf; finish: Expr[] } {
  const { f, node, output, workspace } = a;
  if (!needsScratch(output.type, win)) return { target: bufOf(output), finish: [] };
  if (workspace === undefined) throw new Error(`${node.op} %${node.id} needs a workspace and the plan gave none`);
  const scratch: BufferRef = { offset: workspace, type: { dtype: "f32", shape: output.type.shape } };
  return { target: bufOf(scratch), finish: emitMap(f, [scratch], output, (_L, [v]) => v()) };
}

function needsScratch(out: TensorType, win: Window2d): boolean {
  return DTYPE_BYTES[out.dtype] === 2 && windowsOverlap(win);
}

function gradScratchBytes(op: string, shapeOf: (inputs: readonly TensorType[], out: TensorType) => readonly number[]) {
  return (node: KernelArgs["node"], inputs: readonly TensorType[], out: TensorType): number =>
    needsScratch(out, poolWindow(op, shapeOf(inputs, out), node.attrs)) ? numel(out.shape) * 4 : 0;
}

function emitMaxPoolGrad(a: KernelArgs): Expr[] {
  const { f, node, inputs: [xRef, dyRef] } = a;
  if (usesTiledPool("maxPool2dGrad", a, xRef.type.shape)) return emitTiledMaxPoolGrad(a);
  const x = bufOf(xRef);
  const dy = bufOf(dyRef);
  const g = geometryOf("maxPool2dGrad", node, xRef.type.shape);
  const { target: dx, finish } = gradTarget(a, g.win);
  const channels = xRef.type.shape[3];
  const { kernelW } = g.win;
  const bytes = numel(xRef.type.shape) * DTYPE_BYTES[dx.dtype];
  const tapIndex = (tap: TapLocals) => f.i32.add(f.i32.mul(f.get(tap.ky), f.i32.const(kernelW)), f.get(tap.kx));
  return [
    f.fill(dx.offset, 0, bytes),
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
          ...best.flatMap((r, q) => withBody(L, () => [
            f.set(v, loadLane(L, x.dtype, chunk, at(f, x, f.get(tap.inPixel), channels, chunk), q)),
            f.set(mask, beats(q)),
            f.set(r, L.select(f.get(mask), f.get(v), f.get(r))),
            f.set(winner[q], L.select(f.get(mask), f.get(t), f.get(winner[q]))),
          ])),
        ]),
        forEachTap(f, g, px, (tap) => [
          f.set(t, splatI(tapIndex(tap))),
          ...winner.flatMap((w, q) => withBody(L, () => {
            const here = () => at(f, dx, f.get(tap.inPixel), channels, chunk);
            const grad = loadLane(L, dy.dtype, chunk, at(f, dy, f.get(px.pixel), channels, chunk), q);
            const won = L.ieq(f.get(w), f.get(t));
            const share = chunk.vectors ? f.v128.and(grad, won) : f.select(won, grad, f.f32.const(0));
            return [storeLane(L, dx.dtype, chunk, here(), q, L.add(loadLane(L, dx.dtype, chunk, here(), q), share))];
          })),
        ]),
      ];
    })),
    ...finish,
  ];
}

function emitAvgPoolGrad(a: KernelArgs): Expr[] {
  const { f, node, inputs: [dyRef], output } = a;
  const dy = bufOf(dyRef);
  const g = geometryOf("avgPool2dGrad", node, output.type.shape);
  const { target: dx, finish } = gradTarget(a, g.win);
  const channels = output.type.shape[3];
  const bytes = numel(output.type.shape) * DTYPE_BYTES[dx.dtype];
  const count = f.local("i32");
  const divisor = f.local("f32");
  return [
    f.fill(dx.offset, 0, bytes),
    forEachOutputPixel(f, g, (px) => [
      ...countTaps(f, g, px, count),
      f.set(divisor, f.f32.convert_s.i32(f.get(count))),
      ...forEachChannelChunk(f, channels, (chunk) => {
        const L = new Lanes(f, chunk.vectors ? 4 : 1);
        const share = chunkRegisters(f, L, chunk, "float");
        const d = () => (chunk.vectors ? f.f32x4.splat(f.get(divisor)) : f.get(divisor));
        return [
          ...share.flatMap((r, q) => withBody(L, () => [f.set(r, L.div(loadLane(L, dy.dtype, chunk, at(f, dy, f.get(px.pixel), channels, chunk), q), d()))])),
          forEachTap(f, g, px, (tap) => share.flatMap((r, q) => withBody(L, () => {
            const here = () => at(f, dx, f.get(tap.inPixel), channels, chunk);
            return [storeLane(L, dx.dtype, chunk, here(), q, L.add(loadLane(L, dx.dtype, chunk, here(), q), f.get(r)))];
          }))),
        ];
      }),
    ]),
    ...finish,
  ];
}

/**
 * Every float dtype (16-bit ones widened per chunk); maxPool2d also folds i32 (4-byte integer
 * lanes); the byte integer dtypes have no kernel here. A 16-bit gradient of overlapping windows
 * sums in an f32 workspace.
 */
export const POOL_KERNELS: readonly KernelRegistration[] = [
  { op: "maxPool2d", dtypes: [...FLOATS, "i32"], kernel: emitMaxPool },
  { op: "avgPool2d", dtypes: FLOATS, kernel: emitAvgPool },
  { op: "maxPool2dGrad", dtypes: FLOATS, kernel: withWorkspace(emitMaxPoolGrad, gradScratchBytes("maxPool2dGrad", ([x]) => x.shape)) },
  { op: "avgPool2dGrad", dtypes: FLOATS, kernel: withWorkspace(emitAvgPoolGrad, gradScratchBytes("avgPool2dGrad", (_i, out) => out.shape)) },
];
