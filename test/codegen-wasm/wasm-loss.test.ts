// The WASM kernels of mse and softmaxCrossEntropy against the reference interpreter, with class
// counts around the SIMD width, labels at both class boundaries, large logits, confident rows
// (whose loss is tiny), and labels out of range (a trap, as the interpreter throws).

import { describe, expect, it } from "vitest";
import { interpret } from "../../compiler/ir/interpreter.ts";
import { expectMatchesInterpreter, runWasm } from "../support/wasm-harness.ts";
import { f32, integers, opGraph, typed, uniform } from "../support/wasm-reduction-kit.ts";

describe("mse", () => {
  for (const shape of [[1], [3], [4, 5], [2, 3, 4, 5], [784, 64]]) {
    it(`of f32[${shape}]`, async () => {
      await expectMatchesInterpreter(opGraph("mse", { a: f32(...shape), b: f32(...shape) }));
    });
  }

  it("is the mean of squared differences", async () => {
    const { wasm } = await expectMatchesInterpreter(opGraph("mse", { a: f32(5), b: f32(5) }), { a: [1, 2, 3, 4, 5], b: [1, 0, 3, 7, 5] });
    expect(wasm.outputs.y.data[0]).toBeCloseTo((4 + 9) / 5, 6);
  });
});

/** softmaxCrossEntropy of logits [...lead, classes] and i32 labels [...lead]. */
const crossEntropy = (lead: number[], classes: number) =>
  opGraph("softmaxCrossEntropy", { logits: f32(...lead, classes), labels: typed("i32", ...lead) });

describe("softmaxCrossEntropy", () => {
  const cases: { lead: number[]; classes: number }[] = [
    ...[1, 3, 4, 5, 7, 8, 10, 33, 1000].map((classes) => ({ lead: [6], classes })),
    { lead: [64], classes: 10 },
    { lead: [2, 3], classes: 5 },
    { lead: [], classes: 7 },
  ];
  for (const { lead, classes } of cases) {
    it(`of logits [${[...lead, classes]}]`, async () => {
      await expectMatchesInterpreter(crossEntropy(lead, classes));
    });
  }

  it("takes labels at both class boundaries", async () => {
    const classes = 9;
    const labels = [0, classes - 1, 0, classes - 1, 4];
    await expectMatchesInterpreter(crossEntropy([5], classes), { logits: uniform([5, classes], -2, 2, 4), labels });
  });

  it("stays finite for logits of magnitude 1e4", async () => {
    const logits = uniform([8, 12], -1, 1, 6).map((u, i) => 1000 * (i % 11) * u);
    const { wasm } = await expectMatchesInterpreter(crossEntropy([8], 12), { logits, labels: integers([8], 0, 12, 2) });
    expect(Number.isFinite(wasm.outputs.y.data[0])).toBe(true);
  });

  it("is accurate for confident predictions, whose loss is ~1e-5", async () => {
    // The labelled logit leads by 14: loss = log(1 + (C-1) e^-14) ~ 8e-6 per row, which float32
    // can only resolve as log1p of the small sum, not as the log of 1 + that sum.
    const classes = 10;
    const labels = integers([16], 0, classes, 8);
    const logits = uniform([16, classes], -0.5, 0.5, 3).map((u, i) => u + (i % classes === labels[Math.floor(i / classes)] ? 14 : 0));
    const { wasm } = await expectMatchesInterpreter(crossEntropy([16], classes), { logits, labels });
    expect(wasm.outputs.y.data[0]).toBeGreaterThan(0);
    expect(wasm.outputs.y.data[0]).toBeLessThan(1e-4);
  });

  for (const label of [-1, 7]) {
    it(`traps on label ${label} outside [0, 7), as the interpreter throws`, async () => {
      const g = crossEntropy([3], 7);
      const inputs = { logits: uniform([3, 7], -1, 1, 1), labels: [2, label, 0] };
      expect(() => interpret(g, inputs)).toThrow(/out of range/);
      await expect(runWasm(g, inputs)).rejects.toThrow(/unreachable/);
    });
  }

  it("averages over the leading positions", async () => {
    // Two rows of equal logits over 4 classes: each row's loss is log 4.
    const { wasm } = await expectMatchesInterpreter(crossEntropy([2], 4), { logits: new Array(8).fill(3), labels: [1, 3] });
    expect(wasm.outputs.y.data[0]).toBeCloseTo(Math.log(4), 6);
  });
});
