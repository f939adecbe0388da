// Layout op records (docs/IR.md, "Layout"): ops that move elements without arithmetic. Their
// kernels are exact copies, so every tolerance is 0. Each kernel returns a fresh array (never an
// operand's own), because the interpreter rounds results in place.
//
// Every op here but oneHot (which passes no gradient) is linear in its data operand, so its VJP
// is its transpose: another layout op that moves the cotangent back (slice <-> pad and
// gather <-> scatterAdd, with pad and scatterAdd in layout-grad.ts).

import type { OpDef } from "../op-def.ts";
import { attr } from "../op-def.ts";
import { formatShape, formatType, normalizeAxis, numel, ShapeError, stridesOf, type TensorType } from "../types.ts";
import { linearVjp, noCotangents, unbroadcast } from "../vjp-kit.ts";
import { broadcastStrides, broadcastsTo } from "./broadcast.ts";
import { readStrided } from "./strided.ts";

/** normalizeAxis with the op's name on the error. */
function axisFor(op: string, axis: number, x: TensorType): number {
  try {
    return normalizeAxis(axis, x.shape.length);
  } catch (e) {
    if (e instanceof ShapeError) throw new ShapeError(`${op}: ${e.message} (operand ${formatType(x)})`);
    throw e;
  }
}

function product(dims: readonly number[]): number {
  return dims.reduce((p, d) => p * d, 1);
}

/** The shape `spec` (with at most one -1) denotes for `x`'s element count, or a ShapeError. */
function resolveReshape(x: TensorType, spec: readonly number[]): number[] {
  const bad = (why: string) => new ShapeError(`reshape: cannot reshape ${formatType(x)} to ${formatShape(spec)}: ${why}`);
  const wildcards = spec.filter((d) => d === -1).length;
  if (wildcards > 1) throw bad("more than one -1");
  if (spec.some((d) => d < -1)) throw bad("negative dimension");
  const count = numel(x.shape);
  const known = product(spec.filter((d) => d !== -1));
  if (wildcards === 1) {
    if (known === 0) throw bad("-1 is ambiguous next to a 0 dimension");
    if (count % known !== 0) throw bad(`${count} elements do not divide into rows of ${known}`);
    return spec.map((d) => (d === -1 ? count / known : d));
  }
  if (known !== count) throw bad(`${count} elements vs ${known}`);
  return [...spec];
}

const reshape: OpDef = {
  name: "reshape",
  summary: "same elements in row-major order, new shape (one entry may be -1: inferred)",
  kind: "layout",
  operands: ["x"],
  attrs: { shape: { kind: "ints", doc: "the new shape; one entry may be -1" } },
  tolerance: 0,
  infer([x], a) {
    return { dtype: x.dtype, shape: resolveReshape(x, attr.ints(a, "shape")) };
  },
  interpret([x]) {
    return x.data.slice();
  },
  vjp: linearVjp(({ b, node, dy }) => b.op("reshape", [dy], { shape: [...b.typeOf(node.inputs[0]).shape] })),
  inplace: "alias",
};

/** An explicit copy: gives a value a second name (e.g. `grad/w` when the gradient is shared). */
const copy: OpDef = {
  name: "copy",
  summary: "the operand's elements unchanged, as a new value",
  kind: "layout",
  operands: ["x"],
  attrs: {},
  tolerance: 0,
  infer([x]) {
    return x;
  },
  interpret([x]) {
    return x.data.slice();
  },
  vjp: linearVjp(({ dy }) => dy),
  inplace: "alias",
};

const transpose: OpDef = {
  name: "transpose",
  summary: "permutes axes: out.shape[i] = x.shape[perm[i]]",
  kind: "layout",
  operands: ["x"],
  attrs: { perm: { kind: "ints", doc: "a permutation of 0..rank-1" } },
  tolerance: 0,
  infer([x], a) {
    const perm = attr.ints(a, "perm");
    const rank = x.shape.length;
    const isPermutation = perm.length === rank && [...perm].sort((p, q) => p - q).every((p, i) => p === i);
    if (!isPermutation) {
      throw new ShapeError(`transpose: perm ${formatShape(perm)} is not a permutation of the ${rank} axes of ${formatType(x)}`);
    }
    return { dtype: x.dtype, shape: perm.map((p) => x.shape[p]) };
  },
  interpret([x], a, out) {
    const own = stridesOf(x.type.shape);
    return readStrided(x.data, out.shape, attr.ints(a, "perm").map((p) => own[p]));
  },
  vjp: linearVjp(({ b, node, dy }) => b.op("transpose", [dy], { perm: inversePermutation(attr.ints(node.attrs, "perm")) })),
};

