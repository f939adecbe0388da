// Structured sparsity (docs/COMPRESSION.md "Structured sparsity") on the CNN (examples/cnn, width
// 8) and Fashion-MNIST (Debian's dataset-fashion-mnist: 60,000 / 10,000), wasm-simd, one thread:
//
//   accuracy   Li et al. 2017's recipe: the CNN trained to convergence (EPOCHS epochs of SGD with
//              momentum at the model's lr, the last DENSE_LOW of them at the lowered FINE_LR); then
//              half of each convolution's filters pruned by L1 norm (ir/prune-masks.ts, as `mlc
//              prune --structure channel --sparsity 0.5`), the pruned filters' biases zeroed with
//              them (Li et al. remove a filter and its bias), and the model shrunk by the sparsify
//              pass, which gives exactly the width-4 CNN's shapes; that smaller dense model is
//              fine-tuned FINETUNE epochs as a plain width-4 CNN: at the model's lr, the last
//              FINE_LOW at FINE_LR (a fine-tuning wholly at FINE_LR recovered less). Two
//              baselines: the dense model that was pruned (the papers' comparison), and that model
//              trained the same FINETUNE epochs more with the same learning rates on the same
//              batches (equal training). Beside them the width-4 CNN trained from scratch with
//              the dense model's epochs, learning rates and batches: the small shape without
//              pruning. Each seed (SEEDS: the initial weights and the batch order) is a separate
//              run; the table gives every seed and the means.
//   latency    forward of the dense inference bundle against the shrunk one (and against the one
//              `mlc prune`'s weights give with their biases kept, where only the channels whose
//              constant the rule can fold go): interleaved rounds, medians, CPU time per call.
//   sizes      the bundles' .wasm and weights files.
//   stages     each conv + bias + ReLU + max-pool stage of the CNN alone, dense against shrunk
//              widths (batch 32): where the forward's speedup comes from.
//
//   npx tsx bench/sparse.ts          prints the tables and the JSON (MLC_BENCH_SPARSE_EPOCHS,
//                                    _DENSE_LOW, _FINETUNE, _FINE_LOW, _FINE_LR, _SEEDS=0,1,2)
//   npm run bench -- sparse          also writes bench/results/sparse.json and docs/BENCHMARKS.md

import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { wasmBackend } from "../compiler/codegen-wasm/backend.ts";
import { build } from "../compiler/driver/compile.ts";
import { inferenceGraph } from "../compiler/driver/inference.ts";
import { sparsifyModel } from "../compiler/driver/sparsify-weights.ts";
import { compileModelFile } from "../compiler/frontend/index.ts";
import { parseGraph } from "../compiler/ir/parser.ts";
import type { Graph } from "../compiler/ir/graph.ts";
import { pruneMasks } from "../compiler/ir/prune-masks.ts";
import { trainingSpec } from "../compiler/passes/train-options.ts";
import type { SafeTensor } from "../runtime/safetensors.ts";
import { rng } from "../test/support/seeded-random.ts";
import { loadBundle, timingSummary } from "./bundle-kit.ts";
import type { BenchReport } from "./run.ts";
import { FASHION, loadFashion as fashion, permutation } from "./fashion-mnist.ts";

const EPOCHS = Number(process.env.MLC_BENCH_SPARSE_EPOCHS ?? 8);
/** The dense training's last epochs run at FINE_LR: the lr drop that ends a training schedule. */
const DENSE_LOW = Number(process.env.MLC_BENCH_SPARSE_DENSE_LOW ?? 2);
const FINETUNE = Number(process.env.MLC_BENCH_SPARSE_FINETUNE ?? 10);
/** The fine-tuning's last epochs run at FINE_LR, the first at the model's lr (a short schedule of its own). */
const FINE_LOW = Number(process.env.MLC_BENCH_SPARSE_FINE_LOW ?? 2);
/** SGD's learning rate while fine-tuning: a tenth of the model's (Li et al. fine-tune at a lowered rate). */
const FINE_LR = Number(process.env.MLC_BENCH_SPARSE_FINE_LR ?? 0.005);
const SEEDS = (process.env.MLC_BENCH_SPARSE_SEEDS ?? "0,1,2").split(",").map(Number);
const PRUNED = ["conv1.w", "conv2.w"];
const ROUNDS = 10;
const ROUND_MS = 150;

