// Normalization ops: layer norm over one axis, batch norm over every axis but the last
// (channels-last, training-mode batch statistics), and the running-statistics update that batch
// norm's `update` lines use. Variances are computed in two passes (mean first, then squared
// deviations), which keeps the reference exact enough to judge float32 kernels against.

import type { GraphBuilder } from "../builder.ts";
import { attr, type OpDef, type Tensor, type VjpContext } from "../op-def.ts";
import { formatType, numel, sameShape, ShapeError, type TensorType } from "../types.ts";
import { scalar } from "../vjp-kit.ts";
import { requireFloat, requireSameDtype, resolveAxis, splitAtAxis } from "./operand-checks.ts";

const EPS_ATTR = { kind: "float", default: 1e-5, doc: "added to the variance before the square root" } as const;

/** gamma/beta (or a running statistic) must be a vector of length `len`. */
function requireVector(op: string, what: string, t: TensorType, len: number, x: TensorType, why: string): void {
  if (!sameShape(t.shape, [len])) {
    throw new ShapeError(`${op}: ${what} must have shape [${len}] (${why} of ${formatType(x)}), got ${formatType(t)}`);
  }
}

/** Channels-last ops need a batch axis besides the channel axis. */
function requireChannelsLast(op: string, x: TensorType): number {
  if (x.shape.length < 2) {
    throw new ShapeError(`${op}: x must have rank >= 2 (batch axes, then channels last), got ${formatType(x)}`);
  }
  return x.shape[x.shape.length - 1];
}

/**
 * Per-channel statistics of a channels-last tensor: for each channel c, the mean and the sum of
 * squared deviations from it over all n = numel / C positions.
 */
function channelStats(x: Tensor): { mean: Float64Array; sqDev: Float64Array; n: number } {
  const shape = x.type.shape;
  const channels = shape[shape.length - 1];
  const n = channels === 0 ? 0 : x.data.length / channels;
  const mean = new Float64Array(channels);
  const sqDev = new Float64Array(channels);
  for (let r = 0; r < n; r++) for (let c = 0; c < channels; c++) mean[c] += x.data[r * channels + c];
  for (let c = 0; c < channels; c++) mean[c] /= n;
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < channels; c++) {
      const d = x.data[r * channels + c] - mean[c];
      sqDev[c] += d * d;
    }
  }
  return { mean, sqDev, n };
}

/** A per-channel vector laid along `axis` of a rank-`rank` tensor, ready to broadcast against it. */
function alongAxis(b: GraphBuilder, v: string, axis: number, rank: number): string {
  if (axis === rank - 1) return v;
  const [len] = b.typeOf(v).shape;
  return b.op("reshape", [v], { shape: [len, ...new Array<number>(rank - 1 - axis).fill(1)] });
}

/**
 * Cotangents of y = xhat * gamma + beta, xhat = (x - mean) * rstd, rstd = 1/sqrt(var + eps), with
 * mean and var taken over `statAxes` and gamma/beta laid along `channelAxis`. With g = dy * gamma:
 *
 *   dx = rstd * (g - mean(g) - xhat * mean(g * xhat))   (means over statAxes)
 *   dgamma = Σ dy * xhat,  dbeta = Σ dy                  (sums over every axis but channelAxis)
 *
 * When the statistics run over every axis but the channel axis (batch norm), gamma is constant
 * over them, so mean(g) = gamma * Σdy / n and mean(g * xhat) = gamma * Σ(dy * xhat) / n: the
 * backward reduces only dy and dy * xhat, once each, into the sums dbeta and dgamma are made of,
 * and g never becomes a tensor: dx = (gamma * rstd) * (dy - Σdy/n - xhat * Σ(dy * xhat)/n). Fewer
 * full-size temporaries live at once in the backward pass, where training memory peaks.
 *
 * mean and rstd are recomputed from x rather than kept from the forward pass: the forward op
 * stays one node with one result, and the memory planner sees only ordinary values.
 */
