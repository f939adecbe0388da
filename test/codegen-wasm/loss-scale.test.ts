// f16 mixed-precision training and dynamic loss scaling (passes/loss-scale.ts), run as bundles
// run it: the train step compiled for wasm-simd, called step after step on persistent state.
//
// The model is a least-squares fit whose prediction is scaled down, pred = (x @ w) * 1e-3, with
// the mean over 4096 rows: the gradient reaching the matmul, 1e-3 * 2 (pred - t) / 4096, is about
// 1e-9, far below f16's least subnormal 2^-24 (6e-8), while every forward value is an ordinary
// f16 number. So:
//   - plain f16 (--loss-scale 0): that gradient, and so the weight gradient, is exactly zero:
//     the weights never move;
//   - f16 with loss scaling: the backward pass runs 2^16 times larger (about 1e-4, a normal f16),
//     is unscaled in f32, and the fit converges as the f32 one does;
//   - a first scale of 2^40 overflows the weight gradient (about 1e5 > 65504): those steps leave
//     every param and the optimizer state as they were and halve the scale, until it fits, and
//     training then proceeds; after `growthInterval` good steps the scale doubles again.

import { describe, expect, it } from "vitest";
import { wasmBackend } from "../../compiler/codegen-wasm/backend.ts";
import { compile } from "../../compiler/driver/compile.ts";
import type { TrainingOptions } from "../../compiler/driver/phases.ts";
import { GraphBuilder } from "../../compiler/ir/builder.ts";
import type { Graph } from "../../compiler/ir/graph.ts";
import { initParams } from "../../compiler/ir/interpreter.ts";
import { LOSS_SCALE, LOSS_SCALE_OUTPUT } from "../../compiler/passes/loss-scale.ts";
import { OPTIMIZER_DEFAULTS } from "../../compiler/passes/optimizer.ts";
import { loadWasmEntries } from "../support/wasm-harness.ts";
import { rng } from "../support/seeded-random.ts";

const ROWS = 4096;
const FEATURES = 8;
const SCALE = 1e-3;

function model(): Graph {
  const b = new GraphBuilder("tinyGradients");
  const x = b.addInput({ name: "x", type: { dtype: "f32", shape: [ROWS, FEATURES] } });
  const t = b.addInput({ name: "t", type: { dtype: "f32", shape: [ROWS, 1] } });
  const w = b.addParam({ name: "w", type: { dtype: "f32", shape: [FEATURES, 1] }, init: "zeros", trainable: true });
  const pred = b.op("mul", [b.op("matmul", [x, w]), b.op("const", [], { value: SCALE, dtype: "f32", shape: [] })]);
  b.output("loss", b.op("mse", [pred, t]));
  return b.build();
}

/** x ~ N(0, 1) and targets of a known w (so the fit can reach loss 0). */
function data(): { x: Float64Array; t: Float64Array } {
  const random = rng(3);
  const normal = () => Math.sqrt(-2 * Math.log(Math.max(random(), 1e-12))) * Math.cos(2 * Math.PI * random());
  const wTrue = Array.from({ length: FEATURES }, normal);
  const x = Float64Array.from({ length: ROWS * FEATURES }, normal);
  const t = Float64Array.from({ length: ROWS }, (_, r) => SCALE * wTrue.reduce((s, wk, k) => s + wk * x[r * FEATURES + k], 0));
  return { x, t };
}

interface Step {
  loss: number;
  scale?: number;
  w: number[];
  grad: number[];
}

