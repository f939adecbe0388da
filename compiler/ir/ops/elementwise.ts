// Elementwise op records (docs/IR.md, "Elementwise"): unary math, broadcasting binary arithmetic
// and comparisons, where, cast, const and dropout.
//
// Kernels compute in float64 and do not round; the interpreter stores results through
// dtype-round.ts. The exceptions are where an op's integer semantics cannot be had by rounding a
// float64 result afterwards: integer `mul` (an i32 product can exceed 2^53), integer `div`
// (truncation), and `cast` (saturation). Integer results are normalized so they are never -0.
//
// VJPs are formulas (elementwise-kit.ts) next to each kernel. Where a derivative has a choice at
// a point (kinks, ties, 0^0) it follows PyTorch, so gradients match a PyTorch model exactly.

import type { OpDef } from "../op-def.ts";
import { attr } from "../op-def.ts";
import { dropoutMask } from "../rng.ts";
import { formatShape, formatType, isFloat, numel, ShapeError, type DType } from "../types.ts";
import { linearVjp, noCotangents } from "../vjp-kit.ts";
import { expandTo } from "./broadcast.ts";
import { erfc } from "./erf.ts";
import {
  binary, broadcastFor, chainRule, checkAccepts, checkSameDType, comparison, cotangentRule, mapUnary, unary, unaryWithAttrs,
  type Binary, type Formula, type Unary,
} from "./elementwise-kit.ts";

const FLOAT = "float" as const;
const NUMERIC = "numeric" as const;
/** Fusion role of the ops with a float element function (FLOAT_UNARY/BINARY_FUNCTIONS, gelu). */
const CHAIN = { chain: true } as const;

/** Inclusive value ranges of the integer dtypes (and bool as 0/1). */
const INT_RANGE: Partial<Record<DType, readonly [number, number]>> = {
  i32: [-(2 ** 31), 2 ** 31 - 1],
  i8: [-128, 127],
  u8: [0, 255],
  bool: [0, 1],
};

