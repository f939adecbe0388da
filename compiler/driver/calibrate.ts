// Post-training quantization for the driver (`--quantize int8 --calibrate FILE`, docs/IR.md
// "Post-training quantization"): runs the cleaned f32 inference graph in the reference
// interpreter over the calibration samples, batch by batch, to observe the input range of every
// dense and conv2d layer (passes/quantize/observers.ts), quantizes the weights per output channel
// (passes/quantize/int8-params.ts), and measures what each quantized layer costs: the error of
// the outputs on the calibration set with that layer alone quantized, then with all of them.
//
// With `ranges` (quantization-aware training's observed ranges, passes/qat.ts: the qat/W/min and
// qat/W/max state of a weights file) the activation ranges are those instead of observed ones, and
// with no calibration samples nothing is run or measured: the bundle is built from the trained
// weights and ranges, not recalibrated.
//
// Calibration inputs hold any number of samples S in the leading axis; the graph takes batches
// of B. The last, partial batch is padded with the set's first samples, and only the rows of
// real samples are observed and measured (values whose leading axis is B; other values are
// observed whole).

import type { Graph } from "../ir/graph.ts";
import { initParam } from "../ir/init.ts";
import { interpret } from "../ir/interpreter.ts";
import type { Tensor } from "../ir/op-def.ts";
import { numel, type TensorType } from "../ir/types.ts";
import { foldableBatchNorms, foldBatchNorm, foldedBatchNormParams, foldRemovedParams } from "../passes/fold-batch-norm.ts";
import { denseLayers, quantizeDense, quantParamNames, requantizeLinks, type DenseLayer, type KeptWeight } from "../passes/quantize-dense.ts";
import { activationParams, layerTensors, quantizeWeight, type ActivationParams } from "../passes/quantize/int8-params.ts";
import { Histogram, MinMax, observedRange, type ObserverKind } from "../passes/quantize/observers.ts";

export interface QuantizeSpec {
  readonly observer: ObserverKind;
  /** Params to keep f32 (--quantize-skip). */
  readonly skip?: readonly string[];
  /** Calibration samples per graph input, [S, ...the input's shape after its batch axis]. */
  readonly calibration: Readonly<Record<string, ArrayLike<number>>>;
  readonly samples: number;
  /** Values of the graph's f32 params (a weights file's); the others take their seeded init. */
  readonly params?: Readonly<Record<string, ArrayLike<number>>>;
  readonly seed?: number;
  /**
   * Each layer's input range [min, max] by its weight's name, from quantization-aware training:
   * used instead of observing the calibration set (which may then be empty: samples 0).
   */
  readonly ranges?: Readonly<Record<string, readonly [number, number]>>;
  /** Measure each layer's error alone (one more sweep per layer; default true). */
  readonly perLayerErrors?: boolean;
  /** A calibration of this same graph and spec made before (mlc mem compiles twice): reused. */
  readonly result?: Quantization;
}

/** The output error of a quantized graph against the f32 one over the calibration set. */
export interface OutputError {
  /** sqrt(sum (q - f)^2 / sum f^2) over every float output. */
  readonly relativeRms: number;
  readonly maxAbs: number;
  /** For rank-2 outputs: the fraction of rows whose argmax is unchanged (classifiers). */
  readonly argmaxAgreement?: number;
}

export interface QuantizedTensorReport {
  readonly weight: string;
  readonly bias?: string;
  /** The layer's contraction (matmul or conv2d). */
  readonly op: "matmul" | "conv2d";
  readonly shape: readonly number[];
  /** The per-output-channel weight scales' range. */
  readonly weightScale: readonly [number, number];
  readonly activation: ActivationParams;
  /** The outputs' error with this layer alone quantized (absent when not measured). */
  readonly error?: OutputError;
}

export interface QuantizationReport {
  /** How the activation ranges were chosen: an observer over the calibration set, or QAT's. */
  readonly observer: ObserverKind | "qat";
  /** Batch norms folded into the contraction before them (fold-batch-norm): gamma's name and the weight's. */
  readonly folded: readonly { readonly gamma: string; readonly weight: string }[];
  readonly samples: number;
  readonly quantized: readonly QuantizedTensorReport[];
  readonly kept: readonly KeptWeight[];
  /** The outputs' error with every listed layer quantized (absent without calibration samples). */
  readonly error?: OutputError;
  /** Param bytes of the f32 graph and of the quantized one. */
  readonly paramBytes: { readonly f32: number; readonly quantized: number };
}

