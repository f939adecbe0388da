// Quantization op records (docs/IR.md, "Quantization"): quantize, dequantize, requantize,
// fakeQuant (+ its backward fakeQuantGrad) and the integer contraction matmulInteger.
//
// Affine quantization maps a real x to an integer q = clamp(round(x / scale) + zeroPoint, qmin,
// qmax) and back to (q - zeroPoint) * scale; the exact f32 formulas (PyTorch's) are in
// quant-kit.ts. `scale` (a float of x's dtype; f32 but for 16-bit storage, where every kernel
// still computes in f32) and `zeroPoint` (i32) are tensors of one shape: per tensor (attribute
// `axis` null) they hold one element (shape [] or [1]); per channel they are [C] with C the size
// of x's axis `axis`, and element i of x uses the parameters of its index along that axis.
//
// The integer GEMM is split in two ops so that the contraction stays a pure integer dot product
// (what i32x4.dot_i16x8_s and dot4I8Packed compute) and everything after it is elementwise on
// the i32 accumulator, where fuse-epilogues can fold it into the GEMM like a bias and relu:
//   matmulInteger(a: i8|u8, w: i8) -> i32        sum_k a[m,k] w[k,n], exact
//   [add/sub i32 bias]                           bias and the activation zero point's correction
//                                                -za * sum_k w[k,n], folded into one i32 [N] bias
//   requantize(acc, multiplier, zp, {axis})      -> i8/u8, multiplier = sa * sw[n] / so (f32)
//   or dequantize(acc, sa * sw[n], 0, {axis})    -> f32
// (docs/IR.md gives the reasons against one qmatmul op with five operands.)
//
// convInteger is the same split for conv2d: sum over the taps of (x - inputZeroPoint) * w in
// i32, so a tap in the padding (whose value is the zero point, as in ONNX ConvInteger and
// QLinearConv) adds exactly 0 and the result needs no per-pixel border correction; the bias,
// requantize or dequantize follow as for matmulInteger. The zero point is an attribute: it is a
// number calibration fixed at compile time, and the kernels fold it into their padding fill.

import type { Attrs } from "../graph.ts";
import { attr, type AttrSpec, type OpDef, type Tensor, type VjpContext } from "../op-def.ts";
import { formatType, numel, ShapeError, type DType, type TensorType } from "../types.ts";
import { FLOATS } from "../dtypes.ts";
import { noCotangents } from "../vjp-kit.ts";
import { CONV_ATTRS, convGeometry, filterTaps, forEachConvTap } from "./nn.ts";
import { requireSameDtype, resolveAxis, splitAtAxis } from "./operand-checks.ts";
import {
  clampTo, dequantizeValue, isQuantDType, QUANT_RANGES, roundedProduct, roundedQuotient,
} from "./quant-kit.ts";

const AXIS: AttrSpec = {
  kind: "int", nullable: true, default: null,
  doc: "null: one scale and zero point for the whole tensor; else the axis whose index picks them",
};
const QDTYPE: AttrSpec = { kind: "dtype", default: "i8", doc: '"i8" or "u8": the quantized dtype' };
const QMIN: AttrSpec = { kind: "int", doc: "smallest quantized value (e.g. -128, 0, -127)" };
const QMAX: AttrSpec = { kind: "int", doc: "largest quantized value (e.g. 127, 255)" };

/** The bound on fakeQuant's qmin/qmax: results equal the exact formula below it (quant-kit.ts). */
const QRANGE_LIMIT = 2 ** 16;

function requireDType(op: string, what: string, t: TensorType, allowed: readonly DType[]): void {
  if (!allowed.includes(t.dtype)) {
    throw new ShapeError(`${op}: ${what} must be ${allowed.join(" or ")}, got ${formatType(t)}`);
  }
}

/**
 * Checks the scale and zero point of a quantization op against its data operand and `axis`;
 * returns the resolved axis (null per tensor).
 */