interface Model {
  readonly inputs: Record<string, Float32Array | Int32Array>;
  readonly outputs: Record<string, Float32Array>;
  readonly params: Record<string, Float32Array>;
  forward(): void;
  trainStep(): number;
  setLearningRate(lr: number): void;
}

interface Data {
  readonly x: Float32Array;
  readonly y: Int32Array;
  readonly count: number;
}




function setBatch(m: Model, data: Data, rows: ArrayLike<number>): void {
  for (let i = 0; i < rows.length; i++) {
    m.inputs.images.set(data.x.subarray(rows[i] * 784, (rows[i] + 1) * 784), i * 784);
    if (m.inputs.labels) m.inputs.labels[i] = data.y[rows[i]];
  }
}

/** Test accuracy (percent) over the whole batches of the test set. */
function accuracy(m: Model, test: Data, batch: number): number {
  let right = 0;
  let total = 0;
  for (let b = 0; b + batch <= test.count; b += batch) {
    setBatch(m, test, Uint32Array.from({ length: batch }, (_, i) => b + i));
    m.forward();
    for (let k = 0; k < batch; k++) {
      let best = 0;
      for (let c = 1; c < 10; c++) if (m.outputs.logits[k * 10 + c] > m.outputs.logits[k * 10 + best]) best = c;
      if (best === test.y[b + k]) right++;
      total++;
    }
  }
  return (100 * right) / total;
}

/** Trains each model one epoch per entry of `epochs`, on the same batches in the same order (drawn from `seed`). */
function train(models: readonly Model[], data: Data, batch: number, epochs: readonly number[], seed: number): void {
  for (const e of epochs) {
    const perm = permutation(data.count, rng(1000 + 100 * seed + e));
    for (let s = 0; s + batch <= data.count; s += batch) {
      const rows = perm.subarray(s, s + batch);
      for (const m of models) {
        setBatch(m, data, rows);
        m.trainStep();
      }
    }
  }
}

const cnn = (set: Record<string, string> = {}) => compileModelFile("examples/cnn/model.ts", { set });

function trainingBundle(set: Record<string, string>, dir: string, seed: number): Promise<Model> {
  const model = cnn(set);
  return loadBundle<Model>(build(model.graph, { backend: wasmBackend, training: trainingSpec(model.train), seed }), dir);
}

function values(m: Model, g: Graph): Record<string, Float64Array> {
  return Object.fromEntries(g.params.map((p) => [p.name, Float64Array.from(m.params[p.name])]));
}

function safetensors(g: Graph, params: Record<string, ArrayLike<number>>): Record<string, SafeTensor> {
  return Object.fromEntries(g.params.map((p) => [p.name, { dtype: "F32", shape: [...p.type.shape], data: Float32Array.from(params[p.name]) }]));
}

/** Half of each convolution's filters zeroed (L1); with `biases`, their biases too. */
function prune(g: Graph, params: Record<string, Float64Array>, biases: boolean): Record<string, Float64Array> {
  const out = { ...params };
  for (const name of PRUNED) {
    const shape = g.params.find((p) => p.name === name)!.type.shape;
    const [mask] = pruneMasks([{ name, shape, data: params[name] }], 0.5, { kind: "channel", norm: 1 });
    out[name] = params[name].map((v, e) => (mask[e] ? v : 0));
    const bias = name.replace(/\.w$/, ".b");
    if (biases) out[bias] = params[bias].map((v, c) => (mask[c] ? v : 0));
  }
  return out;
}

interface Variant {
  readonly name: string;
  readonly shapes: string;
  readonly wasmBytes: number;
  readonly weightsBytes: number;
  readonly forwardMs: number;
  readonly cpuMs: number;
  readonly maxDiff?: number;
}

