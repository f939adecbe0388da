// The arithmetic of affine quantization, written once for the op records of quant.ts (and read by
// the backends' kernels for its constants). Every step is an f32 operation that both backends
// reproduce bit for bit, in the order PyTorch (fbgemm) uses:
//
//   quantize    q = clamp(rne(fl(x * fl(1 / scale))) + zeroPoint, qmin, qmax)
//   dequantize  y = fl(fl(q - zeroPoint) * scale)   (the outer fl: the interpreter's storage rounding)
//   requantize  q = clamp(rne(fl(fl(acc) * multiplier)) + zeroPoint, qmin, qmax)
//
// fl() rounds to f32, rne() rounds half to even (WASM `nearest`, WGSL `round`, C `nearbyint`).
// Multiplying by the f32 reciprocal instead of dividing is PyTorch's choice (fbgemm's Quantize
// notes why: the vector code can only multiply); following it makes the kernels and
// torch.quantize_per_tensor / fake_quantize_* agree exactly, ties included.
//
// The rounded value is clamped to +-2^24 before the zero point is added, which is where the
// kernels turn it into an i32 (exactly: every f32 of that size is an integer). So a NaN quantizes
// to clamp(zeroPoint), an infinity to qmin or qmax, and results equal the exact formula for every
// zero point within +-2^24 - 2^16.

import { FLOATS, signature, type DTypeSignature } from "../dtypes.ts";
import type { Node } from "../graph.ts";
import { attr } from "../op-def.ts";
import type { DType, TensorType } from "../types.ts";
import { resolveAxis } from "./operand-checks.ts";

/** The integer dtypes a tensor may be quantized to, and their inclusive ranges. */
export const QUANT_RANGES: Readonly<Record<"i8" | "u8", readonly [number, number]>> = { i8: [-128, 127], u8: [0, 255] };

export function isQuantDType(d: DType): d is "i8" | "u8" {
  return d === "i8" || d === "u8";
}

/** The bound the rounded value is clamped to before the zero point is added (see above). */
export const ROUNDED_LIMIT = 2 ** 24;

/** Round half to even; NaN -> 0 (what the kernels' saturating conversion gives). */
export function roundHalfEven(t: number): number {
  if (Number.isNaN(t)) return 0;
  if (!Number.isFinite(t)) return t;
  const f = Math.floor(t);
  const d = t - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/** The rounded, limited value rne(fl(x * fl(1 / scale))) before the zero point: an integer. */
export function roundedQuotient(x: number, scale: number): number {
  const inv = Math.fround(1 / scale);
  const r = roundHalfEven(Math.fround(x * inv));
  return Math.min(Math.max(r, -ROUNDED_LIMIT), ROUNDED_LIMIT);
}

/** rne(fl(acc * multiplier)) for an i32 accumulator, limited like roundedQuotient. */
export function roundedProduct(acc: number, multiplier: number): number {
  const r = roundHalfEven(Math.fround(Math.fround(acc) * multiplier));
  return Math.min(Math.max(r, -ROUNDED_LIMIT), ROUNDED_LIMIT);
}

export function clampTo(v: number, lo: number, hi: number): number {
  return Math.min(Math.max(v, lo), hi);
}

/**
 * fl(q - zeroPoint) * scale: the difference as the kernels' i32 -> f32 conversion gives it (exact
 * below 2^24; an i32 accumulator may pass it). The product is left to the interpreter's rounding
 * to the result's dtype, so float64 runs (gradient checks) see dequantize as linear in scale.
 */
export function dequantizeValue(q: number, zeroPoint: number, scale: number): number {
  return Math.fround(q - zeroPoint) * scale;
}

const Q = ["i8", "u8"] as const;

/**
 * The dtype signatures of the quantization ops, for both backends' kernel tables (each pairs
 * them with its own kernel): float data in any float dtype with i32 zero points; integer data
 * i8/u8 (dequantize also takes an i32 accumulator).
 */
export const QUANT_SIGNATURES: Readonly<Record<"quantize" | "requantize" | "dequantize" | "fakeQuant" | "fakeQuantGrad" | "matmulInteger" | "convInteger", readonly DTypeSignature[]>> = {
  quantize: FLOATS.flatMap((f) => Q.map((d) => signature([f, f, "i32"], d))),
  requantize: FLOATS.flatMap((f) => Q.map((d) => signature(["i32", f, "i32"], d))),
  dequantize: FLOATS.flatMap((f) => (["i8", "u8", "i32"] as const).map((d) => signature([d, f, "i32"], f))),
  fakeQuant: FLOATS.map((f) => signature([f, f, "i32"], f)),
  fakeQuantGrad: FLOATS.map((f) => signature([f, f, f, "i32"], f)),
  matmulInteger: Q.flatMap((x) => Q.map((y) => signature([x, y], "i32"))),
  convInteger: Q.flatMap((x) => Q.map((y) => signature([x, y], "i32"))),
};

/**
 * A quantization node's operands for a broadcasting elementwise kernel: per-channel (the node's
 * `axis` set), the scale and zero point (operands `first`, `first + 1`) are viewed as
 * [channels, 1, ..., 1] so they broadcast along `axis` of the data operand `data`. Both backends'
 * buffer references ({ offset, type }) pass through.
 */
export function perChannelViews<B extends { readonly offset: number; readonly type: TensorType }>(node: Node, inputs: readonly B[], data: number, first: number): B[] {
  const axisAttr = node.attrs.axis;
  if (axisAttr === null || axisAttr === undefined) return [...inputs];
  const shape = inputs[data].type.shape;
  const axis = resolveAxis(node.op, attr.num(node.attrs, "axis"), inputs[data].type);
  const view = [shape[axis], ...new Array<number>(shape.length - 1 - axis).fill(1)];
  return inputs.map((x, k) => (k === first || k === first + 1 ? { ...x, type: { dtype: x.type.dtype, shape: view } } : x));
}
