// The post-training quantization flags shared by `mlc build`, `ir`, `run` and `mem`
// (docs/IR.md "Post-training quantization"): --quantize int8 --calibrate FILE [--observer K]
// [--quantize-skip a.w,b.w], or --weights FILE without --calibrate: the ranges of a weights file
// from quantization-aware training (qat/W/min, qat/W/max). Reads and checks the calibration file against the inference
// program's inputs and hands the driver its QuantizeSpec; the driver calibrates and rewrites.
// --quantize codebook3..codebook8 (docs/IR.md "Codebook quantization") needs no calibration: the
// driver's CodebookSpec is the bits, the skipped params and the weights.

import type { Argv } from "yargs";
import type { QuantizeSpec } from "../driver/calibrate.ts";
import type { CodebookSpec } from "../driver/codebook.ts";
import type { Graph } from "../ir/graph.ts";
import { formatType } from "../ir/types.ts";
import { DTYPE_INFO, fromTypedArray } from "../ir/dtypes.ts";
import { OBSERVERS, type ObserverKind } from "../passes/quantize/observers.ts";
import { denseLayers } from "../passes/quantize-dense.ts";
import { qatRangeNames } from "../passes/qat.ts";
import { readSafetensorsFile, readWeightsFile, takeTensors, TensorIOError } from "../bundle/tensor-io.ts";
import type { SafeTensor } from "../../runtime/safetensors.ts";
import { UsageError } from "./options.ts";

/** The --quantize schemes: int8 (PTQ, or QAT with --train) and k-means codebooks of 3 to 8 bits. */
export const QUANTIZE_SCHEMES = ["int8", "codebook3", "codebook4", "codebook5", "codebook6", "codebook7", "codebook8"] as const;
export type QuantizeScheme = (typeof QUANTIZE_SCHEMES)[number];

/** The index bits of a codebook scheme, undefined for int8. */
export function codebookBits(scheme: QuantizeScheme | undefined): number | undefined {
  const m = scheme?.match(/^codebook(\d)$/);
  return m ? Number(m[1]) : undefined;
}

export interface QuantizeArgs {
  quantize?: QuantizeScheme;
  calibrate?: string;
  observer?: ObserverKind;
  "quantize-skip"?: string;
}

export function withQuantizeOptions<T>(y: Argv<T>) {
  return y
    .option("quantize", { choices: QUANTIZE_SCHEMES, describe: "inference: int8 post-training quantization of dense and conv2d layers, batch norm folded first (needs --calibrate); with --train: quantization-aware training (fakeQuant, EMA range observers); codebook3..codebook8: dense layers' weights as k-means indices into a 2^N-entry f32 table (no calibration)" })
    .option("calibrate", { type: "string", describe: "with --quantize: safetensors file of calibration inputs, samples in the leading axis" })
    .option("observer", { choices: OBSERVERS, describe: "with --quantize: how activation ranges are chosen (default minmax)" })
    .option("quantize-skip", { type: "string", describe: "with --quantize: params to keep f32, comma-separated (e.g. out.w)" });
}

/** A --weights file of `mlc ir`/`mem` (commands that otherwise take none) read for calibration. */
export function quantizeWeightsOption(path: string | undefined): { source: string; tensors: Record<string, SafeTensor> } | undefined {
  return path === undefined ? undefined : { source: path, tensors: readWeightsFile(path) };
}