/** Forward latency of each bundle: rounds alternating them, each call timed; medians. */
async function latency(batch: number, dense: Record<string, Float64Array>, pruned: readonly { name: string; params: Record<string, Float64Array> }[], dir: string): Promise<Variant[]> {
  const { graph } = inferenceGraph(cnn({ batch: String(batch) }).graph, { loss: "loss" });
  const builds = [
    { name: "dense", bundle: build(graph, { backend: wasmBackend, seed: 0, weights: { source: "dense", tensors: safetensors(graph, dense) } }) },
    ...pruned.map((p) => ({ name: p.name, reference: p.params, bundle: build(graph, { backend: wasmBackend, seed: 0, sparse: { params: p.params }, weights: { source: p.name, tensors: safetensors(graph, p.params) } }) })),
  ];
  const models = await Promise.all(builds.map((b, k) => loadBundle<Model>(b.bundle, join(dir, `infer-${batch}-${k}`))));
  const test = fashion("t10k");
  for (const m of models) setBatch(m, test, Uint32Array.from({ length: batch }, (_, i) => i));
  // The shrunk bundles against the dense bundle running the same pruned weights.
  const checker = await loadBundle<Model>(builds[0].bundle, join(dir, `infer-${batch}-check`));
  setBatch(checker, test, Uint32Array.from({ length: batch }, (_, i) => i));
  const diffs = builds.map((b) => {
    if (!("reference" in b) || !b.reference) return undefined;
    for (const p of graph.params) checker.params[p.name].set(Float32Array.from(b.reference[p.name]));
    checker.forward();
    const m = models[builds.indexOf(b)];
    m.forward();
    return Math.max(...Array.from(checker.outputs.logits, (v, i) => Math.abs(v - m.outputs.logits[i])));
  });
  const wall: number[][] = models.map(() => []);
  const cpu = models.map(() => ({ micros: 0, calls: 0 }));
  for (let r = 0; r < ROUNDS; r++) {
    models.forEach((m, k) => {
      const end = performance.now() + ROUND_MS;
      const before = process.cpuUsage();
      let calls = 0;
      while (performance.now() < end || calls < 3) {
        const start = performance.now();
        m.forward();
        if (r > 0) wall[k].push(performance.now() - start);
        calls++;
      }
      const used = process.cpuUsage(before);
      if (r > 0) {
        cpu[k].micros += used.user + used.system;
        cpu[k].calls += calls;
      }
    });
  }
  return builds.map((b, k) => {
    const shrunk = b.bundle.program.entries[0].graph.params;
    return {
      name: b.name,
      shapes: ["conv1.w", "conv2.w", "fc.w"].map((n) => `${n} [${shrunk.find((p) => p.name === n)!.type.shape.join(",")}]`).join(", "),
      wasmBytes: (b.bundle.files[`${b.bundle.name}.wasm`] as Uint8Array).length,
      weightsBytes: (b.bundle.files[`${b.bundle.name}.safetensors`] as Uint8Array).length,
      forwardMs: timingSummary(wall[k]).median,
      cpuMs: cpu[k].micros / 1000 / cpu[k].calls,
      ...(diffs[k] !== undefined ? { maxDiff: diffs[k] } : {}),
    };
  });
}

/** One conv + bias + ReLU + 2x2 max-pool stage of the CNN as IR, at batch 32. */
function stageGraph(size: number, cin: number, cout: number): Graph {
  const t = (h: number, c: number) => `f32[32,${h},${h},${c}]`;
  return parseGraph(`graph stage {
  input %x: ${t(size, cin)}
  param %w: f32[3,3,${cin},${cout}] init=he_normal
  param %b: f32[${cout}] init=zeros
  %0:${t(size, cout)} = conv2d %x, %w {stride=[1,1], padding="same", pads=[0,0,0,0], dilation=[1,1], groups=1}
  %1:${t(size, cout)} = add %0, %b
  %2:${t(size, cout)} = relu %1
  %3:${t(size / 2, cout)} = maxPool2d %2 {size=[2,2], stride=[2,2], padding="valid", pads=[0,0,0,0]}
  output y = %3
}`);
}

