// The graph rewrite behind every checkpoint policy: given the forward values to DROP (not kept
// for the backward pass), every backward use of a dropped value reads a recomputed copy instead.
// A copy is an ordinary node (same op, attributes and type, `recomputeOf` naming the original)
// placed right before the first backward node that needs it; its operands are kept values
// (checkpoints, inputs, params) or, recursively, copies. Each dropped value is recomputed once and
// its copy serves all later backward uses, so memory falls when the backward pass visits the
// forward's segments in reverse (as autodiff's sweep does): a segment's copies die with its
// backward. The forward pass itself is unchanged; dropped values just die earlier.

import type { Graph, Node } from "../../ir/graph.ts";
import { valueTypes } from "../../ir/graph.ts";
import { nodeFlops } from "./cost.ts";

export interface Recomputed {
  readonly graph: Graph;
  /** Recompute nodes added, and their FLOPs. */
  readonly nodes: number;
  readonly flops: number;
}

/** Forward nodes are the first `forwardCount` nodes of `g` (autodiff appends the backward). */
export function recompute(g: Graph, forwardCount: number, dropped: ReadonlySet<string>): Recomputed {
  const forward = g.nodes.slice(0, forwardCount);
  const forwardById = new Map(forward.map((n) => [n.id, n] as const));
  for (const v of dropped) if (!forwardById.has(v)) throw new Error(`checkpoint: %${v} is not a forward node, so it cannot be recomputed`);
  for (const r of [...g.outputs.map((o) => o.value), ...g.updates.map((u) => u.value)]) {
    if (dropped.has(r)) throw new Error(`checkpoint: %${r} is read by an output or update at the end of the step; it cannot be dropped`);
  }
  const types = valueTypes(g);
  const typeOf = (v: string) => types.get(v)!;
  const taken = new Set<string>([...g.inputs.map((i) => i.name), ...g.params.map((p) => p.name), ...g.nodes.map((n) => n.id)]);
  const fresh = (v: string) => {
    let id = `${v}.r`;
    for (let k = 2; taken.has(id); k++) id = `${v}.r${k}`;
    taken.add(id);
    return id;
  };
  const nodes: Node[] = [...forward];
  const copies = new Map<string, string>();
  let flops = 0;
  const use = (v: string): string => {
    if (!dropped.has(v)) return v;
    const copy = copies.get(v);
    if (copy !== undefined) return copy;
    const { inplace: _decision, ...original } = forwardById.get(v)!;
    const inputs = original.inputs.map(use);
    const id = fresh(v);
    nodes.push({ ...original, id, inputs, recomputeOf: v });
    copies.set(v, id);
    flops += nodeFlops(original, typeOf);
    return id;
  };
  for (const n of g.nodes.slice(forwardCount)) {
    const inputs = n.inputs.map(use);
    nodes.push(inputs.some((v, i) => v !== n.inputs[i]) ? { ...n, inputs } : n);
  }
  const { memory: _plan, ...rest } = g;
  return { graph: { ...rest, nodes }, nodes: copies.size, flops };
}
