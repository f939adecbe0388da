// `mlc ir model.ts [--train] [--sparse --weights W]` — compile a model and print its IR after the training and clean-up
// phases (with --train: the whole training step, and the apply_update entry point when
// accumulating). With --print-ir-after-all (or --print-ir-after/--print-ir-before) it runs the
// whole pipeline of --target and dumps the IR between passes, the last dump being the planned IR.

import type { CommandModule } from "yargs";
import { compile, loadBackend } from "../../driver/index.ts";
import { compileModelFile } from "../../frontend/index.ts";
import { printGraph } from "../../ir/printer.ts";
import { verifyGraph } from "../../ir/verifier.ts";
import { parseSetFlags, UsageError, withModelOptions } from "../options.ts";
import { irDumps, withPipelineOptions, type PipelineArgs } from "../pipeline-options.ts";
import { precisionOptions, programForward, trainingOptions, withTrainOptions, type TrainArgs } from "../training.ts";
import { quantizeOptions, wantsQuantization, withQuantizeOptions, quantizeWeightsOption, type QuantizeArgs } from "../quantize-options.ts";
import { formatBlockSparseReport, formatCodebookReport, formatQuantizationReport, formatSparsityReport } from "../../driver/index.ts";
import { sparseSpec, wantsSparse, withSparseOptions, type SparseArgs } from "../sparse-options.ts";

interface IrArgs extends TrainArgs, PipelineArgs, QuantizeArgs, SparseArgs { model: string; set?: string[]; locations: boolean; weights?: string }

export const irCommand: CommandModule<object, IrArgs> = {
  command: "ir <model>",
  describe: "compile a model and print its IR",
  builder: (y) =>
    withSparseOptions(withQuantizeOptions(withPipelineOptions(withTrainOptions(withModelOptions(y)))))
      .option("weights", { type: "string", describe: "with --quantize or --sparse: safetensors file of the params to quantize or shrink (others keep their seeded init)" })
      .option("locations", { type: "boolean", default: true, describe: "print source locations" }) as never,
  handler: async (args) => {
    const model = compileModelFile(args.model, { set: parseSetFlags(args.set) });
    verifyGraph(model.graph);
    const training = trainingOptions(model, args);
    const dumps = irDumps(args);
    // Quantization is of the inference program (`mlc build`'s forward pass, no loss or labels).
    const quantizing = wantsQuantization(args);
    const sparse = wantsSparse(args);
    const graph = quantizing || sparse ? programForward(model, undefined).graph : model.graph;
    const quantize = quantizing ? quantizeOptions(args, graph, model.graph.inputs.map((i) => i.name), quantizeWeightsOption(args.weights), 0) : {};
    if (args.weights !== undefined && !quantizing && !sparse) throw new UsageError("mlc ir: --weights is for --quantize or --sparse (the params they quantize or shrink)");
    const program = compile(graph, {
      ...quantize,
      ...(sparse ? { sparse: sparseSpec(graph, quantizeWeightsOption(args.weights)!, 0) } : {}),
      ...(training ? { training } : {}),
      ...precisionOptions(args),
      // Dumps show every pass, so they run the backend's whole pipeline.
      ...(dumps ? { dumps, backend: await loadBackend(args.target, { emit: false }) } : {}),
    });
    if (program.quantization) process.stderr.write(formatQuantizationReport(program.quantization.report) + "\n");
    if (program.codebooks) process.stderr.write(formatCodebookReport(program.codebooks.report) + "\n");
    if (program.sparsification) process.stderr.write(formatSparsityReport(program.sparsification.report) + "\n");
    if (program.sparsification?.blocks) process.stderr.write(formatBlockSparseReport(program.sparsification.blocks.report) + "\n");
    if (dumps) return;
    const shown = program.entries.filter((e) => !training || e.exportName !== "forward");
    process.stdout.write(shown.map((e) => printGraph(e.graph, { locations: args.locations })).join("\n"));
  },
};
