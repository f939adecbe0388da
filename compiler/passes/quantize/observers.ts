// Range observers of post-training quantization (`--observer`, docs/IR.md "Post-training
// quantization"): each turns the values one activation took over the calibration set into the
// range [lo, hi] its u8 scale covers. Weights are always observed by their exact per-channel
// absolute maximum (int8-params.ts); these choose activation ranges only.
//
//   minmax      the smallest and largest value seen (PyTorch's MinMaxObserver)
//   percentile  the 0.01% and 99.99% quantiles: a few outliers no longer stretch the scale
//   mse         the range, among [lo * a, hi * b] for a, b in 1 .. 0.2, whose quantization
//               error (rounding inside, clipping outside) over the histogram is least
//
// percentile and mse read a histogram of HISTOGRAM_BINS bins over the minmax range, so
// calibration makes two sweeps over its inputs for them (the first finds the range). Exact zeros
// (a ReLU's output is mostly zeros) are counted apart: zero is always exactly representable, so
// they cost nothing whatever the range.

export const OBSERVERS = ["minmax", "percentile", "mse"] as const;
export type ObserverKind = (typeof OBSERVERS)[number];

export const HISTOGRAM_BINS = 2048;
/** The quantiles `percentile` keeps. */
export const PERCENTILE = 0.9999;
const MSE_STEPS = 41;
const MSE_SHRINK = 0.2;

export class MinMax {
  min = Infinity;
  max = -Infinity;
  count = 0;
  observe(values: ArrayLike<number>, from = 0, to = values.length): void {
    let lo = this.min, hi = this.max;
    for (let i = from; i < to; i++) {
      const v = values[i];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    this.min = lo;
    this.max = hi;
    this.count += to - from;
  }
}

export class Histogram {
  readonly counts = new Float64Array(HISTOGRAM_BINS);
  zeros = 0;
  readonly width: number;
  constructor(readonly lo: number, readonly hi: number) {
    this.width = (hi - lo) / HISTOGRAM_BINS;
  }
  observe(values: ArrayLike<number>, from = 0, to = values.length): void {
    const { lo, width, counts } = this;
    for (let i = from; i < to; i++) {
      const v = values[i];
      if (v === 0) this.zeros++;
      else if (width > 0) counts[Math.min(HISTOGRAM_BINS - 1, Math.max(0, Math.floor((v - lo) / width)))]++;
    }
  }
  center(bin: number): number {
    return this.lo + (bin + 0.5) * this.width;
  }
  /** The value below which `fraction` of all values (zeros included) lie, interpolated in its bin. */
  quantile(fraction: number): number {
    const total = this.zeros + this.counts.reduce((s, c) => s + c, 0);
    const target = fraction * total;
    const zeroBin = this.width > 0 ? Math.min(HISTOGRAM_BINS - 1, Math.max(0, Math.floor(-this.lo / this.width))) : -1;
    let seen = 0;
    for (let b = 0; b < HISTOGRAM_BINS; b++) {
      const c = this.counts[b] + (b === zeroBin ? this.zeros : 0);
      if (seen + c >= target && c > 0) return this.lo + (b + (target - seen) / c) * this.width;
      seen += c;
    }
    return this.hi;
  }
}

/** The range an observer picks from the minmax range and, for percentile/mse, the histogram. */
export function observedRange(kind: ObserverKind, range: MinMax, hist?: Histogram): [number, number] {
  const lo = Math.min(range.min, 0);
  const hi = Math.max(range.max, 0);
  if (kind === "minmax" || !hist || hist.width === 0) return [lo, hi];
  if (kind === "percentile") return [Math.min(hist.quantile(1 - PERCENTILE), 0), Math.max(hist.quantile(PERCENTILE), 0)];
  let best: [number, number] = [lo, hi];
  let bestError = Infinity;
  for (let i = 0; i < MSE_STEPS; i++) {
    const a = 1 - (i * (1 - MSE_SHRINK)) / (MSE_STEPS - 1);
    if (lo === 0 && i > 0) break;
    for (let j = 0; j < MSE_STEPS; j++) {
      const b = 1 - (j * (1 - MSE_SHRINK)) / (MSE_STEPS - 1);
      const e = quantizationError(hist, lo * a, hi * b);
      if (e < bestError) {
        bestError = e;
        best = [lo * a, hi * b];
      }
    }
  }
  return best;
}

/** Expected squared error of u8 quantization over [a, b]: step^2/12 inside, the distance outside. */
export function quantizationError(hist: Histogram, a: number, b: number): number {
  const step = (b - a) / 255;
  const inside = (step * step) / 12;
  let error = 0;
  for (let bin = 0; bin < HISTOGRAM_BINS; bin++) {
    const n = hist.counts[bin];
    if (n === 0) continue;
    const c = hist.center(bin);
    error += n * (c < a ? (a - c) ** 2 : c > b ? (c - b) ** 2 : inside);
  }
  return error;
}
