// `mlc prune model.ts --weights w.safetensors --sparsity 0.9 [--structure element|channel|block:RxC|N:M]
// [--scope layer|global] [--params a.w,b.w] [--norm 1|2] --out pruned.safetensors` — one-shot
// magnitude pruning of trained weights (docs/COMPRESSION.md): the masks of ir/prune-masks.ts
// applied to the weights file, every other tensor copied as it is, and an optimizer state of a
// pruned param's shape (a training checkpoint's `opt/<param>/...`) zeroed where its param is, so
// the moments of a pruned weight start from zero when fine-tuning resumes. Prints what it pruned.

import type { CommandModule } from "yargs";
import { compileModelFile } from "../../frontend/index.ts";
import { DTYPE_INFO } from "../../ir/dtypes.ts";
import { parseStructure, pruneMasks, type PruneScope } from "../../ir/prune-masks.ts";
import { formatType, isFloat, sameShape, type TensorType } from "../../ir/types.ts";
import { fromSafeTensor, readWeightsFile, toSafeTensor, TensorIOError } from "../../bundle/tensor-io.ts";
import { encodeSafetensors, type SafeTensor } from "../../../runtime/safetensors.ts";
import { writeFileAtomic } from "../atomic-write.ts";
import { parseSetFlags, UsageError, withModelOptions } from "../options.ts";

interface PruneArgs {
  model: string;
  set?: string[];
  weights: string;
  sparsity?: number;
  structure: string;
  scope: PruneScope;
  params?: string;
  norm: number;
  out: string;
}

export const pruneCommand: CommandModule<object, PruneArgs> = {
  command: "prune <model>",
  describe: "zero the smallest weights of a trained weights file (element, channel, block or N:M magnitude pruning)",
  builder: (y) =>
    withModelOptions(y)
      .option("weights", { type: "string", demandOption: true, describe: "the trained weights (.safetensors; a training checkpoint too)" })
      .option("sparsity", { type: "number", describe: "fraction of each pruned tensor (or of all, --scope global) to zero, in [0, 1]; implied by N:M" })
      .option("structure", { type: "string", default: "element", describe: "element | channel (output channels) | block:RxC (e.g. block:4x1) | N:M (e.g. 2:4)" })
      .option("scope", { choices: ["layer", "global"] as const, default: "layer" as const, describe: "rank within each tensor, or across all pruned tensors" })
      .option("params", { type: "string", describe: "comma-separated params to prune (default: every float param of rank >= 2)" })
      .option("norm", { type: "number", default: 1, choices: [1, 2], describe: "--structure channel|block:RxC: rank channels or blocks by their L1 or L2 norm (blocks: mean |w| or root-mean-square)" })
      .option("out", { type: "string", demandOption: true, describe: "output .safetensors path" }) as never,
  handler: (args) => {
    const structure = parseStructure(args.structure, args.norm === 2 ? 2 : 1);
    if (structure.kind !== "nm" && args.sparsity === undefined) throw new UsageError(`--structure ${args.structure} needs --sparsity`);
    const { graph } = compileModelFile(args.model, { set: parseSetFlags(args.set) });
    const declared = new Map(graph.params.map((p) => [p.name, p.type] as const));
    const names = args.params !== undefined ? args.params.split(",").map((s) => s.trim()).filter(Boolean) : defaultTargets(graph.params);
    for (const name of names) {
      const type = declared.get(name);
      if (!type) throw new UsageError(`--params: '${name}' is not a param of ${graph.name} (params: ${[...declared.keys()].join(", ")})`);
      if (!isFloat(type.dtype)) throw new UsageError(`--params: '${name}' is ${formatType(type)}; only float params are pruned`);
    }
    if (names.length === 0) throw new UsageError(`${graph.name} has no param of rank >= 2 to prune; name them with --params`);

    const file = readWeightsFile(args.weights);
    const targets = names.map((name) => {
      const type = declared.get(name)!;
      const entry = Object.hasOwn(file, name) ? file[name] : undefined;
      if (!entry) throw new TensorIOError(`${args.weights}: missing param '${name}' (${formatType(type)})`);
      try {
        return { name, type, shape: type.shape, data: fromSafeTensor(name, type, entry, "param") };
      } catch (e) {
        throw new TensorIOError(`${args.weights}: ${(e as Error).message}`);
      }
    });
    const masks = pruneMasks(targets, args.sparsity ?? 0, structure, args.scope);

    const out: Record<string, SafeTensor> = Object.create(null);
    for (const [name, t] of Object.entries(file)) out[name] = t;
    const lines: string[] = [];
    let zeros = 0;
    let total = 0;
    targets.forEach((t, i) => {
      const before = countZeros(t.data);
      const pruned = masked(t.data, masks[i]);
      out[t.name] = toSafeTensor(t.type, pruned);
      const after = countZeros(pruned);
      zeros += after;
      total += t.data.length;
      lines.push(`  ${t.name.padEnd(24)} ${formatType(t.type).padEnd(20)} ${pct(before / t.data.length)} -> ${pct(after / t.data.length)} zero`);
      for (const [name, state] of Object.entries(file)) {
        if (!name.startsWith(`opt/${t.name}/`)) continue;
        if (state.dtype !== DTYPE_INFO[t.type.dtype].safetensors || !sameShape(state.shape, t.shape)) continue;
        out[name] = toSafeTensor(t.type, masked(fromSafeTensor(name, t.type, state, "optimizer state"), masks[i]));
      }
    });
    writeFileAtomic(args.out, encodeSafetensors(out, { producer: "mlc prune", model: graph.name, structure: args.structure, sparsity: String(args.sparsity ?? "") }));
    process.stdout.write(
      `pruned ${targets.length} param(s) of ${graph.name} (${args.structure}, ${args.scope} scope):\n${lines.join("\n")}\n` +
        `  total ${pct(zeros / total)} of ${total} weights zero; wrote ${args.out}\n`,
    );
  },
};

/** What is pruned unless --params says: the float params of rank >= 2 (dense and conv weights; biases and norm scales stay). */
function defaultTargets(params: readonly { name: string; type: TensorType }[]): string[] {
  return params.filter((p) => p.type.shape.length >= 2 && isFloat(p.type.dtype)).map((p) => p.name);
}

function masked(data: ArrayLike<number>, mask: Uint8Array): Float64Array {
  return Float64Array.from(data, (v, e) => (mask[e] ? v : 0));
}

function countZeros(data: ArrayLike<number>): number {
  let n = 0;
  for (let e = 0; e < data.length; e++) if (data[e] === 0) n++;
  return n;
}

function pct(x: number): string {
  return `${(100 * x).toFixed(1)}%`;
}
