// The non-finite guard and batch norm's running statistics (finite-gate.ts gateForwardUpdates):
// each running statistic is gated by the check of its own new value, not by the loss, so the
// forward pass's updates never wait for the loss (which made checkpointing keep or recompute
// their batch norm inputs). A NaN pixel makes the batch mean/variance non-finite: the statistics
// stay as they were, like the params. A NaN that arises only after the batch norm (here an input
// multiplied in after it) skips the params' update, but the statistics fold in their finite
// batch values, as a run without the guard would.
import { afterAll, describe, expect, it } from "vitest";
import { buildTrainingProgram } from "../../compiler/driver/phases.ts";
import { Session } from "../../compiler/ir/session.ts";
import type { Graph } from "../../compiler/ir/graph.ts";
import { SKIPPED_OUTPUT } from "../../compiler/passes/nonfinite-guard.ts";
import { trainingSpec } from "../../compiler/passes/train-options.ts";
import { compileSource, removeTempDirs } from "../support/frontend-harness.ts";

afterAll(removeTempDirs);

const model = compileSource(`import { input, param, batchNorm, matmul, mul, softmaxCrossEntropy } from "mlc";
export default function model() {
  const x = input("x", [8, 3]);
  const scale = input("scale", [8, 3]);
  const y = input("y", [8], "i32");
  const g = param("g", [3], { init: "ones" });
  const b = param("b", [3], { init: "zeros" });
  const rm = param("rm", [3], { init: "zeros", trainable: false });
  const rv = param("rv", [3], { init: "ones", trainable: false });
  const w = param("w", [3, 4], { init: "normal(0.5)" });
  const h = mul(batchNorm(x, g, b, rm, rv), scale);
  return { loss: softmaxCrossEntropy(matmul(h, w), y) };
}
export const train = { loss: "loss", optimizer: { kind: "adam", lr: 0.01 } };`);

const program = (guard: boolean) => buildTrainingProgram(model.graph, { ...trainingSpec(model.train), nonfiniteGuard: guard }).trainStep;

const data = (seed: number) => Float64Array.from({ length: 24 }, (_, i) => Math.sin(seed * 7 + i * 1.3));
const batch = (seed: number, edit: { x?: number; scale?: number } = {}) => {
  const b = { x: data(seed), scale: Float64Array.from({ length: 24 }, () => 1), y: Float64Array.from({ length: 8 }, (_, i) => (i + seed) % 4) };
  if (edit.x !== undefined) b.x[5] = edit.x;
  if (edit.scale !== undefined) b.scale[5] = edit.scale;
  return b;
};
const copy = (s: Session, name: string) => Float64Array.from(s.state.get(name)!);

/** Whether `value` depends (through node inputs) on `on`. */
function dependsOn(g: Graph, value: string, on: string): boolean {
  const byId = new Map(g.nodes.map((n) => [n.id, n] as const));
  const seen = new Set<string>();
  const stack = [value];
  while (stack.length > 0) {
    const v = stack.pop()!;
    if (v === on) return true;
    if (seen.has(v)) continue;
    seen.add(v);
    stack.push(...(byId.get(v)?.inputs ?? []));
  }
  return false;
}

describe("nonfinite-guard: batch norm running statistics", () => {
  it("gates each running statistic by its own value, independent of the loss", () => {
    const g = program(true);
    const loss = g.outputs.find((o) => o.name === "loss")!.value;
    for (const stat of ["rm", "rv"]) {
      const u = g.updates.find((x) => x.param === stat)!;
      expect(g.nodes.find((n) => n.id === u.value)?.op, stat).toBe("where");
      expect(dependsOn(g, u.value, loss), stat).toBe(false);
    }
    // The params' updates do wait for the loss's check.
    expect(dependsOn(g, g.updates.find((x) => x.param === "w")!.value, loss)).toBe(true);
  });

  it("a NaN pixel leaves the running statistics as they were, like the params", () => {
    const g = program(true);
    const s = new Session([g], { seed: 1 });
    s.run(g, batch(1));
    const [rm, rv, w] = ["rm", "rv", "w"].map((k) => copy(s, k));
    const out = s.run(g, batch(2, { x: NaN }));
    expect(out[SKIPPED_OUTPUT].data[0]).toBe(1);
    expect(copy(s, "rm")).toEqual(rm);
    expect(copy(s, "rv")).toEqual(rv);
    expect(copy(s, "w")).toEqual(w);
  });

  it("a NaN after the batch norm skips the params but folds the finite batch statistics in", () => {
    const guarded = program(true);
    const plain = program(false);
    const s = new Session([guarded], { seed: 1 });
    const reference = new Session([plain], { seed: 1 });
    s.run(guarded, batch(1));
    reference.run(plain, batch(1));
    const [rm, w] = ["rm", "w"].map((k) => copy(s, k));
    const out = s.run(guarded, batch(2, { scale: NaN }));
    reference.run(plain, batch(2, { scale: NaN }));
    expect(Number.isFinite(out.loss.data[0])).toBe(false);
    expect(out[SKIPPED_OUTPUT].data[0]).toBe(1);
    expect(copy(s, "w")).toEqual(w);
    expect(copy(reference, "w").some(Number.isNaN)).toBe(true);
    // Updated, finite, and what the unguarded step computed from the same batch.
    expect(copy(s, "rm")).not.toEqual(rm);
    expect([...copy(s, "rm"), ...copy(s, "rv")].every(Number.isFinite)).toBe(true);
    expect(copy(s, "rm")).toEqual(copy(reference, "rm"));
    expect(copy(s, "rv")).toEqual(copy(reference, "rv"));
  });
});
