// The --train family of flags, shared by the commands that run the pipeline: builds the driver's
// training options from the model's `train` export and the command-line overrides.

import type { Argv } from "yargs";
import { inferenceGraph, type InferenceSelection } from "../driver/inference.ts";
import type { PrecisionSpec, TrainingOptions } from "../driver/phases.ts";
import type { CompiledModel } from "../frontend/index.ts";
import { pruneSpec, trainingSpec, TrainSpecError } from "../passes/train-options.ts";
import type { PruneOptions } from "../passes/prune.ts";
import type { CheckpointMode } from "../passes/checkpoint.ts";
import { parseByteSize } from "./byte-size.ts";
import { UsageError } from "./options.ts";
import type { QuantizeScheme } from "./quantize-options.ts";

export interface TrainArgs {
  train: boolean;
  optimizer?: string;
  lr?: number;
  accumulate: number;
  checkpoint: CheckpointMode;
  memoryBudget?: string;
  mixed?: "bf16" | "f16";
  lossScale?: number;
  /** 16-bit storage for inference (`mlc run` also takes native|f64 here: the interpreter's precision). */
  precision?: string;
  ioPrecision: "f32" | "f16" | "bf16";
  /** false with --no-nonfinite-guard. */
  nonfiniteGuard: boolean;
  prune?: number;
  pruneStructure?: string;
  pruneSchedule?: string;
  pruneScope?: string;
  pruneParams?: string;
  /** With --train: quantization-aware training (the PTQ flags' --quantize, quantize-options.ts). */
  quantize?: QuantizeScheme;
  "quantize-skip"?: string;
}

/** The --prune family (pruning while training, docs/COMPRESSION.md): mlc build|ir|mem's and mlc train's. */
export function withPruneOptions<T>(y: Argv<T>) {
  return y
    .option("prune", { type: "number", describe: "with --train: prune weights while training to this final sparsity (masks recomputed at --prune-schedule's steps)" })
    .option("prune-structure", { type: "string", describe: "with --prune: what a mask zeroes: element (the default), channel (whole output channels), block:RxC (RxC blocks of the [in, out] matrix, e.g. block:4x1) or N:M (N kept of every M input rows, e.g. 2:4; --prune must be 1 - N/M)" })
    .option("prune-schedule", { type: "string", describe: "with --prune: START:END:EVERY optimizer steps of the mask recomputations (default 0:0:1, at once)" })
    .option("prune-scope", { choices: ["layer", "global"], describe: "with --prune: rank each weight alone (layer, the default) or all of them together (global: element and block masks)" })
    .option("prune-params", { type: "string", describe: "with --prune: the params to prune, comma-separated (default: every weight of rank >= 2)" });
}

export function withTrainOptions<T>(y: Argv<T>) {
  return withPruneOptions(y)
    .option("train", { type: "boolean", default: false, describe: "build the training step (forward, backward, optimizer)" })
    .option("optimizer", { choices: ["sgd", "adam", "adamw"], describe: "override the model's train.optimizer.kind" })
    .option("lr", { type: "number", describe: "override the learning rate" })
    .option("accumulate", { type: "number", default: 1, describe: "micro-batches per update (adds an apply_update entry point)" })
    .option("checkpoint", { choices: ["none", "sqrt", "auto"] as const, default: "none" as const, describe: "recompute forward activations in the backward pass to save memory" })
    .option("memory-budget", { type: "string", describe: "with --checkpoint auto: the arena budget, e.g. 64MB or 48MiB" })
    .option("mixed", { choices: ["bf16", "f16"] as const, describe: "with --train: mixed precision, 16-bit activations and gradients, f32 master weights and optimizer state (f16: dynamic loss scaling)" })
    .option("loss-scale", { type: "number", describe: "with --mixed f16: the initial loss scale (default 65536); 0 turns loss scaling off" })
    .option("precision", { choices: ["f32", "f16", "bf16"], default: "f32", describe: "inference: store weights and activations as f16/bf16 (f32 compute in each kernel)" })
    .option("nonfinite-guard", { type: "boolean", default: true, describe: "with --train: skip (and count) a step whose loss or gradients hold NaN/Inf; --no-nonfinite-guard builds the step without the check" })
    .option("io-precision", { choices: ["f32", "f16", "bf16"] as const, default: "f32" as const, describe: "with --precision: the dtype of float inputs and outputs at the bundle's API" });
}

/** The driver's inference precision from --precision / --io-precision (empty without). */
export function precisionOptions(args: Pick<TrainArgs, "train" | "precision" | "ioPrecision">): { precision?: PrecisionSpec } {
  const dtype = args.precision === "f16" || args.precision === "bf16" ? args.precision : undefined;
  if (!dtype) {
    if (args.ioPrecision !== undefined && args.ioPrecision !== "f32") throw new UsageError("--io-precision needs --precision f16|bf16");
    return {};
  }
  if (args.train) throw new UsageError("--precision is for inference; with --train use --mixed bf16|f16 (f32 master weights)");
  const io = args.ioPrecision ?? "f32";
  if (io !== "f32" && io !== dtype) throw new UsageError(`--io-precision ${io} must be f32 or the --precision dtype (${dtype})`);
  return { precision: { dtype, io } };
}

