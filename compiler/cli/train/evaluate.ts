// Evaluation of a loaded bundle's forward pass over a dataset, in order, in batches of the bundle's
// size; the last partial batch is padded with zeros and its padded rows masked out.
//
// Accuracy is reported when the model classifies: an i32 input of shape [B, ...S] (the labels)
// and an f32 output of shape [B, ...S, C], C > 1 (the logits; the output named `logits` first).
// Then the loss is the mean softmax cross-entropy of the real rows, computed here in float64 from
// the logits — checked on the first full batch against the model's own scalar loss output, and not
// used when they differ (a loss with other terms): then, as for every other model, the loss is the
// mean of the model's scalar loss output over the full batches (a padded batch would bias it).

import type { BundleModel, ManifestTensor, BundleManifest } from "./bundle.ts";
import type { Dataset } from "./data.ts";
import { grouped } from "./progress.ts";

export interface EvalResult {
  samples: number;
  /** Mean loss; NaN when the model has no scalar loss output to read and is no classifier. */
  loss: number;
  /** Samples whose loss was counted (all, or the full batches' only). */
  lossSamples: number;
  accuracy?: number;
  correct?: number;
  /** Predictions counted (samples x positions per sample). */
  predictions?: number;
}

export interface Classifier {
  readonly logits: string;
  readonly labels: string;
  readonly classes: number;
  /** Positions per sample (1 for image classification; T for per-token). */
  readonly positions: number;
}

/** The logits output and label input when the model classifies (see the header). */
export function findClassifier(m: Pick<BundleManifest, "inputs" | "outputs">): Classifier | undefined {
  const labels = m.inputs.filter((i) => i.dtype === "i32");
  const candidates = [...m.outputs].sort((a, b) => Number(b.name === "logits") - Number(a.name === "logits"));
  for (const out of candidates) {
    if (out.dtype !== "f32" || out.shape.length < 2) continue;
    const classes = out.shape[out.shape.length - 1];
    if (classes < 2) continue;
    const lead = out.shape.slice(0, -1);
    const label = labels.find((l) => l.shape.length === lead.length && l.shape.every((d, i) => d === lead[i]));
    if (label) return { logits: out.name, labels: label.name, classes, positions: lead.slice(1).reduce((a, b) => a * b, 1) };
  }
  return undefined;
}

/** The model's scalar loss output: `loss`, else its one scalar f32 output. */
export function findLossOutput(m: Pick<BundleManifest, "outputs">): ManifestTensor | undefined {
  const scalars = m.outputs.filter((o) => o.shape.length === 0 && o.dtype === "f32");
  return scalars.find((o) => o.name === "loss") ?? (scalars.length === 1 ? scalars[0] : undefined);
}

export function evaluate(m: BundleModel, manifest: Pick<BundleManifest, "inputs" | "outputs">, data: Dataset): EvalResult {
  const batch = data.batch;
  const cls = findClassifier(manifest);
  const lossOut = findLossOutput(manifest);
  const indices = new Float64Array(batch);
  let ceSum = 0;
  let ceCount = 0;
  let outSum = 0;
  let outSamples = 0;
  let correct = 0;
  let predictions = 0;
  let useCe = cls !== undefined;
  let checked = false;
  for (let start = 0; start < data.count; start += batch) {
    const rows = Math.min(batch, data.count - start);
    for (let r = 0; r < rows; r++) indices[r] = start + r;
    data.read(indices, rows, m.inputs);
    m.forward();
    if (lossOut && rows === batch) {
      outSum += m.outputs[lossOut.name][0] * rows;
      outSamples += rows;
    }
    if (!cls) continue;
    const logits = m.outputs[cls.logits] as Float32Array;
    const labels = m.inputs[cls.labels] as Int32Array;
    const { classes } = cls;
    let batchCe = 0;
    const n = rows * cls.positions;
    for (let p = 0; p < n; p++) {
      const base = p * classes;
      let best = 0;
      let max = logits[base];
      for (let c = 1; c < classes; c++) if (logits[base + c] > max) (max = logits[base + c]), (best = c);
      let sum = 0;
      for (let c = 0; c < classes; c++) sum += Math.exp(logits[base + c] - max);
      const label = labels[p];
      if (best === label) correct++;
      predictions++;
      batchCe += Math.log(sum) + max - (label >= 0 && label < classes ? logits[base + label] : NaN);
    }
    ceSum += batchCe;
    ceCount += n;
    if (!checked && lossOut && rows === batch) {
      checked = true;
      const own = m.outputs[lossOut.name][0];
      const mine = batchCe / n;
      if (!(Math.abs(own - mine) <= 1e-3 * Math.max(1, Math.abs(own)))) useCe = false;
    }
  }
  const result: EvalResult = useCe
    ? { samples: data.count, loss: ceSum / ceCount, lossSamples: data.count }
    : { samples: data.count, loss: outSamples > 0 ? outSum / outSamples : NaN, lossSamples: outSamples };
  if (cls) Object.assign(result, { accuracy: correct / predictions, correct, predictions });
  return result;
}

export function formatEval(r: EvalResult): string {
  const parts = [`loss ${Number.isNaN(r.loss) ? "n/a" : r.loss.toFixed(4)}${r.lossSamples < r.samples && !Number.isNaN(r.loss) ? ` (over the ${grouped(r.lossSamples)} samples of full batches)` : ""}`];
  if (r.accuracy !== undefined) parts.push(`accuracy ${(100 * r.accuracy).toFixed(2)}% (${grouped(r.correct!)}/${grouped(r.predictions!)})`);
  return `${parts.join(", ")}, ${grouped(r.samples)} samples`;
}
