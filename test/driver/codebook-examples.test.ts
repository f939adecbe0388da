// Codebook-quantized examples (--quantize codebook4: driver/codebook.ts + the quantize-codebook
// pass) through each backend's whole pipeline (fusion, in-place, plan): the MNIST MLP and the
// Fashion-MNIST CNN (both convolutions codebookConv2d, the classifier codebookMatmul) on
// wasm-simd and webgpu (Dawn + SwiftShader) against the reference interpreter running the same
// codebook graph, within the f32 rounding of another summation order (max-norm relative 1e-5).
import { describe, expect, it } from "vitest";
import { wasmBackend } from "../../compiler/codegen-wasm/backend.ts";
import { wgslBackend } from "../../compiler/codegen-wgsl/backend.ts";
import { compile } from "../../compiler/driver/compile.ts";
import { inferenceGraph } from "../../compiler/driver/inference.ts";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import { initParams, interpret } from "../../compiler/ir/interpreter.ts";
import { resultMismatches, runWasm } from "../support/wasm-harness.ts";
import { runWgsl } from "../support/wgsl-harness.ts";

const EXAMPLES = [
  { model: "examples/mnist-mlp/model.ts", input: "x", shape: 784, ops: { codebookMatmul: 3 } },
  { model: "examples/cnn/model.ts", input: "images", shape: 784, ops: { codebookConv2d: 2, codebookMatmul: 1 } },
] as const;

describe.each(EXAMPLES)("$model with --quantize codebook4", (ex) => {
  const graph = inferenceGraph(compileModelFile(ex.model, { set: { batch: "3" } }).graph, { loss: "loss" }).graph;
  const reference = compile(graph, { codebook: { bits: 4, seed: 4 } });
  const codebookGraph = reference.entries[0].graph;
  const params = { ...initParams(codebookGraph, 4), ...Object.fromEntries(Object.entries(reference.codebooks!.tensors).map(([n, t]) => [n, t.data])) };
  const x = Float64Array.from({ length: 3 * ex.shape }, (_, i) => Math.fround(((i * 7919) % 1009) / 1008));
  const expected = interpret(codebookGraph, { [ex.input]: x }, { params });
  const compare = { tolerance: 1e-5, relativeToMax: true };

  for (const backend of [{ name: "wasm-simd", b: wasmBackend, run: runWasm }, { name: "webgpu", b: wgslBackend(), run: runWgsl }] as const) {
    it(`on ${backend.name} matches the interpreter`, async () => {
      const planned = compile(graph, { codebook: { bits: 4, seed: 4 }, backend: backend.b, timeLimitMs: 100 }).entries[0].graph;
      for (const [op, count] of Object.entries(ex.ops)) expect(planned.nodes.filter((n) => n.op === op), op).toHaveLength(count);
      expect(planned.nodes.some((n) => n.op === "matmul" || n.op === "conv2d" || n.op.startsWith("fused") && n.attrs.epilogue !== undefined)).toBe(false);
      const got = await backend.run(planned, { [ex.input]: x }, params);
      expect(resultMismatches(got, expected, compare)).toEqual([]);
    }, 120_000);
  }
});
