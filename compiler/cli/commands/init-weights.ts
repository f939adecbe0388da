// `mlc init-weights model.ts --out w.safetensors` — write every param's seeded initial value.

import type { CommandModule } from "yargs";
import { compileModelFile } from "../../frontend/index.ts";
import { initParams } from "../../ir/interpreter.ts";
import { toSafeTensor } from "../../bundle/tensor-io.ts";
import { encodeSafetensors } from "../../../runtime/safetensors.ts";
import { writeFileAtomic } from "../atomic-write.ts";
import { parseSetFlags, withModelOptions } from "../options.ts";

interface InitArgs { model: string; set?: string[]; out: string; seed: number }

export const initWeightsCommand: CommandModule<object, InitArgs> = {
  command: "init-weights <model>",
  describe: "write the model's initial params (seeded) to a safetensors file",
  builder: (y) =>
    withModelOptions(y)
      .option("out", { type: "string", demandOption: true, describe: "output .safetensors path" })
      .option("seed", { type: "number", default: 0, describe: "init seed" }) as never,
  handler: (args) => {
    const { graph } = compileModelFile(args.model, { set: parseSetFlags(args.set) });
    const values = initParams(graph, args.seed);
    const tensors = Object.fromEntries(graph.params.map((p) => [p.name, toSafeTensor(p.type, values[p.name])]));
    writeFileAtomic(args.out, encodeSafetensors(tensors, { producer: "mlc init-weights", model: graph.name, seed: String(args.seed) }));
    process.stdout.write(`wrote ${graph.params.length} params to ${args.out}\n`);
  },
};
