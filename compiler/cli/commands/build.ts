// `mlc build model.ts --target wasm-simd --out dist/` — compile a model into the embeddable
// bundle (compiler/codegen-wasm/bundle.ts): name.wasm, name.js, name.d.ts, name.safetensors and
// name.plan.json. With --train the module also exports the training step, and with
// --accumulate N the update entry that applies N accumulated micro-batches. `--target webgpu`
// writes the WebGPU bundle instead (compiler/codegen-wgsl/bundle.ts, docs/WGSL.md): name.wgsl.js
// with the WGSL shaders inside, and the same .d.ts, weights and plan files.

import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { CommandModule } from "yargs";
import { buildBundle } from "../../codegen-wasm/bundle.ts";
import { UnsupportedKernelError } from "../../codegen-wasm/kernel.ts";
import { buildWgslBundle } from "../../codegen-wgsl/bundle.ts";
import { UnsupportedKernelError as UnsupportedWgslKernelError } from "../../codegen-wgsl/kernel.ts";
import { compileModelFile } from "../../frontend/index.ts";
import { verifyGraph } from "../../ir/verifier.ts";
import { trainingSpec } from "../../passes/train-options.ts";
import { parseSetFlags, UsageError, withModelOptions } from "../options.ts";
import { readSafetensorsFile } from "../tensor-io.ts";
import { checkpointOptions, withTrainOptions, type TrainArgs } from "../training.ts";

interface BuildArgs extends TrainArgs {
  model: string; set?: string[]; target: "wasm-simd" | "webgpu"; out: string; weights?: string; seed: number;
}

export const buildCommand: CommandModule<object, BuildArgs> = {
  command: "build <model>",
  describe: "compile a model into an embeddable bundle (.wasm + .js + .d.ts + weights + plan)",
  builder: (y) =>
    withTrainOptions(withModelOptions(y))
      .option("target", { choices: ["wasm-simd", "webgpu"] as const, default: "wasm-simd" as const, describe: "code generator" })
      .option("out", { type: "string", demandOption: true, describe: "directory to write the bundle into (created if missing)" })
      .option("weights", { type: "string", describe: "safetensors file with initial params (others keep their seeded init)" })
      .option("seed", { type: "number", default: 0, describe: "seed for the params' initializers" }) as never,
  handler: (args) => {
    const model = compileModelFile(args.model, { set: parseSetFlags(args.set) });
    verifyGraph(model.graph);
    if (args.accumulate !== 1 && !args.train) throw new UsageError("--accumulate needs --train");
    const spec = args.train ? trainingSpec(model.train, { optimizer: args.optimizer, lr: args.lr }) : undefined;
    const training = spec && { ...spec, accumulate: args.accumulate, checkpoint: checkpointOptions(args) };
    // Checked by the bundle builder against every param and state of the built entries (with
    // --train that includes optimizer state, e.g. from a bundle's saveWeights()).
    const weights = args.weights ? { source: args.weights, tensors: readSafetensorsFile(args.weights) } : undefined;
    const opts = { ...(training ? { training } : {}), ...(weights ? { weights } : {}), seed: args.seed };
    let bundle;
    try {
      bundle = args.target === "webgpu" ? buildWgslBundle(model.graph, opts) : buildBundle(model.graph, opts);
    } catch (e) {
      if (e instanceof UnsupportedKernelError || e instanceof UnsupportedWgslKernelError) throw new UsageError(e.message);
      throw e;
    }
    mkdirSync(args.out, { recursive: true });
    for (const [file, contents] of Object.entries(bundle.files)) writeFileSync(join(args.out, file), contents);
    const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
    process.stdout.write(
      `wrote ${Object.keys(bundle.files).map((f) => join(args.out, f)).join(", ")}\n` +
        `arena ${kib(bundle.layout.arena)}${"memoryBytes" in bundle.layout ? `, memory ${kib(bundle.layout.memoryBytes)}` : ""}, ` +
        `entries: ${Object.keys(bundle.layout.entries).join(", ")}\n`,
    );
  },
};
