// pruneMask's record (ir/ops/prune.ts): the mask it computes is mlc prune's element mask
// (ir/prune-masks.ts, checked against torch.nn.utils.prune) for the same count; ties go to the
// lower index, scores order as IEEE totalOrder, k is clamped, update 0 keeps the old mask, and its
// shape rule names what is wrong.
import { describe, expect, it } from "vitest";
import { PRUNE_OPS, smallestKMask, totalOrderKey } from "../../compiler/ir/ops/prune.ts";
import { pruneMasks } from "../../compiler/ir/prune-masks.ts";
import { ShapeError } from "../../compiler/ir/types.ts";
import { inferOp, opNamed, runOp, tensor } from "../support/kernel-harness.ts";
import { randomData } from "../support/op-fixtures.ts";

const op = opNamed(PRUNE_OPS, "pruneMask");
const run = (scores: number[], k: number, mask: number[], update = 1) =>
  runOp(op, [tensor("f32", [scores.length], scores), tensor("i32", [], [k]), tensor("f32", [mask.length], mask), tensor("i32", [], [update])]).values;

describe("pruneMask", () => {
  it("prunes what mlc prune's element mask prunes, at every count", () => {
    const w = Array.from(randomData(97, 5), (v) => Math.fround(v));
    const scores = w.map((v) => Math.abs(v));
    for (const sparsity of [0, 0.1, 0.5, 0.9, 0.97, 1]) {
      const [expected] = pruneMasks([{ name: "w", shape: [97], data: w }], sparsity, { kind: "element" });
      const k = Array.from(expected).filter((v) => v === 0).length;
      expect(run(scores, k, new Array(97).fill(1)), `sparsity ${sparsity}`).toEqual(Array.from(expected));
    }
  });

  it("breaks ties by the lower index and orders scores as totalOrder", () => {
    expect(run([1, 0.5, 0.5, 0.5, 2], 2, [1, 1, 1, 1, 1])).toEqual([1, 0, 0, 1, 1]);
    const special = [NaN, 0, -0, -Infinity, 1, -NaN];
    expect(special.map(totalOrderKey)).toEqual([...special.map(totalOrderKey)]);
    const order = [-NaN, -Infinity, -1, -0, 0, 1e-45, 1, Infinity, NaN].map(totalOrderKey);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(new Set(order).size).toBe(order.length);
    // -NaN first, then -inf; +NaN last.
    expect(run(special, 2, new Array(6).fill(1))).toEqual([1, 1, 1, 0, 1, 0]);
    expect(run(special, 5, new Array(6).fill(1))).toEqual([1, 0, 0, 0, 0, 0]);
  });

  it("clamps k to [0, size] and keeps the old mask when update is 0", () => {
    const scores = [3, 1, 2];
    expect(run(scores, -2, [0, 0, 0])).toEqual([1, 1, 1]);
    expect(run(scores, 9, [1, 1, 1])).toEqual([0, 0, 0]);
    expect(run(scores, 1, [0, 1, 0], 0)).toEqual([0, 1, 0]);
    expect(Array.from(smallestKMask(scores, 2))).toEqual([1, 0, 0]);
  });

  it("rejects operands of the wrong dtype or shape, naming them", () => {
    const f = (shape: number[]) => ({ dtype: "f32" as const, shape });
    const i = (shape: number[]) => ({ dtype: "i32" as const, shape });
    expect(inferOp(op, [f([2, 3]), i([]), f([2, 3]), i([1])])).toEqual(f([2, 3]));
    expect(() => inferOp(op, [i([4]), i([]), f([4]), i([])])).toThrow(/scores must be f32/);
    expect(() => inferOp(op, [f([4]), i([2]), f([4]), i([])])).toThrow(/k must be an i32 scalar/);
    expect(() => inferOp(op, [f([4]), i([]), f([2, 2]), i([])])).toThrow(/mask must be f32 of the scores' shape/);
    expect(() => inferOp(op, [f([4]), i([]), f([4]), f([])])).toThrow(ShapeError);
  });
});
