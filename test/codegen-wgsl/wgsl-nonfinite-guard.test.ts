// The non-finite guard in the WebGPU bundle (compiler/codegen-wgsl/bundle-runtime.js), on the
// tests' device (Dawn over SwiftShader without a GPU): an MNIST MLP batch with a NaN, then an Inf
// pixel, leaves every param and all optimizer state as it was; trainStep() reports it through
// `lastStepSkipped` and `skippedSteps` counts it; clean batches then train with finite params, and
// loadWeights brings a saved count back.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { randomInputs } from "../../compiler/cli/random-inputs.ts";
import { build } from "../../compiler/driver/compile.ts";
import { wgslBackend } from "../../compiler/codegen-wgsl/backend.ts";
import { targetOf } from "../../compiler/codegen-wgsl/runner.ts";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import { trainingSpec } from "../../compiler/passes/train-options.ts";
import { decodeSafetensors, encodeSafetensors } from "../../runtime/safetensors.ts";
import { wgslDevice } from "../support/wgsl-harness.ts";

const root = mkdtempSync(join(tmpdir(), "mlc-wgsl-guard-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

interface Bundle {
  trainStep(): Promise<number>;
  inputs: Record<string, { set(v: ArrayLike<number>): void; [i: number]: number }>;
  params: Record<string, () => Promise<Float32Array>>;
  saveWeights(): Promise<Uint8Array>;
  loadWeights(bytes: Uint8Array): void;
  readonly lastStepSkipped: boolean;
  readonly skippedSteps: number;
}

describe("the mnist-mlp WebGPU bundle with the non-finite guard", () => {
  const model = compileModelFile("examples/mnist-mlp/model.ts", { set: { batch: "8" } });

  it("skips, reports and counts a NaN and an Inf batch; clean batches then train with finite params", async () => {
    const gpu = await wgslDevice();
    const bundle = build(model.graph, { backend: wgslBackend(targetOf(gpu.device, gpu.features, gpu.software)), training: trainingSpec(model.train), seed: 2 });
    expect(String(bundle.files[`${bundle.name}.wgsl.d.ts`])).toContain("readonly lastStepSkipped: boolean;");
    for (const [file, contents] of Object.entries(bundle.files)) writeFileSync(join(root, file), contents);
    const { load } = (await import(pathToFileURL(join(root, `${bundle.name}.wgsl.js`)).href)) as { load(o: object): Promise<Bundle> };
    const m = await load({ device: gpu.device });
    const feed = (seed: number, bad?: number) => {
      for (const [name, values] of Object.entries(randomInputs(model.graph, seed))) m.inputs[name].set(values);
      if (bad !== undefined) m.inputs.x[100] = bad;
    };
    const snapshot = async () => decodeSafetensors(await m.saveWeights()).tensors;

    feed(1);
    expect(Number.isFinite(await m.trainStep())).toBe(true);
    expect(m.lastStepSkipped).toBe(false);
    const before = await snapshot();
    for (const [k, bad] of [NaN, Infinity].entries()) {
      feed(2 + k, bad);
      expect(Number.isFinite(await m.trainStep())).toBe(false);
      expect(m.lastStepSkipped).toBe(true);
      expect(m.skippedSteps).toBe(k + 1);
    }
    const after = await snapshot();
    for (const [name, t] of Object.entries(before)) {
      if (name === "opt/skipped_steps") continue;
      expect(Buffer.compare(Buffer.from((t.data as Float32Array).buffer), Buffer.from((after[name].data as Float32Array).buffer)), name).toBe(0);
    }
    for (let s = 5; s < 9; s++) {
      feed(s);
      expect(Number.isFinite(await m.trainStep())).toBe(true);
      expect(m.lastStepSkipped).toBe(false);
    }
    expect(m.skippedSteps).toBe(2);
    const final = await snapshot();
    for (const [name, t] of Object.entries(final)) expect((t.data as Float32Array).every(Number.isFinite), name).toBe(true);
    expect((final["opt/step"].data as Float32Array)[0]).toBe(5);

    // loadWeights sets the count it reports.
    m.loadWeights(encodeSafetensors({ "opt/skipped_steps": { dtype: "F32", shape: [], data: Float32Array.of(7) } }));
    expect(m.skippedSteps).toBe(7);
  }, 120_000);
});