export function checkQuantParams(op: string, data: TensorType, scale: TensorType, zeroPoint: TensorType, attrs: Attrs, scaleName = "scale"): number | null {
  requireDType(op, scaleName, scale, FLOATS);
  requireDType(op, "zeroPoint", zeroPoint, ["i32"]);
  const given = attrs.axis as number | null;
  const shapes = `${scaleName} is ${formatType(scale)}, zeroPoint is ${formatType(zeroPoint)}`;
  if (scale.shape.length !== zeroPoint.shape.length || scale.shape.some((d, i) => d !== zeroPoint.shape[i])) {
    throw new ShapeError(`${op}: ${scaleName} and zeroPoint must have one shape: ${shapes}`);
  }
  if (given === null) {
    if (scale.shape.length > 1 || numel(scale.shape) !== 1) {
      throw new ShapeError(`${op}: per-tensor ${scaleName} and zeroPoint must hold one element (shape [] or [1]), got ${shapes}; give axis for per-channel parameters`);
    }
    return null;
  }
  const axis = resolveAxis(op, given, data);
  const channels = data.shape[axis];
  if (scale.shape.length !== 1 || scale.shape[0] !== channels) {
    throw new ShapeError(`${op}: per-channel ${scaleName} and zeroPoint must be [${channels}] (axis ${given} of ${formatType(data)}), got ${shapes}`);
  }
  return axis;
}

/** For each element of a tensor of `shape`, the index of its scale and zero point. */
export function channelIndex(shape: readonly number[], axis: number | null): (i: number) => number {
  if (axis === null) return () => 0;
  const { len, inner } = splitAtAxis(shape, axis);
  return (i) => Math.floor(i / inner) % len;
}

function qRange(op: string, attrs: Attrs): readonly [number, number] {
  const lo = attr.num(attrs, "qmin");
  const hi = attr.num(attrs, "qmax");
  if (lo > hi) throw new ShapeError(`${op}: qmin ${lo} must not exceed qmax ${hi}`);
  if (Math.abs(lo) > QRANGE_LIMIT || Math.abs(hi) > QRANGE_LIMIT) {
    throw new ShapeError(`${op}: qmin and qmax must lie within +-${QRANGE_LIMIT}, got [${lo}, ${hi}]`);
  }
  return [lo, hi];
}

function quantDType(op: string, attrs: Attrs): "i8" | "u8" {
  const d = attr.dtype(attrs, "dtype");
  if (!isQuantDType(d)) throw new ShapeError(`${op}: dtype must be "i8" or "u8", got "${d}"`);
  return d;
}

/** Element i of `data` with its channel's scale (or multiplier) and zero point. */
function perElement(data: Tensor, scale: Tensor, zeroPoint: Tensor, attrs: Attrs, fn: (v: number, s: number, z: number) => number): Float64Array {
  const axis = attrs.axis === null ? null : resolveAxis("quant", attr.num(attrs, "axis"), data.type);
  const channel = channelIndex(data.type.shape, axis);
  const out = new Float64Array(data.data.length);
  for (let i = 0; i < out.length; i++) {
    const c = channel(i);
    out[i] = fn(data.data[i], scale.data[c], zeroPoint.data[c]);
  }
  return out;
}

const quantize: OpDef = {
  name: "quantize",
  summary: "x (float) to i8/u8: clamp(round_half_even(x * (1/scale)) + zeroPoint), per tensor or per channel along axis",
  kind: "elementwise",
  operands: ["x", "scale", "zeroPoint"],
  attrs: { axis: AXIS, dtype: QDTYPE },
  tolerance: 0,
  infer([x, scale, zeroPoint], attrs) {
    requireDType("quantize", "x", x, FLOATS);
    checkQuantParams("quantize", x, scale, zeroPoint, attrs);
    requireSameDtype("quantize", ["x", "scale"], [x, scale]);
    return { dtype: quantDType("quantize", attrs), shape: x.shape };
  },
  interpret([x, scale, zeroPoint], attrs, out) {
    const [lo, hi] = QUANT_RANGES[out.dtype as "i8" | "u8"];
    return perElement(x, scale, zeroPoint, attrs, (v, s, z) => clampTo(roundedQuotient(v, s) + z, lo, hi));
  },
  // An integer result carries no cotangent (as cast to an integer): QAT differentiates fakeQuant.
  vjp: noCotangents,
  inplace: "overwrite",
};

