// The activation range observers of --quantize int8 (passes/quantize/observers.ts): minmax keeps
// every value, percentile cuts the 0.01% tails, mse picks the range with the least expected
// error, and every range contains 0.
import { describe, expect, it } from "vitest";
import { Histogram, MinMax, observedRange, quantizationError } from "../../compiler/passes/quantize/observers.ts";

function observe(values: readonly number[]): { range: MinMax; hist: Histogram } {
  const range = new MinMax();
  range.observe(values);
  const hist = new Histogram(Math.min(range.min, 0), Math.max(range.max, 0));
  hist.observe(values);
  return { range, hist };
}

// 100,000 values evenly in [0, 1] and one outlier at 50.
const uniform = Array.from({ length: 100_000 }, (_, i) => (i + 0.5) / 100_000);
const withOutlier = [...uniform, 50];

describe("range observers", () => {
  it("minmax: the extremes, widened to contain 0", () => {
    const { range, hist } = observe([0.5, 2, 3]);
    expect(observedRange("minmax", range, hist)).toEqual([0, 3]);
    expect(observedRange("minmax", observe([-2, -1]).range)).toEqual([-2, 0]);
  });

  it("percentile: one outlier in 100,001 values no longer sets the range", () => {
    const { range, hist } = observe(withOutlier);
    const [lo, hi] = observedRange("percentile", range, hist);
    expect(lo).toBe(0);
    // The 99.99% quantile of the bulk, within a histogram bin (50/2048).
    expect(hi).toBeGreaterThan(0.99 - 50 / 2048);
    expect(hi).toBeLessThan(1 + 50 / 2048);
  });

  it("mse: clips the outlier when that lowers the expected error, keeps the range when nothing sticks out", () => {
    const tailed = observe(withOutlier);
    const [, hi] = observedRange("mse", tailed.range, tailed.hist);
    expect(hi).toBeLessThan(50);
    expect(quantizationError(tailed.hist, 0, hi)).toBeLessThan(quantizationError(tailed.hist, 0, 50));
    const flat = observe(uniform);
    const [, flatHi] = observedRange("mse", flat.range, flat.hist);
    expect(flatHi).toBeGreaterThan(0.97);
  });

  it("counts exact zeros apart: a ReLU output's zeros cost nothing and do not pull the range", () => {
    const relu = [...new Array(90_000).fill(0), ...uniform.slice(0, 10_000).map((v) => v * 10)];
    const { range, hist } = observe(relu);
    expect(hist.zeros).toBe(90_000);
    expect(observedRange("percentile", range, hist)[1]).toBeGreaterThan(0.09);
  });
});
