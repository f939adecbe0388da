// The WASM kernels of sum, mean, max, softmax and logSoftmax against the reference interpreter,
// over shapes chosen to hit every code path of reduction-axis-walk.ts: reduced lengths around the
// SIMD width (1, 3, 4, 5, 7, 8, 33, 1000) for the along-the-axis path and its scalar tail, inner
// sizes below, at and past one 16-lane panel for the across-the-axis path, reductions over first,
// middle, last and several (non-adjacent) axes, and keepDims.

import { describe, expect, it } from "vitest";
import { REDUCTION_KERNELS } from "../../compiler/codegen-wasm/kernels/reduction.ts";
import { REDUCTION_OPS } from "../../compiler/ir/ops/reduction.ts";
import { expectMatchesInterpreter, runWasm } from "../support/wasm-harness.ts";
import { f32, integers, opGraph, typed, uniform } from "../support/wasm-reduction-kit.ts";

describe("the reduction kernel table", () => {
  it("has a kernel for every op of the group, and for fusedReduce, gather and scatterAdd", () => {
    const expected = [...REDUCTION_OPS.map((o) => o.name), "fusedReduce", "gather", "scatterAdd"];
    expect([...REDUCTION_KERNELS.keys()].sort()).toEqual(expected.sort());
  });
});

const AXIS_CASES: { shape: number[]; axes: number[] }[] = [
  ...[1, 3, 4, 5, 7, 8, 33, 1000].map((n) => ({ shape: [n], axes: [0] })),
  { shape: [3, 33], axes: [1] },
  { shape: [3, 33], axes: [0] },
  { shape: [3, 33], axes: [0, 1] },
  { shape: [1000, 5], axes: [0] },
  { shape: [5, 1000], axes: [-1] },
  { shape: [4, 7, 5], axes: [0] },
  { shape: [4, 7, 5], axes: [1] },
  { shape: [4, 7, 5], axes: [2] },
  { shape: [4, 7, 5], axes: [0, 2] },
  { shape: [4, 7, 5], axes: [-2, -1] },
  { shape: [2, 3, 4, 5], axes: [1, 3] },
  { shape: [2, 3, 4, 5], axes: [0, 2] },
  { shape: [2, 3, 4, 5], axes: [0, 1, 2] },
  { shape: [2, 3, 4, 5], axes: [3, 0] },
  { shape: [2, 9, 4, 37], axes: [0, 2] },
  { shape: [4, 1, 6], axes: [1] },
  { shape: [4, 1, 6], axes: [0, 1] },
  { shape: [64, 7, 7, 18], axes: [0, 1, 2] },
];

// Sums get positive terms: a float32 sum is accurate relative to Σ|x|, so terms that cancel to
// near 0 would make any float32 kernel miss a purely relative tolerance. A max is exact, so it
// gets both signs (and rows of only negative values, below the fold's starting point of 0).
const data = (op: string, shape: number[]) => (op === "max" ? uniform(shape, -3, 1, 11) : uniform(shape, 0.25, 1.25, 11));

describe.each(["sum", "mean", "max"])("%s (f32)", (op) => {
  for (const { shape, axes } of AXIS_CASES) {
    for (const keepDims of [false, true]) {
      it(`f32[${shape}] over [${axes}]${keepDims ? " keeping dims" : ""}`, async () => {
        await expectMatchesInterpreter(opGraph(op, { x: f32(...shape) }, { axes, keepDims }), { x: data(op, shape) });
      });
    }
  }

  it("with axes [] is the identity", async () => {
    const x = data(op, [3, 5]);
    const { wasm } = await expectMatchesInterpreter(opGraph(op, { x: f32(3, 5) }, { axes: [] }), { x });
    expect(wasm.outputs.y.type.shape).toEqual([3, 5]);
    expect([...wasm.outputs.y.data]).toEqual(x.map(Math.fround));
  });

  it("of a 784 x 64 tensor over everything", async () => {
    await expectMatchesInterpreter(opGraph(op, { x: f32(784, 64) }, { axes: [0, 1] }), { x: data(op, [784, 64]) });
  });
});

describe("sum and mean accuracy", () => {
  // Terms uniform in [0.5, 1.5), where float32 rounding drifts one way. Measured on this data:
  // a single running sum of the 2^20 terms is off by 3.7e-6 relative, the kernel's sixteen lane
  // sums without blocks by 7e-7; a running sum down 512 rows by up to 3.6e-6. The tolerances
  // are met only with the blocked sums (checked by disabling blocks: all four cases then fail).
  const cases = [
    { shape: [1024, 1024], axes: [0, 1], tolerance: 3e-7, what: "of 2^20 terms to one value" },
    { shape: [512, 256], axes: [0], tolerance: 1.5e-6, what: "down 512 rows" },
  ];
  for (const { shape, axes, tolerance, what } of cases) {
    const x = uniform(shape, 0.5, 1.5, 7);
    for (const op of ["sum", "mean"]) {
      it(`${op} ${what} is within ${tolerance} of float64`, async () => {
        await expectMatchesInterpreter(opGraph(op, { x: f32(...shape) }, { axes }), { x }, { tolerance });
      });
    }
  }
});

