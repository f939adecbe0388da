// NumPy broadcasting: shape rules (which shapes broadcast, to what) and the interpreter's reads
// of a broadcast operand. Shapes align at their trailing axes; an axis of size 1, or a missing
// leading axis, repeats to match the other side.

import { formatShape, numel, ShapeError, stridesOf, type Shape } from "../types.ts";
import { readStrided, stridedIndexMap } from "./strided.ts";

/** The common broadcast shape of any number of shapes, or a ShapeError naming all of them. */
export function broadcastAll(shapes: readonly Shape[]): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const shape of shapes) {
    for (let i = 0; i < shape.length; i++) {
      const axis = rank - shape.length + i;
      const d = shape[i];
      if (d === out[axis] || d === 1) continue;
      if (out[axis] !== 1) throw new ShapeError(`shapes ${listShapes(shapes)} do not broadcast`);
      out[axis] = d;
    }
  }
  return out;
}

function listShapes(shapes: readonly Shape[]): string {
  const s = shapes.map(formatShape);
  return s.length <= 2 ? s.join(" and ") : `${s.slice(0, -1).join(", ")} and ${s[s.length - 1]}`;
}

/** True when `from` broadcasts to exactly `to` (one-directional: `to` is never changed). */
export function broadcastsTo(from: Shape, to: Shape): boolean {
  if (from.length > to.length) return false;
  const lead = to.length - from.length;
  return from.every((d, i) => d === 1 || d === to[lead + i]);
}

/**
 * Per output axis, the stride to step the operand's flat index by: the operand's own stride, or 0
 * on axes it is broadcast along. Assumes `broadcastsTo(inShape, outShape)`.
 */
export function broadcastStrides(inShape: Shape, outShape: Shape): number[] {
  const own = stridesOf(inShape);
  const lead = outShape.length - inShape.length;
  return outShape.map((_, axis) => {
    const i = axis - lead;
    return i < 0 || inShape[i] === 1 ? 0 : own[i];
  });
}

/** For each flat index of the broadcast result, the operand's flat index. */
export function broadcastIndexMap(inShape: Shape, outShape: Shape): Int32Array {
  return stridedIndexMap(outShape, broadcastStrides(inShape, outShape));
}

/**
 * The operand's values laid out over `outShape`. Returns `data` itself (not a copy) when no
 * broadcasting is needed, so callers must treat the result as read-only.
 */
export function expandTo(data: Float64Array, inShape: Shape, outShape: Shape): Float64Array {
  if (data.length === numel(outShape) && inShape.length === outShape.length) return data;
  return readStrided(data, outShape, broadcastStrides(inShape, outShape));
}