const dequantize: OpDef = {
  name: "dequantize",
  summary: "q (i8/u8/i32) to scale's float dtype: (q - zeroPoint) * scale, per tensor or per channel along axis",
  kind: "elementwise",
  operands: ["q", "scale", "zeroPoint"],
  attrs: { axis: AXIS },
  tolerance: 0,
  infer([q, scale, zeroPoint], attrs) {
    requireDType("dequantize", "q", q, ["i8", "u8", "i32"]);
    checkQuantParams("dequantize", q, scale, zeroPoint, attrs);
    return { dtype: scale.dtype, shape: q.shape };
  },
  interpret([q, scale, zeroPoint], attrs) {
    return perElement(q, scale, zeroPoint, attrs, (v, s, z) => dequantizeValue(v, z, s));
  },
  // Linear in scale: dscale[c] = sum over channel c of dy * (q - zeroPoint). q and zeroPoint are
  // integers and take none.
  vjp: ({ b, node, dy, needs }: VjpContext) => {
    if (!needs[1]) return [null, null, null];
    const [q, scale, zeroPoint] = node.inputs;
    const scaleShape = b.typeOf(scale).shape;
    const ones = b.op("const", [], { value: 1, dtype: b.typeOf(scale).dtype, shape: [...scaleShape] });
    const centered = b.op("dequantize", [q, ones, zeroPoint], { axis: node.attrs.axis });
    const product = b.op("mul", [dy, centered]);
    const rank = b.typeOf(q).shape.length;
    const axis = node.attrs.axis === null ? null : resolveAxis("dequantize", attr.num(node.attrs, "axis"), b.typeOf(q));
    const axes = Array.from({ length: rank }, (_, d) => d).filter((d) => d !== axis);
    const summed = axes.length ? b.op("sum", [product], { axes, keepDims: false }) : product;
    const sameShape = b.typeOf(summed).shape.length === scaleShape.length;
    return [null, sameShape ? summed : b.op("reshape", [summed], { shape: [...scaleShape] }), null];
  },
  inplace: "overwrite",
};

const requantize: OpDef = {
  name: "requantize",
  summary: "i32 accumulator to i8/u8: clamp(round_half_even(f32(acc) * multiplier) + zeroPoint), per tensor or per channel",
  kind: "elementwise",
  operands: ["acc", "multiplier", "zeroPoint"],
  attrs: { axis: AXIS, dtype: QDTYPE },
  tolerance: 0,
  infer([acc, multiplier, zeroPoint], attrs) {
    requireDType("requantize", "acc", acc, ["i32"]);
    checkQuantParams("requantize", acc, multiplier, zeroPoint, attrs, "multiplier");
    return { dtype: quantDType("requantize", attrs), shape: acc.shape };
  },
  interpret([acc, multiplier, zeroPoint], attrs, out) {
    const [lo, hi] = QUANT_RANGES[out.dtype as "i8" | "u8"];
    return perElement(acc, multiplier, zeroPoint, attrs, (v, m, z) => clampTo(roundedProduct(v, m) + z, lo, hi));
  },
  vjp: noCotangents,
  inplace: "overwrite",
};

const FAKE_ATTRS = { axis: AXIS, qmin: QMIN, qmax: QMAX } as const;

