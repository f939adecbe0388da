// The non-finite guard (passes/nonfinite-guard.ts) in the reference interpreter: a batch with a
// NaN or Inf in it leaves every param and all optimizer state bit for bit as it was, counts one
// skipped step, and the next clean step computes exactly what a run that never saw the bad batch
// computes. With --accumulate the bad micro-batch is not added and apply_update averages the
// accepted ones. Without the guard the bad batch poisons every param (the old behaviour).
import { describe, expect, it } from "vitest";
import { buildTrainingProgram, type TrainingOptions } from "../../compiler/driver/phases.ts";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import { Session } from "../../compiler/ir/session.ts";
import { ACCEPTED_MICRO_BATCHES, SKIPPED_OUTPUT, SKIPPED_STEPS } from "../../compiler/passes/nonfinite-guard.ts";
import { FINITE } from "../../compiler/passes/finite-gate.ts";
import { trainingSpec } from "../../compiler/passes/train-options.ts";
import { GraphBuilder } from "../../compiler/ir/builder.ts";

const BATCH = 4;
const model = compileModelFile("examples/mnist-mlp/model.ts", { set: { batch: String(BATCH) } });

function batch(seed: number): { x: Float64Array; y: Float64Array } {
  let s = seed >>> 0;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  return { x: Float64Array.from({ length: BATCH * 784 }, rand), y: Float64Array.from({ length: BATCH }, () => Math.floor(rand() * 10)) };
}

function poisoned(seed: number, value: number): { x: Float64Array; y: Float64Array } {
  const b = batch(seed);
  b.x[123] = value;
  return b;
}

const snapshot = (s: Session) => new Map([...s.state].map(([k, v]) => [k, Float64Array.from(v)]));

function expectSameState(a: ReadonlyMap<string, Float64Array>, b: ReadonlyMap<string, Float64Array>, except: readonly string[] = []) {
  const names = [...a.keys()].filter((k) => !except.includes(k));
  expect(names.length).toBeGreaterThan(4);
  for (const k of names) {
    // Bitwise: Object.is tells -0 from 0 and NaN from NaN; the arrays must be equal element for element.
    const x = a.get(k)!, y = b.get(k)!;
    expect(x.length, k).toBe(y.length);
    for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i])) throw new Error(`${k}[${i}]: ${x[i]} vs ${y[i]}`);
  }
}

function program(extra: Partial<TrainingOptions> = {}, kind = "adam") {
  return buildTrainingProgram(model.graph, { ...trainingSpec({ loss: "loss", optimizer: { kind, lr: 1e-3 } }), ...extra });
}

