// Reductions over axes (sum, mean, max) and softmax / logSoftmax.
//
// REDUCTION_OPS is the whole "reductions, normalization, losses" group of docs/IR.md: the op
// table imports it from here, and the normalization and loss records live in their own files
// (normalization.ts, losses.ts) to keep each one readable.

import type { GraphBuilder } from "../builder.ts";
import type { Attrs } from "../graph.ts";
import { attr, type OpDef, type Tensor, type VjpContext, type VjpRule } from "../op-def.ts";
import { formatType, numel, sameShape, ShapeError, type Shape, type TensorType } from "../types.ts";
import { linearVjp, scalar } from "../vjp-kit.ts";
import { LOSS_OPS } from "./losses.ts";
import { NORMALIZATION_OPS } from "./normalization.ts";
import { requireFloat, requireNumeric, resolveAxis, splitAtAxis } from "./operand-checks.ts";

const AXES_ATTRS = {
  axes: { kind: "ints", doc: "axes to reduce; negative counts from the end; [] is the identity" },
  keepDims: { kind: "bool", default: false, doc: "keep reduced axes as size-1 dimensions" },
} as const;

/** Which axes of `x` the `axes` attribute reduces, validated (range, duplicates). */
function reducedAxes(op: string, x: TensorType, attrs: Attrs): boolean[] {
  const axes = attr.ints(attrs, "axes");
  const reduced = new Array<boolean>(x.shape.length).fill(false);
  for (const a of axes) {
    const d = resolveAxis(op, a, x);
    if (reduced[d]) {
      throw new ShapeError(`${op}: axis ${d} appears twice in axes [${axes.join(",")}] for ${formatType(x)}`);
    }
    reduced[d] = true;
  }
  return reduced;
}

function reducedShape(shape: Shape, reduced: readonly boolean[], keepDims: boolean): number[] {
  const out: number[] = [];
  shape.forEach((d, i) => {
    if (!reduced[i]) out.push(d);
    else if (keepDims) out.push(1);
  });
  return out;
}

/**
 * For each element of a row-major tensor of `shape`, the flat index of the output element it
 * reduces into. Built once per call with an odometer, so the kernels' inner loops are one lookup.
 */
function outputIndexMap(shape: Shape, reduced: readonly boolean[]): Int32Array {
  const rank = shape.length;
  const outStride = new Array<number>(rank).fill(0);
  let s = 1;
  for (let d = rank - 1; d >= 0; d--) {
    if (!reduced[d]) {
      outStride[d] = s;
      s *= shape[d];
    }
  }
  const n = numel(shape);
  const map = new Int32Array(n);
  const index = new Array<number>(rank).fill(0);
  let pos = 0;
  for (let i = 0; i < n; i++) {
    map[i] = pos;
    for (let d = rank - 1; d >= 0; d--) {
      index[d]++;
      pos += outStride[d];
      if (index[d] < shape[d]) break;
      pos -= outStride[d] * shape[d];
      index[d] = 0;
    }
  }
  return map;
}

/** Number of input elements that fold into each output element. */
function reductionCount(shape: Shape, reduced: readonly boolean[]): number {
  let n = 1;
  shape.forEach((d, i) => {
    if (reduced[i]) n *= d;
  });
  return n;
}

function sumInto(op: string, x: Tensor, attrs: Attrs, out: TensorType): { sums: Float64Array; count: number } {
  const reduced = reducedAxes(op, x.type, attrs);
  const map = outputIndexMap(x.type.shape, reduced);
  const sums = new Float64Array(numel(out.shape));
  for (let i = 0; i < x.data.length; i++) sums[map[i]] += x.data[i];
  return { sums, count: reductionCount(x.type.shape, reduced) };
}

function axisReductionType(op: string, x: TensorType, attrs: Attrs): TensorType {
  const reduced = reducedAxes(op, x, attrs);
  return { dtype: x.dtype, shape: reducedShape(x.shape, reduced, attr.bool(attrs, "keepDims")) };
}