function sigmoid(x: number): number {
  // Two branches so exp never overflows and small results keep their relative precision.
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

/** Exact GELU, x * Phi(x), via erfc so the far left tail keeps its relative precision. */
function geluExact(x: number): number {
  return 0.5 * x * erfc(-x * Math.SQRT1_2);
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** Tanh GELU, 0.5 x (1 + tanh(u)), written as x * sigmoid(2u) (equal; no cancellation at x << 0). */
function geluTanh(x: number): number {
  const u = SQRT_2_OVER_PI * (x + 0.044715 * x * x * x);
  return x * sigmoid(2 * u);
}

const GELU_CUBIC = 0.044715;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/**
 * d/dx of exact GELU x·Phi(x) is Phi(x) + x·phi(x). The IR has no erf op, so Phi(x) is read off
 * the forward result as y / x (exact up to rounding), and is 1/2 at x = 0 where that is 0/0.
 */
function geluExactPartial(f: Formula): string {
  const cdf = f.where(f.equal(f.x, 0), 0.5, f.div(f.y, f.x));
  const pdf = f.mul(INV_SQRT_2PI, f.exp(f.mul(-0.5, f.mul(f.x, f.x))));
  return f.add(cdf, f.mul(f.x, pdf));
}

/**
 * d/dx of tanh GELU x·s with s = sigmoid(2u), u = c(x + k x^3): s + 2x·s(1-s)·c(1 + 3k x^2)
 * (the same as PyTorch's 0.5(1 + tanh u) + 0.5x(1 - tanh^2 u)·u', written with s).
 */
function geluTanhPartial(f: Formula): string {
  const x2 = f.mul(f.x, f.x);
  const s = f.sigmoid(f.mul(2 * SQRT_2_OVER_PI, f.mul(f.x, f.add(1, f.mul(GELU_CUBIC, x2)))));
  const du = f.mul(SQRT_2_OVER_PI, f.add(1, f.mul(3 * GELU_CUBIC, x2)));
  return f.add(s, f.mul(f.mul(2, f.x), f.mul(f.mul(s, f.sub(1, s)), du)));
}

/**
 * d max(p, q) / dp: 1 where p wins, 0 where it loses, and 1/2 on ties, so both operands share
 * the cotangent of a tie (PyTorch's rule for maximum/minimum).
 */
function winnerShare(f: Formula, p: string, q: string): string {
  return f.add(f.indicator(f.greater(p, q)), f.mul(0.5, f.indicator(f.equal(p, q))));
}

/** d(a^b)/da = b·a^(b-1), except 0 where b = 0 (PyTorch: no 0·inf = NaN at a = 0). */
function powBasePartial(f: Formula): string {
  return f.where(f.equal(f.b, 0), 0, f.mul(f.b, f.pow(f.a, f.sub(f.b, 1))));
}

/** d(a^b)/db = log(a)·a^b, except 0 where a = 0 and b >= 0 (PyTorch: no log(0)·0 = NaN). */
function powExponentPartial(f: Formula): string {
  const full = f.mul(f.log(f.a), f.y);
  return f.where(f.equal(f.a, 0), f.where(f.less(f.b, 0), full, 0), full);
}

/** C99 pow: unlike JavaScript's `**`, pow(1, y) = 1 for every y and pow(-1, ±inf) = 1. */
function powC(a: number, b: number): number {
  if (a === 1 || b === 0) return 1;
  if (a === -1 && (b === Infinity || b === -Infinity)) return 1;
  return Math.pow(a, b);
}

/** Integer division truncating toward zero; division by zero gives 0 (WebAssembly would trap). */
function divTruncate(a: number, b: number): number {
  return b === 0 ? 0 : Math.trunc(a / b) + 0;
}

/**
 * The float element function of each arithmetic op, shared by the op's record below and by the
 * `fused` op (fused.ts), which evaluates chains of these ops per element with the same math.
 */
export const FLOAT_UNARY_FUNCTIONS: Readonly<Record<string, Unary>> = {
  neg: (x) => -x,
  exp: Math.exp,
  log: Math.log,
  sqrt: Math.sqrt,
  rsqrt: (x) => 1 / Math.sqrt(x),
  abs: Math.abs,
  tanh: Math.tanh,
  sigmoid,
  relu: (x) => Math.max(x, 0),
};

/** Ternary element functions of body steps: where's condition is its bool operand as 0 or 1. */
export const FLOAT_TERNARY_FUNCTIONS: Readonly<Record<string, (c: number, a: number, b: number) => number>> = {
  where: (c, a, b) => (c !== 0 ? a : b),
};

/** gelu's element function by its `approximate` attribute. */
export const GELU_FUNCTIONS: Readonly<Record<string, Unary>> = { none: geluExact, tanh: geluTanh };

export const FLOAT_BINARY_FUNCTIONS: Readonly<Record<string, Binary>> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  pow: powC,
  maximum: Math.max,
  minimum: Math.min,
};

const U = FLOAT_UNARY_FUNCTIONS;
const B = FLOAT_BINARY_FUNCTIONS;

// Derivatives reuse the forward result y where that saves work (exp, sqrt, rsqrt, tanh, sigmoid).
const UNARY_OPS: readonly OpDef[] = [
  unary("neg", "negation, -x", U.neg, {
    accepts: NUMERIC, tolerance: 1e-6, fusion: CHAIN, integerFn: (x) => 0 - x,
    vjp: cotangentRule((f) => f.neg(f.dy)),
  }),
  unary("exp", "e^x", U.exp, { accepts: FLOAT, tolerance: 1e-5, fusion: CHAIN, vjp: chainRule((f) => f.y) }),
  unary("log", "natural logarithm (log 0 = -inf, negative -> NaN)", U.log, {
    accepts: FLOAT, tolerance: 1e-5, fusion: CHAIN,
    vjp: cotangentRule((f) => f.div(f.dy, f.x)),
  }),
  unary("sqrt", "square root (negative -> NaN)", U.sqrt, {
    accepts: FLOAT, tolerance: 1e-6, fusion: CHAIN,
    vjp: cotangentRule((f) => f.div(f.dy, f.mul(2, f.y))),
  }),
  unary("rsqrt", "reciprocal square root 1/sqrt(x)", U.rsqrt, {
    accepts: FLOAT, tolerance: 1e-5, fusion: CHAIN,
    vjp: chainRule((f) => f.mul(-0.5, f.mul(f.y, f.mul(f.y, f.y)))), // -x^(-3/2) / 2 = -y^3 / 2
  }),
  unary("abs", "absolute value", U.abs, { accepts: NUMERIC, tolerance: 1e-6, fusion: CHAIN, vjp: chainRule((f) => f.sign(f.x)) }),
  unary("tanh", "hyperbolic tangent", U.tanh, {
    accepts: FLOAT, tolerance: 1e-5, fusion: CHAIN,
    vjp: chainRule((f) => f.sub(1, f.mul(f.y, f.y))),
  }),
  unary("sigmoid", "logistic function 1/(1+e^-x), overflow-free", U.sigmoid, {
    accepts: FLOAT, tolerance: 1e-5, fusion: CHAIN,
    vjp: chainRule((f) => f.mul(f.y, f.sub(1, f.y))),
  }),
  // A select, not dy * [x > 0], so an infinite dy where x <= 0 gives 0 rather than NaN.
  unary("relu", "max(x, 0); NaN stays NaN", U.relu, {
    accepts: NUMERIC, tolerance: 1e-6, fusion: CHAIN,
    vjp: cotangentRule((f) => f.where(f.greater(f.x, 0), f.dy, 0)),
  }),
  unaryWithAttrs(
    "gelu",
    'Gaussian error linear unit: x * Phi(x) ("none", exact erf form) or its tanh approximation',
    { approximate: { kind: "string", default: "none", oneOf: ["none", "tanh"], doc: "erf form or tanh approximation" } },
    (attrs) => GELU_FUNCTIONS[attr.str(attrs, "approximate")],
    {
      accepts: FLOAT, tolerance: 1e-5, fusion: CHAIN,
      vjp: chainRule((f) => (attr.str(f.attrs, "approximate") === "tanh" ? geluTanhPartial(f) : geluExactPartial(f))),
    },
  ),
];

const BINARY_OPS: readonly OpDef[] = [
  binary("add", "a + b, broadcasting", B.add, {
    accepts: NUMERIC, tolerance: 1e-6, fusion: CHAIN,
    vjp: cotangentRule((f) => f.dy, (f) => f.dy),
  }),
  binary("sub", "a - b, broadcasting", B.sub, {
    accepts: NUMERIC, tolerance: 1e-6, fusion: CHAIN,
    vjp: cotangentRule((f) => f.dy, (f) => f.neg(f.dy)),
  }),
  // Math.imul is the exact two's-complement product; a float64 product of two i32 can need 62 bits.
  binary("mul", "a * b, broadcasting", B.mul, {
    accepts: NUMERIC, tolerance: 1e-6, fusion: CHAIN, integerFn: Math.imul,
    vjp: chainRule((f) => f.b, (f) => f.a),
  }),
  // d/db = -a/b^2, computed as -(y/b) like PyTorch.
  binary("div", "a / b, broadcasting; integers truncate toward zero and x / 0 = 0", B.div, {
    accepts: NUMERIC, tolerance: 1e-6, fusion: CHAIN, integerFn: divTruncate,
    vjp: cotangentRule((f) => f.div(f.dy, f.b), (f) => f.neg(f.mul(f.dy, f.div(f.y, f.b)))),
  }),
  // No SIMD element function: pow stays out of fusedReduce bodies (their kernels walk SIMD lanes).
  binary("pow", "a ^ b, broadcasting, floats only (C99 pow special cases)", B.pow, {
    accepts: FLOAT, tolerance: 1e-5, fusion: { chain: true, scalarOnly: true },
    vjp: chainRule(powBasePartial, powExponentPartial),
  }),
  binary("maximum", "elementwise max, broadcasting; NaN propagates", B.maximum, {
    accepts: NUMERIC, tolerance: 1e-6, fusion: CHAIN,
    vjp: chainRule((f) => winnerShare(f, f.a, f.b), (f) => winnerShare(f, f.b, f.a)),
  }),
  binary("minimum", "elementwise min, broadcasting; NaN propagates", B.minimum, {
    accepts: NUMERIC, tolerance: 1e-6, fusion: CHAIN,
    vjp: chainRule((f) => winnerShare(f, f.b, f.a), (f) => winnerShare(f, f.a, f.b)),
  }),
];

const COMPARISON_OPS: readonly OpDef[] = [
  comparison("less", "a < b as bool, broadcasting", (a, b) => a < b, NUMERIC),
  comparison("greater", "a > b as bool, broadcasting", (a, b) => a > b, NUMERIC),
  comparison("equal", "a == b as bool, broadcasting (bool operands allowed)", (a, b) => a === b, "any"),
];

const where: OpDef = {
  name: "where",
  summary: "cond ? a : b, broadcasting all three",
  kind: "elementwise",
  operands: ["cond", "a", "b"],
  attrs: {},
  tolerance: 0,
  fusion: { chain: true, condition: 0 },
  infer([cond, a, b]) {
    if (cond.dtype !== "bool") throw new ShapeError(`where: condition must be bool, got ${formatType(cond)}`);
    checkSameDType("where", a, b);
    return { dtype: a.dtype, shape: broadcastFor("where", [cond, a, b]) };
  },
  interpret([cond, a, b], _attrs, out) {
    const c = expandTo(cond.data, cond.type.shape, out.shape);
    const av = expandTo(a.data, a.type.shape, out.shape);
    const bv = expandTo(b.data, b.type.shape, out.shape);
    const res = new Float64Array(c.length);
    for (let i = 0; i < res.length; i++) res[i] = FLOAT_TERNARY_FUNCTIONS.where(c[i], av[i], bv[i]);
    return res;
  },
  // operands = [cond, a, b]: the cotangent goes to the branch each element was taken from.
  vjp: cotangentRule(
    null,
    (f) => f.where(f.operands[0], f.dy, 0),
    (f) => f.where(f.operands[0], 0, f.dy),
  ),
  inplace: "overwrite",
};

/** The element function of `cast` from one dtype to another. */
function castFn(from: DType, to: DType): Unary {
  if (to === "bool") return (x) => (x !== 0 ? 1 : 0); // NaN is truthy, as in C, NumPy and PyTorch
  const range = INT_RANGE[to];
  if (range && isFloat(from)) {
    // Saturating, NaN -> 0: what WebAssembly's trunc_sat and WGSL's f32 -> i32 conversion do.
    const [lo, hi] = range;
    return (x) => (Number.isNaN(x) ? 0 : Math.min(hi, Math.max(lo, Math.trunc(x))) + 0);
  }
  // int -> int wraps (two's complement) and float -> float rounds when the result is stored.
  return (x) => x;
}

const cast: OpDef = {
  name: "cast",
  summary: "converts to dtype; float -> int truncates toward zero, saturating, NaN -> 0; int -> int wraps",
  kind: "elementwise",
  operands: ["x"],
  attrs: { dtype: { kind: "dtype", doc: "the result's element type" } },
  tolerance: 0,
  infer([x], a) {
    return { dtype: attr.dtype(a, "dtype"), shape: x.shape };
  },
  interpret([x], a) {
    return mapUnary(x.data, castFn(x.type.dtype, attr.dtype(a, "dtype")));
  },
  // Between float dtypes a cast is the identity up to rounding, so dy casts back; a cast to or
  // from an integer or bool is piecewise constant and passes nothing.
  vjp({ b, node, dy, needs }) {
    const from = b.typeOf(node.inputs[0]).dtype;
    if (!needs[0] || !isFloat(from) || !isFloat(node.type.dtype)) return [null];
    return [from === node.type.dtype ? dy : b.op("cast", [dy], { dtype: from })];
  },
  // Only between dtypes of one width: mayReuseOperand's width check rejects the rest.
  inplace: "overwrite",
};

const constant: OpDef = {
  name: "const",
  summary: "a tensor of the given dtype and shape filled with value",
  kind: "source",
  operands: [],
  attrs: {
    value: { kind: "float", doc: "fill value (inf, -inf and nan allowed for float dtypes)" },
    dtype: { kind: "dtype" },
    shape: { kind: "ints" },
  },
  tolerance: 0,
  infer(_inputs, a) {
    const value = attr.num(a, "value");
    const dtype = attr.dtype(a, "dtype");
    const shape = attr.ints(a, "shape");
    if (shape.some((d) => d < 0)) throw new ShapeError(`const: shape ${formatShape(shape)} has a negative dimension`);
    const range = INT_RANGE[dtype];
    if (range && !(Number.isInteger(value) && value >= range[0] && value <= range[1])) {
      throw new ShapeError(`const: value ${value} is not a valid ${dtype} (integers in [${range[0]}, ${range[1]}])`);
    }
    return { dtype, shape: [...shape] };
  },
  interpret(_inputs, a, out) {
    return new Float64Array(numel(out.shape)).fill(attr.num(a, "value"));
  },
  vjp: noCotangents,
};

const dropout: OpDef = {
  name: "dropout",
  summary: "zeroes each element with probability rate and scales the rest by 1/(1-rate); Philox mask of (seed, step, index), see rng.ts",
  kind: "elementwise",
  operands: ["x", "step"],
  attrs: {
    rate: { kind: "float", doc: "probability of zeroing an element, in [0, 1]" },
    seed: { kind: "int", doc: "Philox key word 0, in [0, 2^32)" },
  },
  tolerance: 1e-6,
  infer([x, step], a) {
    checkAccepts("dropout", FLOAT, [x]);
    if (step.dtype !== "i32" || step.shape.length !== 0) {
      throw new ShapeError(`dropout: step must be an i32 scalar, got ${formatType(step)}`);
    }
    const rate = attr.num(a, "rate");
    if (!(rate >= 0 && rate <= 1)) throw new ShapeError(`dropout: rate ${rate} is outside [0, 1]`);
    const seed = attr.num(a, "seed");
    if (seed < 0 || seed >= 2 ** 32) throw new ShapeError(`dropout: seed ${seed} is outside [0, 2^32)`);
    return { dtype: x.dtype, shape: x.shape };
  },
  interpret([x, step], a) {
    const rate = attr.num(a, "rate");
    const mask = dropoutMask(x.data.length, rate, attr.num(a, "seed"), step.data[0]);
    const scale = 1 / (1 - rate); // infinite at rate 1, but then nothing is kept
    const out = new Float64Array(x.data.length);
    for (let i = 0; i < out.length; i++) out[i] = mask[i] ? x.data[i] * scale : 0;
    return out;
  },
  // Linear in x with a mask that is a pure function of (seed, step, index): the same dropout,
  // applied to dy, zeroes and scales exactly the elements the forward pass did.
  vjp: linearVjp(({ b, node, dy }) => b.op("dropout", [dy, node.inputs[1]], node.attrs)),
  inplace: "overwrite",
  random: true,
};

export const ELEMENTWISE_OPS: readonly OpDef[] = [
  ...UNARY_OPS,
  ...BINARY_OPS,
  ...COMPARISON_OPS,
  where,
  cast,
  constant,
  dropout,
];