/** The permutation q with q[perm[i]] = i, which undoes `perm`. */
function inversePermutation(perm: readonly number[]): number[] {
  const inverse = new Array<number>(perm.length);
  perm.forEach((p, i) => (inverse[p] = i));
  return inverse;
}

/** The per-axis sizes a slice takes (size -1 resolved), or a ShapeError. */
function resolveSlice(x: TensorType, begin: readonly number[], size: readonly number[]): number[] {
  const rank = x.shape.length;
  const where = `begin ${formatShape(begin)}, size ${formatShape(size)}`;
  if (begin.length !== rank || size.length !== rank) {
    throw new ShapeError(`slice: ${where} must have one entry per axis of ${formatType(x)}`);
  }
  return x.shape.map((dim, axis) => {
    const b = begin[axis];
    const s = size[axis] === -1 ? dim - b : size[axis];
    if (b < 0 || b > dim || s < 0 || b + s > dim) {
      throw new ShapeError(`slice: ${where} is out of bounds for ${formatType(x)} on axis ${axis}`);
    }
    return s;
  });
}

const slice: OpDef = {
  name: "slice",
  summary: "the box starting at begin with the given size per axis (size -1 = to the end)",
  kind: "layout",
  operands: ["x"],
  attrs: {
    begin: { kind: "ints", doc: "first index per axis, 0 <= begin <= dim" },
    size: { kind: "ints", doc: "extent per axis; -1 takes the rest of the axis" },
  },
  tolerance: 0,
  infer([x], a) {
    return { dtype: x.dtype, shape: resolveSlice(x, attr.ints(a, "begin"), attr.ints(a, "size")) };
  },
  interpret([x], a, out) {
    const strides = stridesOf(x.type.shape);
    const offset = attr.ints(a, "begin").reduce((sum, b, axis) => sum + b * strides[axis], 0);
    return readStrided(x.data, out.shape, strides, offset);
  },
  // The slice's box in a zero tensor of x's shape: pad dy back by what the slice cut off.
  vjp: linearVjp(({ b, node, dy }) => {
    const shape = b.typeOf(node.inputs[0]).shape;
    const begin = attr.ints(node.attrs, "begin");
    const after = shape.map((dim, axis) => dim - begin[axis] - node.type.shape[axis]);
    return b.op("pad", [dy], { before: [...begin], after });
  }),
};

const concat: OpDef = {
  name: "concat",
  summary: "joins one or more tensors along axis; other dims and dtypes must agree",
  kind: "layout",
  operands: { variadic: "xs", min: 1 },
  attrs: { axis: { kind: "int", doc: "the axis to join along; negative counts from the end" } },
  tolerance: 0,
  infer(xs, a) {
    const first = xs[0];
    if (first.shape.length === 0) throw new ShapeError(`concat: cannot concatenate scalars (${formatType(first)})`);
    const axis = axisFor("concat", attr.num(a, "axis"), first);
    let total = 0;
    for (const x of xs) {
      const agrees =
        x.dtype === first.dtype &&
        x.shape.length === first.shape.length &&
        x.shape.every((d, i) => i === axis || d === first.shape[i]);
      if (!agrees) {
        throw new ShapeError(`concat: ${formatType(x)} does not match ${formatType(first)} off axis ${axis}`);
      }
      total += x.shape[axis];
    }
    const shape = [...first.shape];
    shape[axis] = total;
    return { dtype: first.dtype, shape };
  },
  interpret(xs, a, out) {
    const axis = normalizeAxis(attr.num(a, "axis"), out.shape.length);
    const outer = product(out.shape.slice(0, axis));
    const inner = product(out.shape.slice(axis + 1));
    const res = new Float64Array(numel(out.shape));
    let pos = 0;
    for (let o = 0; o < outer; o++) {
      for (const x of xs) {
        const chunk = x.type.shape[axis] * inner;
        res.set(x.data.subarray(o * chunk, (o + 1) * chunk), pos);
        pos += chunk;
      }
    }
    return res;
  },
  // Operand i's cotangent is its own stretch of dy along the axis.
  vjp({ b, node, dy, needs }) {
    const axis = normalizeAxis(attr.num(node.attrs, "axis"), node.type.shape.length);
    let offset = 0;
    return node.inputs.map((x, i) => {
      const shape = b.typeOf(x).shape;
      const begin = shape.map((_, d) => (d === axis ? offset : 0));
      offset += shape[axis];
      return needs[i] ? b.op("slice", [dy], { begin, size: [...shape] }) : null;
    });
  },
};

