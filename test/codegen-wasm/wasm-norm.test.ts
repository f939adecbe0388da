// The WASM kernels of layerNorm, batchNorm and batchNormRunningStat against the reference
// interpreter. Layer norm runs along the last axis (SIMD along it: lengths around the vector
// width) and along first/middle axes (SIMD across the axes after it: inner sizes below, at and
// past one 16-lane panel); batch norm's channel counts do the same for its across-the-rows path.

import { describe, expect, it } from "vitest";
import { GraphBuilder } from "../../compiler/ir/builder.ts";
import type { Graph } from "../../compiler/ir/graph.ts";
import type { AttrValue } from "../../compiler/ir/op-def.ts";
import { expectMatchesInterpreter } from "../support/wasm-harness.ts";
import { f32, opGraph, size, uniform } from "../support/wasm-reduction-kit.ts";

/** `op(x, gamma, beta)` with gamma and beta params at their usual initializers (ones, zeros). */
function normGraph(op: string, shape: number[], channels: number, attrs: Record<string, AttrValue> = {}): Graph {
  const b = new GraphBuilder(op);
  b.addInput({ name: "x", type: f32(...shape) });
  b.addParam({ name: "gamma", type: f32(channels), init: "ones", trainable: true });
  b.addParam({ name: "beta", type: f32(channels), init: "zeros", trainable: true });
  b.output("y", b.op(op, ["x", "gamma", "beta"], attrs));
  return b.build();
}

// Where a float32 kernel cannot be relatively accurate, values are compared absolutely below a
// floor (the harness's metric: |got - want| <= tolerance * max(|want|, floor)):
// - the statistics are float32, so the mean carries an error of about an ulp of |mean| (1e-7
//   |mean|), and xhat = (x - mean) * rstd an absolute error of ~1e-7 |mean| rstd, which for
//   N(0,1) data is below 1e-7: values under 1e-3 are compared at that scale;
// - with gamma and beta drawn at random, y = xhat * gamma + beta is rounded twice (a product,
//   then a sum), so where the two terms cancel y carries an absolute error of a few 1e-8 times
//   their O(1) size: values under 1e-2.
const STATISTICS = { floor: 1e-3 };
const CANCELLING = { floor: 1e-2 };

const LAYER_NORM_CASES: { shape: number[]; axis: number }[] = [
  ...[1, 3, 4, 5, 7, 8, 33, 1000].map((n) => ({ shape: [3, n], axis: -1 })),
  { shape: [33], axis: 0 },
  { shape: [2, 6, 64], axis: 2 },
  { shape: [3, 5, 7], axis: 1 },
  { shape: [9, 21], axis: 0 },
  { shape: [4, 3, 16], axis: 1 },
  { shape: [2, 3, 4, 5], axis: 2 },
  { shape: [2, 3, 4, 5], axis: -4 },
];

describe("layerNorm", () => {
  for (const { shape, axis } of LAYER_NORM_CASES) {
    const len = shape[axis < 0 ? axis + shape.length : axis];
    it(`f32[${shape}] along axis ${axis}`, async () => {
      await expectMatchesInterpreter(normGraph("layerNorm", shape, len, { axis }), undefined, STATISTICS);
    });
    it(`f32[${shape}] along axis ${axis} with random gamma and beta, eps 1e-3`, async () => {
      const g = opGraph("layerNorm", { x: f32(...shape), gamma: f32(len), beta: f32(len) }, { axis, eps: 1e-3 });
      await expectMatchesInterpreter(g, undefined, CANCELLING);
    });
  }

  it("centres and scales a row exactly as the definition says", async () => {
    // Row [1, 2, 3, 4]: mean 2.5, biased variance 1.25.
    const { wasm } = await expectMatchesInterpreter(normGraph("layerNorm", [1, 4], 4, { eps: 0 }), { x: [1, 2, 3, 4] });
    const s = 1 / Math.sqrt(1.25);
    [-1.5 * s, -0.5 * s, 0.5 * s, 1.5 * s].forEach((v, i) => expect(wasm.outputs.y.data[i]).toBeCloseTo(v, 6));
  });
});

const CHANNEL_CASES: number[][] = [
  [4, 3],
  [1, 6],
  [10, 1],
  [3, 4],
  [2, 2, 2, 40],
  [64, 5, 5, 17],
  [200, 33],
  [2, 3, 3, 16],
];

describe("batchNorm", () => {
  for (const shape of CHANNEL_CASES) {
    const channels = shape[shape.length - 1];
    it(`f32[${shape}]`, async () => {
      await expectMatchesInterpreter(normGraph("batchNorm", shape, channels), undefined, STATISTICS);
    });
    it(`f32[${shape}] with random gamma and beta, eps 1e-3`, async () => {
      const g = opGraph("batchNorm", { x: f32(...shape), gamma: f32(channels), beta: f32(channels) }, { eps: 1e-3 });
      await expectMatchesInterpreter(g, undefined, CANCELLING);
    });
  }

  it("keeps per-channel statistics of 50176 rows accurate", async () => {
    // An MNIST-sized conv activation [64, 28, 28, 8] with mean 3 and variance 1/3, so E[x^2] -
    // E[x]^2 would lose three digits of the variance; the two-pass blocked sums keep them. The
    // mean's ulp (2.4e-7 at 3) sets the absolute error of xhat near 0, hence the floor.
    const shape = [64, 28, 28, 8];
    const x = uniform(shape, 2, 4, 9);
    await expectMatchesInterpreter(normGraph("batchNorm", shape, 8), { x }, CANCELLING);
  });
});

describe("batchNormRunningStat", () => {
  for (const shape of CHANNEL_CASES) {
    const channels = shape[shape.length - 1];
    // The unbiased variance needs two rows.
    for (const stat of size(shape) / channels > 1 ? ["mean", "var"] : ["mean"]) {
      it(`${stat} of f32[${shape}]`, async () => {
        const g = opGraph("batchNormRunningStat", { x: f32(...shape), running: f32(channels) }, { stat, momentum: 0.25 });
        await expectMatchesInterpreter(g);
      });
    }
  }

  it("blends with momentum 0.1 and uses the unbiased variance", async () => {
    // Channel 0 sees [1, 3] (mean 2, unbiased var 2), channel 1 sees [2, 6] (mean 4, var 8).
    const g = (stat: string) => opGraph("batchNormRunningStat", { x: f32(2, 2), running: f32(2) }, { stat });
    const inputs = { x: [1, 2, 3, 6], running: [10, 20] };
    const mean = await expectMatchesInterpreter(g("mean"), inputs);
    expect([...mean.wasm.outputs.y.data]).toEqual([0.9 * 10 + 0.1 * 2, 0.9 * 20 + 0.1 * 4].map(Math.fround));
    const variance = await expectMatchesInterpreter(g("var"), inputs);
    expect([...variance.wasm.outputs.y.data]).toEqual([0.9 * 10 + 0.1 * 2, 0.9 * 20 + 0.1 * 8].map(Math.fround));
  });
});
