// `mlc build model.ts --target wasm-simd --out dist/` — compile a model into the embeddable
// bundle through the driver (compiler/driver): name.wasm, name.js, name.d.ts, name.safetensors and
// name.plan.json (codegen-wasm/bundle.ts). With --train the module also exports the training step,
// and with --accumulate N the update entry that applies N accumulated micro-batches.
// `--target webgpu` writes the WebGPU bundle instead (codegen-wgsl/bundle.ts, docs/WGSL.md):
// name.wgsl.js with the WGSL shaders inside, and the same .d.ts, weights and plan files.

import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { CommandModule } from "yargs";
import { build, loadBackend } from "../../driver/index.ts";
import { compileModelFile } from "../../frontend/index.ts";
import { verifyGraph } from "../../ir/verifier.ts";
import { parseSetFlags, withModelOptions } from "../options.ts";
import { irDumps, withPipelineOptions, type PipelineArgs } from "../pipeline-options.ts";
import { readSafetensorsFile } from "../../bundle/tensor-io.ts";
import { trainingOptions, withTrainOptions, type TrainArgs } from "../training.ts";

interface BuildArgs extends TrainArgs, PipelineArgs {
  model: string; set?: string[]; out: string; weights?: string; seed: number;
}

export const buildCommand: CommandModule<object, BuildArgs> = {
  command: "build <model>",
  describe: "compile a model into an embeddable bundle (.wasm + .js + .d.ts + weights + plan)",
  builder: (y) =>
    withPipelineOptions(withTrainOptions(withModelOptions(y)))
      .option("out", { type: "string", demandOption: true, describe: "directory to write the bundle into (created if missing)" })
      .option("weights", { type: "string", describe: "safetensors file with initial params (others keep their seeded init)" })
      .option("seed", { type: "number", default: 0, describe: "seed for the params' initializers" }) as never,
  handler: async (args) => {
    const model = compileModelFile(args.model, { set: parseSetFlags(args.set) });
    verifyGraph(model.graph);
    const training = trainingOptions(model, args);
    const dumps = irDumps(args);
    // Checked by the bundle writer against every param and state of the built entries (with
    // --train that includes optimizer state, e.g. from a bundle's saveWeights()).
    const weights = args.weights ? { source: args.weights, tensors: readSafetensorsFile(args.weights) } : undefined;
    const bundle = build(model.graph, {
      backend: await loadBackend(args.target),
      seed: args.seed,
      ...(training ? { training } : {}),
      ...(weights ? { weights } : {}),
      ...(dumps ? { dumps } : {}),
    });
    mkdirSync(args.out, { recursive: true });
    for (const [file, contents] of Object.entries(bundle.files)) writeFileSync(join(args.out, file), contents);
    const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
    process.stdout.write(
      `wrote ${Object.keys(bundle.files).map((f) => join(args.out, f)).join(", ")}\n` +
        `arena ${kib(bundle.layout.arena)}${"memoryBytes" in bundle.layout ? `, memory ${kib(bundle.layout.memoryBytes as number)}` : ""}, ` +
        `entries: ${Object.keys(bundle.layout.entries).join(", ")}\n`,
    );
  },
};
