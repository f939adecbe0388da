// The WebGPU bundle end to end (compiler/codegen-wgsl/bundle.ts): the MNIST MLP built with
// training, written to a temp folder outside the repo and imported from there (the module imports
// nothing), loaded on the tests' WebGPU device. Its forward pass matches the interpreter on the
// bundle's own initial weights, its first training step's loss is the interpreter's and 20 steps
// on one batch lower it, its weights file is byte for byte the WASM bundle's (one file serves
// both), and weights round-trip through saveWeights/loadWeights, wrong ones refused by name.

import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { randomInputs } from "../../compiler/cli/random-inputs.ts";
import { build } from "../../compiler/driver/compile.ts";
import { wasmBackend } from "../../compiler/codegen-wasm/backend.ts";
import { wgslBackend } from "../../compiler/codegen-wgsl/backend.ts";
import { targetOf } from "../../compiler/codegen-wgsl/runner.ts";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import type { Tensor } from "../../compiler/ir/op-def.ts";
import { interpret } from "../../compiler/ir/interpreter.ts";
import { trainingSpec } from "../../compiler/passes/train-options.ts";
import { decodeSafetensors, encodeSafetensors } from "../../runtime/safetensors.ts";
import { compareTensors, graphTolerance } from "../support/wasm-harness.ts";
import { wgslDevice } from "../support/wgsl-harness.ts";

const root = mkdtempSync(join(tmpdir(), "mlc-wgsl-bundle-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

interface Bundle {
  forward(): void;
  trainStep(): Promise<number>;
  inputs: Record<string, { set(v: ArrayLike<number>): void }>;
  outputs: Record<string, () => Promise<Float32Array>>;
  params: Record<string, () => Promise<Float32Array>>;
  saveWeights(): Promise<Uint8Array>;
  loadWeights(bytes: Uint8Array): void;
}

describe("the mnist-mlp WebGPU bundle", () => {
  const model = compileModelFile("examples/mnist-mlp/model.ts");
  const training = trainingSpec(model.train);
  let m: Bundle;
  let weights: Uint8Array;
  const inputs = randomInputs(model.graph, 7);

  it("builds, and loads from its folder with nothing but a device", async () => {
    const gpu = await wgslDevice();
    const bundle = build(model.graph, { backend: wgslBackend(targetOf(gpu.device, gpu.features, gpu.software)), training });
    expect(Object.keys(bundle.files).sort()).toEqual(["mnist_mlp.wgsl.d.ts", "mnist_mlp.plan.json", "mnist_mlp.safetensors", "mnist_mlp.wgsl.js"].map((f) => f.replace("mnist_mlp", bundle.name)).sort());
    for (const [file, contents] of Object.entries(bundle.files)) writeFileSync(join(root, file), contents);
    const script = readFileSync(join(root, `${bundle.name}.wgsl.js`), "utf8");
    expect(script).not.toMatch(/^import /m);
    weights = readFileSync(join(root, `${bundle.name}.safetensors`));
    const { load } = (await import(pathToFileURL(join(root, `${bundle.name}.wgsl.js`)).href)) as { load(o: object): Promise<Bundle> };
    m = await load({ device: gpu.device });
  });

  it("computes the forward pass the interpreter computes", async () => {
    for (const [name, values] of Object.entries(inputs)) m.inputs[name].set(values);
    m.forward();
    const tensors = decodeSafetensors(weights).tensors;
    const params = Object.fromEntries(model.graph.params.map((p) => [p.name, Float64Array.from(tensors[p.name].data as Float32Array)]));
    const reference = interpret(model.graph, inputs, { params });
    for (const [name, expected] of Object.entries(reference.outputs) as [string, Tensor][]) {
      const actual: Tensor = { type: expected.type, data: Float64Array.from(await m.outputs[name]()) };
      expect(compareTensors(actual, expected, { tolerance: graphTolerance(model.graph), floor: 0.05 }), name).toBeNull();
    }
  });

  it("trains: the first loss is the interpreter's, 20 steps on one batch lower it", async () => {
    const losses: number[] = [];
    for (let i = 0; i < 20; i++) losses.push(await m.trainStep());
    expect(losses.every(Number.isFinite)).toBe(true);
    const reference = interpret(model.graph, inputs, { params: Object.fromEntries(model.graph.params.map((p) => [p.name, Float64Array.from(decodeSafetensors(weights).tensors[p.name].data as Float32Array)])) });
    expect(losses[0]).toBeCloseTo(reference.outputs["loss"].data[0], 4);
    expect(losses[19]).toBeLessThan(losses[0] * 0.8);
  });

  it("also makes its own device from a GPU object (Dawn for Node's create())", async () => {
    await wgslDevice(); // points Vulkan at SwiftShader when no driver was chosen
    const { create } = await import("webgpu");
    const { load } = (await import(pathToFileURL(join(root, `${model.graph.name.replace(/[^A-Za-z0-9_-]/g, "_")}.wgsl.js`)).href)) as { load(o: object): Promise<Bundle> };
    const own = await load({ gpu: create([]), weights: await m.saveWeights() });
    for (const [name, values] of Object.entries(inputs)) own.inputs[name].set(values);
    own.forward();
    m.forward();
    expect(Array.from(await own.outputs.logits())).toEqual(Array.from(await m.outputs.logits()));
  });

  it("writes the WASM bundle's weights file, byte for byte", () => {
    const wasm = build(model.graph, { backend: wasmBackend, training });
    expect(Buffer.from(wasm.files[`${wasm.name}.safetensors`] as Uint8Array).equals(Buffer.from(weights))).toBe(true);
  });

  it("round-trips its weights and refuses wrong ones by name", async () => {
    const saved = await m.saveWeights();
    const before = await m.params["fc256.w"]();
    m.loadWeights(weights);
    expect(Array.from(await m.params["fc256.w"]())).not.toEqual(Array.from(before));
    m.loadWeights(saved);
    expect(Array.from(await m.params["fc256.w"]())).toEqual(Array.from(before));
    const wrong = encodeSafetensors({ "fc256.w": { dtype: "F32", shape: [2, 3], data: new Float32Array(6) } });
    expect(() => m.loadWeights(wrong)).toThrow("weights: 'fc256.w' must be f32[784,256] (safetensors F32), got F32[2,3]");
  });

  it("is what `mlc build --target webgpu --train` writes", () => {
    const out = join(root, "cli");
    const r = spawnSync(process.execPath, ["bin/mlc.js", "build", "examples/mnist-mlp/model.ts", "--target", "webgpu", "--train", "--out", out], { encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const built = build(model.graph, { backend: wgslBackend(), training });
    for (const [file, contents] of Object.entries(built.files)) {
      const written = readFileSync(join(out, file));
      expect(written.equals(Buffer.from(typeof contents === "string" ? contents : contents)), file).toBe(true);
    }
  });
});