// ---------------------------------------------------------------------------------------------
// VJPs. A reduction's cotangent has the reduced shape; each input element receives the cotangent
// of the output element it folded into.

/** `v` (of x reduced by `node`, with or without keepDims) as a keepDims-shaped value. */
function withKeptDims(b: GraphBuilder, v: string, node: VjpContext["node"]): string {
  const x = b.typeOf(node.inputs[0]);
  const kept = reducedShape(x.shape, reducedAxes(node.op, x, node.attrs), true);
  return b.typeOf(v).shape.length === kept.length ? v : b.op("reshape", [v], { shape: kept });
}

/** The reduced-shape `v` repeated over the reduced axes, back to x's shape. */
function expandOverReduced(b: GraphBuilder, v: string, node: VjpContext["node"]): string {
  const kept = withKeptDims(b, v, node);
  const shape = b.typeOf(node.inputs[0]).shape;
  return sameShape(b.typeOf(kept).shape, shape) ? kept : b.op("broadcastTo", [kept], { shape: [...shape] });
}

const sumVjp: VjpRule = linearVjp(({ b, node, dy }) => expandOverReduced(b, dy, node));

const meanVjp: VjpRule = linearVjp(({ b, node, dy }) => {
  const x = b.typeOf(node.inputs[0]);
  const count = reductionCount(x.shape, reducedAxes("mean", x, node.attrs));
  return expandOverReduced(b, b.op("mul", [dy, scalar(b, 1 / count, x.dtype)]), node);
});

/** The rule of a one-operand op that is not linear: `grad` builds x's cotangent when needed. */
function onlyOperandVjp(grad: (ctx: VjpContext) => string): VjpRule {
  return (ctx) => [ctx.needs[0] ? grad(ctx) : null];
}

/**
 * As torch.amax: the cotangent of a maximum is split evenly among the elements that equal it,
 * so a tie of k elements gives each 1/k (the derivative of the mean of the tied elements).
 */
const maxVjp: VjpRule = onlyOperandVjp(({ b, node, dy }) => {
  const x = node.inputs[0];
  const dtype = b.typeOf(x).dtype;
  const keep = { axes: node.attrs.axes, keepDims: true };
  const isMax = b.op("cast", [b.op("equal", [x, withKeptDims(b, node.id, node)])], { dtype });
  const share = b.op("div", [withKeptDims(b, dy, node), b.op("sum", [isMax], keep)]);
  return b.op("mul", [isMax, share]);
});

/** d softmax: y * (dy - sum(dy * y)) along the axis. */
const softmaxVjp: VjpRule = onlyOperandVjp(({ b, node, dy }) => {
  const along = { axes: [node.attrs.axis as number], keepDims: true };
  const dot = b.op("sum", [b.op("mul", [dy, node.id])], along);
  return b.op("mul", [node.id, b.op("sub", [dy, dot])]);
});

/** d logSoftmax: dy - softmax(x) * sum(dy) along the axis, with softmax(x) = exp(y). */
const logSoftmaxVjp: VjpRule = onlyOperandVjp(({ b, node, dy }) => {
  const along = { axes: [node.attrs.axis as number], keepDims: true };
  const total = b.op("sum", [dy], along);
  return b.op("sub", [dy, b.op("mul", [b.op("exp", [node.id]), total])]);
});

// ---------------------------------------------------------------------------------------------
// records

const sum: OpDef = {
  name: "sum",
  summary: "sum over the given axes",
  kind: "reduction",
  operands: ["x"],
  attrs: AXES_ATTRS,
  tolerance: 1e-4,
  infer([x], attrs) {
    requireNumeric("sum", "x", x);
    return axisReductionType("sum", x, attrs);
  },
  interpret([x], attrs, out) {
    return sumInto("sum", x, attrs, out).sums;
  },
  vjp: sumVjp,
  fusion: { reduceHead: true },
};

