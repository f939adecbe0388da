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

//
// Advancing segment k recomputes what its cut depends on within the segment, from the previous
// cut and the values the policy keeps (`kept`): with a residual block's convolutions kept, its
// output costs only the cheap ops after them. The last segment (no cut) is never advanced.
export function chainProblem(g: Graph, forwardCount: number, a: ForwardAnalysis, kept: (id: string) => boolean = () => false): ChainProblem {
  const types = valueTypes(g);
  const typeOf = (v: string) => types.get(v)!;
  const forward = new Map(g.nodes.slice(0, forwardCount).map((n) => [n.id, n] as const));
  const cost = new Array<number>(a.cuts.length + 1).fill(0);
  a.cuts.forEach((cut, k) => {
    const seen = new Set<string>();
    const stack = [cut];
    while (stack.length > 0) {
      const v = stack.pop()!;
      const n = forward.get(v);
      if (!n || seen.has(v) || a.segments.get(v) !== k || (v !== cut && kept(v))) continue;
      seen.add(v);
      cost[k] += nodeFlops(n, typeOf);
      stack.push(...n.inputs);
    }
  });
  const size = [0, ...a.cuts.map((c) => byteSize(typeOf(c)))];
  size.push(0);
  return { cost, size };
}

/**
 * Bytes for held snapshots while each chain step (segment) is reversed, for the capacity version
 * (chain-dp-capacity.ts), when the policy keeps the `contraction`s except `spilled` and the tail —
 * the last segment with a contraction, where the backward starts with every kept value alive —
 * has `base` bytes. Model: while segment r is reversed, the kept values of segments <= r are
 * alive (each dies with its segment's backward) and a working set W(r): the gradient along the
 * spine, one more spine-sized value where r has a contraction (its operand or output being
 * differentiated), and for each spilled value of r the value and the state it is recomputed from.
 * So cap(r) = base + (K(<= tail) - K(<= r)) - (W(r) - W(tail)), clipped to 0 … base + maxExtra
 * (beyond a few spare snapshots recomputation hardly falls, and the DP's table grows with it).
 * "Spine-sized" is the largest cut. The checkpoint pass measures every plan; this only shapes it.
 */
export interface CapacityModel {
  /** Bytes of the largest cut. */
  readonly spine: number;
  capacities(spilled: ReadonlySet<string>, base: number, maxExtra: number): number[];
}

/** The capacity model of a forward pass whose contractions are `contraction` (built once, asked per spill set). */
export function capacityModel(g: Graph, forwardCount: number, a: ForwardAnalysis, contraction: (id: string) => boolean): CapacityModel {
  const types = valueTypes(g);
  const bytes = (v: string) => byteSize(types.get(v)!);
  const steps = a.cuts.length + 1;
  const spine = Math.max(0, ...a.cuts.map(bytes));
  const cuts = new Set(a.cuts);
  const contractions = g.nodes.slice(0, forwardCount)
    .filter((n) => contraction(n.id) && !cuts.has(n.id))
    .map((n) => ({ id: n.id, segment: a.segments.get(n.id)!, bytes: bytes(n.id) }));
  const hasContraction = new Array<boolean>(steps).fill(false);
  for (const c of contractions) hasContraction[c.segment] = true;
  let tail = steps - 1;
  while (tail > 0 && !hasContraction[tail]) tail--;
  return {
    spine,
    capacities(spilled, base, maxExtra) {
      const kept = new Array<number>(steps).fill(0);
      const working = hasContraction.map((has) => (has ? 2 : 1) * spine);
      for (const c of contractions) {
        if (spilled.has(c.id)) working[c.segment] += c.bytes + spine;
        else kept[c.segment] += c.bytes;
      }
      // keptAfter[r] = K(> r): what the backward has freed by the time it reverses r
      const keptAfter = new Array<number>(steps).fill(0);
      for (let r = steps - 2; r >= 0; r--) keptAfter[r] = keptAfter[r + 1] + kept[r + 1];
      return keptAfter.map((freed, r) => Math.min(base + maxExtra, Math.max(0, base + freed - keptAfter[tail] - working[r] + working[tail])));
    },
  };
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
