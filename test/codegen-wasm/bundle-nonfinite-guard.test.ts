// The non-finite guard in a wasm-simd bundle (passes/nonfinite-guard.ts, runtime/bundle-runtime.js):
// one MNIST MLP batch with a NaN (or Inf) pixel, then clean batches: the bad step leaves every
// param and all optimizer state bit for bit as it was, trainStep() reports it through
// `lastStepSkipped`, `skippedSteps` counts it (the state opt/skipped_steps, saved with the
// weights), and training goes on with finite params. With --accumulate the bad micro-batch is
// left out of the mean. Built with nonfiniteGuard false, the old behaviour: the params turn NaN.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { randomInputs } from "../../compiler/cli/random-inputs.ts";
import { build } from "../../compiler/driver/compile.ts";
import { wasmBackend } from "../../compiler/codegen-wasm/backend.ts";
import type { TrainingOptions } from "../../compiler/driver/phases.ts";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import { trainingSpec } from "../../compiler/passes/train-options.ts";
import { decodeSafetensors } from "../../runtime/safetensors.ts";

const root = mkdtempSync(join(tmpdir(), "mlc-guard-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

interface Loaded {
  inputs: Record<string, Float32Array | Int32Array>;
  params: Record<string, Float32Array>;
  trainStep(): number;
  applyUpdate(): void;
  saveWeights(): Uint8Array;
  loadWeights(bytes: Uint8Array): void;
  readonly lastStepSkipped: boolean;
  readonly skippedSteps: number;
}

const model = compileModelFile("examples/mnist-mlp/model.ts", { set: { batch: "8" } });
let folders = 0;

async function bundle(extra: Partial<TrainingOptions> = {}): Promise<{ m: Loaded; dts: string }> {
  const built = build(model.graph, { backend: wasmBackend, training: { ...trainingSpec(model.train), ...extra }, seed: 4, timeLimitMs: 100 });
  const dir = join(root, `b${folders++}`);
  mkdirSync(dir);
  for (const [file, contents] of Object.entries(built.files)) writeFileSync(join(dir, file), contents);
  const { load } = (await import(pathToFileURL(join(dir, `${built.name}.js`)).href)) as { load(): Promise<Loaded> };
  return { m: await load(), dts: String(built.files[`${built.name}.d.ts`]) };
}

const clean = (seed: number): Record<string, ArrayLike<number>> => randomInputs(model.graph, seed);

function feed(m: Loaded, batch: Record<string, ArrayLike<number>>, bad?: number) {
  for (const [k, v] of Object.entries(batch)) m.inputs[k].set(v);
  if (bad !== undefined) m.inputs.x[300] = bad;
}

const state = (m: Loaded) => Object.fromEntries(Object.entries(m.params).map(([k, v]) => [k, Uint8Array.from(new Uint8Array(v.buffer, v.byteOffset, v.byteLength))]));

function expectBitwiseSame(a: Record<string, Uint8Array>, b: Record<string, Uint8Array>, except: readonly string[]) {
  for (const k of Object.keys(a)) if (!except.includes(k)) expect(Buffer.compare(a[k], b[k]), k).toBe(0);
}

const allFinite = (m: Loaded) => Object.values(m.params).every((v) => v.every(Number.isFinite));

describe("a --train bundle with the non-finite guard (default)", () => {
  it.each([["NaN", NaN], ["Inf", Infinity]])("a %s pixel: the step is skipped, reported and counted; clean batches then train on", async (_, bad) => {
    const { m, dts } = await bundle();
    expect(dts).toContain("readonly lastStepSkipped: boolean;");
    expect(dts).toContain("readonly skippedSteps: number;");
    expect(dts).not.toContain("Always 0");
    feed(m, clean(1));
    expect(Number.isFinite(m.trainStep())).toBe(true);
    expect(m.lastStepSkipped).toBe(false);
    const before = state(m);

    feed(m, clean(2), bad);
    const loss = m.trainStep();
    expect(Number.isFinite(loss)).toBe(false);
    expect(m.lastStepSkipped).toBe(true);
    expect(m.skippedSteps).toBe(1);
    expectBitwiseSame(before, state(m), ["opt/skipped_steps"]);
    expect(m.params["opt/step"][0]).toBe(1);

    const first = m.params["fc256.w"][0];
    for (let s = 3; s < 8; s++) {
      feed(m, clean(s));
      expect(Number.isFinite(m.trainStep())).toBe(true);
      expect(m.lastStepSkipped).toBe(false);
    }
    expect(allFinite(m)).toBe(true);
    expect(m.params["fc256.w"][0]).not.toBe(first);
    expect(m.params["opt/step"][0]).toBe(6);
    expect(m.skippedSteps).toBe(1);

    // The count is state: saved with the weights, and loaded back.
    const saved = m.saveWeights();
    expect(Array.from(decodeSafetensors(saved).tensors["opt/skipped_steps"].data as Float32Array)).toEqual([1]);
    const { m: again } = await bundle();
    expect(again.skippedSteps).toBe(0);
    again.loadWeights(saved);
    expect(again.skippedSteps).toBe(1);
  });

  it("--accumulate 2: a bad micro-batch is left out, the update averages the good one", async () => {
    const { m } = await bundle({ accumulate: 2 });
    const { m: ref } = await bundle({ accumulate: 2 });
    // Reference: the good micro-batch, twice, is the same mean as the good one alone.
    feed(m, clean(5), NaN);
    m.trainStep();
    expect(m.lastStepSkipped).toBe(true);
    feed(m, clean(6));
    m.trainStep();
    expect(m.lastStepSkipped).toBe(false);
    m.applyUpdate();
    for (let k = 0; k < 2; k++) {
      feed(ref, clean(6));
      ref.trainStep();
    }
    ref.applyUpdate();
    expect(m.skippedSteps).toBe(1);
    expect(allFinite(m)).toBe(true);
    expectBitwiseSame(state(ref), state(m), ["opt/skipped_steps"]);
  });
});

describe("a --train bundle built without the guard", () => {
  it("keeps the old behaviour: the NaN batch poisons the params, nothing is reported", async () => {
    const { m, dts } = await bundle({ nonfiniteGuard: false });
    expect(m.params["opt/skipped_steps"]).toBeUndefined();
    expect(dts).toContain("Always 0");
    feed(m, clean(2), NaN);
    m.trainStep();
    feed(m, clean(3));
    expect(m.trainStep()).toBeNaN();
    expect(m.lastStepSkipped).toBe(false);
    expect(m.skippedSteps).toBe(0);
    expect(allFinite(m)).toBe(false);
  });
});