function normalizationVjp(ctx: VjpContext, statAxes: number[], channelAxis: number): (string | null)[] {
  const { b, node, dy, needs } = ctx;
  const [x, gamma] = node.inputs;
  const { dtype, shape } = b.typeOf(x);
  const keep = { axes: statAxes, keepDims: true };
  const otherAxes = shape.map((_, i) => i).filter((i) => i !== channelAxis);
  const perChannel = (v: string) => (otherAxes.length ? b.op("sum", [v], { axes: otherAxes, keepDims: false }) : v);
  if (!needs[0] && !needs[1]) return [null, null, needs[2] ? perChannel(dy) : null]; // beta alone needs no statistics

  const centered = b.op("sub", [x, b.op("mean", [x], keep)]);
  const variance = b.op("mean", [b.op("mul", [centered, centered])], keep);
  const rstd = b.op("rsqrt", [b.op("add", [variance, scalar(b, attr.num(node.attrs, "eps"), dtype)])]);
  const xhat = b.op("mul", [centered, rstd]);
  const gammaAlong = () => alongAxis(b, gamma, channelAxis, shape.length);
  if (otherAxes.every((a) => statAxes.includes(a)) && otherAxes.length === statAxes.length) {
    const sumDy = needs[0] || needs[2] ? perChannel(dy) : null;
    const sumDyXhat = perChannel(b.op("mul", [dy, xhat]));
    let dx: string | null = null;
    if (needs[0]) {
      const n = scalar(b, shape.reduce((k, d, i) => (i === channelAxis ? k : k * d), 1), dtype);
      const meanOf = (sum: string) => b.op("div", [alongAxis(b, sum, channelAxis, shape.length), n]);
      const centeredDy = b.op("sub", [dy, meanOf(sumDy!)]);
      const scale = b.op("mul", [gammaAlong(), rstd]);
      dx = b.op("mul", [scale, b.op("sub", [centeredDy, b.op("mul", [xhat, meanOf(sumDyXhat)])])]);
    }
    return [dx, needs[1] ? sumDyXhat : null, needs[2] ? sumDy : null];
  }
  let dx: string | null = null;
  if (needs[0]) {
    const g = b.op("mul", [dy, gammaAlong()]);
    const meanG = b.op("mean", [g], keep);
    const meanGXhat = b.op("mean", [b.op("mul", [g, xhat])], keep);
    dx = b.op("mul", [rstd, b.op("sub", [b.op("sub", [g, meanG]), b.op("mul", [xhat, meanGXhat])])]);
  }
  return [dx, needs[1] ? perChannel(b.op("mul", [dy, xhat])) : null, needs[2] ? perChannel(dy) : null];
}

const layerNorm: OpDef = {
  name: "layerNorm",
  summary: "(x - mean) / sqrt(var + eps) * gamma + beta, statistics over one axis (biased variance)",
  kind: "normalization",
  operands: ["x", "gamma", "beta"],
  attrs: {
    axis: { kind: "int", default: -1, doc: "axis the statistics run over" },
    eps: EPS_ATTR,
  },
  tolerance: 1e-4,
  infer([x, gamma, beta], attrs) {
    requireFloat("layerNorm", "x", x);
    requireSameDtype("layerNorm", ["x", "gamma", "beta"], [x, gamma, beta]);
    const axis = resolveAxis("layerNorm", attr.num(attrs, "axis"), x);
    requireVector("layerNorm", "gamma", gamma, x.shape[axis], x, `size of axis ${axis}`);
    requireVector("layerNorm", "beta", beta, x.shape[axis], x, `size of axis ${axis}`);
    return x;
  },
  interpret([x, gamma, beta], attrs) {
    const axis = resolveAxis("layerNorm", attr.num(attrs, "axis"), x.type);
    const eps = attr.num(attrs, "eps");
    const { outer, len, inner } = splitAtAxis(x.type.shape, axis);
    const xs = x.data;
    const out = new Float64Array(xs.length);
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        const base = o * len * inner + i;
        let mean = 0;
        for (let j = 0; j < len; j++) mean += xs[base + j * inner];
        mean /= len;
        let variance = 0;
        for (let j = 0; j < len; j++) {
          const d = xs[base + j * inner] - mean;
          variance += d * d;
        }
        variance /= len;
        const scale = 1 / Math.sqrt(variance + eps);
        for (let j = 0; j < len; j++) {
          const k = base + j * inner;
          out[k] = (xs[k] - mean) * scale * gamma.data[j] + beta.data[j];
        }
      }
    }
    return out;
  },
  vjp(ctx) {
    const axis = resolveAxis("layerNorm", attr.num(ctx.node.attrs, "axis"), ctx.b.typeOf(ctx.node.inputs[0]));
    return normalizationVjp(ctx, [axis], axis);
  },
};