/** The driver's training options from --train and its family (undefined without --train). */
export function trainingOptions(model: CompiledModel, args: TrainArgs, exposeGradients = false): TrainingOptions | undefined {
  if (!args.train) {
    if (args.accumulate !== 1) throw new UsageError("--accumulate needs --train");
    if (args.checkpoint !== "none") throw new UsageError("--checkpoint needs --train");
    if (args.mixed !== undefined) throw new UsageError("--mixed needs --train (for inference: --precision f16|bf16)");
    if (args.nonfiniteGuard === false) throw new UsageError("--no-nonfinite-guard needs --train");
    if (args.prune !== undefined) throw new UsageError("--prune needs --train");
    return undefined;
  }
  const spec = trainingSpec(model.train, { optimizer: args.optimizer, lr: args.lr });
  const prune = pruneOptions(model, args, spec.prune);
  if (prune && args.accumulate !== 1) throw new UsageError("--prune does not combine with --accumulate yet");
  return { ...spec, ...(prune ? { prune } : {}), ...qatOptions(model, args), accumulate: args.accumulate, exposeGradients, checkpoint: checkpointOptions(args), ...mixedOptions(args), nonfiniteGuard: args.nonfiniteGuard !== false };
}

/** --train --quantize int8 [--quantize-skip a.w,b.w]: quantization-aware training (passes/qat.ts). */
function qatOptions(model: CompiledModel, args: TrainArgs): Pick<TrainingOptions, "quantize" | "quantizeSkip"> {
  if (!args.quantize) return {};
  if (args.quantize !== "int8") throw new UsageError(`--quantize ${args.quantize} is for inference bundles (k-means of trained weights): not with --train`);
  if (args.mixed !== undefined) throw new UsageError("--quantize int8 (quantization-aware training) does not combine with --mixed yet");
  if (args.accumulate !== 1) throw new UsageError("--quantize int8 (quantization-aware training) does not combine with --accumulate yet");
  const skip = (args["quantize-skip"] ?? "").split(",").map((s) => s.trim()).filter(Boolean);
  const params = model.graph.params.map((p) => p.name);
  for (const s of skip) if (!params.includes(s)) throw new UsageError(`--quantize-skip: '${s}' is not a param of this model (params: ${params.join(", ")})`);
  return { quantize: args.quantize, quantizeSkip: skip };
}

/** --prune and its family over the model's train.prune (the flags win); undefined when neither asks. */
function pruneOptions(model: CompiledModel, args: TrainArgs, fromModel: PruneOptions | undefined): PruneOptions | undefined {
  const flags = { structure: args.pruneStructure, schedule: args.pruneSchedule, params: args.pruneParams, scope: args.pruneScope };
  if (args.prune === undefined) {
    const stray = Object.entries(flags).find(([, v]) => v !== undefined);
    if (stray) throw new UsageError(`--prune-${stray[0]} needs --prune SPARSITY`);
    return fromModel;
  }
  // The model's train.prune (checked by trainingSpec already) with the flags over it.
  const given = {
    ...((model.train as { prune?: object } | undefined)?.prune ?? {}),
    sparsity: args.prune,
    ...(flags.structure !== undefined ? { structure: flags.structure } : {}),
    ...(flags.schedule !== undefined ? { schedule: flags.schedule } : {}),
    ...(flags.scope !== undefined ? { scope: flags.scope } : {}),
    ...(flags.params !== undefined ? { params: flags.params.split(",").map((s) => s.trim()).filter((s) => s !== "") } : {}),
  };
  try {
    return pruneSpec(given, (key) => (key === undefined || key === "sparsity" ? "--prune" : `--prune-${key}`));
  } catch (e) {
    if (e instanceof TrainSpecError) throw new UsageError(e.message);
    throw e;
  }
}

/** --mixed and --loss-scale, checked together. */
function mixedOptions(args: Pick<TrainArgs, "mixed" | "lossScale" | "accumulate">): Pick<TrainingOptions, "mixed"> {
  if (args.mixed === undefined) {
    if (args.lossScale !== undefined) throw new UsageError("--loss-scale needs --mixed f16");
    return {};
  }
  if (args.lossScale !== undefined && args.mixed !== "f16") throw new UsageError("--loss-scale is for --mixed f16 (bf16 has f32's range and needs none)");
  if (args.lossScale !== undefined && !(args.lossScale >= 0 && Number.isFinite(args.lossScale))) throw new UsageError(`--loss-scale must be a non-negative number, got ${args.lossScale}`);
  const scaling = args.mixed === "f16" && args.lossScale !== 0;
  if (scaling && args.accumulate !== 1) throw new UsageError("--mixed f16 with loss scaling does not combine with --accumulate yet (--loss-scale 0 turns it off)");
  return { mixed: { dtype: args.mixed, lossScale: scaling ? (args.lossScale !== undefined ? { init: args.lossScale } : {}) : false } };
}

/** --checkpoint and --memory-budget, checked together. */
export function checkpointOptions(args: Pick<TrainArgs, "checkpoint" | "memoryBudget">): { mode: CheckpointMode; budgetBytes?: number } {
  if (args.memoryBudget !== undefined && args.checkpoint !== "auto") throw new UsageError("--memory-budget needs --checkpoint auto");
  return { mode: args.checkpoint, ...(args.memoryBudget !== undefined ? { budgetBytes: parseByteSize(args.memoryBudget) } : {}) };
}

/**
 * The forward graph the program is compiled from: with training, the model's own; without, the
 * inference selection (driver/inference.ts: outputs that read no label input, or `outputs`), as
 * `mlc build` writes it and `mlc mem` reports it.
 */
export function programForward(model: CompiledModel, training: TrainingOptions | undefined, outputs?: string): { graph: CompiledModel["graph"]; selected?: InferenceSelection } {
  if (training) {
    if (outputs !== undefined) throw new UsageError("--outputs is for inference bundles (without --train): the training step needs every output");
    return { graph: model.graph };
  }
  const loss = typeof (model.train as { loss?: unknown } | undefined)?.loss === "string" ? (model.train as { loss: string }).loss : "loss";
  const selected = inferenceGraph(model.graph, { loss, ...(outputs !== undefined ? { outputs: outputs.split(",").map((o) => o.trim()) } : {}) });
  return { graph: selected.graph, selected };
}
