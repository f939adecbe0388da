// The WASM pooling kernels (kernels/pool.ts) against the reference interpreter: max and average
// pooling and their gradients over the window shapes, strides and paddings the reference tests
// use (2x2/2, 3x3/1 "same", explicit pads, overlapping and non-square windows, "same" with a
// stride that leaves an odd pixel), with channel counts that exercise every chunk of the channel
// loop (1, 3, 4, 5, 16, 21, 37: scalar lanes, one f32x4, 16-channel runs and tails), and max
// pooling over windows that tile the input (pool-tiled.ts).

import { describe, expect, it } from "vitest";
import type { AttrValue } from "../../compiler/ir/op-def.ts";
import { expectKernelsMatch } from "../support/wasm-contraction-harness.ts";
import { f32, opGraph, size, typed, uniform, integers } from "../support/wasm-reduction-kit.ts";
import { runOp } from "../support/kernel-harness.ts";
import { NN_OPS } from "../../compiler/ir/ops/nn.ts";
import { tensor } from "../support/kernel-harness.ts";

interface PoolCase {
  readonly name: string;
  readonly x: number[];
  readonly attrs: Record<string, AttrValue>;
}

const CASES: PoolCase[] = [
  { name: "2x2 stride 2", x: [2, 6, 6, 5], attrs: { size: [2, 2], stride: [2, 2] } },
  { name: "2x2 stride 2 on an odd size (valid drops the last row)", x: [1, 7, 5, 3], attrs: { size: [2, 2], stride: [2, 2] } },
  { name: "3x3 stride 1 same", x: [1, 5, 6, 16], attrs: { size: [3, 3], stride: [1, 1], padding: "same" } },
  { name: "2x2 stride 2 same on an odd size", x: [2, 5, 7, 4], attrs: { size: [2, 2], stride: [2, 2], padding: "same" } },
  { name: "3x3 stride 2 same", x: [1, 8, 9, 21], attrs: { size: [3, 3], stride: [2, 2], padding: "same" } },
  { name: "explicit pads top/left", x: [1, 4, 5, 1], attrs: { size: [2, 2], stride: [1, 1], padding: "explicit", pads: [1, 0, 1, 0] } },
  { name: "explicit pads on every side", x: [2, 5, 4, 37], attrs: { size: [3, 2], stride: [2, 1], padding: "explicit", pads: [2, 1, 0, 1] } },
  { name: "overlapping 3x3 stride 1 valid", x: [1, 6, 6, 4], attrs: { size: [3, 3], stride: [1, 1] } },
  { name: "a 1x4 window", x: [1, 3, 9, 5], attrs: { size: [1, 4], stride: [1, 3] } },
  { name: "global pooling", x: [3, 4, 4, 16], attrs: { size: [4, 4], stride: [1, 1] } },
  // Windows that tile the input, f32 with channels a multiple of 4 (pool-tiled.ts).
  { name: "tiled: 2x2 stride 2, 8 channels", x: [2, 6, 6, 8], attrs: { size: [2, 2], stride: [2, 2] } },
  { name: "tiled: 2x2 stride 2 on an odd size, 20 channels (the last row and column get no window)", x: [1, 7, 5, 20], attrs: { size: [2, 2], stride: [2, 2] } },
  { name: "tiled: 3x2 stride 3x2, 4 channels", x: [2, 6, 4, 4], attrs: { size: [3, 2], stride: [3, 2] } },
];

const FLOOR = { floor: 1 }; // values are O(1); the sums of the average can cancel toward zero

function poolOutShape(c: PoolCase): number[] {
  const x = tensor("f32", c.x, new Array(size(c.x)).fill(0));
  return runOp(NN_OPS.find((o) => o.name === "maxPool2d")!, [x], c.attrs).type.shape.slice();
}

describe("pooling on the WASM backend", () => {
  for (const c of CASES) {
    it(`maxPool2d: ${c.name}`, async () => {
      await expectKernelsMatch(opGraph("maxPool2d", { x: f32(...c.x) }, c.attrs));
    });
    it(`avgPool2d: ${c.name}`, async () => {
      await expectKernelsMatch(opGraph("avgPool2d", { x: f32(...c.x) }, c.attrs), undefined, FLOOR);
    });
    it(`maxPool2dGrad: ${c.name}, with ties`, async () => {
      // Small integers make ties common: the gradient must go to the first maximum only.
      const g = opGraph("maxPool2dGrad", { x: f32(...c.x), dy: f32(...poolOutShape(c)) }, c.attrs);
      await expectKernelsMatch(g, { x: integers(c.x, 0, 3, 7), dy: uniform(poolOutShape(c), -1, 1, 8) }, FLOOR);
    });
    it(`avgPool2dGrad: ${c.name}`, async () => {
      const g = opGraph("avgPool2dGrad", { dy: f32(...poolOutShape(c)) }, { ...c.attrs, inputShape: c.x });
      await expectKernelsMatch(g, undefined, FLOOR);
    });
  }

  it("maxPool2d of i32", async () => {
    const x = [2, 5, 5, 6];
    await expectKernelsMatch(opGraph("maxPool2d", { x: typed("i32", ...x) }, { size: [3, 3], stride: [2, 2], padding: "same" }),
      { x: integers(x, -1000, 1000, 3) });
  });

  // 5 channels: the general kernel; 8: the tiled one.
  for (const C of [5, 8]) {
    it(`propagates NaN through the max and routes the gradient to the first NaN (${C} channels)`, async () => {
      const shape = [1, 4, 4, C];
      const x = uniform(shape, -1, 1, 4);
      x[C] = NaN; // pixel (0,1), channel 0
      x[6 * C + 2] = NaN; // pixel (1,2), channel 2
      x[7 * C + 2] = NaN; // pixel (1,3), channel 2: a second NaN in the same window loses
      x[0] = -Infinity;
      const attrs = { size: [2, 2], stride: [2, 2] };
      const { actual } = await expectKernelsMatch(opGraph("maxPool2d", { x: f32(...shape) }, attrs), { x });
      expect(Number.isNaN(actual.y.data[0])).toBe(true);
      await expectKernelsMatch(opGraph("maxPool2dGrad", { x: f32(...shape), dy: f32(1, 2, 2, C) }, attrs), { x, dy: uniform([1, 2, 2, C], 1, 2, 5) });
    });
  }

  it("sends the gradient of an all -inf window to its first pixel", async () => {
    const shape = [1, 2, 2, 4];
    const g = opGraph("maxPool2dGrad", { x: f32(...shape), dy: f32(1, 1, 1, 4) }, { size: [2, 2], stride: [2, 2] });
    const { actual } = await expectKernelsMatch(g, { x: new Array(16).fill(-Infinity), dy: [1, 2, 3, 4] });
    expect([...actual.y.data]).toEqual([1, 2, 3, 4, ...new Array(12).fill(0)]);
  });
});
