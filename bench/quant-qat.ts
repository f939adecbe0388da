// A helper module of bench/quant.ts (it exports no `run`, so bench/run.ts skips it): the QAT rows
// of the MNIST MLP. Starting from the f32-trained weights, fine-tunes with quantization-aware
// training (`--train --quantize int8`: passes/qat.ts, fakeQuant on every dense layer's weight and
// input, EMA range observers), then builds the int8 inference bundle from the fine-tuned weights
// and the observers' ranges (QuantizeSpec.ranges: nothing calibrated). Beside it, the same
// fine-tuning without QAT (same epochs, learning rate and data order) and its int8 PTQ
// (minmax), so the QAT row is compared with what extra f32 epochs alone would give.

import { join } from "node:path";
import { wasmBackend } from "../compiler/codegen-wasm/backend.ts";
import { build } from "../compiler/driver/compile.ts";
import { inferenceGraph } from "../compiler/driver/inference.ts";
import { compileModelFile } from "../compiler/frontend/index.ts";
import { qatRangeNames } from "../compiler/passes/qat.ts";
import { trainingSpec } from "../compiler/passes/train-options.ts";
import { decodeSafetensors, type SafeTensor } from "../runtime/safetensors.ts";
import { PIXELS, type Digits } from "../examples/mnist-mlp/data.ts";
import { loadBundle } from "./bundle-kit.ts";
import { accuracy, agreement, predict, runEpochs, type Api, type Classifier, type Row } from "./quant.ts";

/** Fine-tuning epochs and learning rate (Adam, a tenth of the model's 1e-3). */
export const QAT_EPOCHS = 2;
export const QAT_LR = 1e-4;
const LAYERS = ["fc256.w", "fc128.w", "out.w"];

export interface QatRows {
  readonly rows: Row[];
  /** Test accuracy of the fine-tuned f32 weights, their PTQ, and the QAT int8 build. */
  readonly f32: number;
  readonly ptq: number;
  readonly int8: number;
  /** The observers' final ranges, by weight. */
  readonly ranges: Record<string, readonly [number, number]>;
}

/**
 * The QAT rows: `weights` (trained f32) fine-tuned QAT_EPOCHS with and without QAT, each built as
 * int8 (QAT: its own ranges; plain: minmax PTQ on `calibration`), scored on `test` against the
 * predictions of the f32 bundle of `weights`.
 */
export async function qatRows(o: { net: Classifier; weights: Record<string, SafeTensor>; train: Digits; test: Digits; calibration: Float32Array; evalBatch: number; tmp: string }): Promise<QatRows> {
  const { net, test } = o;
  const qat = await fineTune(o, true);
  const plain = await fineTune(o, false);
  const f32Params = (t: Record<string, SafeTensor>) => Object.fromEntries(Object.entries(t).filter(([n]) => !n.includes("/")));
  const ranges = Object.fromEntries(LAYERS.map((l) => {
    const r = qatRangeNames(l);
    return [l, [(qat[r.min].data as Float32Array)[0], (qat[r.max].data as Float32Array)[0]] as const];
  }));
  const graph = inferenceGraph(compileModelFile(net.model, { set: { batch: String(o.evalBatch) } }).graph, { loss: "loss" }).graph;
  const asParams = (t: Record<string, SafeTensor>) => Object.fromEntries(Object.entries(t).map(([n, x]) => [n, Float64Array.from(x.data as Float32Array)]));
  const samples = o.calibration.length / PIXELS;
  const variants = [
    { variant: `f32 fine-tuned ${QAT_EPOCHS} more epochs (no QAT)`, weights: f32Params(plain) },
    { variant: `mlc int8 (minmax PTQ of that)`, weights: f32Params(plain), quantize: { observer: "minmax" as const, calibration: { [net.x]: Float64Array.from(o.calibration) }, samples, params: asParams(f32Params(plain)), perLayerErrors: false } },
    { variant: `mlc int8 (QAT: ${QAT_EPOCHS} epochs fine-tuned with fakeQuant, its ranges)`, weights: f32Params(qat), quantize: { observer: "minmax" as const, calibration: {}, samples: 0, ranges, params: asParams(f32Params(qat)) } },
  ];
  const f32 = build(graph, { backend: wasmBackend, weights: { source: "trained", tensors: o.weights } });
  const f32Predictions = predict(await loadBundle<Api>(f32, join(o.tmp, "qat-eval-f32")), test, net.x);
  const rows: Row[] = [];
  for (const [k, v] of variants.entries()) {
    const b = build(graph, { backend: wasmBackend, weights: { source: "fine-tuned", tensors: v.weights }, ...(v.quantize ? { quantize: v.quantize } : {}) });
    const p = predict(await loadBundle<Api>(b, join(o.tmp, `qat-eval-${k}`)), test, net.x);
    rows.push({ variant: v.variant, accuracy: accuracy(p, test), weightsBytes: (b.files[`${b.name}.safetensors`] as Uint8Array).byteLength, agreesWithF32: agreement(p, f32Predictions) });
  }
  return { rows, f32: rows[0].accuracy, ptq: rows[1].accuracy, int8: rows[2].accuracy, ranges };
}

/** QAT_EPOCHS of Adam at QAT_LR from the trained weights, with or without QAT; every tensor it saves. */
async function fineTune(o: { net: Classifier; weights: Record<string, SafeTensor>; train: Digits; tmp: string }, quantize: boolean): Promise<Record<string, SafeTensor>> {
  const { net, train } = o;
  const model = compileModelFile(net.model, { set: { batch: String(net.batch) } });
  const training = { ...trainingSpec(model.train, { lr: QAT_LR }), ...(quantize ? { quantize: "int8" as const } : {}) };
  const bundle = build(model.graph, { backend: wasmBackend, training, seed: 0, weights: { source: "trained", tensors: o.weights } });
  const m = await loadBundle<Api>(bundle, join(o.tmp, `finetune-${quantize ? "qat" : "f32"}`));
  runEpochs(m, train, QAT_EPOCHS, 1, net);
  return decodeSafetensors(m.saveWeights()).tensors;
}
