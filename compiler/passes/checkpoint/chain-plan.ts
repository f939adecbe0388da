// The forward's chain of cuts as a chain-dp problem, and a chain schedule as what the rewrite
// needs: which cut values the forward pass keeps, and which (recomputed) cut values are held
// while each segment's backward runs.
//
// Mapping: the cuts c_0 … c_{m-1} split the forward into segments 0 … m (segment k ends with c_k;
// segment m, after the last cut, ends at the loss). Chain state x_0 is the step's inputs and
// params (always there), x_k = c_{k-1}; step k is segment k, costing its forward FLOPs. Revolve's
// first sweep is the forward pass itself, so the states held before the first reversal are cut
// values the forward KEEPS; every later hold is a recomputed copy that serves until released.

import type { Graph } from "../../ir/graph.ts";
import { valueTypes } from "../../ir/graph.ts";
import { byteSize } from "../../ir/types.ts";
import { scheduleActions, type ChainProblem, type ChainSchedule } from "./chain-dp.ts";
import { nodeFlops } from "./cost.ts";
import type { ForwardAnalysis } from "./policies.ts";

export function chainProblem(g: Graph, forwardCount: number, a: ForwardAnalysis): ChainProblem {
  const types = valueTypes(g);
  const cost = new Array<number>(a.cuts.length + 1).fill(0);
  for (const n of g.nodes.slice(0, forwardCount)) cost[a.segments.get(n.id)!] += nodeFlops(n, (v) => types.get(v)!);
  const size = [0, ...a.cuts.map((c) => byteSize(types.get(c)!))];
  size.push(0);
  return { cost, size };
}

export interface ChainPlan {
  /** The snapshot slots of the schedule it comes from. */
  readonly slots: number;
  /** Cut values the forward pass keeps (held in Revolve's first sweep). */
  readonly kept: ReadonlySet<string>;
  /** Segment -> the cut values held (kept or recomputed) while its backward runs. */
  readonly holds: ReadonlyMap<number, ReadonlySet<string>>;
}

export function chainPlan(a: ForwardAnalysis, schedule: ChainSchedule, slots: number): ChainPlan {
  const state = (k: number) => a.cuts[k - 1]; // x_k for k >= 1
  const held = new Set<number>();
  const kept = new Set<string>();
  const holds = new Map<number, ReadonlySet<string>>();
  let reversed = false;
  for (const action of scheduleActions(schedule, a.cuts.length + 1)) {
    if (action.kind === "hold") {
      held.add(action.state);
      if (!reversed) kept.add(state(action.state));
    } else if (action.kind === "release") held.delete(action.state);
    else if (action.kind === "reverse") {
      reversed = true;
      holds.set(action.step, new Set([...held].map(state)));
    }
  }
  return { slots, kept, holds };
}
