// The mlc DSL: everything a model file imports from "mlc".
//
// These are declarations only. A model is never executed: `mlc` reads it statically (see
// compiler/frontend/evaluator.ts) and turns every call below into IR nodes. The types are precise
// so that editors autocomplete and type-check models; the compiler re-checks every argument and
// reports misuse with a source location. IR op names are the DSL names (docs/IR.md).

/** Element types. `bool` is what comparisons return; `i32` is used for labels and indices. */
export type DType = "f32" | "f16" | "bf16" | "i32" | "i8" | "u8" | "bool";

/** Initializer of a param. `normal(s)`: N(0, s²); `uniform(a)`: U(-a, a). */
export type Init =
  | "zeros"
  | "ones"
  | "he_normal"
  | "glorot_uniform"
  | `normal(${number})`
  | `uniform(${number})`;

/** A static shape: non-negative integers, known at compile time. */
export type Shape = readonly number[];

/** A tensor operand; a plain number becomes a scalar constant of the other operand's dtype. */
export type Operand = Tensor | number;

/** One number for both spatial dimensions, or `[height, width]`. */
export type Pair = number | readonly [number, number];

export interface ParamOptions {
  /** Default `"glorot_uniform"`. */
  init?: Init;
  /** Default `"f32"`. */
  dtype?: DType;
  /** `false` declares persistent state that gets no gradient (IR `state`). Default `true`. */
  trainable?: boolean;
}

export interface GeluOptions {
  /** `"none"` (default) is the exact erf form; `"tanh"` the tanh approximation. */
  approximate?: "none" | "tanh";
}

export interface MatmulOptions {
  transposeA?: boolean;
  transposeB?: boolean;
}

export interface Conv2dOptions {
  /** Default 1. */
  stride?: Pair;
  /**
   * `"valid"` (default), `"same"` (TensorFlow: output = ceil(input / stride)), one number for all
   * four sides, or `[top, bottom, left, right]`.
   */
  padding?: "same" | "valid" | number | readonly [number, number, number, number];
  /** Default 1. */
  dilation?: Pair;
  /** Default 1; the weight's third axis is `channels / groups`. */
  groups?: number;
}

export interface Pool2dOptions {
  /** Window size. */
  size: Pair;
  /** Default: the window size. */
  stride?: Pair;
  /** `"valid"` (default), `"same"`, or one number of padding on all four sides. */
  padding?: "same" | "valid" | number;
}

/** Quantization parameters per tensor (no `axis`: scale and zeroPoint hold one element) or per channel. */
export interface QuantizeOptions {
  /** The axis of the data whose index picks the scale and zero point (`[C]` tensors). */
  axis?: number;
  /** Default `"i8"`. */
  dtype?: "i8" | "u8";
}

export interface DequantizeOptions {
  /** As in QuantizeOptions. */
  axis?: number;
}

export interface FakeQuantOptions {
  /** As in QuantizeOptions. */
  axis?: number;
  /** The quantized range, e.g. -128 and 127, or 0 and 255. */
  qmin: number;
  qmax: number;
}

export interface LayerNormOptions {
  /** Axis normalized over; default -1. */
  axis?: number;
  /** Default 1e-5. */
  eps?: number;
}

export interface BatchNormOptions {
  /** Weight of the batch statistic in the running average; default 0.1 (PyTorch). */
  momentum?: number;
  /** Default 1e-5. */
  eps?: number;
}

/**
 * A symbolic tensor: a value of the graph being built. Its shape and dtype are known at compile
 * time, so `x.shape[1]` is an ordinary number. Every op whose first operand is a tensor is also a
 * method: `x.matmul(w).add(b).relu()`.
 */
export interface Tensor {
  readonly shape: number[];
  readonly dtype: DType;

  neg(): Tensor;
  exp(): Tensor;
  log(): Tensor;
  sqrt(): Tensor;
  rsqrt(): Tensor;
  abs(): Tensor;
  tanh(): Tensor;
  sigmoid(): Tensor;
  relu(): Tensor;
  gelu(opts?: GeluOptions): Tensor;

  add(b: Operand): Tensor;
  sub(b: Operand): Tensor;
  mul(b: Operand): Tensor;
  div(b: Operand): Tensor;
  pow(b: Operand): Tensor;
  maximum(b: Operand): Tensor;
  minimum(b: Operand): Tensor;
  less(b: Operand): Tensor;
  greater(b: Operand): Tensor;
  equal(b: Operand): Tensor;
  /** `cond.where(a, b)`: `a` where this boolean tensor is true, else `b`. */
  where(a: Operand, b: Operand): Tensor;
  cast(dtype: DType): Tensor;