const mean: OpDef = {
  name: "mean",
  summary: "arithmetic mean over the given axes (NaN over zero elements, as NumPy)",
  kind: "reduction",
  operands: ["x"],
  attrs: AXES_ATTRS,
  tolerance: 1e-4,
  infer([x], attrs) {
    requireFloat("mean", "x", x);
    return axisReductionType("mean", x, attrs);
  },
  interpret([x], attrs, out) {
    const { sums, count } = sumInto("mean", x, attrs, out);
    for (let i = 0; i < sums.length; i++) sums[i] /= count; // 0/0 is NaN for an empty reduction
    return sums;
  },
  vjp: meanVjp,
  fusion: { reduceHead: true },
};

const max: OpDef = {
  name: "max",
  summary: "maximum over the given axes (NaN propagates)",
  kind: "reduction",
  operands: ["x"],
  attrs: AXES_ATTRS,
  tolerance: 1e-6,
  infer([x], attrs) {
    requireNumeric("max", "x", x);
    const reduced = reducedAxes("max", x, attrs);
    // A max has no identity element, so an empty reduction has no answer (NumPy raises too).
    const empty = x.shape.findIndex((d, i) => reduced[i] && d === 0);
    if (empty >= 0) throw new ShapeError(`max: cannot reduce over empty axis ${empty} of ${formatType(x)}`);
    return axisReductionType("max", x, attrs);
  },
  interpret([x], attrs, out) {
    const map = outputIndexMap(x.type.shape, reducedAxes("max", x.type, attrs));
    const result = new Float64Array(numel(out.shape)).fill(-Infinity);
    for (let i = 0; i < x.data.length; i++) {
      const v = x.data[i];
      const m = result[map[i]];
      // Once an output is NaN it stays NaN; otherwise a NaN input or a larger value replaces it.
      if (v > m || (v !== v && m === m)) result[map[i]] = v;
    }
    return result;
  },
  vjp: maxVjp,
  fusion: { reduceHead: true },
};

/**
 * Shared kernel of softmax and logSoftmax: along `axis`, shifts by the max (so exp never
 * overflows) and writes either exp(x - max) / s or x - max - log(s), where s = Σ exp(x - max).
 */
function softmaxAlong(x: Tensor, axisAttr: number, log: boolean): Float64Array {
  const axis = resolveAxis(log ? "logSoftmax" : "softmax", axisAttr, x.type);
  const { outer, len, inner } = splitAtAxis(x.type.shape, axis);
  const xs = x.data;
  const out = new Float64Array(xs.length);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * len * inner + i;
      let m = -Infinity;
      for (let j = 0; j < len; j++) m = Math.max(m, xs[base + j * inner]);
      let s = 0;
      for (let j = 0; j < len; j++) s += Math.exp(xs[base + j * inner] - m);
      const logS = Math.log(s);
      for (let j = 0; j < len; j++) {
        const k = base + j * inner;
        out[k] = log ? xs[k] - m - logS : Math.exp(xs[k] - m) / s;
      }
    }
  }
  return out;
}

function softmaxRecord(name: "softmax" | "logSoftmax", summary: string): OpDef {
  return {
    name,
    summary,
    kind: "normalization",
    operands: ["x"],
    attrs: { axis: { kind: "int", default: -1, doc: "axis the distribution runs along" } },
    tolerance: 1e-5,
    infer([x], attrs) {
      requireFloat(name, "x", x);
      resolveAxis(name, attr.num(attrs, "axis"), x);
      return x;
    },
    interpret([x], attrs) {
      return softmaxAlong(x, attr.num(attrs, "axis"), name === "logSoftmax");
    },
    vjp: name === "softmax" ? softmaxVjp : logSoftmaxVjp,
  };
}

const softmax = softmaxRecord("softmax", "exp(x) / sum(exp(x)) along an axis, computed with the max subtracted");
const logSoftmax = softmaxRecord("logSoftmax", "x - log(sum(exp(x))) along an axis, computed with the max subtracted");

export const REDUCTION_OPS: readonly OpDef[] = [
  sum,
  mean,
  max,
  softmax,
  logSoftmax,
  ...NORMALIZATION_OPS,
  ...LOSS_OPS,
];
