// `mlc mem --train --fit SIZE` (compiler/cli/fit-batch.ts): the batch it picks has an arena within
// the budget and the next batch's arena is over it — on arena curves made up to be awkward, and on
// every example's real training step, compiled again independently at b and b + 1.
import { describe, expect, it } from "vitest";
import { accumulationFor, fitBatch, type FitOptions } from "../../compiler/cli/fit-batch.ts";
import { fitExamples } from "../support/fit-examples.ts";
import { rng } from "../support/seeded-random.ts";

const fake = (budget: number, maxBatch?: number) => ({ budget, ...(maxBatch ? { maxBatch } : {}) }) as unknown as FitOptions;

describe("fitBatch on made-up arena curves", () => {
  const curves: Array<[string, (b: number) => number]> = [
    ["linear", (b) => 1000 + 37 * b],
    ["quadratic", (b) => 500 + 3 * b + 0.25 * b * b],
    ["steps of 16", (b) => 2000 + 640 * Math.ceil(b / 16)],
    ["plateau then steep", (b) => (b < 300 ? 10_000 + b : 10_000 + b * 50)],
    ["jittered", (b) => 4096 + 100 * b + ((b * 7919) % 13) * 40],
    ["not monotone", (b) => 5000 + 90 * b + (b % 5 === 0 ? 400 : 0)],
  ];
  it.each(curves)("%s: arena(b) <= budget < arena(b + 1), in few compiles", (_, curve) => {
    const random = rng(11);
    for (let trial = 0; trial < 40; trial++) {
      const budget = Math.floor(curve(1) + random() * (curve(5000) - curve(1)));
      const r = fitBatch(fake(budget), "none", curve);
      expect(r.batch).toBeGreaterThanOrEqual(1);
      expect(curve(r.batch)).toBeLessThanOrEqual(budget);
      expect(r.next!.batch).toBe(r.batch + 1);
      expect(curve(r.batch + 1)).toBeGreaterThan(budget);
      expect(r.compiles).toBeLessThanOrEqual(40);
    }
  });

  it("a linear curve takes about four compiles", () => {
    const r = fitBatch(fake(1_000_000), "none", (b) => 1000 + 37 * b);
    expect(r.batch).toBe(Math.floor((1_000_000 - 1000) / 37));
    expect(r.compiles).toBe(4); // batches 1, 2, the predicted answer + 1, the answer
  });

  it("says when not even batch 1 fits, and stops at the largest batch it tries", () => {
    expect(fitBatch(fake(100), "none", (b) => 200 * b)).toMatchObject({ batch: 0, next: { batch: 1, arena: 200 } });
    expect(fitBatch(fake(1e9, 4096), "none", (b) => b)).toMatchObject({ batch: 4096, arena: 4096 });
    // A mode that cannot compile a batch within the budget (auto: Infinity) counts it as not fitting.
    expect(fitBatch(fake(10_000), "auto", (b) => (b > 50 ? Infinity : 100 * b))).toMatchObject({ batch: 50, next: { batch: 51, arena: Infinity } });
  });

  it("counts the micro-batches that reach an effective batch", () => {
    expect(accumulationFor(256, 109)).toBe(3);
    expect(accumulationFor(256, 128)).toBe(2);
    expect(accumulationFor(256, 300)).toBe(1);
  });
});

// Every example's real training step: half here, half in fit-batch-examples.test.ts (time).
fitExamples(["cnn", "mnist-mlp", "recsys"]);