  matmul(b: Tensor, opts?: MatmulOptions): Tensor;
  conv2d(w: Tensor, opts?: Conv2dOptions): Tensor;
  maxPool2d(opts: Pool2dOptions): Tensor;
  avgPool2d(opts: Pool2dOptions): Tensor;

  sum(axes?: number | readonly number[], keepDims?: boolean): Tensor;
  mean(axes?: number | readonly number[], keepDims?: boolean): Tensor;
  max(axes?: number | readonly number[], keepDims?: boolean): Tensor;
  softmax(axis?: number): Tensor;
  logSoftmax(axis?: number): Tensor;
  layerNorm(gamma: Tensor, beta: Tensor, opts?: LayerNormOptions): Tensor;
  batchNorm(gamma: Tensor, beta: Tensor, runningMean: Tensor, runningVar: Tensor, opts?: BatchNormOptions): Tensor;

  reshape(shape: Shape): Tensor;
  transpose(perm?: readonly number[]): Tensor;
  slice(begin: readonly number[], size: readonly number[]): Tensor;
  broadcastTo(shape: Shape): Tensor;
  gather(indices: Tensor, axis?: number): Tensor;
  oneHot(depth: number, dtype?: DType): Tensor;

  softmaxCrossEntropy(labels: Tensor): Tensor;
  mse(b: Tensor): Tensor;
  dropout(rate: number): Tensor;

  quantize(scale: Tensor, zeroPoint: Tensor, opts?: QuantizeOptions): Tensor;
  dequantize(scale: Tensor, zeroPoint: Tensor, opts?: DequantizeOptions): Tensor;
  requantize(multiplier: Tensor, zeroPoint: Tensor, opts?: QuantizeOptions): Tensor;
  fakeQuant(scale: Tensor, zeroPoint: Tensor, opts: FakeQuantOptions): Tensor;
  matmulInteger(w: Tensor): Tensor;
}

// ---------------------------------------------------------------------------------------------
// Graph inputs and persistent tensors

/** A graph input (fed by the app each step). Default dtype `"f32"`. */
export declare function input(name: string, shape: Shape, dtype?: DType): Tensor;

/** A persistent tensor: a trainable weight, or state when `trainable: false`. */
export declare function param(name: string, shape: Shape, opts?: ParamOptions): Tensor;

// ---------------------------------------------------------------------------------------------
// Constant tensors

/** A tensor of the given shape filled with `value`. Default dtype `"f32"`. */
export declare function full(shape: Shape, value: number, dtype?: DType): Tensor;
/** `full(shape, 0, dtype)`. */
export declare function zeros(shape: Shape, dtype?: DType): Tensor;
/** `full(shape, 1, dtype)`. */
export declare function ones(shape: Shape, dtype?: DType): Tensor;
/** Each element is its index along `axis` (XLA's iota). Default dtype `"i32"`. E.g. a causal mask: `greater(iota([T, T], 1), iota([T, T], 0))`. */
export declare function iota(shape: Shape, axis: number, dtype?: DType): Tensor;

// ---------------------------------------------------------------------------------------------
// Elementwise

export declare function neg(x: Tensor): Tensor;
export declare function exp(x: Tensor): Tensor;
export declare function log(x: Tensor): Tensor;
export declare function sqrt(x: Tensor): Tensor;
export declare function rsqrt(x: Tensor): Tensor;
export declare function abs(x: Tensor): Tensor;
export declare function tanh(x: Tensor): Tensor;
export declare function sigmoid(x: Tensor): Tensor;
export declare function relu(x: Tensor): Tensor;
export declare function gelu(x: Tensor, opts?: GeluOptions): Tensor;

/** Broadcasting binary ops. At least one operand must be a tensor. */
export declare function add(a: Operand, b: Operand): Tensor;
export declare function sub(a: Operand, b: Operand): Tensor;
export declare function mul(a: Operand, b: Operand): Tensor;
export declare function div(a: Operand, b: Operand): Tensor;
export declare function pow(a: Operand, b: Operand): Tensor;
export declare function maximum(a: Operand, b: Operand): Tensor;
export declare function minimum(a: Operand, b: Operand): Tensor;
/** Comparisons return `bool` tensors. */
export declare function less(a: Operand, b: Operand): Tensor;
export declare function greater(a: Operand, b: Operand): Tensor;
export declare function equal(a: Operand, b: Operand): Tensor;

/** `a` where `cond` (a bool tensor) is true, else `b`. */
export declare function where(cond: Tensor, a: Operand, b: Operand): Tensor;
/** Converts the element type; float to integer truncates toward zero. */
export declare function cast(x: Tensor, dtype: DType): Tensor;

