// Structured sparsity on the examples (docs/COMPRESSION.md "Structured sparsity"): half of each
// hidden layer's output channels pruned (ir/prune-masks.ts, as `mlc prune --structure channel`),
// biases and batch-norm shifts of both signs, then `build` with `sparse`. The wasm-simd bundle,
// written to and imported from an empty folder outside the repo, gives the outputs of the
// interpreter running the unshrunk model with the pruned weights (f32 tolerance: a folded bias
// sums in another order), and the layers shrank by the channels the rule allows: every pruned
// channel before a dense layer (its constant folded into the next bias), before a padded
// convolution only those whose constant is 0 (relu(b) with b <= 0, relu(beta) with beta <= 0),
// and a layer of 4k channels keeps a multiple of 4 (the kernels' f32x4 lanes).
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { wasmBackend } from "../../compiler/codegen-wasm/backend.ts";
import { programForward } from "../../compiler/cli/training.ts";
import { build } from "../../compiler/driver/index.ts";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import type { Graph } from "../../compiler/ir/graph.ts";
import { initParams, interpret } from "../../compiler/ir/interpreter.ts";
import { pruneMasks } from "../../compiler/ir/prune-masks.ts";
import { decodeSafetensors, type SafeTensor } from "../../runtime/safetensors.ts";

