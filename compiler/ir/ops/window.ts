// Sliding-window geometry shared by conv2d and the 2-D pools: how much padding each spatial axis
// gets and how many window positions fit. The shape rules, the reference kernels and the
// WASM/WGSL kernel emitters all call these functions, so one formula decides where every window
// sits and the backends cannot drift from the interpreter.
//
// Conventions are TensorFlow's: "valid" pads nothing; "same" produces ceil(in / stride) outputs
// and puts the odd pixel of padding at the end; "explicit" takes (before, after) pads as given.
// Along an axis, output position o reads input positions o*stride - padBefore + t*dilation for
// t in [0, kernel); positions outside [0, in) are padding.

import { ShapeError } from "../types.ts";

export const PADDING_MODES = ["valid", "same", "explicit"] as const;
export type PaddingMode = (typeof PADDING_MODES)[number];

export interface AxisPads {
  readonly before: number;
  readonly after: number;
}

/** Extent a dilated kernel covers: (k - 1) * dilation + 1. */
export function effectiveKernel(kernel: number, dilation: number): number {
  return (kernel - 1) * dilation + 1;
}

/**
 * Padding along one axis. `explicitBefore` / `explicitAfter` are used only when `padding` is
 * "explicit".
 */
export function resolvePads(
  inSize: number,
  kernel: number,
  stride: number,
  dilation: number,
  padding: PaddingMode,
  explicitBefore = 0,
  explicitAfter = 0,
): AxisPads {
  switch (padding) {
    case "valid":
      return { before: 0, after: 0 };
    case "explicit":
      return { before: explicitBefore, after: explicitAfter };
    case "same": {
      const out = Math.ceil(inSize / stride);
      const total = Math.max((out - 1) * stride + effectiveKernel(kernel, dilation) - inSize, 0);
      const before = Math.floor(total / 2);
      return { before, after: total - before };
    }
  }
}

/**
 * Number of window positions along one axis: floor((in + pads - effectiveKernel) / stride) + 1.
 * Zero or negative when the (padded) input is shorter than the dilated kernel; the shape rules
 * reject that. For "same" this equals ceil(in / stride).
 */
export function convOutputSize(
  inSize: number,
  kernel: number,
  stride: number,
  dilation: number,
  padding: PaddingMode,
  padBefore = 0,
  padAfter = 0,
): number {
  const pads = resolvePads(inSize, kernel, stride, dilation, padding, padBefore, padAfter);
  return Math.floor((inSize + pads.before + pads.after - effectiveKernel(kernel, dilation)) / stride) + 1;
}

/** Resolved geometry of a 2-D window over an NHWC input. */
export interface Window2d {
  readonly kernelH: number;
  readonly kernelW: number;
  readonly strideH: number;
  readonly strideW: number;
  readonly dilationH: number;
  readonly dilationW: number;
  readonly padTop: number;
  readonly padBottom: number;
  readonly padLeft: number;
  readonly padRight: number;
  readonly outH: number;
  readonly outW: number;
}

export interface Window2dSpec {
  readonly kernel: readonly [number, number];
  readonly stride: readonly number[];
  readonly dilation: readonly number[];
  readonly padding: PaddingMode;
  /** top, bottom, left, right */
  readonly pads: readonly number[];
}

function requirePair(op: string, name: string, v: readonly number[], min: number): void {
  if (v.length !== 2 || !v.every((d) => Number.isInteger(d) && d >= min)) {
    throw new ShapeError(`${op}: ${name} must be two integers >= ${min}, got [${v.join(",")}]`);
  }
}

/**
 * Validates a window spec against an input of `inH` x `inW` and resolves its padding and output
 * size. Throws a ShapeError naming `op` when an attribute is malformed or the window does not fit.
 */
export function window2d(op: string, inH: number, inW: number, spec: Window2dSpec): Window2d {
  requirePair(op, "kernel size", spec.kernel, 1);
  requirePair(op, "stride", spec.stride, 1);
  requirePair(op, "dilation", spec.dilation, 1);
  if (spec.pads.length !== 4 || !spec.pads.every((p) => Number.isInteger(p) && p >= 0)) {
    throw new ShapeError(`${op}: pads must be four integers >= 0 (top, bottom, left, right), got [${spec.pads.join(",")}]`);
  }
  const [kernelH, kernelW] = spec.kernel;
  const [strideH, strideW] = spec.stride;
  const [dilationH, dilationW] = spec.dilation;
  const [top, bottom, left, right] = spec.pads;
  const h = resolvePads(inH, kernelH, strideH, dilationH, spec.padding, top, bottom);
  const w = resolvePads(inW, kernelW, strideW, dilationW, spec.padding, left, right);
  const outH = convOutputSize(inH, kernelH, strideH, dilationH, "explicit", h.before, h.after);
  const outW = convOutputSize(inW, kernelW, strideW, dilationW, "explicit", w.before, w.after);
  if (outH < 1 || outW < 1) {
    throw new ShapeError(
      `${op}: window ${effectiveKernel(kernelH, dilationH)}x${effectiveKernel(kernelW, dilationW)} ` +
        `(kernel ${kernelH}x${kernelW}, dilation ${dilationH}x${dilationW}) does not fit the ` +
        `${inH + h.before + h.after}x${inW + w.before + w.after} padded input (${inH}x${inW}, ${spec.padding} padding)`,
    );
  }
  return {
    kernelH, kernelW, strideH, strideW, dilationH, dilationW,
    padTop: h.before, padBottom: h.after, padLeft: w.before, padRight: w.after,
    outH, outW,
  };
}
