// The int8-quantized MNIST MLP and Fashion-MNIST CNN (--quantize int8, driver/calibrate.ts + the
// quantize-dense pass; the CNN's convInteger and its max pools on i32) through the webgpu pipeline on Dawn + SwiftShader: the same outputs, bit for bit, as the
// reference interpreter running the same quantized graph (as on wasm-simd in
// test/driver/quantize-mlp.test.ts).
import { expect, it } from "vitest";
import { wgslBackend } from "../../compiler/codegen-wgsl/backend.ts";
import { compile } from "../../compiler/driver/compile.ts";
import { inferenceGraph } from "../../compiler/driver/inference.ts";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import { interpret } from "../../compiler/ir/interpreter.ts";
import { runWgsl } from "../support/wgsl-harness.ts";

it("the quantized MNIST MLP on webgpu matches the interpreter bit for bit", async () => {
  const graph = inferenceGraph(compileModelFile("examples/mnist-mlp/model.ts", { set: { batch: "4" } }).graph, { loss: "loss" }).graph;
  const pixels = (n: number, salt: number) => Float64Array.from({ length: n * 784 }, (_, i) => Math.fround(((i * 7919 + salt * 104729) % 1009) / 1008));
  const quantize = { observer: "minmax" as const, calibration: { x: pixels(8, 1) }, samples: 8, seed: 2, perLayerErrors: false };
  const reference = compile(graph, { quantize });
  const planned = compile(graph, { quantize: { ...quantize, result: reference.quantization }, backend: wgslBackend(), timeLimitMs: 100 }).entries[0].graph;
  const params = Object.fromEntries(Object.entries(reference.quantization!.tensors).map(([n, t]) => [n, t.data]));
  const x = pixels(4, 7).map((v) => Math.fround(v * 1.5 - 0.2));
  const gpu = await runWgsl(planned, { x }, params);
  const expected = interpret(reference.entries[0].graph, { x }, { params }).outputs.logits.data;
  expect(Array.from(gpu.outputs.logits.data)).toEqual(Array.from(expected));
  expect(planned.nodes.filter((n) => n.op === "matmulInteger")).toHaveLength(3);
}, 120_000);

it("the quantized CNN on webgpu matches the interpreter bit for bit", async () => {
  const graph = inferenceGraph(compileModelFile("examples/cnn/model.ts", { set: { batch: "2" } }).graph, { loss: "loss" }).graph;
  const images = (n: number, salt: number) => Float64Array.from({ length: n * 784 }, (_, i) => Math.fround(((i * 7919 + salt * 104729) % 1009) / 1008));
  const quantize = { observer: "minmax" as const, calibration: { images: images(4, 1) }, samples: 4, seed: 2, perLayerErrors: false };
  const reference = compile(graph, { quantize });
  const planned = compile(graph, { quantize: { ...quantize, result: reference.quantization }, backend: wgslBackend(), timeLimitMs: 100 }).entries[0].graph;
  const params = Object.fromEntries(Object.entries(reference.quantization!.tensors).map(([n, t]) => [n, t.data]));
  const x = images(2, 7).map((v) => Math.fround(v * 1.5 - 0.2));
  const gpu = await runWgsl(planned, { images: x }, params);
  const expected = interpret(reference.entries[0].graph, { images: x }, { params }).outputs.logits.data;
  expect(Array.from(gpu.outputs.logits.data)).toEqual(Array.from(expected));
  expect(planned.nodes.filter((n) => n.op === "convInteger")).toHaveLength(2);
}, 120_000);