interface Stage {
  readonly stage: string;
  readonly denseMs: number;
  readonly shrunkMs: number;
}

/** The CNN's two stages alone, dense and shrunk widths side by side (interleaved rounds, medians). */
async function stages(dir: string): Promise<Stage[]> {
  const cases = [
    { stage: "conv1 28x28: 1 -> 8 channels vs 1 -> 4", dense: stageGraph(28, 1, 8), shrunk: stageGraph(28, 1, 4) },
    { stage: "conv2 14x14: 8 -> 16 channels vs 4 -> 8", dense: stageGraph(14, 8, 16), shrunk: stageGraph(14, 4, 8) },
  ];
  const models = await Promise.all(cases.flatMap((c, i) => [c.dense, c.shrunk].map((g, k) => loadBundle<Model>(build(g, { backend: wasmBackend, seed: 0 }), join(dir, `stage-${i}-${k}`)))));
  const wall: number[][] = models.map(() => []);
  for (let r = 0; r < ROUNDS; r++) {
    models.forEach((m, k) => {
      const end = performance.now() + ROUND_MS / 2;
      while (performance.now() < end) {
        const start = performance.now();
        m.forward();
        if (r > 0) wall[k].push(performance.now() - start);
      }
    });
  }
  return cases.map((c, i) => ({ stage: c.stage, denseMs: timingSummary(wall[2 * i]).median, shrunkMs: timingSummary(wall[2 * i + 1]).median }));
}

interface Accuracy {
  readonly seed: number;
  readonly dense: number;
  readonly denseFinetuned: number;
  readonly prunedBeforeFinetune: number;
  readonly shrunkFinetuned: number;
  /** The width-4 CNN trained from scratch with the dense one's EPOCHS + FINETUNE epochs. */
  readonly smallFromScratch: number;
  readonly shrunkShapes: string;
}

/** One seed of the accuracy recipe; with it the dense model's weights after EPOCHS epochs (what is pruned). */
async function accuracyRun(dir: string, seed: number): Promise<{ acc: Accuracy; dense: Record<string, Float64Array> }> {
  const trainSet = fashion("train");
  const test = fashion("t10k");
  const batch = Number(cnn().config.batch);
  const dense = await trainingBundle({}, join(dir, `train-dense-${seed}`), seed);
  // The width-4 CNN trained from its own initial weights beside the dense one, on the same batches
  // with the same learning rates throughout: what the pruned model's shape reaches without pruning.
  const scratch = await trainingBundle({ width: "4" }, join(dir, `train-scratch-${seed}`), seed);
  train([dense, scratch], trainSet, batch, Array.from({ length: EPOCHS - DENSE_LOW }, (_, e) => e), seed);
  for (const m of [dense, scratch]) m.setLearningRate(FINE_LR);
  train([dense, scratch], trainSet, batch, Array.from({ length: DENSE_LOW }, (_, e) => EPOCHS - DENSE_LOW + e), seed);
  const denseAcc = accuracy(dense, test, batch);
  const { graph } = inferenceGraph(cnn().graph, { loss: "loss" });
  const trained = values(dense, graph);
  const pruned = prune(graph, trained, true);
  // The pruned weights in the dense model, before any fine-tuning.
  const probe = await trainingBundle({}, join(dir, `train-probe-${seed}`), seed);
  for (const p of graph.params) probe.params[p.name].set(Float32Array.from(pruned[p.name]));
  const prunedAcc = accuracy(probe, test, batch);
  // Shrunk by the pass: the width-4 CNN's shapes, fine-tuned as that model.
  const shrunk = sparsifyModel(graph, { params: pruned });
  const small = await trainingBundle({ width: "4" }, join(dir, `train-small-${seed}`), seed);
  for (const [name, t] of Object.entries(shrunk.tensors)) {
    if (small.params[name].length !== t.data.length) throw new Error(`bench sparse: shrunk ${name} has ${t.data.length} elements, the width-4 CNN's ${small.params[name].length}`);
    small.params[name].set(Float32Array.from(t.data));
  }
  for (const name of ["fc.b"]) if (!Object.hasOwn(shrunk.tensors, name)) small.params[name].set(Float32Array.from(pruned[name]));
  // The dense baseline follows the same learning rates on the same batches.
  const lr = trainingSpec(cnn().train).optimizer.lr;
  for (const m of [dense, small, scratch]) m.setLearningRate(lr);
  train([dense, small, scratch], trainSet, batch, Array.from({ length: FINETUNE - FINE_LOW }, (_, e) => EPOCHS + e), seed);
  for (const m of [dense, small, scratch]) m.setLearningRate(FINE_LR);
  train([dense, small, scratch], trainSet, batch, Array.from({ length: FINE_LOW }, (_, e) => EPOCHS + FINETUNE - FINE_LOW + e), seed);
  const shapes = shrunk.report.params.filter((p) => p.name.endsWith(".w")).map((p) => `${p.name} [${p.after.join(",")}]`).join(", ");
  return { acc: { seed, dense: denseAcc, denseFinetuned: accuracy(dense, test, batch), prunedBeforeFinetune: prunedAcc, shrunkFinetuned: accuracy(small, test, batch), smallFromScratch: accuracy(scratch, test, batch), shrunkShapes: shapes }, dense: trained };
}

