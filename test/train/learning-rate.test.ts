// The learning rate is state the step reads (`opt/lr`), not a constant of the graph: a bundle's
// setLearningRate(x) before a step gives the params a bundle built with --lr x gives, lr 0 leaves
// the params as they are, and saveWeights({ only: "params" }) leaves the optimizer state out.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { wasmBackend } from "../../compiler/codegen-wasm/backend.ts";
import { build } from "../../compiler/driver/compile.ts";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import { trainingSpec } from "../../compiler/passes/train-options.ts";
import { randomInputs } from "../../compiler/cli/random-inputs.ts";
import { decodeSafetensors } from "../../runtime/safetensors.ts";

const tmp = mkdtempSync(join(tmpdir(), "mlc-lr-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Model {
  inputs: Record<string, Float32Array | Int32Array>;
  params: Record<string, Float32Array>;
  trainStep(): number;
  setLearningRate(lr: number): void;
  saveWeights(opts?: { only?: "params" }): Uint8Array;
}

async function bundle(example: string, lr: number | undefined, dir: string): Promise<Model> {
  const model = compileModelFile(`examples/${example}/model.ts`, { set: { batch: "4" } });
  const b = build(model.graph, { backend: wasmBackend, training: trainingSpec(model.train, lr === undefined ? {} : { lr }), seed: 1 });
  for (const [f, c] of Object.entries(b.files)) writeFileSync(join(tmp, `${dir}-${f}`), c);
  writeFileSync(join(tmp, "package.json"), '{ "type": "module" }');
  const { load } = (await import(pathToFileURL(join(tmp, `${dir}-${b.name}.js`)).href)) as { load(o: object): Promise<Model> };
  const { readFileSync } = await import("node:fs");
  const m = await load({ wasm: readFileSync(join(tmp, `${dir}-${b.name}.wasm`)), weights: readFileSync(join(tmp, `${dir}-${b.name}.safetensors`)) });
  const inputs = randomInputs(model.graph, 3);
  for (const [k, v] of Object.entries(inputs)) m.inputs[k].set(v);
  return m;
}

describe("the learning rate at run time", () => {
  it.each([["mnist-mlp (adam)", "mnist-mlp"], ["cnn (sgd, momentum)", "cnn"], ["transformer (adamw)", "transformer"]])("%s: setLearningRate(x) equals building with --lr x", async (_, example) => {
    const built = await bundle(example, 0.02, `${example}-built`);
    const set = await bundle(example, undefined, `${example}-set`);
    expect(set.params["opt/lr"][0]).not.toBe(Math.fround(0.02));
    set.setLearningRate(0.02);
    for (let i = 0; i < 3; i++) expect(set.trainStep()).toBe(built.trainStep());
    for (const name of Object.keys(built.params)) expect(set.params[name], name).toEqual(built.params[name]);
  }, 60_000);

  it("lr 0 leaves the params; saveWeights({ only: 'params' }) has no optimizer state", async () => {
    const m = await bundle("cnn", undefined, "zero");
    const before = structuredClone(m.params["fc.w"]);
    m.setLearningRate(0);
    m.trainStep();
    expect(m.params["fc.w"]).toEqual(before);
    expect(Object.keys(decodeSafetensors(m.saveWeights({ only: "params" })).tensors).sort()).toEqual(["conv1.b", "conv1.w", "conv2.b", "conv2.w", "fc.b", "fc.w"]);
    expect(Object.keys(decodeSafetensors(m.saveWeights()).tensors)).toContain("opt/lr");
  }, 60_000);
});
