// `mlc ir model.ts` — compile a model and print its IR.

import type { CommandModule } from "yargs";
import { compileModelFile } from "../../frontend/index.ts";
import { printGraph } from "../../ir/printer.ts";
import { verifyGraph } from "../../ir/verifier.ts";
import { parseSetFlags, withModelOptions } from "../options.ts";

interface IrArgs { model: string; set?: string[]; locations: boolean }

export const irCommand: CommandModule<object, IrArgs> = {
  command: "ir <model>",
  describe: "compile a model and print its IR",
  builder: (y) => withModelOptions(y).option("locations", { type: "boolean", default: true, describe: "print source locations" }) as never,
  handler: (args) => {
    const { graph } = compileModelFile(args.model, { set: parseSetFlags(args.set) });
    verifyGraph(graph);
    process.stdout.write(printGraph(graph, { locations: args.locations }));
  },
};
