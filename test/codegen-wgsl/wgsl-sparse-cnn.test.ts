// The CNN with half of its filters pruned and removed by --sparse (driver/sparsify-weights.ts and
// the sparsify pass) through the webgpu pipeline on Dawn + SwiftShader: the shrunk graph with the
// shrunk params gives the outputs of the interpreter on the unshrunk model with the pruned weights
// (as on wasm-simd in test/driver/sparsify-examples.test.ts).
import { expect, it } from "vitest";
import { wgslBackend } from "../../compiler/codegen-wgsl/backend.ts";
import { compile } from "../../compiler/driver/compile.ts";
import { inferenceGraph } from "../../compiler/driver/inference.ts";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import { initParams, interpret } from "../../compiler/ir/interpreter.ts";
import { pruneMasks } from "../../compiler/ir/prune-masks.ts";
import { runWgsl } from "../support/wgsl-harness.ts";

it("the channel-pruned CNN shrunk by --sparse on webgpu matches the interpreter on the unshrunk model", async () => {
  const graph = inferenceGraph(compileModelFile("examples/cnn/model.ts", { set: { batch: "2" } }).graph, { loss: "loss" }).graph;
  const params = initParams(graph, 5);
  for (const p of graph.params) if (p.name.endsWith(".b")) params[p.name] = params[p.name].map((_, i) => Math.fround(0.2 * Math.cos(i)));
  for (const name of ["conv1.w", "conv2.w"]) {
    const shape = graph.params.find((p) => p.name === name)!.type.shape;
    const [mask] = pruneMasks([{ name, shape, data: params[name] }], 0.5, { kind: "channel", norm: 1 });
    params[name] = params[name].map((v, e) => (mask[e] ? v : 0));
    const bias = name.replace(".w", ".b");
    params[bias] = params[bias].map((v, c) => (mask[c] ? v : 0));
  }
  const program = compile(graph, { sparse: { params }, backend: wgslBackend(), timeLimitMs: 100 });
  const planned = program.entries[0].graph;
  expect(planned.params.find((p) => p.name === "conv2.w")!.type.shape).toEqual([3, 3, 4, 8]);
  const shrunk: Record<string, ArrayLike<number>> = { ...params };
  for (const [name, t] of Object.entries(program.sparsification!.tensors)) shrunk[name] = t.data;
  const images = Float64Array.from({ length: 2 * 784 }, (_, i) => Math.fround(((i * 7919) % 1009) / 1008));
  const gpu = await runWgsl(planned, { images }, shrunk);
  const expected = interpret(graph, { images }, { params }).outputs.logits.data;
  const got = gpu.outputs.logits.data;
  for (let k = 0; k < expected.length; k++) expect(Math.abs(got[k] - expected[k]), `logits[${k}]`).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(expected[k])));
}, 120_000);