const fakeQuant: OpDef = {
  name: "fakeQuant",
  summary: "quantize then dequantize in f32 over [qmin, qmax]; straight-through gradient inside the range, zero outside",
  kind: "elementwise",
  operands: ["x", "scale", "zeroPoint"],
  attrs: FAKE_ATTRS,
  tolerance: 0,
  infer([x, scale, zeroPoint], attrs) {
    requireDType("fakeQuant", "x", x, FLOATS);
    checkQuantParams("fakeQuant", x, scale, zeroPoint, attrs);
    requireSameDtype("fakeQuant", ["x", "scale"], [x, scale]);
    qRange("fakeQuant", attrs);
    return x;
  },
  interpret([x, scale, zeroPoint], attrs) {
    const [lo, hi] = qRange("fakeQuant", attrs);
    return perElement(x, scale, zeroPoint, attrs, (v, s, z) => dequantizeValue(clampTo(roundedQuotient(v, s) + z, lo, hi), z, s));
  },
  // torch.fake_quantize_per_{tensor,channel}_affine: dx = dy where the unclamped quantized value
  // lies in [qmin, qmax], else 0. Scale and zero point take no gradient (no LSQ).
  vjp: ({ b, node, dy, needs }: VjpContext) => {
    if (!needs[0]) return [null, null, null];
    return [b.op("fakeQuantGrad", [dy, ...node.inputs], { ...node.attrs }), null, null];
  },
  inplace: "overwrite",
};

const fakeQuantGrad: OpDef = {
  name: "fakeQuantGrad",
  summary: "fakeQuant's backward: dy where round_half_even(x * (1/scale)) + zeroPoint lies in [qmin, qmax], else 0",
  kind: "elementwise",
  operands: ["dy", "x", "scale", "zeroPoint"],
  attrs: FAKE_ATTRS,
  tolerance: 0,
  infer([dy, x, scale, zeroPoint], attrs) {
    requireDType("fakeQuantGrad", "dy", dy, FLOATS);
    requireSameDtype("fakeQuantGrad", ["dy", "x", "scale"], [dy, x, scale]);
    if (dy.shape.length !== x.shape.length || dy.shape.some((d, i) => d !== x.shape[i])) {
      throw new ShapeError(`fakeQuantGrad: dy and x must have one shape, got ${formatType(dy)} and ${formatType(x)}`);
    }
    checkQuantParams("fakeQuantGrad", x, scale, zeroPoint, attrs);
    qRange("fakeQuantGrad", attrs);
    return dy;
  },
  interpret([dy, x, scale, zeroPoint], attrs) {
    const [lo, hi] = qRange("fakeQuantGrad", attrs);
    const inRange = perElement(x, scale, zeroPoint, attrs, (v, s, z) => {
      const q = roundedQuotient(v, s) + z;
      return q >= lo && q <= hi ? 1 : 0;
    });
    return inRange.map((keep, i) => (keep ? dy.data[i] : 0));
  },
  // Linear in dy (a mask): its cotangent is masked the same way; x, scale, zeroPoint take none
  // (the mask is piecewise constant in them).
  vjp: ({ b, node, dy, needs }: VjpContext) => [needs[0] ? b.op("fakeQuantGrad", [dy, ...node.inputs.slice(1)], { ...node.attrs }) : null, null, null, null],
  inplace: "overwrite",
};

