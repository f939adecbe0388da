// `mlc ir model.ts [--train]` — compile a model and print its IR after the training and clean-up
// phases (with --train: the whole training step, and the apply_update entry point when
// accumulating). With --print-ir-after-all (or --print-ir-after/--print-ir-before) it runs the
// whole pipeline of --target and dumps the IR between passes, the last dump being the planned IR.

import type { CommandModule } from "yargs";
import { compile, loadBackend } from "../../driver/index.ts";
import { compileModelFile } from "../../frontend/index.ts";
import { printGraph } from "../../ir/printer.ts";
import { verifyGraph } from "../../ir/verifier.ts";
import { parseSetFlags, withModelOptions } from "../options.ts";
import { irDumps, withPipelineOptions, type PipelineArgs } from "../pipeline-options.ts";
import { precisionOptions, trainingOptions, withTrainOptions, type TrainArgs } from "../training.ts";

interface IrArgs extends TrainArgs, PipelineArgs { model: string; set?: string[]; locations: boolean }

export const irCommand: CommandModule<object, IrArgs> = {
  command: "ir <model>",
  describe: "compile a model and print its IR",
  builder: (y) =>
    withPipelineOptions(withTrainOptions(withModelOptions(y))).option("locations", { type: "boolean", default: true, describe: "print source locations" }) as never,
  handler: async (args) => {
    const model = compileModelFile(args.model, { set: parseSetFlags(args.set) });
    verifyGraph(model.graph);
    const training = trainingOptions(model, args);
    const dumps = irDumps(args);
    const program = compile(model.graph, {
      ...(training ? { training } : {}),
      ...precisionOptions(args),
      // Dumps show every pass, so they run the backend's whole pipeline.
      ...(dumps ? { dumps, backend: await loadBackend(args.target) } : {}),
    });
    if (dumps) return;
    const shown = program.entries.filter((e) => !training || e.exportName !== "forward");
    process.stdout.write(shown.map((e) => printGraph(e.graph, { locations: args.locations })).join("\n"));
  },
};