const tmp = mkdtempSync(join(tmpdir(), "mlc-sparsify-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Model {
  inputs: Record<string, Float32Array>;
  outputs: Record<string, Float32Array>;
  forward(): void;
}

/** Seeded params with half of each listed weight's output channels pruned, shifts of both signs. */
function prunedParams(graph: Graph, prune: readonly string[], shifts: RegExp): { params: Record<string, Float64Array>; pruned: Map<string, Set<number>> } {
  const params = initParams(graph, 7);
  for (const p of graph.params) if (shifts.test(p.name)) params[p.name] = params[p.name].map((_, i) => Math.fround(0.3 * Math.sin(1.7 * i + p.name.length)));
  const pruned = new Map<string, Set<number>>();
  for (const name of prune) {
    const shape = graph.params.find((p) => p.name === name)!.type.shape;
    const [mask] = pruneMasks([{ name, shape, data: params[name] }], 0.5, { kind: "channel", norm: 1 });
    params[name] = params[name].map((v, e) => (mask[e] ? v : 0));
    const cols = shape[shape.length - 1];
    pruned.set(name, new Set(Array.from({ length: cols }, (_, c) => c).filter((c) => mask[c] === 0)));
  }
  return { params, pruned };
}

/** Builds `graph` sparse with `params`, runs the bundle from a fresh folder outside the repo, compares with the interpreter. */
async function buildAndCompare(graph: Graph, params: Record<string, Float64Array>, dir: string) {
  const tensors: Record<string, SafeTensor> = Object.fromEntries(graph.params.map((p) => [p.name, { dtype: "F32", shape: [...p.type.shape], data: Float32Array.from(params[p.name]) }]));
  const bundle = build(graph, { backend: wasmBackend, sparse: { params, seed: 7 }, seed: 7, weights: { source: "pruned.safetensors", tensors }, timeLimitMs: 100 });
  const folder = mkdtempSync(join(tmp, `${dir}-`));
  expect(readdirSync(folder)).toEqual([]);
  for (const [file, data] of Object.entries(bundle.files)) writeFileSync(join(folder, file), data);
  const model = await ((await import(pathToFileURL(join(folder, `${bundle.name}.js`)).href)) as { load(): Promise<Model> }).load();
  for (const salt of [1, 2]) {
    const inputs: Record<string, Float32Array> = Object.create(null);
    for (const i of graph.inputs) {
      inputs[i.name] = Float32Array.from({ length: i.type.shape.reduce((a, d) => a * d, 1) }, (_, k) => Math.fround(Math.cos(0.37 * k + salt)));
      model.inputs[i.name].set(inputs[i.name]);
    }
    model.forward();
    const reference = interpret(graph, inputs, { params }).outputs.logits.data;
    const got = model.outputs.logits;
    expect(got.length).toBe(reference.length);
    const scale = Math.max(...Array.from(reference, Math.abs));
    for (let k = 0; k < reference.length; k++) expect(Math.abs(got[k] - reference[k]), `logits[${k}]`).toBeLessThanOrEqual(1e-5 * scale + 1e-6);
  }
  const shapes = Object.fromEntries(graph.params.map((p) => [p.name, bundle.program.entries[0].graph.params.find((q) => q.name === p.name)!.type.shape]));
  const file = decodeSafetensors(readFileSync(join(folder, `${bundle.name}.safetensors`))).tensors;
  for (const [name, shape] of Object.entries(shapes)) expect(file[name].shape, name).toEqual(shape);
  return { bundle, shapes, file };
}

const count = (set: Set<number>, keep: (c: number) => boolean) => [...set].filter(keep).length;

describe("--sparse on the examples", () => {
  it("MNIST MLP: both hidden layers lose half their units, the constants relu(b) fold into the next biases", async () => {
    const { graph } = programForward(compileModelFile("examples/mnist-mlp/model.ts", { set: { batch: "4" } }), undefined);
    const { params } = prunedParams(graph, ["fc256.w", "fc128.w"], /\.b$/);
    const { bundle, shapes, file } = await buildAndCompare(graph, params, "mlp");
    expect(shapes).toMatchObject({ "fc256.w": [784, 128], "fc256.b": [128], "fc128.w": [128, 64], "fc128.b": [64], "out.w": [64, 10], "out.b": [10] });
    // out.b took the folded constants: it differs from the pruned file's.
    expect(Array.from(file["out.b"].data as Float32Array)).not.toEqual(Array.from(Float32Array.from(params["out.b"])));
    const report = bundle.program.sparsification!.report;
    expect(report.layers.map((l) => [l.weight, l.zero, l.removed])).toEqual([["fc256.w", 128, 128], ["fc128.w", 64, 64], ["out.w", 0, 0]]);
    expect(report.paramBytes.before / report.paramBytes.after).toBeGreaterThan(2);
  }, 120_000);

  it("CNN: conv2 loses its pruned filters and fc.w their rows; conv1 keeps 8, as only 1 to 3 of its pruned ones have relu(b) = 0 (conv2 pads)", async () => {
    const { graph } = programForward(compileModelFile("examples/cnn/model.ts", { set: { batch: "4" } }), undefined);
    const { params, pruned } = prunedParams(graph, ["conv1.w", "conv2.w"], /\.b$/);
    const { bundle, shapes } = await buildAndCompare(graph, params, "cnn");
    const conv1Zero = count(pruned.get("conv1.w")!, (c) => params["conv1.b"][c] <= 0);
    expect(conv1Zero).toBeGreaterThan(0);
    expect(conv1Zero).toBeLessThan(4);
    expect(shapes).toMatchObject({ "conv1.w": [3, 3, 1, 8], "conv1.b": [8], "conv2.w": [3, 3, 8, 8], "conv2.b": [8], "fc.w": [7 * 7 * 8, 10] });
    const conv1 = bundle.program.sparsification!.report.layers.find((l) => l.weight === "conv1.w")!;
    expect(conv1).toMatchObject({ zero: 4, removed: 0 });
    expect(conv1.kept).toMatch(/nonzero constant into conv2d %4 with padding; kept so that a multiple of 4 channels stay \(SIMD lanes\)/);
  }, 120_000);

  it("CNN with the pruned filters' biases zeroed too (Li et al.): both convolutions lose half their channels", async () => {
    const { graph } = programForward(compileModelFile("examples/cnn/model.ts", { set: { batch: "4" } }), undefined);
    const { params, pruned } = prunedParams(graph, ["conv1.w", "conv2.w"], /\.b$/);
    for (const [w, b] of [["conv1.w", "conv1.b"], ["conv2.w", "conv2.b"]]) for (const c of pruned.get(w)!) params[b][c] = 0;
    const { shapes } = await buildAndCompare(graph, params, "cnn-li");
    expect(shapes).toMatchObject({ "conv1.w": [3, 3, 1, 4], "conv2.w": [3, 3, 4, 8], "fc.w": [392, 10] });
  }, 120_000);

  it("ResNet: each block's first convolution loses the pruned channels whose relu(beta) is 0 (a multiple of 4); the residual stream keeps its width", async () => {
    const { graph } = programForward(compileModelFile("examples/resnet/model.ts", { set: { batch: "2", depth: "2", size: "8" } }), undefined);
    const weights = graph.params.filter((p) => p.type.shape.length === 4).map((p) => p.name);
    const { params, pruned } = prunedParams(graph, weights, /\.beta$/);
    // block0: 4 pruned channels with beta <= 0, so 4 go; block1: 3, so none (16 - 3 is no multiple of 4).
    for (const [b, negative] of [["block0", 4], ["block1", 3]] as const) {
      const beta = params[`${b}.bn1.beta`];
      [...pruned.get(`${b}.conv1.w`)!].forEach((c, k) => (beta[c] = k < negative ? -Math.abs(beta[c]) : Math.abs(beta[c]) + 0.01));
    }
    const { shapes } = await buildAndCompare(graph, params, "resnet");
    expect(shapes["block0.conv1.w"]).toEqual([3, 3, 16, 12]);
    expect(shapes["block0.bn1.running_var"]).toEqual([12]);
    expect(shapes["block0.conv2.w"]).toEqual([3, 3, 12, 16]);
    expect(shapes["block1.conv1.w"]).toEqual([3, 3, 16, 16]);
    expect(shapes["stem.conv.w"]).toEqual([3, 3, 3, 16]);
    expect(shapes["fc.w"]).toEqual([16, 10]);
  }, 120_000);
});
