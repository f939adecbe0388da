// Elementwise op records (docs/IR.md, "Elementwise"): unary math, broadcasting binary arithmetic
// and comparisons, where, cast, const and dropout.
//
// Kernels compute in float64 and do not round; the interpreter stores results through
// dtype-round.ts. The exceptions are where an op's integer semantics cannot be had by rounding a
// float64 result afterwards: integer `mul` (an i32 product can exceed 2^53), integer `div`
// (truncation), and `cast` (saturation). Integer results are normalized so they are never -0.

import type { OpDef } from "../op-def.ts";
import { attr } from "../op-def.ts";
import { dropoutMask } from "../rng.ts";
import { formatShape, formatType, isFloat, numel, ShapeError, type DType } from "../types.ts";
import { expandTo } from "./broadcast.ts";
import { erfc } from "./erf.ts";
import { binary, broadcastFor, checkAccepts, checkSameDType, comparison, mapUnary, unary, unaryWithAttrs, type Unary } from "./elementwise-kit.ts";

const FLOAT = "float" as const;
const NUMERIC = "numeric" as const;

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

const UNARY_OPS: readonly OpDef[] = [
  unary("neg", "negation, -x", (x) => -x, { accepts: NUMERIC, tolerance: 1e-6, integerFn: (x) => 0 - x }),
  unary("exp", "e^x", Math.exp, { accepts: FLOAT, tolerance: 1e-5 }),
  unary("log", "natural logarithm (log 0 = -inf, negative -> NaN)", Math.log, { accepts: FLOAT, tolerance: 1e-5 }),
  unary("sqrt", "square root (negative -> NaN)", Math.sqrt, { accepts: FLOAT, tolerance: 1e-6 }),
  unary("rsqrt", "reciprocal square root 1/sqrt(x)", (x) => 1 / Math.sqrt(x), { accepts: FLOAT, tolerance: 1e-5 }),
  unary("abs", "absolute value", Math.abs, { accepts: NUMERIC, tolerance: 1e-6 }),
  unary("tanh", "hyperbolic tangent", Math.tanh, { accepts: FLOAT, tolerance: 1e-5 }),
  unary("sigmoid", "logistic function 1/(1+e^-x), overflow-free", sigmoid, { accepts: FLOAT, tolerance: 1e-5 }),
  unary("relu", "max(x, 0); NaN stays NaN", (x) => Math.max(x, 0), { accepts: NUMERIC, tolerance: 1e-6 }),
  unaryWithAttrs(
    "gelu",
    'Gaussian error linear unit: x * Phi(x) ("none", exact erf form) or its tanh approximation',
    { approximate: { kind: "string", default: "none", oneOf: ["none", "tanh"], doc: "erf form or tanh approximation" } },
    (attrs) => (attr.str(attrs, "approximate") === "tanh" ? geluTanh : geluExact),
    { accepts: FLOAT, tolerance: 1e-5 },
  ),
];

const BINARY_OPS: readonly OpDef[] = [
  binary("add", "a + b, broadcasting", (a, b) => a + b, { accepts: NUMERIC, tolerance: 1e-6 }),
  binary("sub", "a - b, broadcasting", (a, b) => a - b, { accepts: NUMERIC, tolerance: 1e-6 }),
  // Math.imul is the exact two's-complement product; a float64 product of two i32 can need 62 bits.
  binary("mul", "a * b, broadcasting", (a, b) => a * b, { accepts: NUMERIC, tolerance: 1e-6, integerFn: Math.imul }),
  binary("div", "a / b, broadcasting; integers truncate toward zero and x / 0 = 0", (a, b) => a / b, {
    accepts: NUMERIC,
    tolerance: 1e-6,
    integerFn: divTruncate,
  }),
  binary("pow", "a ^ b, broadcasting, floats only (C99 pow special cases)", powC, { accepts: FLOAT, tolerance: 1e-5 }),
  binary("maximum", "elementwise max, broadcasting; NaN propagates", Math.max, { accepts: NUMERIC, tolerance: 1e-6 }),
  binary("minimum", "elementwise min, broadcasting; NaN propagates", Math.min, { accepts: NUMERIC, tolerance: 1e-6 }),
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
    for (let i = 0; i < res.length; i++) res[i] = c[i] !== 0 ? av[i] : bv[i];
    return res;
  },
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