export interface Quantization {
  /** The quantize-dense pass's options. */
  readonly layers: Readonly<Record<string, ActivationParams>>;
  /** The new params' values (W/q, W/scale, W/bias), by name, with their types. */
  readonly tensors: Readonly<Record<string, { type: TensorType; data: ArrayLike<number> }>>;
  /** The params the pass removes (quantized weights and folded biases). */
  readonly removed: readonly string[];
  readonly report: QuantizationReport;
}

/**
 * Calibrates `input` (a cleaned f32 inference graph) and quantizes its dense and conv2d layers,
 * after folding its batch norms (fold-batch-norm: the f32 reference is then the eval-mode graph).
 */
export function quantizeModel(input: Graph, spec: QuantizeSpec): Quantization {
  const folds = foldableBatchNorms(input);
  const graph = folds.length > 0 ? foldBatchNorm.run(input, {}).graph : input;
  const given = paramValues(input, spec);
  const foldedValues = foldedBatchNormParams(folds, given);
  const params: Record<string, ArrayLike<number>> = Object.create(null);
  for (const p of graph.params) params[p.name] = Object.hasOwn(foldedValues, p.name) ? foldedValues[p.name] : given[p.name];
  const { layers: dense, kept } = denseLayers(graph, spec.skip ?? []);
  const sweep = (g: Graph, ps: Readonly<Record<string, ArrayLike<number>>>, visit: Visit, keep: boolean) =>
    runBatches(g, ps, spec, visit, keep);

  // Observe: the minmax range of every layer's input, then (percentile, mse) its histogram.
  const ranges = new Map(dense.map((l) => [l.node, new MinMax()]));
  const trained = spec.ranges;
  if (trained) {
    const missing = dense.find((l) => !Object.hasOwn(trained, l.weight));
    if (missing) throw new Error(`quantization: no trained activation range for layer '${missing.weight}'`);
  }
  const observe = (into: (l: DenseLayer, data: Float64Array, count: number) => void) =>
    sweep(graph, params, (values, rows, batch) => {
      for (const l of dense) {
        const t = values.get(l.x)!;
        into(l, t.data, t.type.shape[0] === batch ? (t.data.length / batch) * rows : t.data.length);
      }
    }, true);
  if (!trained) observe((l, data, count) => ranges.get(l.node)!.observe(data, 0, count));
  let histograms: Map<string, Histogram> | undefined;
  if (!trained && spec.observer !== "minmax") {
    histograms = new Map(dense.map((l) => [l.node, new Histogram(Math.min(ranges.get(l.node)!.min, 0), Math.max(ranges.get(l.node)!.max, 0))]));
    observe((l, data, count) => histograms!.get(l.node)!.observe(data, 0, count));
  }

  const layers: Record<string, ActivationParams> = Object.create(null);
  const reports: Omit<QuantizedTensorReport, "error">[] = [];
  const made = new Map<string, { w: ReturnType<typeof quantizeWeight>; t: ReturnType<typeof layerTensors> }>();
  for (const l of dense) {
    const act = trained ? activationParams(trained[l.weight][0], trained[l.weight][1]) : activationParams(...observedRange(spec.observer, ranges.get(l.node)!, histograms?.get(l.node)));
    const w = quantizeWeight(params[l.weight], l.k, l.n);
    made.set(l.weight, { w, t: layerTensors(w, l.k, act, l.bias ? params[l.bias] : undefined, l.op === "conv2d") });
    layers[l.weight] = act;
    reports.push({ weight: l.weight, ...(l.bias ? { bias: l.bias } : {}), op: l.op, shape: l.shape, weightScale: [Math.min(...w.scales), Math.max(...w.scales)], activation: act });
  }
  // The params of the layers in `only`: W/scale is the dequantize scale, or, for a layer that
  // requantizes into the next one (quantize-dense.ts), that scale over the next input's scale.
  const tensorsFor = (only: Readonly<Record<string, ActivationParams>>) => {
    const chosen = dense.filter((l) => Object.hasOwn(only, l.weight));
    const links = requantizeLinks(graph, chosen, only);
    const out: Record<string, { type: TensorType; data: ArrayLike<number> }> = Object.create(null);
    for (const l of chosen) {
      const { w, t } = made.get(l.weight)!;
      const names = quantParamNames(l.weight);
      const link = links.get(l.weight);
      const scale = link ? t.scale.map((s) => Math.fround(s / only[link.next.weight].scale)) : t.scale;
      out[names.q] = { type: { dtype: "i8", shape: [...l.shape] }, data: w.q };
      out[names.scale] = { type: { dtype: "f32", shape: [l.n] }, data: scale };
      out[names.bias] = { type: { dtype: "i32", shape: [l.n] }, data: t.bias };
    }
    return out;
  };
  const tensors = tensorsFor(layers);
  const removed = [...foldRemovedParams(folds), ...dense.flatMap((l) => (l.bias ? [l.weight, l.bias] : [l.weight]))];
  // Folded params that stay (a skipped weight, a bias not folded into W/bias) carry their new values.
  for (const [name, data] of Object.entries(foldedValues)) {
    if (!removed.includes(name)) tensors[name] = { type: graph.params.find((p) => p.name === name)!.type, data };
  }

  // Measure (with calibration samples): the f32 outputs, then each layer alone and all of them quantized.
  const reference: Tensor[][] = [];
  if (spec.samples > 0) sweep(graph, params, (_v, _r, _b, outputs) => reference.push(floatOutputs(graph, outputs)), false);
  const errorOf = (only: Record<string, ActivationParams>): OutputError => {
    const g = quantizeDense.run(graph, { layers: only }).graph;
    const gone = new Set(dense.filter((l) => Object.hasOwn(only, l.weight)).flatMap((l) => (l.bias ? [l.weight, l.bias] : [l.weight])));
    const own = tensorsFor(only);
    const ps: Record<string, ArrayLike<number>> = Object.create(null);
    for (const p of g.params) ps[p.name] = Object.hasOwn(params, p.name) && !gone.has(p.name) ? params[p.name] : own[p.name].data;
    const acc = new ErrorAccumulator();
    let index = 0;
    sweep(g, ps, (_v, rows, batch, outputs) => acc.add(reference[index++], floatOutputs(g, outputs), rows, batch), false);
    return acc.result();
  };
  const measured = spec.samples > 0;
  const perLayer = measured && (spec.perLayerErrors ?? true);
  const quantized = reports.map((r) => (perLayer && dense.length > 1 ? { ...r, error: errorOf({ [r.weight]: layers[r.weight] }) } : r));
  const error = measured ? errorOf(layers) : undefined;
  const full = dense.length === 1 && error ? quantized.map((r) => ({ ...r, error })) : quantized;
  const f32Bytes = input.params.reduce((s, p) => s + bytesOf(p.type), 0);
  const quantBytes = f32Bytes - removed.reduce((s, n) => s + bytesOf(input.params.find((p) => p.name === n)!.type), 0)
    + Object.entries(tensors).reduce((s, [n, t]) => s + (Object.hasOwn(foldedValues, n) ? 0 : bytesOf(t.type)), 0);
  const folded = folds.map((f) => ({ gamma: f.gamma, weight: f.weight }));
  return { layers, tensors, removed, report: { observer: trained ? "qat" : spec.observer, samples: spec.samples, folded, quantized: full, kept, ...(error ? { error } : {}), paramBytes: { f32: f32Bytes, quantized: quantBytes } } };
}

