// `--sparse` (mlc build, ir, mem): structured sparsity of an inference program
// (docs/COMPRESSION.md "Structured sparsity"), then sparse kernels for what stays irregular
// ("Block-sparse kernels"). The zero channels are read from --weights, so the
// flag needs it; it is a forward-only rewrite, so not with --train, and it works on f32 graphs,
// so not with --precision or --quantize.

import type { Argv } from "yargs";
import type { SparseSpec } from "../driver/sparsify-weights.ts";
import type { Graph } from "../ir/graph.ts";
import { takeTensors } from "../bundle/tensor-io.ts";
import type { SafeTensor } from "../../runtime/safetensors.ts";
import { UsageError } from "./options.ts";

export interface SparseArgs {
  sparse?: boolean;
}

export function withSparseOptions<T>(y: Argv<T>): Argv<T & SparseArgs> {
  return y.option("sparse", { type: "boolean", describe: "inference: remove output channels whose weights are all zero (with --weights; a smaller dense model, same outputs), then run dense layers whose weights keep few 1x4 blocks, or are 2:4, on sparse kernels where they are faster" }) as Argv<T & SparseArgs>;
}

/** Whether --sparse is asked for, refusing the combinations it does not take (one-line errors). */
export function wantsSparse(args: SparseArgs & { train?: boolean; precision?: string; quantize?: string; weights?: string }): boolean {
  if (!args.sparse) return false;
  if (args.train) throw new UsageError("--sparse removes zero channels from an inference program: build it without --train (fine-tune the pruned weights first, then build --sparse)");
  if (!args.weights) throw new UsageError("--sparse needs --weights FILE.safetensors: the zero channels are read from the weights (e.g. from mlc prune --structure channel)");
  if (args.precision === "f16" || args.precision === "bf16") throw new UsageError("--sparse and --precision f16|bf16 do not combine yet");
  if (args.quantize) throw new UsageError(`--sparse and --quantize ${args.quantize} do not combine yet`);
  return true;
}

/** The driver's SparseSpec: the graph's params from the weights file (the others keep their seeded init). */
export function sparseSpec(graph: Graph, weights: { source: string; tensors: Readonly<Record<string, SafeTensor>> }, seed: number): SparseSpec {
  const file: Record<string, SafeTensor> = Object.create(null);
  const names = new Set(graph.params.map((p) => p.name));
  for (const [n, t] of Object.entries(weights.tensors)) if (names.has(n)) file[n] = t;
  return { params: takeTensors(weights.source, file, graph.params, "param", { requireAll: false }), seed };
}