/** Inverted dropout with probability `rate`; the mask is a counter-based RNG of the step. */
export declare function dropout(x: Tensor, rate: number): Tensor;

// ---------------------------------------------------------------------------------------------
// Contractions and pooling (channels-last: x is [N, H, W, C], a conv weight is [kh, kw, C/groups, O])

export declare function matmul(a: Tensor, b: Tensor, opts?: MatmulOptions): Tensor;
export declare function conv2d(x: Tensor, w: Tensor, opts?: Conv2dOptions): Tensor;
export declare function maxPool2d(x: Tensor, opts: Pool2dOptions): Tensor;
export declare function avgPool2d(x: Tensor, opts: Pool2dOptions): Tensor;

// ---------------------------------------------------------------------------------------------
// Quantization (docs/IR.md "Quantization"): scale is a float tensor, zeroPoint an i32 tensor of
// the same shape ([] or [1] per tensor, [C] per channel along `axis`)

/** x to i8/u8: clamp(round_half_even(x * (1/scale)) + zeroPoint) (PyTorch's quantize_per_tensor/_per_channel). */
export declare function quantize(x: Tensor, scale: Tensor, zeroPoint: Tensor, opts?: QuantizeOptions): Tensor;
/** q (i8/u8/i32) to scale's float dtype: (q - zeroPoint) * scale. */
export declare function dequantize(q: Tensor, scale: Tensor, zeroPoint: Tensor, opts?: DequantizeOptions): Tensor;
/** An i32 accumulator to i8/u8: clamp(round_half_even(acc * multiplier) + zeroPoint). */
export declare function requantize(acc: Tensor, multiplier: Tensor, zeroPoint: Tensor, opts?: QuantizeOptions): Tensor;
/** Quantize-dequantize in float over [qmin, qmax]; gradient: straight through inside the range, 0 outside. */
export declare function fakeQuant(x: Tensor, scale: Tensor, zeroPoint: Tensor, opts: FakeQuantOptions): Tensor;
/** a [..., M, K] (i8/u8) times w [K, N] (i8/u8) with exact i32 accumulation. */
export declare function matmulInteger(a: Tensor, w: Tensor): Tensor;

// ---------------------------------------------------------------------------------------------
// Reductions, normalization, losses

/** Reduces over `axes` (default: all axes). */
export declare function sum(x: Tensor, axes?: number | readonly number[], keepDims?: boolean): Tensor;
export declare function mean(x: Tensor, axes?: number | readonly number[], keepDims?: boolean): Tensor;
export declare function max(x: Tensor, axes?: number | readonly number[], keepDims?: boolean): Tensor;
/** Default axis -1. */
export declare function softmax(x: Tensor, axis?: number): Tensor;
export declare function logSoftmax(x: Tensor, axis?: number): Tensor;
export declare function layerNorm(x: Tensor, gamma: Tensor, beta: Tensor, opts?: LayerNormOptions): Tensor;
/**
 * Batch normalization with batch statistics over every axis but the last. `runningMean` and
 * `runningVar` must be params declared with `trainable: false`; they are updated at the end of
 * each step.
 */
export declare function batchNorm(
  x: Tensor,
  gamma: Tensor,
  beta: Tensor,
  runningMean: Tensor,
  runningVar: Tensor,
  opts?: BatchNormOptions,
): Tensor;
/** Mean over leading positions of `-log softmax(logits)[label]`; labels are i32. */
export declare function softmaxCrossEntropy(logits: Tensor, labels: Tensor): Tensor;
/** Mean squared error of two tensors of the same shape. */
export declare function mse(a: Tensor, b: Tensor): Tensor;

// ---------------------------------------------------------------------------------------------
// Layout

/** One entry of `shape` may be -1 (inferred). */
export declare function reshape(x: Tensor, shape: Shape): Tensor;
/** Default permutation reverses the axes. */
export declare function transpose(x: Tensor, perm?: readonly number[]): Tensor;
/** A size of -1 takes everything to the end of that axis. */
export declare function slice(x: Tensor, begin: readonly number[], size: readonly number[]): Tensor;
/** Default axis 0. */
export declare function concat(xs: readonly Tensor[], axis?: number): Tensor;
export declare function broadcastTo(x: Tensor, shape: Shape): Tensor;
/** Rows of `table` picked by i32 `indices` along `axis` (default 0). */
export declare function gather(table: Tensor, indices: Tensor, axis?: number): Tensor;
/** Default dtype `"f32"`. */
export declare function oneHot(indices: Tensor, depth: number, dtype?: DType): Tensor;
