// The numbers of int8 post-training quantization (docs/IR.md "Post-training quantization"): the
// per-output-channel weight scales and int8 weights, the per-tensor activation scale and zero
// point from an observed range, and the folded i32 bias. Every step is the f32 arithmetic of
// ir/ops/quant-kit.ts, so what this computes at compile time is what a `quantize` node would.
//
//   weights      sw[n] = fl(max_k |W[k,n]| / 127)   (an all-zero column: f32 epsilon)
//                Wq[k,n] = clamp(rne(fl(W[k,n] * fl(1 / sw[n]))), -127, 127)   zero point 0
//   activations  asymmetric u8 over [min(lo, 0), max(hi, 0)]: s = fl((hi - lo) / 255),
//                z = clamp(0 - rne(lo / s), 0, 255)  (PyTorch's MinMaxObserver formula)
//   layer        sxw[n] = fl(sx * sw[n])             the dequantize scale of the i32 result
//                bias[n] = rne(b[n] / sxw[n]) - zx * sum_k Wq[k,n]   (the zero point's correction;
//                absent for a convolution, whose convInteger subtracts zx itself)
//   a conv weight [kh, kw, C, O] is the [kh*kw*C, O] matrix of these formulas (same memory).
//
// ±127 rather than -128: products of two such values and their pair sums never reach i16's or
// the i32 pair's limits (docs/IR.md "Quantization"), and the range stays symmetric.

import { clampTo, roundedQuotient, roundHalfEven } from "../../ir/ops/quant-kit.ts";

/** f32's machine epsilon: the smallest scale (PyTorch's observers clamp to it too). */
export const SCALE_EPS = 2 ** -23;
export const WEIGHT_QMAX = 127;

export interface ActivationParams {
  readonly dtype: "u8";
  readonly scale: number;
  readonly zeroPoint: number;
  /** The range the scale covers (after widening to contain 0). */
  readonly lo: number;
  readonly hi: number;
}

export function activationParams(lo: number, hi: number): ActivationParams {
  const low = Math.fround(Math.min(lo, 0));
  const high = Math.fround(Math.max(hi, 0));
  const scale = Math.max(Math.fround(Math.fround(high - low) / 255), SCALE_EPS);
  const zeroPoint = clampTo(0 - roundHalfEven(low / scale), 0, 255);
  return { dtype: "u8", scale, zeroPoint, lo: low, hi: high };
}

export interface QuantizedWeight {
  /** Wq, [K, N] row-major, in [-127, 127]. */
  readonly q: Int8Array;
  /** sw, one f32 scale per output column. */
  readonly scales: Float32Array;
}

/** Per-output-channel symmetric int8 of a [K, N] weight (see the header). */
export function quantizeWeight(w: ArrayLike<number>, k: number, n: number): QuantizedWeight {
  const scales = new Float32Array(n);
  for (let j = 0; j < n; j++) {
    let amax = 0;
    for (let p = 0; p < k; p++) amax = Math.max(amax, Math.abs(Math.fround(w[p * n + j])));
    scales[j] = Math.max(Math.fround(amax / WEIGHT_QMAX), SCALE_EPS);
  }
  const q = new Int8Array(k * n);
  for (let p = 0; p < k; p++) {
    for (let j = 0; j < n; j++) q[p * n + j] = clampTo(roundedQuotient(Math.fround(w[p * n + j]), scales[j]), -WEIGHT_QMAX, WEIGHT_QMAX);
  }
  return { q, scales };
}

/**
 * The tensors of one quantized layer: the dequantize scale and the folded i32 bias. `zeroPointInOp`:
 * the integer op subtracts the activation zero point itself (convInteger), so the bias takes no
 * -zx * colsum correction.
 */
export function layerTensors(weight: QuantizedWeight, k: number, act: ActivationParams, bias: ArrayLike<number> | undefined, zeroPointInOp = false): { scale: Float32Array; bias: Int32Array } {
  const n = weight.scales.length;
  const scale = new Float32Array(n);
  const folded = new Int32Array(n);
  for (let j = 0; j < n; j++) {
    scale[j] = Math.fround(act.scale * weight.scales[j]);
    let colSum = 0;
    for (let p = 0; p < k; p++) colSum += weight.q[p * n + j];
    const b = bias ? roundedQuotient(Math.fround(bias[j]), scale[j]) : 0;
    folded[j] = clampTo(b - (zeroPointInOp ? 0 : act.zeroPoint * colSum), -(2 ** 31), 2 ** 31 - 1);
  }
  return { scale, bias: folded };
}
