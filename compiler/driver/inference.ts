// The forward pass of an inference bundle (`mlc build` without --train): only the outputs an app
// asks for at inference, so that inputs only the loss reads (the labels) are not inputs at all.
//
// By default the kept outputs are those that read no *label input*: an input that the training
// loss reads and that no other output reads. For `return { logits, loss: softmaxCrossEntropy(logits,
// labels) }` that keeps `logits` and drops `loss` and the `labels` input. A model whose only
// output is its loss keeps it. `--outputs a,b` chooses the outputs instead (`all`: every one).
// Nodes no kept output, update or random node needs are removed with the inputs only they read;
// params all stay (a weights file names them), so a training checkpoint still loads.

import type { Graph } from "../ir/graph.ts";
import { getOp } from "../ir/ops.ts";

export class OutputSelectionError extends Error {
  override name = "UsageError";
}

export interface InferenceSelection {
  /** The forward graph with only the kept outputs and what they need. */
  readonly graph: Graph;
  readonly dropped: { readonly outputs: readonly string[]; readonly inputs: readonly string[] };
}

/** The values each value reads, transitively (inputs, params and nodes), for one output. */
function readsOf(g: Graph, roots: readonly string[]): Set<string> {
  const byId = new Map(g.nodes.map((n) => [n.id, n]));
  const seen = new Set<string>();
  const stack = [...roots];
  while (stack.length > 0) {
    const v = stack.pop()!;
    if (seen.has(v)) continue;
    seen.add(v);
    const n = byId.get(v);
    if (n) stack.push(...n.inputs);
  }
  return seen;
}

/**
 * `outputs`: the names to keep, or undefined for the default rule above, or ["all"].
 * `loss`: the training loss's output name (the model's `train.loss`, default "loss").
 */
export function inferenceGraph(g: Graph, opts: { loss: string; outputs?: readonly string[] }): InferenceSelection {
  const names = g.outputs.map((o) => o.name);
  let keep: string[];
  if (opts.outputs && !(opts.outputs.length === 1 && opts.outputs[0] === "all")) {
    const unknown = opts.outputs.filter((o) => !names.includes(o));
    if (unknown.length > 0) throw new OutputSelectionError(`--outputs: ${unknown.map((u) => `'${u}'`).join(", ")} ${unknown.length > 1 ? "are not outputs" : "is not an output"} of ${g.name} (outputs: ${names.join(", ")}, or all)`);
    keep = [...opts.outputs];
  } else if (opts.outputs) {
    keep = names;
  } else {
    const valueOf = new Map(g.outputs.map((o) => [o.name, o.value]));
    const inputNames = new Set(g.inputs.map((i) => i.name));
    const inputsOf = (name: string) => [...readsOf(g, [valueOf.get(name)!])].filter((v) => inputNames.has(v));
    const others = names.filter((n) => n !== opts.loss);
    if (!names.includes(opts.loss) || others.length === 0) {
      keep = names;
    } else {
      const readByOthers = new Set(others.flatMap(inputsOf));
      const labels = new Set(inputsOf(opts.loss).filter((i) => !readByOthers.has(i)));
      keep = names.filter((n) => n !== opts.loss && !inputsOf(n).some((i) => labels.has(i)));
      if (keep.length === 0) keep = names;
    }
  }
  const kept = g.outputs.filter((o) => keep.includes(o.name));
  const roots = [...kept.map((o) => o.value), ...g.updates.map((u) => u.value), ...g.nodes.filter((n) => getOp(n.op).random === true).map((n) => n.id)];
  const live = readsOf(g, roots);
  const graph: Graph = {
    ...g,
    inputs: g.inputs.filter((i) => live.has(i.name)),
    nodes: g.nodes.filter((n) => live.has(n.id)),
    outputs: kept,
  };
  return {
    graph,
    dropped: { outputs: names.filter((n) => !keep.includes(n)), inputs: g.inputs.filter((i) => !live.has(i.name)).map((i) => i.name) },
  };
}
