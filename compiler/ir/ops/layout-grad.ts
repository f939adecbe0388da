// Layout ops that autodiff emits as the transposes of forward layout ops: `pad` undoes `slice`
// and `scatterAdd` undoes `gather`. They are ordinary ops (printable, parseable, verifiable,
// differentiable in turn, so second derivatives and checkpoint recomputation work), listed apart
// from layout.ts because models rarely write them.

import type { OpDef } from "../op-def.ts";
import { attr } from "../op-def.ts";
import { formatShape, formatType, normalizeAxis, numel, sameShape, ShapeError, stridesOf, type TensorType } from "../types.ts";
import { linearVjp } from "../vjp-kit.ts";
import { requireFloat, splitAtAxis } from "./operand-checks.ts";
import { stridedIndexMap } from "./strided.ts";

/** The before/after widths, checked: one non-negative entry per axis of x. */
function padWidths(x: TensorType, before: readonly number[], after: readonly number[]): void {
  const rank = x.shape.length;
  const widths = `before ${formatShape(before)}, after ${formatShape(after)}`;
  if (before.length !== rank || after.length !== rank) {
    throw new ShapeError(`pad: ${widths} must have one entry per axis of ${formatType(x)}`);
  }
  if ([...before, ...after].some((w) => w < 0)) throw new ShapeError(`pad: ${widths} has a negative width`);
}

const pad: OpDef = {
  name: "pad",
  summary: "x surrounded by zeros: before[i] zeros ahead of and after[i] behind axis i",
  kind: "layout",
  operands: ["x"],
  attrs: {
    before: { kind: "ints", doc: "zeros ahead of each axis, >= 0" },
    after: { kind: "ints", doc: "zeros behind each axis, >= 0" },
  },
  tolerance: 0,
  infer([x], a) {
    const before = attr.ints(a, "before");
    const after = attr.ints(a, "after");
    padWidths(x, before, after);
    return { dtype: x.dtype, shape: x.shape.map((d, i) => before[i] + d + after[i]) };
  },
  interpret([x], a, out) {
    // x's element at index i lands at i + before in the output: a strided map with an offset.
    const strides = stridesOf(out.shape);
    const offset = attr.ints(a, "before").reduce((sum, w, axis) => sum + w * strides[axis], 0);
    const map = stridedIndexMap(x.type.shape, strides, offset);
    const res = new Float64Array(numel(out.shape));
    for (let i = 0; i < map.length; i++) res[map[i]] = x.data[i];
    return res;
  },
  vjp: linearVjp(({ b, node, dy }) =>
    b.op("slice", [dy], { begin: [...attr.ints(node.attrs, "before")], size: [...b.typeOf(node.inputs[0]).shape] }),
  ),
};

/**
 * The table type scatterAdd produces: updates.shape with the indices' axes (at `axis`) replaced by
 * one axis of `size`, which is gather's table for gather's result `updates`.
 */
function scatterTable(indices: TensorType, updates: TensorType, axisAttr: number, size: number): TensorType {
  if (indices.dtype !== "i32") throw new ShapeError(`scatterAdd: indices must be i32, got ${formatType(indices)}`);
  requireFloat("scatterAdd", "updates", updates);
  const rank = updates.shape.length - indices.shape.length + 1;
  if (rank < 1) {
    throw new ShapeError(`scatterAdd: updates ${formatType(updates)} has fewer axes than indices ${formatType(indices)}`);
  }
  if (!Number.isInteger(axisAttr) || axisAttr < -rank || axisAttr >= rank) {
    throw new ShapeError(`scatterAdd: axis ${axisAttr} is out of range for a rank-${rank} table`);
  }
  const axis = axisAttr < 0 ? axisAttr + rank : axisAttr;
  if (!Number.isInteger(size) || size < 0) throw new ShapeError(`scatterAdd: size ${size} must be a non-negative integer`);
  const picked = updates.shape.slice(axis, axis + indices.shape.length);
  if (!sameShape(picked, indices.shape)) {
    throw new ShapeError(
      `scatterAdd: updates ${formatType(updates)} must have the indices' shape ${formatShape(indices.shape)} at axis ${axis}, got ${formatShape(picked)}`,
    );
  }
  const shape = [...updates.shape.slice(0, axis), size, ...updates.shape.slice(axis + indices.shape.length)];
  return { dtype: updates.dtype, shape };
}

const scatterAdd: OpDef = {
  name: "scatterAdd",
  summary: "a zero table of `size` rows along axis with each slice of updates added at its index: the transpose of gather",
  kind: "other",
  operands: ["indices", "updates"],
  attrs: {
    axis: { kind: "int", default: 0, doc: "the table axis the indices address (as gather's)" },
    size: { kind: "int", doc: "the table's extent along axis" },
  },
  // Repeated indices sum in an order a backend may choose (as sum's tolerance allows for).
  tolerance: 1e-4,
  infer([indices, updates], a) {
    return scatterTable(indices, updates, attr.num(a, "axis"), attr.num(a, "size"));
  },
  interpret([indices, updates], a, out) {
    const axis = normalizeAxis(attr.num(a, "axis"), out.shape.length);
    const { outer, len: size, inner } = splitAtAxis(out.shape, axis);
    const count = indices.data.length;
    for (const index of indices.data) {
      if (!(index >= 0 && index < size)) {
        throw new Error(`scatterAdd: index ${index} is out of range for axis ${axis} of size ${size} (table ${formatType(out)})`);
      }
    }
    const res = new Float64Array(numel(out.shape));
    for (let o = 0; o < outer; o++) {
      for (let k = 0; k < count; k++) {
        const to = (o * size + indices.data[k]) * inner;
        const from = (o * count + k) * inner;
        for (let i = 0; i < inner; i++) res[to + i] += updates.data[from + i];
      }
    }
    return res;
  },
  indexOperands: (node) => {
    const size = attr.num(node.attrs, "size");
    return [{ operand: 0, size, what: `indices of scatterAdd along axis ${normalizeAxis(attr.num(node.attrs, "axis"), node.type.shape.length)} of size ${size}` }];
  },
  // Linear in updates; its transpose reads each row back out of the table's cotangent.
  vjp: ({ b, node, dy, needs }) => [null, needs[1] ? b.op("gather", [dy, node.inputs[0]], { axis: attr.num(node.attrs, "axis") }) : null],
};

export const LAYOUT_GRAD_OPS: readonly OpDef[] = [pad, scatterAdd];