const BYTES: Readonly<Record<string, number>> = { f32: 4, i32: 4, f16: 2, bf16: 2, i8: 1, u8: 1, bool: 1 };
function bytesOf(t: TensorType): number {
  return numel(t.shape) * BYTES[t.dtype];
}

/** Every param's value: the given one, else its seeded initializer's. */
function paramValues(graph: Graph, spec: QuantizeSpec): Record<string, ArrayLike<number>> {
  const out: Record<string, ArrayLike<number>> = Object.create(null);
  for (const p of graph.params) out[p.name] = spec.params && Object.hasOwn(spec.params, p.name) ? spec.params[p.name] : initParam(p, spec.seed ?? 0);
  return out;
}

/** Runs `g` over the calibration set in batches of its inputs' leading axis (see the header). */
function runBatches(g: Graph, params: Readonly<Record<string, ArrayLike<number>>>, spec: QuantizeSpec, visit: Visit, keepValues: boolean): void {
  const batch = g.inputs[0]?.type.shape[0] ?? 1;
  const unbatched = g.inputs.find((i) => i.type.shape[0] !== batch);
  if (unbatched) throw new Error(`calibration: input '${unbatched.name}' does not lead with the batch axis of size ${batch} that '${g.inputs[0].name}' has`);
  for (let start = 0; start < spec.samples; start += batch) {
    const rows = Math.min(batch, spec.samples - start);
    const inputs: Record<string, Float64Array> = Object.create(null);
    for (const i of g.inputs) {
      const per = numel(i.type.shape) / batch;
      const src = spec.calibration[i.name];
      const data = new Float64Array(per * batch);
      for (let r = 0; r < batch; r++) {
        const s = (start + r) % spec.samples;
        for (let e = 0; e < per; e++) data[r * per + e] = src[s * per + e];
      }
      inputs[i.name] = data;
    }
    const result = interpret(g, inputs, { params, keepValues });
    visit(result.values ?? new Map(), rows, batch, result.outputs);
  }
}