/** `steps` SGD steps of the model's train step on wasm-simd; the state after each. */
async function train(mixed: TrainingOptions["mixed"], steps: number): Promise<Step[]> {
  const training: TrainingOptions = {
    loss: "loss",
    optimizer: { ...OPTIMIZER_DEFAULTS, kind: "sgd", lr: 2e5 },
    exposeGradients: true,
    ...(mixed ? { mixed } : {}),
  };
  const g = model();
  const { entries } = compile(g, { backend: wasmBackend, training, timeLimitMs: 50 });
  const step = entries.find((e) => e.exportName === "train_step")!.graph;
  const program = await loadWasmEntries(entries.map((e) => ({ graph: e.graph, exportName: e.exportName })));
  const init = initParams(step, 0);
  for (const p of step.params) program.writeParam(p.name, init[p.name]);
  const { x, t } = data();
  const out: Step[] = [];
  for (let s = 0; s < steps; s++) {
    program.write("x", x, "train_step");
    program.write("t", t, "train_step");
    program.call("train_step");
    const has = (name: string) => step.outputs.some((o) => o.name === name);
    out.push({
      loss: program.read("loss", "train_step").data[0],
      ...(has(LOSS_SCALE_OUTPUT) ? { scale: program.read(LOSS_SCALE_OUTPUT, "train_step").data[0] } : {}),
      w: Array.from(program.readParam("w").data),
      grad: Array.from(program.read("grad/w", "train_step").data),
    });
  }
  return out;
}

describe("f16 mixed precision with dynamic loss scaling", () => {
  it("plain f16 gradients underflow to zero; with loss scaling f16 trains like f32", async () => {
    const steps = 12;
    const [f32, plain, scaled] = await Promise.all([train(undefined, steps), train({ dtype: "f16", lossScale: false }, steps), train({ dtype: "f16" }, steps)]);
    // f32 converges: the loss falls by orders of magnitude.
    expect(f32[steps - 1].loss).toBeLessThan(f32[0].loss * 1e-3);
    // Plain f16: every weight gradient is exactly zero, the weights never leave their init.
    for (const s of plain) {
      expect(s.grad.every((v) => v === 0)).toBe(true);
      expect(s.w.every((v) => v === 0)).toBe(true);
    }
    expect(plain[steps - 1].loss).toBe(plain[0].loss);
    // Loss scaling: nonzero gradients, the same descent as f32 step by step (within f16's
    // resolution of the predictions), and the scale stays 2^16 (no overflow, no growth yet).
    for (let s = 0; s < steps; s++) {
      expect(scaled[s].grad.some((v) => v !== 0)).toBe(true);
      expect(scaled[s].scale).toBe(2 ** 16);
    }
    for (let s = 0; s < 6; s++) expect(Math.abs(scaled[s].loss - f32[s].loss)).toBeLessThanOrEqual(0.05 * f32[s].loss);
    expect(scaled[steps - 1].loss).toBeLessThan(scaled[0].loss * 1e-3);
  }, 120_000);

  it("an overflowing step is skipped and halves the scale; training recovers, and the scale grows after good steps", async () => {
    const run = await train({ dtype: "f16", lossScale: { init: 2 ** 40, growthInterval: 5 } }, 30);
    const skipped = run.map((s, i) => i === 0 ? s.w.every((v) => v === 0) : s.w.every((v, k) => v === run[i - 1].w[k]));
    // The first steps overflow: weights untouched, scale halved each time.
    expect(skipped[0]).toBe(true);
    expect(run[0].scale).toBe(2 ** 39);
    const firstGood = skipped.indexOf(false);
    expect(firstGood).toBeGreaterThan(0);
    for (let s = 1; s < firstGood; s++) expect(run[s].scale).toBe(run[s - 1].scale! / 2);
    // Then training proceeds and converges.
    expect(run[29].loss).toBeLessThan(run[firstGood].loss * 1e-2);
    // After five good steps in a row the scale doubles (and may overflow again: a sawtooth).
    const grew = run.findIndex((s, i) => i > 0 && s.scale! > run[i - 1].scale!);
    expect(grew).toBeGreaterThan(firstGood);
    expect(run[grew].scale).toBe(2 * run[grew - 1].scale!);
    expect(skipped.slice(firstGood, grew + 1).every((x) => !x)).toBe(true);
    expect(grew - firstGood).toBe(4);
  }, 120_000);
});