describe("nonfinite-guard (interpreter)", () => {
  it.each([["NaN", NaN], ["Inf", Infinity], ["-Inf", -Infinity]])("a %s pixel: params and all optimizer state unchanged, one skipped step, the next clean step as if it never came", (_, bad) => {
    const p = program();
    expect(p.trainStep.params.map((q) => q.name)).toContain(SKIPPED_STEPS);
    const guarded = new Session([p.trainStep], { seed: 1 });
    const clean = new Session([p.trainStep], { seed: 1 });
    for (const s of [guarded, clean]) s.run(p.trainStep, batch(1));
    const before = snapshot(guarded);

    const out = guarded.run(p.trainStep, poisoned(2, bad));
    expect(Number.isFinite(out.loss.data[0])).toBe(false);
    expect(out[SKIPPED_OUTPUT].data[0]).toBe(1);
    expectSameState(before, guarded.state, [SKIPPED_STEPS]);
    expect(guarded.state.get(SKIPPED_STEPS)![0]).toBe(1);
    expect(guarded.state.get("opt/step")![0]).toBe(1);

    const next = guarded.run(p.trainStep, batch(3));
    const reference = clean.run(p.trainStep, batch(3));
    expect(next[SKIPPED_OUTPUT].data[0]).toBe(0);
    expect(next.loss.data[0]).toBe(reference.loss.data[0]);
    expectSameState(clean.state, guarded.state, [SKIPPED_STEPS]);
    expect(guarded.state.get(SKIPPED_STEPS)![0]).toBe(1);
    expect(guarded.state.get("opt/step")![0]).toBe(2);
    expect([...guarded.state.get("fc256.w")!].every(Number.isFinite)).toBe(true);
  });

  // The optimizer gates what enters its rules (optimizer.ts); every rule must come out an identity.
  it.each([
    ["adamw", { kind: "adamw", lr: 1e-3, weightDecay: 0.05 }],
    ["adam + L2", { kind: "adam", lr: 1e-3, weightDecay: 0.01 }],
    ["sgd nesterov + L2", { kind: "sgd", lr: 0.01, momentum: 0.9, nesterov: true, weightDecay: 1e-4 }],
    ["plain sgd", { kind: "sgd", lr: 0.01 }],
  ])("%s: a NaN batch changes nothing, the next clean step equals a run without it", (_, optimizer) => {
    const p = buildTrainingProgram(model.graph, trainingSpec({ loss: "loss", optimizer }));
    const guarded = new Session([p.trainStep], { seed: 6 });
    const clean = new Session([p.trainStep], { seed: 6 });
    for (const s of [guarded, clean]) s.run(p.trainStep, batch(1));
    const before = snapshot(guarded);
    guarded.run(p.trainStep, poisoned(2, -Infinity));
    expectSameState(before, guarded.state, [SKIPPED_STEPS]);
    guarded.run(p.trainStep, batch(3));
    clean.run(p.trainStep, batch(3));
    expectSameState(clean.state, guarded.state, [SKIPPED_STEPS]);
  });

  it("SGD with momentum: the momentum buffers are untouched too", () => {
    const p = buildTrainingProgram(model.graph, trainingSpec({ loss: "loss", optimizer: { kind: "sgd", lr: 0.01, momentum: 0.9 } }));
    const s = new Session([p.trainStep], { seed: 4 });
    s.run(p.trainStep, batch(1));
    const before = snapshot(s);
    s.run(p.trainStep, poisoned(2, NaN));
    expect(before.has("opt/fc256.w/momentum")).toBe(true);
    expectSameState(before, s.state, [SKIPPED_STEPS]);
  });

  it("--no-nonfinite-guard: the old behaviour, a NaN batch turns the params NaN for good, nothing counted", () => {
    const p = program({ nonfiniteGuard: false });
    expect(p.trainStep.params.map((q) => q.name)).not.toContain(SKIPPED_STEPS);
    expect(p.trainStep.outputs.map((o) => o.name)).not.toContain(SKIPPED_OUTPUT);
    const s = new Session([p.trainStep], { seed: 1 });
    s.run(p.trainStep, poisoned(2, NaN));
    const later = s.run(p.trainStep, batch(3));
    expect([...s.state.get("fc256.w")!].some(Number.isNaN)).toBe(true);
    expect([...s.state.get("out.w")!].every(Number.isNaN)).toBe(true);
    expect(later.loss.data[0]).toBeNaN();
  });

  it("--accumulate 4: a bad micro-batch is not added; apply_update averages the 3 accepted; none accepted skips the update", () => {
    const acc = program({ accumulate: 4 });
    expect(acc.applyUpdate!.params.map((q) => q.name)).toContain(ACCEPTED_MICRO_BATCHES);
    const s = new Session([acc.trainStep, acc.applyUpdate!], { seed: 2 });
    // The reference: only the 3 good micro-batches, with accumulate 3 (the mean over 3).
    const three = program({ accumulate: 3 });
    const r = new Session([three.trainStep, three.applyUpdate!], { seed: 2 });
    for (const [k, b] of [batch(1), poisoned(2, NaN), batch(3), batch(4)].entries()) {
      const out = s.run(acc.trainStep, b);
      expect(out[SKIPPED_OUTPUT].data[0]).toBe(k === 1 ? 1 : 0);
    }
    expect(s.state.get(ACCEPTED_MICRO_BATCHES)![0]).toBe(3);
    for (const b of [batch(1), batch(3), batch(4)]) r.run(three.trainStep, b);
    s.run(acc.applyUpdate!, {});
    r.run(three.applyUpdate!, {});
    expect(s.state.get(ACCEPTED_MICRO_BATCHES)![0]).toBe(0);
    expect(s.state.get(SKIPPED_STEPS)![0]).toBe(1);
    expectSameState(r.state, s.state, [SKIPPED_STEPS, ACCEPTED_MICRO_BATCHES]);
    expect([...s.state.get("acc/fc256.w")!].every((v) => v === 0)).toBe(true);

    // Four bad micro-batches: nothing accepted, the update is skipped entirely.
    const before = snapshot(s);
    for (let k = 0; k < 4; k++) s.run(acc.trainStep, poisoned(10 + k, Infinity));
    s.run(acc.applyUpdate!, {});
    expectSameState(before, s.state, [SKIPPED_STEPS]);
    expect(s.state.get(SKIPPED_STEPS)![0]).toBe(5);
  });

  it("--mixed bf16 (no loss scaling): the guard's own check over bf16 activations' f32 master gradients", () => {
    const p = program({ mixed: { dtype: "bf16" } });
    const s = new Session([p.trainStep], { seed: 1 });
    s.run(p.trainStep, batch(1));
    const before = snapshot(s);
    expect(s.run(p.trainStep, poisoned(2, NaN))[SKIPPED_OUTPUT].data[0]).toBe(1);
    expectSameState(before, s.state, [SKIPPED_STEPS]);
    expect(s.run(p.trainStep, batch(3))[SKIPPED_OUTPUT].data[0]).toBe(0);
  });

  it("a finite loss with one non-finite gradient: that param's update is skipped, the others go ahead, the step is counted", () => {
    // loss = sum(sqrt(a)) + sum(c * x) with a = 0: d loss / d a = 1 / (2 sqrt(0)) = inf.
    const b = new GraphBuilder("partial");
    const x = b.addInput({ name: "x", type: { dtype: "f32", shape: [2] } });
    const a = b.addParam({ name: "a", type: { dtype: "f32", shape: [2] }, init: "zeros", trainable: true });
    const c = b.addParam({ name: "c", type: { dtype: "f32", shape: [2] }, init: "fill(1)", trainable: true });
    b.output("loss", b.op("add", [b.op("sum", [b.op("sqrt", [a])], { axes: [0] }), b.op("sum", [b.op("mul", [c, x])], { axes: [0] })]));
    const p = buildTrainingProgram(b.build(), trainingSpec({ loss: "loss", optimizer: { kind: "adam", lr: 0.1 } }));
    const s = new Session([p.trainStep], { seed: 0 });
    const out = s.run(p.trainStep, { x: [1, 2] });
    expect(Number.isFinite(out.loss.data[0])).toBe(true);
    expect(out[SKIPPED_OUTPUT].data[0]).toBe(1);
    expect([...s.state.get("a")!]).toEqual([0, 0]);
    expect([...s.state.get("opt/a/m")!]).toEqual([0, 0]);
    expect([...s.state.get("c")!].every((v) => v < 1)).toBe(true);
    expect([...s.state.get("opt/c/m")!].every((v) => v > 0)).toBe(true);
    expect(s.state.get(SKIPPED_STEPS)![0]).toBe(1);
    expect(s.state.get("opt/step")![0]).toBe(0);
  });

  it("with f16 loss scaling the guard reuses loss-scale's one finite check, which then covers the loss", () => {
    const p = program({ mixed: { dtype: "f16" } });
    const finiteChecks = p.trainStep.nodes.filter((n) => n.id === FINITE);
    expect(finiteChecks).toHaveLength(1);
    const sums = p.trainStep.nodes.filter((n) => n.op === "sum").length;
    const unguarded = program({ mixed: { dtype: "f16" }, nonfiniteGuard: false });
    // One more reduction than without the guard at most (the loss is a scalar: no sum at all).
    expect(sums).toBe(unguarded.trainStep.nodes.filter((n) => n.op === "sum").length);
    const s = new Session([p.trainStep], { seed: 1 });
    s.run(p.trainStep, batch(1));
    const before = snapshot(s);
    const out = s.run(p.trainStep, poisoned(2, NaN));
    expect(out[SKIPPED_OUTPUT].data[0]).toBe(1);
    // The overflow path of loss scaling: the scale halves, everything else stays.
    expectSameState(before, s.state, [SKIPPED_STEPS, "amp/loss_scale", "amp/good_steps"]);
    expect(s.state.get("amp/loss_scale")![0]).toBe(before.get("amp/loss_scale")![0] / 2);
  });
});