describe("special values", () => {
  it("max propagates NaN and sum propagates infinities", async () => {
    const x = [1, NaN, 3, 4, 5, 6, 7, 8, Infinity, 1, 2, 3, 4, 5, 6, -Infinity, 1, 2, 3, Infinity];
    for (const op of ["max", "sum"]) {
      const { wasm } = await expectMatchesInterpreter(opGraph(op, { x: f32(4, 5) }, { axes: [1] }), { x });
      expect(Number.isNaN(wasm.outputs.y.data[0])).toBe(true);
    }
  });

  it("an empty sum is 0 and an empty mean is NaN", async () => {
    const sum = await runWasm(opGraph("sum", { x: f32(0, 3) }, { axes: [0] }), { x: [] });
    expect([...sum.outputs.y.data]).toEqual([0, 0, 0]);
    const mean = await runWasm(opGraph("mean", { x: f32(0, 3) }, { axes: [0] }), { x: [] });
    expect([...mean.outputs.y.data].every(Number.isNaN)).toBe(true);
  });
});

describe("integer sum and max", () => {
  const cases: { shape: number[]; axes: number[] }[] = [
    { shape: [1000], axes: [0] },
    { shape: [7, 9], axes: [1] },
    { shape: [7, 9], axes: [0] },
    { shape: [3, 4, 21], axes: [0, 2] },
    { shape: [5, 33], axes: [0, 1] },
  ];
  const ranges = { i32: [-100000, 100000], i8: [-128, 128], u8: [0, 256] } as const;
  for (const dtype of ["i32", "i8", "u8"] as const) {
    for (const op of ["sum", "max"]) {
      for (const { shape, axes } of cases) {
        it(`${op} of ${dtype}[${shape}] over [${axes}] (wrapping as the stored type)`, async () => {
          const [lo, hi] = ranges[dtype];
          await expectMatchesInterpreter(opGraph(op, { x: typed(dtype, ...shape) }, { axes }), { x: integers(shape, lo, hi, 3) });
        });
      }
    }
  }

  it("i32 sums wrap around 2^32 as the interpreter's stored result does", async () => {
    const { wasm } = await expectMatchesInterpreter(opGraph("sum", { x: typed("i32", 8) }, { axes: [0] }), {
      x: [2 ** 31 - 1, 2 ** 31 - 1, 5, -3, 2 ** 30, 2 ** 30, 1, 0],
    });
    // The exact sum is 2^32 + 2^31 + 1, which wraps to 2^31 + 1, i.e. -2^31 + 1 as a signed i32.
    expect(wasm.outputs.y.data[0]).toBe(-(2 ** 31) + 1);
  });

  it("i32 max of all-negative values is not the fold's starting value", async () => {
    const least = -(2 ** 31);
    const { wasm } = await expectMatchesInterpreter(opGraph("max", { x: typed("i32", 2, 5) }, { axes: [1] }), {
      x: [-7, -3, -9, least, -5, least, least, least, least, least + 1],
    });
    expect([...wasm.outputs.y.data]).toEqual([-3, least + 1]);
  });
});

const SOFTMAX_CASES: { shape: number[]; axis: number }[] = [
  ...[1, 3, 4, 5, 7, 8, 33, 1000].map((n) => ({ shape: [3, n], axis: -1 })),
  { shape: [64, 10], axis: 1 },
  { shape: [3, 5, 7], axis: 1 },
  { shape: [9, 21], axis: 0 },
  { shape: [5, 40], axis: 0 },
  { shape: [2, 3, 4, 5], axis: 2 },
  { shape: [2, 3, 4, 5], axis: 0 },
  { shape: [2, 4, 6, 6], axis: -1 },
];

describe.each(["softmax", "logSoftmax"])("%s", (op) => {
  for (const { shape, axis } of SOFTMAX_CASES) {
    it(`f32[${shape}] along axis ${axis}`, async () => {
      await expectMatchesInterpreter(opGraph(op, { x: f32(...shape) }, { axis }));
    });
  }

  // Logits of magnitude 1e3 to 1e4: exp(x) alone would overflow; with the max subtracted nothing
  // does. The reference's float64 log Σ exp(x - m) only resolves ~1e-16 near 0 (terms are O(1)),
  // where the kernel's log1p is more precise, so values below 1e-10 are compared absolutely.
  for (const { shape, axis } of [
    { shape: [6, 37], axis: -1 },
    { shape: [37, 6], axis: 0 },
  ]) {
    it(`stays finite for logits of magnitude 1e4, f32[${shape}] along axis ${axis}`, async () => {
      const x = uniform(shape, -1, 1, 5).map((u, i) => 1000 * (i % 10) * u + 5000);
      const { wasm } = await expectMatchesInterpreter(opGraph(op, { x: f32(...shape) }, { axis }), { x }, { floor: 1e-10 });
      expect(wasm.outputs.y.data.every(Number.isFinite)).toBe(true);
    });
  }

  it("gives masked (-inf) logits probability 0", async () => {
    const x = [0.5, -Infinity, 2, -Infinity, 1, 3, -Infinity, -Infinity, 0, -1];
    const { wasm } = await expectMatchesInterpreter(opGraph(op, { x: f32(2, 5) }, { axis: 1 }), { x });
    expect(wasm.outputs.y.data[1]).toBe(op === "softmax" ? 0 : -Infinity);
  });

  it("is accurate for a dominant logit, whose log-probability is tiny", async () => {
    // Each row of 9 has one logit 12 above the other eight (which differ by < 0.1), so
    // log p_max = -log(1 + ~8 e^-12) ~ -5e-5: float32 resolves it as log1p of the small sum,
    // not as the log of 1 + that sum (an ulp of 1 is 1e-3 of it).
    const rows = 4;
    const x = uniform([rows, 9], 0, 0.1, 12).map((u, i) => u + (i % 9 === (2 * Math.floor(i / 9)) % 9 ? 12 : 0));
    await expectMatchesInterpreter(opGraph(op, { x: f32(rows, 9) }, { axis: 1 }), { x });
  });
});
