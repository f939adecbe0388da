// A lower bound of a rewritten training step's quick peak estimate (max-live in the given order,
// after fusion and in-place rewriting; checkpoint.ts estimatedPeak), from the unfused graph alone.
//
// When the forward pass ends, every forward value kept for the backward is live at once, with the
// inputs and params (pinned: live for the whole step). On deep nets that moment is the peak of
// every policy that keeps much, so the bound is within a few percent of the estimate there, at a
// small fraction of its cost (no fusion, no in-place decisions): the search skips the estimate of
// a candidate whose bound already exceeds the budget.
//
// Counted: inputs and params, and each forward value (not a constant) that a forward node AND a
// node after the forward pass read, its pure aliases (reshape, copy: one buffer) once. Fusion
// removes only values with a single use (fuse.ts, fuse-reductions.ts, fuse-epilogues.ts), so a
// value read on both sides keeps its buffer, defined before the boundary and read after it; an
// in-place result shares a buffer only with an operand that dies at its node, which a value read
// after the boundary does not in the forward pass. A pure alias of an input or param is that
// buffer (counted once). Kernel workspaces are left out. The bound holds for the step in its
// given order, not after memory-aware scheduling, which may interleave the two passes.

import type { Graph } from "../../ir/graph.ts";
import { valueTypes } from "../../ir/graph.ts";
import { isPureAlias } from "../../ir/aliasing.ts";
import { ARENA_ALIGNMENT, bufferBytes } from "../../ir/liveness.ts";

/**
 * The bound for `g`, whose first `forwardNodes` nodes are the forward pass. `readAfter`: the values
 * the nodes after it read, when `g` is the step before a rewrite that keeps its forward pass
 * (checkpoint/rewrite.ts reports them without building the rewritten graph); default g's own.
 */
export function boundaryLiveBytes(g: Graph, forwardNodes: number, readAfter?: ReadonlySet<string>): number {
  let byCount = prepared.get(g);
  if (!byCount) prepared.set(g, (byCount = new Map()));
  let p = byCount.get(forwardNodes);
  if (!p) byCount.set(forwardNodes, (p = prepare(g, forwardNodes)));
  const after = readAfter ?? new Set(g.nodes.slice(forwardNodes).flatMap((n) => n.inputs));
  // Alias class root -> the largest member read on both sides.
  const classes = new Map<string, number>();
  for (const { id, root, bytes } of p.candidates) {
    if (after.has(id)) classes.set(root, Math.max(classes.get(root) ?? 0, bytes));
  }
  let total = p.pinned;
  for (const b of classes.values()) total += b;
  return total;
}

interface Prepared {
  /** Inputs' and params' bytes. */
  readonly pinned: number;
  /** Forward values (not constants) a forward node reads, with their alias class root and bytes. */
  readonly candidates: readonly { id: string; root: string; bytes: number }[];
}

/** What the bound needs of a step's forward pass, per graph (the search asks it of many rewrites of one step). */
const prepared = new WeakMap<Graph, Map<number, Prepared>>();

function prepare(g: Graph, forwardNodes: number): Prepared {
  let pinned = 0;
  for (const v of g.inputs) pinned += bufferBytes(v.type, ARENA_ALIGNMENT);
  for (const v of g.params) pinned += bufferBytes(v.type, ARENA_ALIGNMENT);
  const forwardNodesList = g.nodes.slice(0, forwardNodes);
  const readBefore = new Set(forwardNodesList.flatMap((n) => n.inputs));
  const forward = new Map(forwardNodesList.map((n) => [n.id, n] as const));
  const types = valueTypes(g);
  const candidates: { id: string; root: string; bytes: number }[] = [];
  for (const n of forwardNodesList) {
    if (n.op === "const" || !readBefore.has(n.id)) continue;
    let root = n;
    while (isPureAlias(root.op)) {
      const next = forward.get(root.inputs[0]);
      if (!next) break;
      root = next;
    }
    // an alias of an input, param or constant is that buffer: already counted, or left out
    if (isPureAlias(root.op) || root.op === "const") continue;
    candidates.push({ id: n.id, root: root.id, bytes: bufferBytes(types.get(n.id)!, ARENA_ALIGNMENT) });
  }
  return { pinned, candidates };
}
