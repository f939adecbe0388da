// dce — dead-code elimination: remove the nodes whose values nothing needs.
//
// A value is needed when a graph output or an `update` record reads it, or a needed node reads it
// (one backward sweep over the schedule). Random nodes (`OpDef.random`: dropout) are kept even when
// dead (`keepRandom`): the IR has no ops with side effects — persistent state changes only through
// `update` records — and dropout's mask is a pure function of (seed attribute, step, element index)
// (rng.ts), so removing a dead one would change no other result, but whether a bundle's draws may
// disappear is the RNG contract's call, not this pass's.
// Graph inputs and params are the bundle's API and always stay; only nodes are removed, and the
// survivors keep their ids and order.
//
// A recompute node (checkpointing) whose original dies keeps its value but loses its mark: there
// is nothing left to be a copy of (`recompute-marks-dropped`). Graphs with in-place decisions or a
// memory plan are left as they are (`skipped-planned`): these passes run before the memory passes,
// and removing a node would leave its slot and any in-place chain through it stale.
//
// Left to others: merging repeated computations (cse), evaluating constant expressions
// (fold-constants; its dead constant operands it removes itself).

import type { Graph, Node } from "../ir/graph.ts";
import { getOp } from "../ir/ops.ts";
import type { Pass, PassStats } from "./pass.ts";

/** Whether `op` draws random numbers (`OpDef.random`); the clean-up passes treat those nodes apart. */
export function isRandom(op: string): boolean {
  return getOp(op).random === true;
}

export interface DceOptions {
  /** Keep random nodes (dropout) whose results nothing reads. */
  keepRandom: boolean;
}

export const dce: Pass<DceOptions> = {
  name: "dce",
  summary: "remove nodes whose results no output, update or live node reads",
  defaults: { keepRandom: true },
  statistics: {
    "nodes-removed": "nodes no output, update or live node reads, removed",
    "recompute-marks-dropped": "recompute marks removed because the node they name was removed",
    "skipped-planned": "1 when the graph had in-place decisions or a memory plan and was left as it is",
  },
  run(g, opts) {
    if (isPlanned(g)) return { graph: g, stats: skippedStats(["nodes-removed", "recompute-marks-dropped"]) };
    const live = new Set<string>([...g.outputs.map((o) => o.value), ...g.updates.map((u) => u.value)]);
    for (let i = g.nodes.length - 1; i >= 0; i--) {
      const n = g.nodes[i];
      if (!live.has(n.id) && !(opts.keepRandom && isRandom(n.op))) continue;
      live.add(n.id);
      n.inputs.forEach((v) => live.add(v));
    }
    const kept = g.nodes.filter((n) => live.has(n.id));
    const { nodes, dropped } = withValidRecomputeMarks(kept);
    return {
      graph: { ...g, nodes },
      stats: { "nodes-removed": g.nodes.length - kept.length, "recompute-marks-dropped": dropped, "skipped-planned": 0 },
    };
  },
};

/**
 * True when `g` carries memory decisions (a plan or in-place marks); the clean-up passes leave
 * such graphs alone.
 */
export function isPlanned(g: Graph): boolean {
  return g.memory !== undefined || g.nodes.some((n) => n.inplace !== undefined);
}

/** The statistics of a pass that skipped a planned graph: `counts` (all zero) and `skipped-planned`. */
export function skippedStats(keys: readonly string[]): PassStats {
  return Object.fromEntries([...keys.map((k) => [k, 0] as const), ["skipped-planned", 1] as const]);
}

/**
 * `nodes` with the recompute marks that no longer hold removed: a copy whose original is gone, or
 * no longer has the copy's op, attributes and type, is just a node. Returns how many it dropped.
 */
export function withValidRecomputeMarks(nodes: readonly Node[]): { nodes: Node[]; dropped: number } {
  const byId = new Map(nodes.map((n) => [n.id, n] as const));
  let dropped = 0;
  const out = nodes.map((n) => {
    if (n.recomputeOf === undefined) return n;
    const original = byId.get(n.recomputeOf);
    if (original && original !== n && sameComputation(original, n)) return n;
    dropped++;
    const { recomputeOf: _mark, ...rest } = n;
    return rest;
  });
  return { nodes: out, dropped };
}

/** Same op, same attributes (deep, NaN equal to NaN, -0 unequal to 0) and same result type. */
export function sameComputation(a: Node, b: Node): boolean {
  return a.op === b.op && attrsKey(a) === attrsKey(b) && typeKey(a) === typeKey(b);
}

/** A string that two nodes share exactly when their attributes are deeply equal. */
export function attrsKey(n: Node): string {
  return Object.keys(n.attrs).sort().map((k) => `${k}=${attrValueKey(n.attrs[k])}`).join(",");
}

export function typeKey(n: Node): string {
  return `${n.type.dtype}[${n.type.shape.join(",")}]`;
}

function attrValueKey(v: unknown): string {
  if (typeof v === "number") return Object.is(v, -0) ? "-0" : String(v); // String(NaN) = "NaN": equal to itself
  if (Array.isArray(v)) return `[${v.map(attrValueKey).join(",")}]`;
  return JSON.stringify(v);
}