type Visit = (values: ReadonlyMap<string, Tensor>, rows: number, batch: number, outputs: Readonly<Record<string, Tensor>>) => void;

function floatOutputs(g: Graph, outputs: Readonly<Record<string, Tensor>>): Tensor[] {
  return g.outputs.map((o) => outputs[o.name]).filter((t) => t.type.dtype === "f32" || t.type.dtype === "f16" || t.type.dtype === "bf16");
}

class ErrorAccumulator {
  private sq = 0;
  private ref = 0;
  private maxAbs = 0;
  private agree = 0;
  private rowsSeen = 0;
  private hasRank2 = false;
  add(reference: readonly Tensor[], quantized: readonly Tensor[], rows: number, batch: number): void {
    reference.forEach((f, k) => {
      const q = quantized[k];
      const count = f.type.shape[0] === batch ? (f.data.length / batch) * rows : f.data.length;
      for (let i = 0; i < count; i++) {
        const d = q.data[i] - f.data[i];
        this.sq += d * d;
        this.ref += f.data[i] * f.data[i];
        this.maxAbs = Math.max(this.maxAbs, Math.abs(d));
      }
      if (f.type.shape.length === 2 && f.type.shape[0] === batch) {
        this.hasRank2 = true;
        const width = f.type.shape[1];
        for (let r = 0; r < rows; r++) {
          if (argmax(f.data, r * width, width) === argmax(q.data, r * width, width)) this.agree++;
          this.rowsSeen++;
        }
      }
    });
  }
  result(): OutputError {
    const relativeRms = this.ref > 0 ? Math.sqrt(this.sq / this.ref) : Math.sqrt(this.sq);
    return { relativeRms, maxAbs: this.maxAbs, ...(this.hasRank2 ? { argmaxAgreement: this.agree / this.rowsSeen } : {}) };
  }
}

function argmax(data: ArrayLike<number>, from: number, width: number): number {
  let best = 0;
  for (let j = 1; j < width; j++) if (data[from + j] > data[from + best]) best = j;
  return best;
}

/** A report as text lines: one per quantized tensor, the kept ones, and the total. */
export function formatQuantizationReport(r: QuantizationReport): string {
  const g = (x: number) => Number(x.toPrecision(3)).toString();
  const err = (e?: OutputError) => (e ? `rel. RMS error ${g(e.relativeRms)}, max abs ${g(e.maxAbs)}${e.argmaxAgreement !== undefined ? `, argmax agreement ${(100 * e.argmaxAgreement).toFixed(2)}%` : ""}` : "");
  const samples = `${r.samples} calibration sample${r.samples === 1 ? "" : "s"}`;
  const lines = [r.observer === "qat"
    ? `int8 quantization (activation ranges from quantization-aware training${r.samples > 0 ? `, errors over ${samples}` : ""}):`
    : `int8 quantization (observer ${r.observer}, ${samples}):`];
  for (const q of r.quantized) {
    lines.push(
      `  ${q.weight}${q.bias ? ` (+ ${q.bias})` : ""} [${q.shape.join(",")}] i8 per ${q.op === "conv2d" ? "output channel" : "column"}, scale ${g(q.weightScale[0])}..${g(q.weightScale[1])}; ` +
        `input u8 scale ${g(q.activation.scale)} zero point ${q.activation.zeroPoint} (range ${g(q.activation.lo)}..${g(q.activation.hi)})` +
        (q.error ? `; alone: ${err(q.error)}` : ""),
    );
  }
  for (const f of r.folded) lines.push(`  batch norm folded (running statistics): ${f.gamma} into ${f.weight}`);
  for (const k of r.kept) lines.push(`  kept f32: ${k.param} (${k.reason})`);
  if (r.error) lines.push(`  all quantized: ${err(r.error)}`);
  const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
  lines.push(`  params ${kib(r.paramBytes.f32)} f32 -> ${kib(r.paramBytes.quantized)} (${(r.paramBytes.f32 / r.paramBytes.quantized).toFixed(2)}x smaller)`);
  return lines.join("\n");
}