const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;

function markdown(accs: readonly Accuracy[], rows: Record<string, Variant[]>, parts: readonly Stage[]): string {
  const mean = (f: (a: Accuracy) => number) => accs.reduce((s, a) => s + f(a), 0) / accs.length;
  const signed = (x: number) => `${x >= 0 ? "+" : ""}${x.toFixed(2)}`;
  const lr = trainingSpec(cnn().train).optimizer.lr;
  const lines = [
    `The CNN (examples/cnn, width 8) on Fashion-MNIST, wasm-simd, one thread. Pruned: half of each convolution's filters by L1 norm (\`mlc prune --structure channel --sparsity 0.5 --params conv1.w,conv2.w\`), then \`mlc build --sparse\`.`,
    "",
    `Accuracy (test set, 10,000; Li et al.'s recipe): dense trained ${EPOCHS} epochs (SGD with momentum 0.9 at the model's lr ${lr}, the last ${DENSE_LOW} at ${FINE_LR}); the pruned filters' biases zeroed with them, the model shrunk by the pass (${accs[0].shrunkShapes}: the width-4 CNN), and that model fine-tuned ${FINETUNE} epochs (at ${lr}, the last ${FINE_LOW} at ${FINE_LR}). ` +
      `Two baselines: "dense" is the trained model that was pruned (the comparison of the pruning papers); "dense +${FINETUNE}" is it trained the same ${FINETUNE} epochs more with the same learning rates on the same batches (${EPOCHS + FINETUNE} epochs in all, as many as the pruned model has seen: equal training). The last column is the width-4 CNN (the shrunk model's shapes) trained from its own initial weights with the dense model's ${EPOCHS + FINETUNE} epochs, learning rates and batches: the small shape without pruning. One row per seed (initial weights and batch order), then the mean.`,
    "",
    `| seed | dense, ${EPOCHS} epochs | dense +${FINETUNE} | 50% of filters pruned, no fine-tuning | pruned and shrunk, fine-tuned ${FINETUNE} epochs | vs dense (points) | vs dense +${FINETUNE} (points) | width-4 CNN from scratch, ${EPOCHS + FINETUNE} epochs |`,
    "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...accs.map((a) => `| ${a.seed} | ${[a.dense, a.denseFinetuned, a.prunedBeforeFinetune, a.shrunkFinetuned].map((v) => `${v.toFixed(2)}%`).join(" | ")} | ${signed(a.shrunkFinetuned - a.dense)} | ${signed(a.shrunkFinetuned - a.denseFinetuned)} | ${a.smallFromScratch.toFixed(2)}% |`),
    `| mean | ${[mean((a) => a.dense), mean((a) => a.denseFinetuned), mean((a) => a.prunedBeforeFinetune), mean((a) => a.shrunkFinetuned)].map((v) => `${v.toFixed(2)}%`).join(" | ")} | ${signed(mean((a) => a.shrunkFinetuned - a.dense))} | ${signed(mean((a) => a.shrunkFinetuned - a.denseFinetuned))} | ${mean((a) => a.smallFromScratch).toFixed(2)}% |`,
    "",
    `Forward latency (medians of interleaved rounds; CPU is user+sys per call: on a loaded machine a call longer than the scheduler's slice is cut by other processes, so the wall-clock median of the longer calls grows with the load while CPU time does not). "biases kept" is \`mlc prune\`'s file as it is: a pruned conv1 filter whose ReLU(bias) is not 0 is a constant channel into conv2's zero padding, which no bias reproduces, so it stays (docs/COMPRESSION.md). max |diff|: the shrunk bundle's logits against the dense bundle running the same pruned weights.`,
    "",
    "| batch | bundle | shapes | forward | CPU | speedup (forward) | speedup (CPU) | .wasm | weights | max \\|diff\\| |",
    "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const [batch, vs] of Object.entries(rows)) {
    const dense = vs[0];
    for (const v of vs) {
      lines.push(`| ${batch} | ${v.name} | ${v.shapes} | ${v.forwardMs.toFixed(3)} ms | ${v.cpuMs.toFixed(3)} ms | ${(dense.forwardMs / v.forwardMs).toFixed(2)}x | ${(dense.cpuMs / v.cpuMs).toFixed(2)}x | ${kib(v.wasmBytes)} | ${kib(v.weightsBytes)} | ${v.maxDiff === undefined ? "" : v.maxDiff.toExponential(1)} |`);
    }
  }
  lines.push("", "Each stage alone (conv + bias + ReLU + 2x2 max pool, batch 32, interleaved rounds, medians):", "", "| stage | dense | shrunk | speedup |", "|---|---:|---:|---:|");
  for (const p of parts) lines.push(`| ${p.stage} | ${p.denseMs.toFixed(3)} ms | ${p.shrunkMs.toFixed(3)} ms | ${(p.denseMs / p.shrunkMs).toFixed(2)}x |`);
  return lines.join("\n");
}

