// cse — common-subexpression elimination: a node that repeats an earlier node's computation (same
// op, deeply equal attributes, same operands in the same order, same result type) is removed and
// its uses — node operands, outputs and updates — read the earlier node instead.
//
// One sweep in schedule order, rewriting each node's operands through the merges made so far, so
// repeats of repeats merge too. The first node stays where it is, with its id and location; the
// later one disappears. Never merged:
// - random ops (`OpDef.random`: dropout): two dropouts of the same operands are two draws by intent;
// - checkpoint recompute nodes (`recomputeOf`), in either role: a copy repeats its original on
//   purpose, so the original's value need not stay live across the backward pass; merging them
//   would undo the checkpointing. A copy whose original is merged into an earlier twin is marked as
//   a copy of the twin.
// Operand order is taken as written: `add %a, %b` and `add %b, %a` stay two nodes (no commutative
// canonicalisation). Merging lengthens the first value's live range up to the last use of the
// second; the memory passes, which run later, see that. Graphs with in-place decisions or a memory
// plan are left as they are (`skipped-planned`).
//
// Left to others: nodes that become dead are not produced here (a merged node is removed outright,
// and nothing else changes use counts), but dead code already in the graph is dce's.

import type { Node } from "../ir/graph.ts";
import { attrsKey, isPlanned, isRandom, skippedStats, typeKey } from "./dce.ts";
import type { Pass } from "./pass.ts";

// No options: which nodes may merge is a matter of semantics, not of tuning.
export type CseOptions = Record<string, never>;

export const cse: Pass<CseOptions> = {
  name: "cse",
  summary: "merge nodes that repeat an earlier node's op, attributes, operands and result type",
  defaults: {},
  statistics: {
    "nodes-merged": "nodes removed because an earlier node computes the same value (their uses read that one)",
    "skipped-planned": "1 when the graph had in-place decisions or a memory plan and was left as it is",
  },
  run(g) {
    if (isPlanned(g)) return { graph: g, stats: skippedStats(["nodes-merged"]) };
    const replacement = new Map<string, string>(); // merged node id -> the node it repeats
    const read = (v: string) => replacement.get(v) ?? v;
    const firstOf = new Map<string, string>(); // computation key -> first node's id
    const nodes: Node[] = [];
    for (const n of g.nodes) {
      const inputs = n.inputs.map(read);
      const node = inputs.some((v, i) => v !== n.inputs[i]) ? { ...n, inputs } : n;
      if (mayMerge(node)) {
        const key = computationKey(node);
        const first = firstOf.get(key);
        if (first !== undefined) {
          replacement.set(n.id, first);
          continue;
        }
        firstOf.set(key, n.id);
      }
      nodes.push(node);
    }
    return {
      graph: {
        ...g,
        nodes: nodes.map((n) => (n.recomputeOf !== undefined && replacement.has(n.recomputeOf) ? { ...n, recomputeOf: read(n.recomputeOf) } : n)),
        outputs: g.outputs.map((o) => ({ ...o, value: read(o.value) })),
        updates: g.updates.map((u) => ({ ...u, value: read(u.value) })),
      },
      stats: { "nodes-merged": replacement.size, "skipped-planned": 0 },
    };
  },
};

function mayMerge(n: Node): boolean {
  return !isRandom(n.op) && n.recomputeOf === undefined;
}

/** Equal for two nodes exactly when one may stand for the other. */
function computationKey(n: Node): string {
  // Op names, value names (VALUE_NAME in graph.ts) and types hold no '|' or space, so even with a
  // '|' inside a string attribute the key reads back one way.
  return `${n.op}|${attrsKey(n)}|${n.inputs.join(" ")}|${typeKey(n)}`;
}