const matmulInteger: OpDef = {
  name: "matmulInteger",
  summary: "integer matrix product a[..., M, K] (i8/u8) x w[K, N] (i8/u8) with exact i32 accumulation",
  kind: "contraction",
  operands: ["a", "w"],
  attrs: {},
  tolerance: 0,
  infer([a, w]) {
    requireDType("matmulInteger", "a", a, ["i8", "u8"]);
    requireDType("matmulInteger", "w", w, ["i8", "u8"]);
    if (a.shape.length < 2) throw new ShapeError(`matmulInteger: a must have rank >= 2 ([..., M, K]), got ${formatType(a)}`);
    if (w.shape.length !== 2) throw new ShapeError(`matmulInteger: w must have rank 2 ([K, N]), got ${formatType(w)}`);
    const k = a.shape[a.shape.length - 1];
    if (k !== w.shape[0]) {
      throw new ShapeError(`matmulInteger: inner dimensions differ: a is ${formatType(a)}, w is ${formatType(w)} (K ${k} vs ${w.shape[0]})`);
    }
    return { dtype: "i32", shape: [...a.shape.slice(0, -1), w.shape[1]] };
  },
  interpret([a, w], _attrs, out) {
    const k = w.type.shape[0];
    const n = w.type.shape[1];
    const rows = numel(a.type.shape.slice(0, -1));
    const result = new Float64Array(numel(out.shape));
    for (let i = 0; i < rows; i++) {
      for (let p = 0; p < k; p++) {
        const aip = a.data[i * k + p];
        for (let j = 0; j < n; j++) result[i * n + j] += aip * w.data[p * n + j];
      }
    }
    return result;
  },
  vjp: noCotangents,
  // 2 per multiply-add, as matmul.
  flops(node, [a]) {
    return 2 * numel(node.type.shape) * a.shape[a.shape.length - 1];
  },
};

/** convInteger's geometry: conv2d's checks on stand-in float types of the same shapes. */
export function convIntegerGeometry(x: TensorType, w: TensorType, attrs: Attrs) {
  const stand = (t: TensorType): TensorType => ({ dtype: "f32", shape: t.shape });
  return convGeometry("convInteger", stand(x), stand(w), attrs);
}

const convInteger: OpDef = {
  name: "convInteger",
  summary: "integer 2-D convolution, x NHWC (i8/u8) x w [kh, kw, C/groups, O] (i8/u8) -> i32: sum of (x - inputZeroPoint) * w, padding taps add 0",
  kind: "contraction",
  operands: ["x", "w"],
  attrs: { ...CONV_ATTRS, inputZeroPoint: { kind: "int", default: 0, doc: "x's zero point: subtracted from every x, the value of the padding" } },
  tolerance: 0,
  infer([x, w], attrs) {
    requireDType("convInteger", "x", x, ["i8", "u8"]);
    requireDType("convInteger", "w", w, ["i8", "u8"]);
    const z = attr.num(attrs, "inputZeroPoint");
    const [lo, hi] = QUANT_RANGES[x.dtype as "i8" | "u8"];
    if (!Number.isInteger(z) || z < lo || z > hi) throw new ShapeError(`convInteger: inputZeroPoint must be an integer in x's range [${lo}, ${hi}] (${x.dtype}), got ${z}`);
    return { dtype: "i32", shape: convIntegerGeometry(x, w, attrs).out.shape };
  },
  interpret([x, w], attrs, out) {
    const { win } = convIntegerGeometry(x.type, w.type, attrs);
    const [, , groupChannels, outChannels] = w.type.shape;
    const groups = attr.num(attrs, "groups");
    const z = attr.num(attrs, "inputZeroPoint");
    const groupOut = outChannels / groups;
    const result = new Float64Array(numel(out.shape));
    forEachConvTap(x.type.shape, w.type.shape, win, (xBase, wBase, oBase) => {
      for (let g = 0; g < groups; g++) {
        for (let ci = 0; ci < groupChannels; ci++) {
          const xv = x.data[xBase + g * groupChannels + ci] - z;
          const wRow = wBase + ci * outChannels + g * groupOut;
          const oRow = oBase + g * groupOut;
          for (let o = 0; o < groupOut; o++) result[oRow + o] += xv * w.data[wRow + o];
        }
      }
    });
    return result;
  },
  vjp: noCotangents,
  flops: (node, [, w]) => 2 * numel(node.type.shape) * filterTaps(w.shape),
};

export const QUANT_OPS: readonly OpDef[] = [quantize, dequantize, requantize, fakeQuant, fakeQuantGrad, matmulInteger, convInteger];
