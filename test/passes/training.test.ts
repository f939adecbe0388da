// Training programs end to end in the reference interpreter: a few hundred steps lower the loss,
// and gradient accumulation over 4 micro-batches equals one step on the 4x batch.
import { describe, expect, it } from "vitest";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import { Session } from "../../compiler/ir/session.ts";
import type { Precision } from "../../compiler/ir/interpreter.ts";
import { buildTrainingProgram } from "../../compiler/driver/phases.ts";
import { trainingSpec } from "../../compiler/passes/train-options.ts";

function lcg(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

/** A fixed synthetic digit-like data set: each class has its own random prototype plus noise. */
function syntheticDigits(n: number, seed: number) {
  const rand = lcg(seed);
  const prototypes = Array.from({ length: 10 }, () => Float64Array.from({ length: 784 }, () => rand()));
  const labels = Float64Array.from({ length: n }, () => Math.floor(rand() * 10));
  const x = new Float64Array(n * 784);
  for (let i = 0; i < n; i++) for (let j = 0; j < 784; j++) x[i * 784 + j] = prototypes[labels[i]][j] + 0.5 * (rand() - 0.5);
  return { x, labels };
}

describe("training in the interpreter", () => {
  it("300 Adam steps of the MNIST MLP on a synthetic set lower the loss several-fold", () => {
    const model = compileModelFile("examples/mnist-mlp/model.ts", { set: { batch: "16" } });
    const program = buildTrainingProgram(model.graph, trainingSpec(model.train));
    const session = new Session([program.trainStep], { seed: 3 });
    const data = syntheticDigits(64, 7);
    const losses: number[] = [];
    for (let step = 0; step < 300; step++) {
      const at = (step * 16) % 64;
      const out = session.run(program.trainStep, { x: data.x.subarray(at * 784, (at + 16) * 784), y: data.labels.subarray(at, at + 16) });
      losses.push(out.loss.data[0]);
    }
    const first = losses.slice(0, 4).reduce((a, b) => a + b) / 4;
    const last = losses.slice(-4).reduce((a, b) => a + b) / 4;
    expect(first).toBeGreaterThan(1.5);
    expect(last).toBeLessThan(first / 5);
  }, 120_000);

  // Adam divides each gradient entry by its own magnitude, so in f32 the rounding noise of
  // near-zero entries (summed in a different order over micro-batches) becomes an lr-sized step;
  // the gradients themselves agree to 1e-5, which the second check shows.
  it.each<[Precision, string, number]>([
    ["f64", "sgd", 1e-12], ["f64", "adam", 1e-12], ["native", "sgd", 1e-5], ["native", "adam", 5e-4],
  ])("--accumulate 4 over 4 micro-batches equals one step on the 4x batch (%s, %s)", (precision, kind, paramTol) => {
    const micro = compileModelFile("examples/mnist-mlp/model.ts", { set: { batch: "4" } });
    const big = compileModelFile("examples/mnist-mlp/model.ts", { set: { batch: "16" } });
    const spec = trainingSpec({ loss: "loss", optimizer: { kind, lr: 0.01, ...(kind === "sgd" ? { momentum: 0.9 } : {}) } });
    const accumulated = buildTrainingProgram(micro.graph, { ...spec, accumulate: 4 });
    const plain = buildTrainingProgram(big.graph, { ...spec, exposeGradients: true });
    const data = syntheticDigits(16, 11);
    const a = new Session([accumulated.trainStep, accumulated.applyUpdate!], { seed: 5, precision });
    for (let m = 0; m < 4; m++) {
      a.run(accumulated.trainStep, { x: data.x.subarray(m * 4 * 784, (m + 1) * 4 * 784), y: data.labels.subarray(m * 4, (m + 1) * 4) });
    }
    const p = new Session([plain.trainStep], { seed: 5, precision });
    const bigStep = p.run(plain.trainStep, { x: data.x, y: data.labels });
    const worstRel = (got: ArrayLike<number>, want: ArrayLike<number>, scale: number) => {
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / Math.max(Math.abs(want[i]), scale));
      return worst;
    };
    for (const param of big.graph.params) {
      const mean = a.state.get(`acc/${param.name}`)!.map((v) => v / 4);
      const want = bigStep[`grad/${param.name}`].data;
      // Norm-wise (max-norm) relative error: entries of a gradient that cancel to near zero carry
      // f32 rounding of the large terms they are summed from.
      const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      expect(worstRel(mean, want, scale), `mean accumulated grad/${param.name}`).toBeLessThan(precision === "f64" ? 1e-12 : 1e-5);
    }
    a.run(accumulated.applyUpdate!, {});
    for (const param of big.graph.params) {
      expect(worstRel(a.state.get(param.name)!, p.state.get(param.name)!, 1e-3), `${kind} ${param.name}`).toBeLessThan(paramTol);
      expect(Array.from(a.state.get(`acc/${param.name}`)!).every((v) => v === 0)).toBe(true);
    }
  }, 120_000);
});
