// `mlc build model.ts --target wasm-simd --out dist/` — compile a model into the embeddable
// bundle through the driver (compiler/driver): name.wasm, name.js, name.d.ts, name.safetensors and
// name.plan.json (codegen-wasm/bundle.ts). With --train the module also exports the training step,
// and with --accumulate N the update entry that applies N accumulated micro-batches.
// `--target webgpu` writes the WebGPU bundle instead (codegen-wgsl/bundle.ts, docs/WGSL.md):
// name.wgsl.js with the WGSL shaders inside, and the same .d.ts, weights and plan files.
//
// Without --train the bundle is for inference: the forward pass keeps only the outputs that read
// no label input (the loss is dropped, and the labels are not inputs; driver/inference.ts), or the
// ones `--outputs` names. `--weights` takes a training checkpoint too (RUN/checkpoint.safetensors
// of `mlc train`, a bundle's saveWeights()): optimizer state the bundle has no use for is skipped,
// with a note.
//
// The files are written all or none (atomic-write.ts: temp files, then renames). A weights file
// already in --out that holds what the new one would not (trained weights) is kept and the build
// refuses, unless --force (keep-weights.ts).

import { join } from "node:path";
import type { CommandModule } from "yargs";
import { build, codebookWeights, formatBlockSparseReport, formatCodebookReport, formatQuantizationReport, formatSparsityReport, loadBackend, quantizedWeights, sparseWeights } from "../../driver/index.ts";
import { compileModelFile } from "../../frontend/index.ts";
import { verifyGraph } from "../../ir/verifier.ts";
import { parseSetFlags, withModelOptions } from "../options.ts";
import { irDumps, withPipelineOptions, type PipelineArgs } from "../pipeline-options.ts";
import { readWeightsFile } from "../../bundle/tensor-io.ts";
import { precisionOptions, programForward, trainingOptions, withTrainOptions, type TrainArgs } from "../training.ts";
import { ignoredTrainingState, leftInitialNote, paramsLeftInitial } from "../../bundle/manifest.ts";
import { decodeSafetensors } from "../../../runtime/safetensors.ts";
import { ensureDirectory, removeCreatedDirectory, writeFilesAtomic } from "../atomic-write.ts";
import { refuseToReplaceWeights } from "../keep-weights.ts";
import { quantizeOptions, wantsQuantization, withQuantizeOptions, type QuantizeArgs } from "../quantize-options.ts";
import { baselineWasmOnly } from "../wasm-tier.ts";
import { sparseSpec, wantsSparse, withSparseOptions, type SparseArgs } from "../sparse-options.ts";
import { compressBits, withCompressOptions, type CompressArgs } from "../compress-options.ts";
import { compressWeightsFile, formatDeepCompressionReport } from "../../driver/deep-compression.ts";

interface BuildArgs extends TrainArgs, PipelineArgs, QuantizeArgs, SparseArgs, CompressArgs {
  model: string; set?: string[]; out: string; weights?: string; "allow-nonfinite-weights": boolean; seed: number; outputs?: string; debug: boolean; force: boolean;
}