/** Whether the flags ask for quantization (checked: every related flag needs --quantize). */
export function wantsQuantization(args: QuantizeArgs & { train?: boolean; precision?: string; weights?: string }): boolean {
  if (!args.quantize) {
    for (const flag of ["calibrate", "observer", "quantize-skip"] as const) if (args[flag] !== undefined) throw new UsageError(`--${flag} needs --quantize int8`);
    return false;
  }
  if (codebookBits(args.quantize) !== undefined) {
    const q = `--quantize ${args.quantize}`;
    if (args.train) throw new UsageError(`${q} is for inference bundles (k-means of trained weights): not with --train`);
    for (const flag of ["calibrate", "observer"] as const) if (args[flag] !== undefined) throw new UsageError(`--${flag} is for --quantize int8: ${q} quantizes the weights alone and needs no calibration`);
    if (args.precision === "f16" || args.precision === "bf16") throw new UsageError(`${q} and --precision f16|bf16 do not combine`);
    return true;
  }
  // With --train, --quantize int8 is quantization-aware training (training.ts): ranges are
  // observed while training, not calibrated.
  if (args.train) {
    for (const flag of ["calibrate", "observer"] as const) if (args[flag] !== undefined) throw new UsageError(`--${flag} is for post-training quantization: with --train, --quantize int8 observes the activation ranges while training`);
    return false;
  }
  if (args.precision === "f16" || args.precision === "bf16") throw new UsageError("--quantize int8 and --precision f16|bf16 do not combine (layers kept f32 by --quantize-skip stay f32)");
  // Without --calibrate the ranges come from a QAT weights file's observers (quantizeSpec checks).
  if (!args.calibrate && !args.weights) throw new UsageError("--quantize int8 needs --calibrate FILE.safetensors (the model's inputs, any number of samples in the leading axis)");
  return true;
}

/**
 * The driver's options for the quantization the flags ask for (wantsQuantization said yes):
 * `quantize` (int8, quantizeSpec) or `codebook`.
 */
export function quantizeOptions(args: QuantizeArgs, graph: Graph, modelInputs: readonly string[], weights: { source: string; tensors: Readonly<Record<string, SafeTensor>> } | undefined, seed: number): { quantize?: QuantizeSpec; codebook?: CodebookSpec } {
  const bits = codebookBits(args.quantize);
  if (bits === undefined) return { quantize: quantizeSpec(args, graph, modelInputs, weights, seed) };
  const skip = skipList(args, graph);
  const given = weights ? pickParams(weights, graph) : undefined;
  return { codebook: { bits, skip, seed, ...(given ? { params: given } : {}) } };
}

function skipList(args: QuantizeArgs, graph: Graph): string[] {
  const skip = (args["quantize-skip"] ?? "").split(",").map((s) => s.trim()).filter(Boolean);
  const params = new Set(graph.params.map((p) => p.name));
  for (const s of skip) if (!params.has(s)) throw new UsageError(`--quantize-skip: '${s}' is not a param of this model (params: ${[...params].join(", ")})`);
  return skip;
}

/**
 * The driver's QuantizeSpec for the inference graph `graph`: its inputs from the calibration
 * file, its f32 params from `weights` (a --weights file's tensors; the others keep their seeded
 * init). `modelInputs` are the model's own inputs, which the file may also hold (labels).
 */
export function quantizeSpec(args: QuantizeArgs, graph: Graph, modelInputs: readonly string[], weights: { source: string; tensors: Readonly<Record<string, SafeTensor>> } | undefined, seed: number): QuantizeSpec {
  const skip = skipList(args, graph);
  const given = weights ? pickParams(weights, graph) : undefined;
  if (!args.calibrate) {
    if (args.observer !== undefined) throw new UsageError("--observer needs --calibrate: without it the ranges are quantization-aware training's (qat/* in --weights)");
    return { observer: "minmax", skip, calibration: {}, samples: 0, seed, ranges: trainedRanges(weights!, graph, skip), ...(given ? { params: given } : {}) };
  }
  const { inputs, samples } = readCalibration(args.calibrate, graph, modelInputs);
  return { observer: args.observer ?? "minmax", skip, calibration: inputs, samples, seed, ...(given ? { params: given } : {}) };
}

/**
 * The activation range of every layer to quantize from a weights file written by quantization-
 * aware training (passes/qat.ts): qat/W/min and qat/W/max, one f32 each.
 */
