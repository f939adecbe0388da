// The one loop nest behind the layout kernels: copy a box of elements from one strided view of the
// arena to another, `dst[offset + sum_d i_d dstStride_d] = src[offset + sum_d i_d srcStride_d]`.
// Transpose permutes the source strides, slice offsets them, broadcastTo zeroes some, concat and
// pad offset the destination.
//
// Axes are dropped (size 1) and merged where both views step through them as one, so contiguous
// copies become a single memory.copy and a slice of rows one memory.copy per row. The innermost
// axis is then one of: contiguous on both sides (memory.copy per row, or a short element loop for
// rows under MIN_BULK_BYTES, where the call costs more than the copy), a broadcast source (one
// load splatted over the row), or a gather (element by element). Elements move as raw bits
// (i32 loads for f32 too), so NaN payloads and -0 survive.

import type { Expr, FunctionBuilder } from "../module.ts";
import { coalescedAxes } from "./map.ts";

export interface StridedView {
  /** Byte offset of element (0, ..., 0). */
  readonly offset: number;
  /** Elements to step per index along each axis of the copied box. */
  readonly strides: readonly number[];
}

const MIN_BULK_BYTES = 32;

/** Emits the copy of a box of `shape` from `src` to `dst`, elements of `bytes` (1, 2 or 4) each. */
export function emitStridedCopy(f: FunctionBuilder, shape: readonly number[], src: StridedView, dst: StridedView, bytes: number): Expr[] {
  if (shape.some((d) => d === 0)) return [];
  const axes = coalescedAxes(shape, [src.strides, dst.strides]);
  const inner = axes[axes.length - 1];
  const [srcStep, dstStep] = inner.strides;
  const rowBytes = inner.size * bytes;
  const row = (srcAddr: () => Expr, dstAddr: () => Expr): Expr[] => {
    if (srcStep === 1 && dstStep === 1 && rowBytes >= MIN_BULK_BYTES) return [f.copyAt(dstAddr(), srcAddr(), f.i32.const(rowBytes))];
    if (srcStep === 0 && dstStep === 1) return splatRow(f, srcAddr, dstAddr, inner.size, bytes);
    return elementRow(f, srcAddr, dstAddr, inner.size, srcStep, dstStep, bytes);
  };
  return outerLoops(f, axes.slice(0, -1), [src.offset, dst.offset], bytes, (base) => row(base[0], base[1]));
}

/** Nested loops over `axes`, each advancing one address per view; `body` gets the addresses. */
function outerLoops(f: FunctionBuilder, axes: readonly { size: number; strides: readonly number[] }[], offsets: readonly number[], bytes: number, body: (base: (() => Expr)[]) => Expr[]): Expr[] {
  const level = (d: number, base: (() => Expr)[]): Expr[] => {
    if (d === axes.length) return body(base);
    const pointers = base.map(() => f.local("i32"));
    const counter = f.local("i32");
    return [
      ...pointers.map((p, k) => f.set(p, base[k]())),
      f.forRange(counter, 0, axes[d].size, 1, [
        ...level(d + 1, pointers.map((p) => () => f.get(p))),
        ...pointers.map((p, k) => f.set(p, f.i32.add(f.get(p), f.i32.const(axes[d].strides[k] * bytes)))),
      ]),
    ];
  };
  return level(0, offsets.map((o) => () => f.i32.const(o)));
}

function load(f: FunctionBuilder, addr: Expr, bytes: number): Expr {
  return bytes === 4 ? f.loadI32(addr) : bytes === 2 ? f.i32.load16_u(0, 2, addr) : f.loadU8(addr);
}

function store(f: FunctionBuilder, addr: Expr, value: Expr, bytes: number): Expr {
  return bytes === 4 ? f.storeI32(addr, value) : bytes === 2 ? f.i32.store16(0, 2, addr, value) : f.storeU8(addr, value);
}

function elementRow(f: FunctionBuilder, src: () => Expr, dst: () => Expr, size: number, srcStep: number, dstStep: number, bytes: number): Expr[] {
  const s = f.local("i32");
  const d = f.local("i32");
  const i = f.local("i32");
  return [
    f.set(s, src()),
    f.set(d, dst()),
    f.forRange(i, 0, size, 1, [
      store(f, f.get(d), load(f, f.get(s), bytes), bytes),
      f.set(s, f.i32.add(f.get(s), f.i32.const(srcStep * bytes))),
      f.set(d, f.i32.add(f.get(d), f.i32.const(dstStep * bytes))),
    ]),
  ];
}

/** One source element repeated over a contiguous row: memory.fill for bytes, v128 stores for words (and half-words). */
function splatRow(f: FunctionBuilder, src: () => Expr, dst: () => Expr, size: number, bytes: number): Expr[] {
  if (bytes === 1) return [f.fillAt(dst(), f.loadU8(src()), f.i32.const(size))];
  if (bytes === 2) {
    const half = f.local("i32");
    const vector = f.local("v128");
    const d = f.local("i32");
    const i = f.local("i32");
    const vectorEnd = size - (size % 8);
    return [
      f.set(half, f.i32.load16_u(0, 2, src())),
      f.set(vector, f.i16x8.splat(f.get(half))),
      f.set(d, dst()),
      f.forRange(i, 0, vectorEnd, 8, [f.storeV128(f.i32.add(f.get(d), f.i32.shl(f.get(i), f.i32.const(1))), f.get(vector))]),
      f.forRange(i, vectorEnd, size, 1, [f.i32.store16(0, 2, f.i32.add(f.get(d), f.i32.shl(f.get(i), f.i32.const(1))), f.get(half))]),
    ];
  }
  const value = f.local("i32");
  const vector = f.local("v128");
  const d = f.local("i32");
  const i = f.local("i32");
  const vectorEnd = size - (size % 4);
  return [
    f.set(value, f.loadI32(src())),
    f.set(vector, f.i32x4.splat(f.get(value))),
    f.set(d, dst()),
    f.forRange(i, 0, vectorEnd, 4, [f.storeV128(f.i32.add(f.get(d), f.i32.shl(f.get(i), f.i32.const(2))), f.get(vector))]),
    f.forRange(i, vectorEnd, size, 1, [f.storeI32(f.i32.add(f.get(d), f.i32.shl(f.get(i), f.i32.const(2))), f.get(value))]),
  ];
}