export const buildCommand: CommandModule<object, BuildArgs> = {
  command: "build <model>",
  describe: "compile a model into an embeddable bundle (.wasm + .js + .d.ts + weights + plan)",
  builder: (y) =>
    withCompressOptions(withSparseOptions(withQuantizeOptions(withPipelineOptions(withTrainOptions(withModelOptions(y))))))
      .option("out", { type: "string", demandOption: true, describe: "directory to write the bundle into (created if missing)" })
      .option("weights", { type: "string", describe: "safetensors file with initial params (others keep their seeded init)" })
      .option("allow-nonfinite-weights", { type: "boolean", default: false, describe: "accept NaN/Inf in --weights (refused by default, naming the tensor)" })
      .option("seed", { type: "number", default: 0, describe: "seed for the params' initializers" })
      .option("force", { type: "boolean", default: false, describe: "replace a weights file in --out that holds other weights (e.g. trained ones) with the initial weights" })
      .option("outputs", { type: "string", describe: "without --train: the forward outputs to keep, comma-separated, or 'all' (default: those that read no label input)" })
      .option("debug", { type: "boolean", default: false, describe: "debug bundle: dead arena bytes poisoned, every read checked between kernels (wasm-simd; docs/MEMORY.md)" }) as never,
  handler: async (args) => {
    // Before binaryen loads: this process only runs binaryen, once (wasm-tier.ts).
    baselineWasmOnly();
    const sparse = wantsSparse(args);
    const compress = compressBits(args);
    const model = compileModelFile(args.model, { set: parseSetFlags(args.set) });
    verifyGraph(model.graph);
    const training = trainingOptions(model, args);
    const { graph, selected } = programForward(model, training, args.outputs);
    const dumps = irDumps(args);
    // Checked by the bundle writer against every param and state of the built entries (with
    // --train that includes optimizer state, e.g. from a bundle's saveWeights()).
    const weights = args.weights ? { source: args.weights, tensors: readWeightsFile(args.weights, { allowNonFinite: args["allow-nonfinite-weights"] }) } : undefined;
    const quantize = wantsQuantization(args) ? quantizeOptions(args, graph, model.graph.inputs.map((i) => i.name), weights, args.seed) : {};
    const bundle = build(graph, {
      backend: await loadBackend(args.target),
      ...quantize,
      ...(sparse && weights ? { sparse: sparseSpec(graph, weights, args.seed) } : {}),
      seed: args.seed,
      ...(training ? { training } : {}),
      ...precisionOptions(args),
      ...(weights ? { weights } : {}),
      ...(dumps ? { dumps } : {}),
      ...(args.debug ? { debug: true } : {}),
    });
    if (selected && selected.dropped.outputs.length > 0) {
      const inputs = selected.dropped.inputs;
      process.stdout.write(`note: inference bundle: output${selected.dropped.outputs.length > 1 ? "s" : ""} ${selected.dropped.outputs.join(", ")} dropped${inputs.length ? `, so ${inputs.join(", ")} ${inputs.length > 1 ? "are not inputs" : "is not an input"}` : ""} (--outputs all keeps every output)\n`);
    }
    // The weights file is the one .safetensors of the map, whatever the writer named it.
    const weightsFile = Object.keys(bundle.files).find((f) => f.endsWith(".safetensors"));
    const quantization = bundle.program.quantization;
    if (quantization) process.stdout.write(formatQuantizationReport(quantization.report) + "\n");
    const codebooks = bundle.program.codebooks;
    if (codebooks) process.stdout.write(formatCodebookReport(codebooks.report) + "\n");
    const sparsification = bundle.program.sparsification;
    if (sparsification) process.stdout.write(formatSparsityReport(sparsification.report) + "\n");
    if (sparsification?.blocks) process.stdout.write(formatBlockSparseReport(sparsification.blocks.report) + "\n");
    if (weights && weightsFile) {
      const declared = Object.keys(decodeSafetensors(bundle.files[weightsFile] as Uint8Array).tensors);
      const ignored = ignoredTrainingState(weights.tensors, declared);
      if (ignored.length > 0) process.stdout.write(`note: ${args.weights}: ignored ${ignored.length} training-state tensor${ignored.length > 1 ? "s" : ""} (${ignored.slice(0, 2).join(", ")}${ignored.length > 2 ? ", ..." : ""}) that this bundle does not have\n`);
      const given = quantization ? quantizedWeights(weights, quantization).tensors : codebooks ? codebookWeights(weights, codebooks).tensors : sparsification ? sparseWeights(weights, sparsification).tensors : weights.tensors;
      const initial = paramsLeftInitial(given, declared);
      if (initial.length > 0) process.stdout.write(leftInitialNote(args.weights!, initial) + "\n");
    }
    const files: Record<string, string | Uint8Array> = { ...bundle.files };
    if (compress !== undefined && weightsFile) {
      const compressed = compressWeightsFile(bundle.files[weightsFile] as Uint8Array, compress);
      files[weightsFile] = compressed.bytes;
      process.stdout.write(formatDeepCompressionReport(compressed.report) + "\n");
    }
    if (weightsFile && !args.force) refuseToReplaceWeights(join(args.out, weightsFile), files[weightsFile] as Uint8Array);
    const created = ensureDirectory(args.out);
    try {
      writeFilesAtomic(Object.entries(files).map(([file, data]) => ({ path: join(args.out, file), data })));
    } catch (e) {
      removeCreatedDirectory(created);
      throw e;
    }
    const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
    process.stdout.write(
      `wrote ${Object.keys(files).map((f) => join(args.out, f)).join(", ")}\n` +
        `arena ${kib(bundle.layout.arena)}${"memoryBytes" in bundle.layout ? `, memory ${kib(bundle.layout.memoryBytes as number)}` : ""}, ` +
        `entries: ${Object.keys(bundle.layout.entries).join(", ")}\n`,
    );
  },
};
