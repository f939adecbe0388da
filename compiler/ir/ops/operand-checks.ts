// Checks shared by the shape rules of the reduction, normalization, loss and nn op groups. Each
// throws a ShapeError whose message starts with the op's name and shows the offending types in
// the text format's spelling (`f32[2,3]`), so a diagnostic reads the same wherever it comes from.

import { formatType, isFloat, ShapeError, type Shape, type TensorType } from "../types.ts";

/** `what` must hold a float dtype (f32, f16, bf16). */
export function requireFloat(op: string, what: string, t: TensorType): void {
  if (!isFloat(t.dtype)) throw new ShapeError(`${op}: ${what} must be a float tensor, got ${formatType(t)}`);
}

/** `what` must hold numbers, not booleans. */
export function requireNumeric(op: string, what: string, t: TensorType): void {
  if (t.dtype === "bool") throw new ShapeError(`${op}: ${what} must be numeric, got ${formatType(t)}`);
}

/** Every operand must share the first one's dtype; `names` label the operands in order. */
export function requireSameDtype(op: string, names: readonly string[], types: readonly TensorType[]): void {
  for (let i = 1; i < types.length; i++) {
    if (types[i].dtype !== types[0].dtype) {
      const all = types.map((t, j) => `${names[j]} is ${formatType(t)}`).join(", ");
      throw new ShapeError(`${op}: operand dtypes differ: ${all}`);
    }
  }
}

export function requireRank(op: string, what: string, t: TensorType, rank: number, layout: string): void {
  if (t.shape.length !== rank) {
    throw new ShapeError(`${op}: ${what} must have rank ${rank} (${layout}), got ${formatType(t)}`);
  }
}

/**
 * Resolves a possibly negative axis of `t`. Unlike types.ts' normalizeAxis this rejects every
 * axis of a scalar: a reduction or normalization over a rank-0 tensor has no axis to work on.
 */
export function resolveAxis(op: string, axis: number, t: TensorType, what = "axis"): number {
  const rank = t.shape.length;
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) {
    throw new ShapeError(`${op}: ${what} ${axis} is out of range for ${formatType(t)}`);
  }
  return axis < 0 ? axis + rank : axis;
}

/**
 * Views a row-major shape as [outer, len, inner] around `axis`: element (o, j, i) sits at
 * (o * len + j) * inner + i. Kernels that work along one axis (softmax, layer norm) use this.
 */
export function splitAtAxis(shape: Shape, axis: number): { outer: number; len: number; inner: number } {
  let outer = 1;
  let inner = 1;
  for (let d = 0; d < axis; d++) outer *= shape[d];
  for (let d = axis + 1; d < shape.length; d++) inner *= shape[d];
  return { outer, len: shape[axis], inner };
}
