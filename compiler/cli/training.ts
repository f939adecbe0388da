// The --train family of flags, shared by the commands that run the pipeline: builds the driver's
// training options from the model's `train` export and the command-line overrides.

import type { Argv } from "yargs";
import { inferenceGraph, type InferenceSelection } from "../driver/inference.ts";
import type { TrainingOptions } from "../driver/phases.ts";
import type { CompiledModel } from "../frontend/index.ts";
import { trainingSpec } from "../passes/train-options.ts";
import type { CheckpointMode } from "../passes/checkpoint.ts";
import { parseByteSize } from "./byte-size.ts";
import { UsageError } from "./options.ts";

export interface TrainArgs {
  train: boolean;
  optimizer?: string;
  lr?: number;
  accumulate: number;
  checkpoint: CheckpointMode;
  memoryBudget?: string;
}

export function withTrainOptions<T>(y: Argv<T>) {
  return y
    .option("train", { type: "boolean", default: false, describe: "build the training step (forward, backward, optimizer)" })
    .option("optimizer", { choices: ["sgd", "adam", "adamw"], describe: "override the model's train.optimizer.kind" })
    .option("lr", { type: "number", describe: "override the learning rate" })
    .option("accumulate", { type: "number", default: 1, describe: "micro-batches per update (adds an apply_update entry point)" })
    .option("checkpoint", { choices: ["none", "sqrt", "auto"] as const, default: "none" as const, describe: "recompute forward activations in the backward pass to save memory" })
    .option("memory-budget", { type: "string", describe: "with --checkpoint auto: the arena budget, e.g. 64MB or 48MiB" });
}

/** The driver's training options from --train and its family (undefined without --train). */
export function trainingOptions(model: CompiledModel, args: TrainArgs, exposeGradients = false): TrainingOptions | undefined {
  if (!args.train) {
    if (args.accumulate !== 1) throw new UsageError("--accumulate needs --train");
    if (args.checkpoint !== "none") throw new UsageError("--checkpoint needs --train");
    return undefined;
  }
  const spec = trainingSpec(model.train, { optimizer: args.optimizer, lr: args.lr });
  return { ...spec, accumulate: args.accumulate, exposeGradients, checkpoint: checkpointOptions(args) };
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
