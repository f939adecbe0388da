// `mlc train model.ts --data DATA [--eval DATA] [--epochs N | --steps N | --seconds S] [--batch B]
// [--lr X] [--lr-schedule constant|step|cosine|warmup-cosine] [--seed S] --out RUN/ [--resume RUN/]`
// — train a model on data streamed from disk with its compiled training step (docs/TRAINING.md).
//
// This process only parses the command line: the run happens in a process of its own
// (train/worker.ts → train/run.ts) that loads neither yargs nor the compiler, so its memory is the
// arena, the batch buffers and Node; it compiles through a child `mlc build`. SIGINT/SIGTERM reach
// it (it saves and exits 130); its exit code is this command's.

import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { CommandModule } from "yargs";
import { SCHEDULES } from "../train/schedule.ts";
import type { TrainArgs } from "../train/run.ts";
import { withPruneOptions } from "../training.ts";

export const trainCommand: CommandModule<object, TrainArgs> = {
  command: "train <model>",
  describe: "train a model on data streamed from disk (resumable runs, evaluation, checkpoints)",
  builder: (y) =>
    withPruneOptions(y)
      .positional("model", { type: "string", demandOption: true, describe: "path to model.ts" })
      .option("set", { type: "string", array: true, describe: "override a config constant: --set width=16" })
      .option("data", { type: "string", describe: "training data: a .safetensors file, a directory of NAME.npy, or INPUT=FILE,... (.npy, IDX, safetensors; .gz too)" })
      .option("eval", { type: "string", describe: "evaluation data, evaluated after each epoch (same forms as --data)" })
      .option("epochs", { type: "number", describe: "epochs to train (default 1)" })
      .option("steps", { type: "number", describe: "optimizer steps to train instead of epochs" })
      .option("seconds", { type: "number", describe: "train until this many seconds of training have passed" })
      .option("batch", { type: "number", describe: "batch size (sets config.batch)" })
      .option("lr", { type: "number", describe: "base learning rate (default: the model's train.optimizer.lr)" })
      .option("lr-schedule", { choices: SCHEDULES, describe: "learning-rate schedule (default constant)" })
      .option("lr-gamma", { type: "number", describe: "step schedule: factor per decay (default 0.1)" })
      .option("lr-every", { type: "number", describe: "step schedule: steps between decays (default a third of the run)" })
      .option("warmup", { type: "number", describe: "warmup-cosine: warm-up steps (default 5% of the run)" })
      .option("seed", { type: "number", describe: "seed of the initial weights and of the data order (default 0)" })
      .option("out", { type: "string", describe: "the run directory: config, checkpoint, weights, bundle" })
      .option("resume", { type: "string", describe: "continue the run in this directory from its last save" })
      .option("save-every", { type: "number", describe: "also save every N optimizer steps (default: each epoch)" })
      .option("optimizer", { choices: ["sgd", "adam", "adamw"], describe: "override the model's train.optimizer.kind" })
      .option("accumulate", { type: "number", describe: "micro-batches per optimizer step (default 1)" })
      .option("checkpoint", { choices: ["none", "sqrt", "auto"], describe: "gradient checkpointing of the compiled step (default none)" })
      .option("memory-budget", { type: "string", describe: "with --checkpoint auto: the arena budget, e.g. 8MB" })
      .option("nonfinite-guard", { type: "boolean", describe: "skip (and count) a step whose loss or gradients hold NaN/Inf, and keep training (default true; --no-nonfinite-guard stops the run at a non-finite loss)" })
      .option("quantize", { choices: ["int8"], describe: "quantization-aware training (mlc build's --train --quantize int8; the ranges are in the checkpoint's qat/*)" })
      .option("quantize-skip", { type: "string", describe: "with --quantize: weights whose layers stay f32, comma-separated" })
      .option("scale-u8", { type: "boolean", describe: "u8 data for f32 inputs is divided by 255, to [0, 1] (default true; --no-scale-u8 keeps 0..255)" })
      .option("cache-dir", { type: "string", describe: "where .gz data is decompressed once (default $TMPDIR/mlc-data-cache)" })
      .option("json", { type: "boolean", default: false, describe: "end with one line of JSON holding the run's figures" }) as never,
  handler: async (args) => {
    const code = await runWorker(args);
    if (code !== 0) process.exit(code);
  },
};



/** Runs train/worker in a child process with the parsed arguments; resolves to its exit code. */
function runWorker(args: TrainArgs): Promise<number> {
  const url = new URL(`../train/worker.${import.meta.url.endsWith(".ts") ? "ts" : "js"}`, import.meta.url);
  // From the sources (MLC_FROM_SOURCE), the worker is TypeScript too: load it through tsx.
  const loader = url.pathname.endsWith(".ts") ? ["--import", import.meta.resolve("tsx/esm")] : [];
  const { $0: _, _: __, ...plain } = args as TrainArgs & { $0?: unknown; _?: unknown };
  const child = spawn(process.execPath, [...loader, fileURLToPath(url), JSON.stringify(plain)], { stdio: "inherit" });
  const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
  const onInt = forward("SIGINT");
  const onTerm = forward("SIGTERM");
  process.on("SIGINT", onInt);
  process.on("SIGTERM", onTerm);
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => {
      process.off("SIGINT", onInt);
      process.off("SIGTERM", onTerm);
      resolve(code ?? (signal === "SIGINT" ? 130 : 1));
    });
  });
}
