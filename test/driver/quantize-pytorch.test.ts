// mlc's int8 post-training quantization of the MNIST MLP against an independent oracle:
// PyTorch's own PTQ (torch.ao.quantization eager static quantization, per-channel int8 weights;
// test/oracle/ptq_mlp.py under /usr/bin/python3) of the same trained weights, calibrated on the
// same digits. The f32 networks agree (the weights were carried over right); mlc's int8 bundle
// loses at most 0.5 points against f32, changes no more of f32's predictions than PyTorch's PTQ
// does (up to 2 of the 2,000 test digits), and is within 0.5 points of its accuracy. (Which of
// two quantizations that each change a handful of predictions scores a few digits higher is
// noise; how far each moves from f32 is what the quantization decides.)
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { wasmBackend } from "../../compiler/codegen-wasm/backend.ts";
import { build } from "../../compiler/driver/compile.ts";
import { inferenceGraph } from "../../compiler/driver/inference.ts";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import { loadMnist, PIXELS } from "../../examples/mnist-mlp/data.ts";
import { predict, pytorchPtq, trainF32, type Api } from "../../bench/quant.ts";
import { loadBundle } from "../../bench/bundle-kit.ts";

const tmp = mkdtempSync(join(tmpdir(), "mlc-quantize-pytorch-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

it("int8 PTQ of trained MNIST MLP weights stays as close to f32 as PyTorch's PTQ of the same weights", async () => {
  const { train, test } = loadMnist();
  const weights = await trainF32(train, tmp, 2);
  const samples = 500;
  const calibration = Float64Array.from(train.x.subarray(0, samples * PIXELS));
  const graph = inferenceGraph(compileModelFile("examples/mnist-mlp/model.ts", { set: { batch: "100" } }).graph, { loss: "loss" }).graph;
  const given = { source: "trained", tensors: weights };
  const params = Object.fromEntries(Object.entries(weights).map(([n, t]) => [n, Float64Array.from(t.data as Float32Array)]));
  const f32 = predict(await loadBundle<Api>(build(graph, { backend: wasmBackend, weights: given, timeLimitMs: 100 }), join(tmp, "f32")), test);
  const int8Bundle = build(graph, { backend: wasmBackend, weights: given, timeLimitMs: 100, quantize: { observer: "minmax", calibration: { x: calibration }, samples, params, perLayerErrors: false } });
  const int8 = predict(await loadBundle<Api>(int8Bundle, join(tmp, "int8")), test);
  const torch = pytorchPtq(tmp, weights, calibration, test);
  expect(torch, "test/oracle/ptq_mlp.py failed (see stderr)").toBeDefined();
  const correct = (p: ArrayLike<number>) => Array.from(p).filter((v, i) => v === test.y[i]).length;
  // The same network in both: identical f32 predictions but for near-ties.
  expect(Array.from(f32).filter((v, i) => v !== torch!.predictions.f32[i]).length).toBeLessThanOrEqual(2);
  expect(correct(f32)).toBeGreaterThan(0.9 * test.count);
  expect(correct(f32) - correct(int8)).toBeLessThanOrEqual(0.005 * test.count);
  const changed = (p: ArrayLike<number>) => Array.from(p).filter((v, i) => v !== f32[i]).length;
  for (const qconfig of ["fbgemm", "onednn"] as const) {
    const theirs = torch!.predictions[qconfig];
    expect(changed(int8), qconfig).toBeLessThanOrEqual(changed(theirs) + 2);
    expect(Math.abs(correct(int8) - correct(theirs)), qconfig).toBeLessThanOrEqual(0.005 * test.count);
  }
}, 240_000);
