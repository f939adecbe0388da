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

export function boundaryLiveBytes(g: Graph, forwardNodes: number): number {
  let bytes = 0;
  for (const v of g.inputs) bytes += bufferBytes(v.type, ARENA_ALIGNMENT);
  for (const v of g.params) bytes += bufferBytes(v.type, ARENA_ALIGNMENT);
  const readBefore = new Set<string>();
  const readAfter = new Set<string>();
  g.nodes.forEach((n, i) => {
    const into = i < forwardNodes ? readBefore : readAfter;
    for (const v of n.inputs) into.add(v);
  });
  const forward = new Map(g.nodes.slice(0, forwardNodes).map((n) => [n.id, n] as const));
  const types = valueTypes(g);
  // Alias class root -> the largest member read on both sides.
  const classes = new Map<string, number>();
  for (const n of forward.values()) {
    if (n.op === "const" || !readBefore.has(n.id) || !readAfter.has(n.id)) continue;
    let root = n;
    while (isPureAlias(root.op)) {
      const next = forward.get(root.inputs[0]);
      if (!next) break;
      root = next;
    }
    // an alias of an input, param or constant is that buffer: already counted, or left out
    if (isPureAlias(root.op) || root.op === "const") continue;
    classes.set(root.id, Math.max(classes.get(root.id) ?? 0, bufferBytes(types.get(n.id)!, ARENA_ALIGNMENT)));
  }
  for (const b of classes.values()) bytes += b;
  return bytes;
}