export async function run(): Promise<BenchReport> {
  if (!existsSync(join(FASHION, "train-images-idx3-ubyte.gz"))) throw new Error(`bench sparse needs Fashion-MNIST in ${FASHION} (apt-get install dataset-fashion-mnist)`);
  const dir = mkdtempSync(join(tmpdir(), "mlc-bench-sparse-"));
  try {
    const runs = [];
    for (const seed of SEEDS) runs.push(await accuracyRun(dir, seed));
    const accs = runs.map((r) => r.acc);
    // Latency and sizes: the first seed's trained weights.
    const dense = runs[0].dense;
    const { graph } = inferenceGraph(cnn().graph, { loss: "loss" });
    const variants = [
      { name: "pruned, shrunk", params: prune(graph, dense, true) },
      { name: "pruned (biases kept), shrunk", params: prune(graph, dense, false) },
    ];
    const rows: Record<string, Variant[]> = {};
    for (const batch of [32, 128]) rows[batch] = await latency(batch, dense, variants, dir);
    const parts = await stages(dir);
    return { name: "sparse", title: "Structured sparsity: the channel-pruned CNN", results: { epochs: EPOCHS, denseLow: DENSE_LOW, finetune: FINETUNE, fineLow: FINE_LOW, fineLr: FINE_LR, seeds: SEEDS, accuracy: accs, latency: rows, stages: parts }, markdown: markdown(accs, rows, parts) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const report = await run();
  process.stdout.write(report.markdown + "\n\n" + JSON.stringify(report.results, null, 2) + "\n");
}