function trainedRanges(weights: { source: string; tensors: Readonly<Record<string, SafeTensor>> }, graph: Graph, skip: readonly string[]): Record<string, [number, number]> {
  const out: Record<string, [number, number]> = Object.create(null);
  for (const l of denseLayers(graph, skip).layers) {
    const names = qatRangeNames(l.weight);
    const ends = [names.min, names.max].map((n) => (Object.hasOwn(weights.tensors, n) ? weights.tensors[n] : undefined));
    if (ends.some((t) => !t)) {
      throw new UsageError(`--quantize int8 needs --calibrate FILE.safetensors, or --weights from quantization-aware training (--train --quantize int8): ${weights.source} has no ${names.min} and ${names.max}`);
    }
    const [lo, hi] = ends.map((t, k) => {
      if (t!.dtype !== "F32" || t!.data.length !== 1 || !Number.isFinite(t!.data[0])) throw new TensorIOError(`${weights.source}: '${k === 0 ? names.min : names.max}' must be one finite F32, got ${t!.dtype}[${t!.shape.join(",")}]`);
      return t!.data[0] as number;
    });
    out[l.weight] = [lo, hi];
  }
  return out;
}

function pickParams(weights: { source: string; tensors: Readonly<Record<string, SafeTensor>> }, graph: Graph): Record<string, Float64Array> {
  const file: Record<string, SafeTensor> = Object.create(null);
  const names = new Set(graph.params.map((p) => p.name));
  for (const [n, t] of Object.entries(weights.tensors)) if (names.has(n)) file[n] = t;
  return takeTensors(weights.source, file, graph.params, "param", { requireAll: false });
}

/** The calibration file's tensor of every graph input, checked: dtype, shape after the batch axis, one sample count. */
export function readCalibration(path: string, graph: Graph, modelInputs: readonly string[]): { inputs: Record<string, Float64Array>; samples: number } {
  const file = readSafetensorsFile(path);
  const wanted = new Set(graph.inputs.map((i) => i.name));
  for (const name of Object.keys(file)) {
    if (!wanted.has(name) && !modelInputs.includes(name)) {
      throw new TensorIOError(`${path}: '${name}' is not an input of this model (calibration tensors are the model's inputs: ${[...wanted].join(", ")})`);
    }
  }
  const inputs: Record<string, Float64Array> = Object.create(null);
  let samples: { count: number; from: string } | undefined;
  const batch = graph.inputs[0]?.type.shape[0];
  for (const i of graph.inputs) {
    if (i.type.shape.length === 0 || i.type.shape[0] !== batch) {
      throw new UsageError(`--calibrate: every input must have the batch axis first, of one size (${graph.inputs.map((x) => `${x.name}: ${formatType(x.type)}`).join(", ")})`);
    }
    const rest = i.type.shape.slice(1);
    const expected = `${DTYPE_INFO[i.type.dtype].safetensors}[S${rest.map((d) => `,${d}`).join("")}]`;
    const what = `calibration input '${i.name}' must be ${expected} (any number S of samples, then the input ${formatType(i.type)} after its batch axis)`;
    const t = Object.hasOwn(file, i.name) ? file[i.name] : undefined;
    if (!t) throw new TensorIOError(`${path}: missing ${what}`);
    const got = `got ${t.dtype}[${t.shape.join(",")}]`;
    if (t.dtype !== DTYPE_INFO[i.type.dtype].safetensors || t.shape.length !== i.type.shape.length || t.shape.slice(1).some((d, k) => d !== rest[k]) || t.shape[0] < 1) {
      throw new TensorIOError(`${path}: ${what}, ${got}`);
    }
    if (samples && samples.count !== t.shape[0]) {
      throw new TensorIOError(`${path}: calibration inputs must hold one number of samples: '${samples.from}' has ${samples.count}, '${i.name}' has ${t.shape[0]}`);
    }
    samples ??= { count: t.shape[0], from: i.name };
    const data = fromTypedArray(i.type.dtype, t.data as ArrayLike<number>);
    const bad = data.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new TensorIOError(`${path}: calibration input '${i.name}' holds ${data[bad]} at element ${bad}: ranges need finite values`);
    inputs[i.name] = data;
  }
  if (!samples) throw new UsageError("--calibrate: the inference program has no inputs to calibrate");
  return { inputs, samples: samples.count };
}
