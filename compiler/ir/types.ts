// Element types and static tensor types of the IR.
//
// Every value in a graph has one dtype and one fully static shape. Shapes are plain arrays of
// non-negative integers; a scalar has shape [].

import { DTYPE_INFO, DTYPES, type DType } from "./dtypes.ts";

// The dtypes themselves and everything known about each live in dtypes.ts (DTYPE_INFO).
export { DTYPES, type DType } from "./dtypes.ts";

export type Shape = readonly number[];

export interface TensorType {
  readonly dtype: DType;
  readonly shape: Shape;
}

/** Bytes one element occupies in memory (bool is stored as one byte): DTYPE_INFO's `bytes`. */
export const DTYPE_BYTES: Readonly<Record<DType, number>> = Object.fromEntries(DTYPES.map((d) => [d, DTYPE_INFO[d].bytes])) as Record<DType, number>;

export function isDType(s: string): s is DType {
  return (DTYPES as readonly string[]).includes(s);
}

export function isFloat(dtype: DType): boolean {
  return DTYPE_INFO[dtype].kind === "float";
}

export function isInteger(dtype: DType): boolean {
  return DTYPE_INFO[dtype].kind === "int";
}

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function byteSize(t: TensorType): number {
  return numel(t.shape) * DTYPE_BYTES[t.dtype];
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function sameType(a: TensorType, b: TensorType): boolean {
  return a.dtype === b.dtype && sameShape(a.shape, b.shape);
}

/** `f32[64,256]`, `i32[]` — the spelling used by the text format and by diagnostics. */
export function formatType(t: TensorType): string {
  return `${t.dtype}[${t.shape.join(",")}]`;
}

export function formatShape(s: Shape): string {
  return `[${s.join(", ")}]`;
}

/** Row-major strides of a shape, in elements. */
export function stridesOf(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

/** Thrown by shape/dtype rules; the frontend and the parser attach a source location to it. */
export class ShapeError extends Error {
  override name = "ShapeError";
}

/** Resolves a possibly negative axis against a rank, or throws a ShapeError. */
export function normalizeAxis(axis: number, rank: number, what = "axis"): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= Math.max(rank, 1)) {
    throw new ShapeError(`${what} ${axis} is out of range for rank ${rank}`);
  }
  return axis < 0 ? axis + rank : axis;
}

/** NumPy broadcasting of two shapes, or a ShapeError naming both. */
export function broadcastShapes(a: Shape, b: Shape): number[] {
  const rank = Math.max(a.length, b.length);
  const out = new Array<number>(rank);
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new ShapeError(`shapes ${formatShape(a)} and ${formatShape(b)} do not broadcast`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}
