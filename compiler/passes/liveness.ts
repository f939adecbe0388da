// liveness — when each value of a graph needs memory, and how much (an analysis, not a pass). The
// analysis itself (live intervals, alias classes as buffers, workspaces, the planning problem) is
// compiler/ir/liveness.ts, which the IR verifier shares; this file re-exports it and adds the
// measures the passes report: the max-live peak of a schedule and the unshared total.

import type { Graph } from "../ir/graph.ts";
import { ARENA_ALIGNMENT, bufferBytes, memoryProblem, type WorkspaceBytes } from "../ir/liveness.ts";
import { maxLiveLowerBound } from "./planner/lower-bound.ts";

export {
  ARENA_ALIGNMENT, bufferBytes, liveness, memoryProblem,
  type ClassBuffer, type Liveness, type MemoryProblem, type PinReason, type ValueLiveness, type WorkspaceBuffer, type WorkspaceBytes,
} from "../ir/liveness.ts";

/**
 * The max-live peak of the graph's schedule, with its aliasing: the largest number of bytes live
 * at one step. No arena for this schedule can be smaller.
 */
export function maxLiveBytes(g: Graph, alignment = ARENA_ALIGNMENT, workspaceBytes?: WorkspaceBytes): number {
  return maxLiveLowerBound(memoryProblem(g, alignment, workspaceBytes).problem);
}

/** Every value its own buffer, never shared: what memory planning is measured against. */
export function naiveBytes(g: Graph, alignment = ARENA_ALIGNMENT): number {
  let total = 0;
  for (const i of g.inputs) total += bufferBytes(i.type, alignment);
  for (const p of g.params) total += bufferBytes(p.type, alignment);
  for (const n of g.nodes) total += bufferBytes(n.type, alignment);
  return total;
}
