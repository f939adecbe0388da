// `mlc eval model.ts --weights W --data DATA [--batch B] [--set k=v]` — the loss (and accuracy, for
// classifiers) of a model's forward pass over a dataset. A child `mlc build --outputs all` compiles
// the forward bundle with W baked in (a training checkpoint is fine: its optimizer state is
// skipped); the data is streamed like `mlc train`'s (train/data.ts), in order, the last partial
// batch padded and its padded rows masked out (train/evaluate.ts).

import { rmSync } from "node:fs";
import type { CommandModule } from "yargs";
import { parseSetFlags, UsageError } from "../options.ts";
import { buildInChild, loadBundle } from "../train/bundle.ts";
import { Dataset } from "../train/data.ts";
import { evaluate, formatEval } from "../train/evaluate.ts";

interface EvalArgs {
  model: string;
  set?: string[];
  weights: string;
  "allow-nonfinite-weights": boolean;
  data: string;
  batch?: number;
  "scale-u8"?: boolean;
  "cache-dir"?: string;
  json: boolean;
}

export const evalCommand: CommandModule<object, EvalArgs> = {
  command: "eval <model>",
  describe: "evaluate a model's weights on a dataset (loss, and accuracy for classifiers)",
  builder: (y) =>
    y
      .positional("model", { type: "string", demandOption: true, describe: "path to model.ts" })
      .option("set", { type: "string", array: true, describe: "override a config constant: --set width=16" })
      .option("weights", { type: "string", demandOption: true, describe: "safetensors weights: RUN/weights.safetensors, a checkpoint, or a bundle's saveWeights()" })
      .option("allow-nonfinite-weights", { type: "boolean", default: false, describe: "accept NaN/Inf in --weights (refused by default, naming the tensor)" })
      .option("data", { type: "string", demandOption: true, describe: "a .safetensors file, a directory of NAME.npy, or INPUT=FILE,... (.npy, IDX, safetensors; .gz too)" })
      .option("batch", { type: "number", describe: "batch size of the evaluation bundle (sets config.batch)" })
      .option("scale-u8", { type: "boolean", describe: "u8 data for f32 inputs is divided by 255 (default true)" })
      .option("cache-dir", { type: "string", describe: "where .gz data is decompressed once (default $TMPDIR/mlc-data-cache)" })
      .option("json", { type: "boolean", default: false, describe: "print the result as JSON" }) as never,
  handler: async (args) => {
    const set = parseSetFlags(args.set);
    if (args.batch !== undefined) {
      if (!Number.isInteger(args.batch) || args.batch < 1) throw new UsageError(`--batch must be a positive integer, got ${args.batch}`);
      if ("batch" in set) throw new UsageError("give the batch size with --batch or --set batch=..., not both");
      set.batch = String(args.batch);
    }
    const built = await buildInChild(args.model, [
      "--target", "wasm-simd", "--outputs", "all", "--weights", args.weights, ...(args["allow-nonfinite-weights"] ? ["--allow-nonfinite-weights"] : []),
      ...Object.entries(set).flatMap(([k, v]) => ["--set", `${k}=${v}`]),
    ]);
    try {
      const data = await Dataset.open(args.data, built.manifest.inputs, { scaleU8: args["scale-u8"] ?? true, ...(args["cache-dir"] ? { cacheDir: args["cache-dir"] } : {}) });
      const m = await loadBundle(built);
      const result = evaluate(m, built.manifest, data);
      data.close();
      if (args.json) {
        process.stdout.write(JSON.stringify({ model: args.model, weights: args.weights, data: args.data, ...result }) + "\n");
      } else {
        for (const note of built.notes) process.stdout.write(`note: ${note}\n`);
        process.stdout.write(`${args.model} with ${args.weights} on ${args.data}: ${formatEval(result)}\n`);
      }
    } finally {
      rmSync(built.dir, { recursive: true, force: true });
    }
  },
};