const broadcastTo: OpDef = {
  name: "broadcastTo",
  summary: "repeats x along size-1 and missing leading axes to the given shape (NumPy rules, one-way)",
  kind: "layout",
  operands: ["x"],
  attrs: { shape: { kind: "ints", doc: "target shape" } },
  tolerance: 0,
  infer([x], a) {
    const shape = attr.ints(a, "shape");
    if (shape.some((d) => d < 0) || !broadcastsTo(x.shape, shape)) {
      throw new ShapeError(`broadcastTo: ${formatType(x)} does not broadcast to ${formatShape(shape)}`);
    }
    return { dtype: x.dtype, shape: [...shape] };
  },
  interpret([x], _a, out) {
    return readStrided(x.data, out.shape, broadcastStrides(x.type.shape, out.shape));
  },
  vjp: linearVjp(({ b, node, dy }) => unbroadcast(b, dy, b.typeOf(node.inputs[0]).shape)),
};

function checkIndices(op: string, indices: TensorType): void {
  if (indices.dtype !== "i32") throw new ShapeError(`${op}: indices must be i32, got ${formatType(indices)}`);
}

const gather: OpDef = {
  name: "gather",
  summary: "picks slices of table along axis by index: table.shape[:axis] ++ indices.shape ++ table.shape[axis+1:]",
  kind: "other",
  operands: ["table", "indices"],
  attrs: { axis: { kind: "int", default: 0, doc: "the table axis the indices select along" } },
  tolerance: 0,
  infer([table, indices], a) {
    if (table.shape.length === 0) throw new ShapeError(`gather: table must have rank >= 1, got ${formatType(table)}`);
    checkIndices("gather", indices);
    const axis = axisFor("gather", attr.num(a, "axis"), table);
    return {
      dtype: table.dtype,
      shape: [...table.shape.slice(0, axis), ...indices.shape, ...table.shape.slice(axis + 1)],
    };
  },
  interpret([table, indices], a) {
    const shape = table.type.shape;
    const axis = normalizeAxis(attr.num(a, "axis"), shape.length);
    const outer = product(shape.slice(0, axis));
    const dim = shape[axis];
    const inner = product(shape.slice(axis + 1));
    const count = indices.data.length;
    const res = new Float64Array(outer * count * inner);
    for (let k = 0; k < count; k++) {
      const index = indices.data[k];
      if (!(index >= 0 && index < dim)) {
        throw new Error(`gather: index ${index} is out of range for axis ${axis} of size ${dim} (table ${formatType(table.type)})`);
      }
    }
    for (let o = 0; o < outer; o++) {
      for (let k = 0; k < count; k++) {
        const from = (o * dim + indices.data[k]) * inner;
        res.set(table.data.subarray(from, from + inner), (o * count + k) * inner);
      }
    }
    return res;
  },
  indexOperands: (node, [table]) => {
    const axis = normalizeAxis(attr.num(node.attrs, "axis"), table.shape.length);
    return [{ operand: 1, size: table.shape[axis], what: `indices of gather along axis ${axis} of ${formatType(table)}` }];
  },
  // Every picked row sends its cotangent back to the row it came from, summing over repeats.
  vjp: linearVjp(({ b, node, dy }) => {
    const table = b.typeOf(node.inputs[0]);
    const axis = normalizeAxis(attr.num(node.attrs, "axis"), table.shape.length);
    return b.op("scatterAdd", [node.inputs[1], dy], { axis, size: table.shape[axis] });
  }),
};

const oneHot: OpDef = {
  name: "oneHot",
  summary: "indices.shape ++ [depth], 1 at each index and 0 elsewhere; an out-of-range index gives an all-zero row (as TensorFlow)",
  kind: "other",
  operands: ["indices"],
  attrs: {
    depth: { kind: "int", doc: "number of classes, >= 0" },
    dtype: { kind: "dtype", default: "f32" },
  },
  tolerance: 0,
  infer([indices], a) {
    checkIndices("oneHot", indices);
    const depth = attr.num(a, "depth");
    if (depth < 0) throw new ShapeError(`oneHot: depth ${depth} is negative`);
    return { dtype: attr.dtype(a, "dtype"), shape: [...indices.shape, depth] };
  },
  interpret([indices], a) {
    const depth = attr.num(a, "depth");
    const res = new Float64Array(indices.data.length * depth);
    indices.data.forEach((index, k) => {
      if (index >= 0 && index < depth) res[k * depth + index] = 1;
    });
    return res;
  },
  vjp: noCotangents,
};

export const LAYOUT_OPS: readonly OpDef[] = [reshape, copy, transpose, slice, concat, broadcastTo, gather, oneHot];
