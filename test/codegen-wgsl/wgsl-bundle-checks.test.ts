// The WebGPU bundle checks what the WASM one checks (runtime/bundle-io.js, shared): a label out of
// range rejects trainStep() and throws from forward() before anything is submitted, naming the
// input, position, value and range, and the params read back bitwise as before; the next call
// works. NaN weights are refused naming the tensor unless allowNonFinite; an empty file is refused.

import { writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { build } from "../../compiler/driver/compile.ts";
import { wgslBackend } from "../../compiler/codegen-wgsl/backend.ts";
import { targetOf } from "../../compiler/codegen-wgsl/runner.ts";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import { trainingSpec } from "../../compiler/passes/train-options.ts";
import { decodeSafetensors, encodeSafetensors, type SafeTensor } from "../../runtime/safetensors.ts";
import { wgslDevice } from "../support/wgsl-harness.ts";

const root = mkdtempSync(join(tmpdir(), "mlc-wgsl-bundle-checks-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

interface Bundle {
  inputs: Record<string, Int32Array | Float32Array>;
  forward(): void;
  trainStep(): Promise<number>;
  saveWeights(): Promise<Uint8Array>;
  loadWeights(bytes: Uint8Array, opts?: { allowNonFinite?: boolean }): { loaded: string[]; missing: string[] };
  params: Record<string, () => Promise<Float32Array>>;
}

describe("the mnist-mlp WebGPU bundle's checks", () => {
  let m: Bundle;
  let weights: Uint8Array;
  beforeAll(async () => {
    const gpu = await wgslDevice();
    const model = compileModelFile("examples/mnist-mlp/model.ts");
    const bundle = build(model.graph, { backend: wgslBackend(targetOf(gpu.device, gpu.features, gpu.software)), training: trainingSpec(model.train) });
    for (const [file, contents] of Object.entries(bundle.files)) writeFileSync(join(root, file), contents);
    weights = bundle.files[`${bundle.name}.safetensors`] as Uint8Array;
    const { load } = (await import(pathToFileURL(join(root, `${bundle.name}.wgsl.js`)).href)) as { load(o: object): Promise<Bundle> };
    m = await load({ device: gpu.device });
    (m.inputs.x as Float32Array).fill(0.5);
  }, 120_000);

  it("refuses labels 10, -1 and 2^31-1 with the message, state unchanged; the next step works", async () => {
    m.inputs.y.fill(2);
    await m.trainStep();
    for (const bad of [10, -1, 2 ** 31 - 1]) {
      m.inputs.y[12] = bad;
      const before = await m.saveWeights();
      const tail = `input 'y' holds ${bad} at element 12 (index [12] of i32[64]), outside its valid range [0, 10) (class labels of softmaxCrossEntropy over 10 classes); nothing ran and the model's state is unchanged`;
      await expect(m.trainStep()).rejects.toThrow(`.trainStep(): ${tail}`);
      expect(() => m.forward()).toThrow(`.forward(): ${tail}`);
      expect(Buffer.from(await m.saveWeights()).equals(Buffer.from(before))).toBe(true);
    }
    m.inputs.y[12] = 0;
    const step = (await m.params["opt/step"]())[0];
    expect(Number.isFinite(await m.trainStep())).toBe(true);
    expect((await m.params["opt/step"]())[0]).toBe(step + 1);
  });

  it("refuses NaN weights by name unless allowNonFinite, and an empty file", async () => {
    const tensors = decodeSafetensors(weights).tensors as Record<string, SafeTensor>;
    const data = Float32Array.from(tensors["out.w"].data as Float32Array);
    data[21] = NaN;
    const bad = encodeSafetensors({ "out.w": { ...tensors["out.w"], data } });
    expect(() => m.loadWeights(bad)).toThrow("weights: 'out.w' holds NaN at element 21 (index [2, 1] of f32[128,10])");
    expect(m.loadWeights(bad, { allowNonFinite: true }).loaded).toEqual(["out.w"]);
    expect((await m.params["out.w"]())[21]).toBeNaN();
    expect(() => m.loadWeights(encodeSafetensors({}))).toThrow("weights: the file has no tensors");
  });
});