const batchNorm: OpDef = {
  name: "batchNorm",
  summary: "training-mode batch norm: per-channel (last axis) statistics over all other axes, biased variance",
  kind: "normalization",
  operands: ["x", "gamma", "beta"],
  attrs: { eps: EPS_ATTR },
  tolerance: 1e-4,
  infer([x, gamma, beta]) {
    requireFloat("batchNorm", "x", x);
    requireSameDtype("batchNorm", ["x", "gamma", "beta"], [x, gamma, beta]);
    const channels = requireChannelsLast("batchNorm", x);
    requireVector("batchNorm", "gamma", gamma, channels, x, "the channel count");
    requireVector("batchNorm", "beta", beta, channels, x, "the channel count");
    return x;
  },
  interpret([x, gamma, beta], attrs) {
    const eps = attr.num(attrs, "eps");
    const { mean, sqDev, n } = channelStats(x);
    const channels = mean.length;
    const scale = new Float64Array(channels);
    for (let c = 0; c < channels; c++) scale[c] = gamma.data[c] / Math.sqrt(sqDev[c] / n + eps);
    const out = new Float64Array(x.data.length);
    for (let r = 0; r < n; r++) {
      for (let c = 0; c < channels; c++) {
        const k = r * channels + c;
        out[k] = (x.data[k] - mean[c]) * scale[c] + beta.data[c];
      }
    }
    return out;
  },
  vjp(ctx) {
    const rank = ctx.b.typeOf(ctx.node.inputs[0]).shape.length;
    return normalizationVjp(ctx, Array.from({ length: rank - 1 }, (_, i) => i), rank - 1);
  },
};

// No VJP: the running statistics only feed end-of-step state updates, which no loss depends on,
// so autodiff never reaches this op.
const batchNormRunningStat: OpDef = {
  name: "batchNormRunningStat",
  summary: "(1 - momentum) * running + momentum * stat(x) per channel; var is unbiased (n/(n-1)) as in PyTorch",
  kind: "reduction",
  operands: ["x", "running"],
  attrs: {
    stat: { kind: "string", oneOf: ["mean", "var"], doc: "which running statistic this updates" },
    momentum: { kind: "float", default: 0.1, doc: "weight of the new batch statistic" },
  },
  tolerance: 1e-4,
  infer([x, running], attrs) {
    const op = "batchNormRunningStat";
    requireFloat(op, "x", x);
    requireSameDtype(op, ["x", "running"], [x, running]);
    const channels = requireChannelsLast(op, x);
    requireVector(op, "running", running, channels, x, "the channel count");
    const n = channels === 0 ? 0 : numel(x.shape) / channels;
    if (attr.str(attrs, "stat") === "var" && n < 2) {
      throw new ShapeError(`${op}: the unbiased variance needs at least 2 values per channel, ${formatType(x)} has ${n}`);
    }
    return running;
  },
  interpret([x, running], attrs) {
    const m = attr.num(attrs, "momentum");
    const { mean, sqDev, n } = channelStats(x);
    const stat = attr.str(attrs, "stat") === "mean" ? mean : sqDev.map((s) => s / (n - 1));
    const out = new Float64Array(running.data.length);
    for (let c = 0; c < out.length; c++) out[c] = (1 - m) * running.data[c] + m * stat[c];
    return out;
  },
};

export const NORMALIZATION_OPS: readonly OpDef[] = [layerNorm, batchNorm, batchNormRunningStat];
