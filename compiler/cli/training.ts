// The --train family of flags, shared by `mlc ir` and `mlc run`: builds the training program from
// the model's `train` export and the command-line overrides.

import type { Argv } from "yargs";
import type { CompiledModel } from "../frontend/index.ts";
import { buildTrainingProgram, type TrainingProgram } from "../passes/pipeline.ts";
import { trainingSpec } from "../passes/train-options.ts";

export interface TrainArgs {
  train: boolean;
  optimizer?: string;
  lr?: number;
  accumulate: number;
}

export function withTrainOptions<T>(y: Argv<T>) {
  return y
    .option("train", { type: "boolean", default: false, describe: "build the training step (forward, backward, optimizer)" })
    .option("optimizer", { choices: ["sgd", "adam", "adamw"], describe: "override the model's train.optimizer.kind" })
    .option("lr", { type: "number", describe: "override the learning rate" })
    .option("accumulate", { type: "number", default: 1, describe: "micro-batches per update (adds an apply_update entry point)" });
}

export function trainingProgram(model: CompiledModel, args: TrainArgs, exposeGradients = false): TrainingProgram {
  const spec = trainingSpec(model.train, { optimizer: args.optimizer, lr: args.lr });
  return buildTrainingProgram(model.graph, { ...spec, accumulate: args.accumulate, exposeGradients });
}
