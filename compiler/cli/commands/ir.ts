// `mlc ir model.ts [--train]` — compile a model and print its IR (with --train: the whole
// training step, and the apply_update entry point when accumulating).

import type { CommandModule } from "yargs";
import { compileModelFile } from "../../frontend/index.ts";
import { printGraph } from "../../ir/printer.ts";
import { verifyGraph } from "../../ir/verifier.ts";
import { parseSetFlags, withModelOptions } from "../options.ts";
import { trainingProgram, withTrainOptions, type TrainArgs } from "../training.ts";

interface IrArgs extends TrainArgs { model: string; set?: string[]; locations: boolean }

export const irCommand: CommandModule<object, IrArgs> = {
  command: "ir <model>",
  describe: "compile a model and print its IR",
  builder: (y) =>
    withTrainOptions(withModelOptions(y)).option("locations", { type: "boolean", default: true, describe: "print source locations" }) as never,
  handler: (args) => {
    const model = compileModelFile(args.model, { set: parseSetFlags(args.set) });
    verifyGraph(model.graph);
    const print = (g: Parameters<typeof printGraph>[0]) => process.stdout.write(printGraph(g, { locations: args.locations }));
    if (!args.train) {
      print(model.graph);
      return;
    }
    const program = trainingProgram(model, args);
    print(program.trainStep);
    if (program.applyUpdate) {
      process.stdout.write("\n");
      print(program.applyUpdate);
    }
  },
};
