// schedule — reorder independent nodes to lower the peak of live memory.
//
// Stages:
// 1. Drop in-place decisions and any memory plan: they were made for the old order.
// 2. Build candidate orders by list scheduling (memory-list-scheduler.ts) under two policies,
//    `eager` (pull forward nodes that free memory, e.g. each optimizer update right after its
//    gradient is produced, else keep the original order) and `greedy` (always the best score),
//    each scoring nodes alone and with lookahead (neither wins everywhere: on the CNN example
//    scoring alone is 15% better, on the transformer lookahead is 5% better).
// 3. Repair each candidate and the original order locally (schedule-refine.ts: sink results
//    that wait before their first consumer, run a value's consumers so the last can reuse it in
//    place); the repaired orders are candidates too.
// 4. Measure every candidate AND the original order exactly as the planner will see it (in-place
//    decisions for that order, then the max-live peak, with the kernels' workspaces when the
//    backend gives them) and keep the lowest; ties keep the original order. So the pass never
//    makes the peak worse.
//
// Every candidate is a topological order of the same SSA graph, so results do not change: the
// nodes are pure functions of their operands (dropout masks are keyed by attributes and the step
// counter, not by position). The in-place decisions for the chosen order are left to `inplace`,
// offsets to `plan`.

import type { Graph, Node } from "../ir/graph.ts";
import { alignUp } from "../ir/plan-problem.ts";
import type { TensorType } from "../ir/types.ts";
import { inplaceIndexDecider, stableAliases } from "./inplace.ts";
import { ARENA_ALIGNMENT, bufferBytes, type WorkspaceBytes } from "./liveness.ts";
import { listScheduleOrder, type SchedulePolicy } from "./memory-list-scheduler.ts";
import { refineOrderIndices } from "./schedule-refine.ts";
import type { Pass } from "./pass.ts";

export interface ScheduleOptions {
  /** How far scoring follows a chain of single consumers (0 = score each node alone). */
  lookahead: number;
  /** Scratch bytes of each node's kernel (a backend's table): counted at the node's step. */
  workspaceBytes?: WorkspaceBytes;
}

const POLICIES: readonly SchedulePolicy[] = ["eager", "greedy"];

export const schedule: Pass<ScheduleOptions> = {
  name: "schedule",
  summary: "reorder independent nodes to lower the peak of live memory",
  statistics: { "peak-before-bytes": "max-live bytes in the given order", "peak-after-bytes": "max-live bytes in the chosen order", "nodes-moved": "nodes whose position changed" },
  defaults: { lookahead: 8 },
  run(g, opts) {
    const base = withoutMemoryDecisions(g);
    const meter = meterOf(base, opts.workspaceBytes);
    // Orders are indices into base.nodes.
    const given = Int32Array.from(base.nodes, (_, i) => i);
    const before = meter.peak(given);
    let best: { order: Int32Array; peak: number } = { order: given, peak: before };
    const aliases = stableAliases(base);
    const orders: Int32Array[] = [given];
    for (const policy of POLICIES) {
      for (const lookahead of new Set([0, opts.lookahead])) orders.push(listScheduleOrder(base, aliases, policy, lookahead));
    }
    // An order met before has the peak measured then (and a tie never replaces the best).
    const seen: Int32Array[] = [given];
    for (const order of orders) {
      for (const candidate of [order, refineOrderIndices(base, order, aliases)]) {
        if (seen.some((other) => sameOrder(other, candidate))) continue;
        seen.push(candidate);
        const peak = meter.peak(candidate);
        if (peak < best.peak) best = { order: candidate, peak };
      }
    }
    const moved = best.order.filter((k, i) => k !== i).length;
    const nodes = best.order === given ? base.nodes : Array.from(best.order, (i) => base.nodes[i]);
    return {
      graph: { ...base, nodes },
      stats: { "peak-before-bytes": before, "peak-after-bytes": best.peak, "nodes-moved": moved },
    };
  },
};

/**
 * The max-live peak (bytes) of the graph's order once the `inplace` pass has run on it: the lower
 * bound the planner will be measured against.
 */
export function scheduledPeak(g: Graph, workspaceBytes?: WorkspaceBytes): number {
  return meterOf(withoutMemoryDecisions(g), workspaceBytes).peak(Int32Array.from(g.nodes, (_, i) => i));
}

/**
 * The PeakMeter of a graph (with one workspace table), built once: the checkpoint pass estimates
 * the peak of the step it chooses, which the schedule pass then orders, and `mlc mem` does both
 * for several steps.
 */
const meters = new WeakMap<Graph, { workspaceBytes: WorkspaceBytes | undefined; meter: PeakMeter }>();

function meterOf(g: Graph, workspaceBytes: WorkspaceBytes | undefined): PeakMeter {
  const known = meters.get(g);
  if (known && known.workspaceBytes === workspaceBytes) return known.meter;
  const meter = new PeakMeter(g, workspaceBytes);
  meters.set(g, { workspaceBytes, meter });
  return meter;
}

/** Whether two orders of one graph's nodes are the same. */
function sameOrder(a: Int32Array, b: Int32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * scheduledPeak for many orders of one graph: what does not depend on the order (value sizes,
 * pins, the kernels' workspaces) is worked out once, and each order's max-live peak is swept over
 * arrays. The same number as maxLiveBytes (liveness.ts) of the graph with the order's in-place
 * decisions: one buffer per alias class, live from its first member's definition to its last
 * read (to the end when pinned), the largest member's bytes; plus each node's workspace during its
 * own step; the peak is the most bytes live at one step.
 */
class PeakMeter {
  private readonly bytes: Float64Array;
  /** Inputs, params, outputs and update values: live to the end. */
  private readonly pinned: Uint8Array;
  /** Each node's workspace bytes, by its index in the graph's nodes. */
  private readonly workspace: Float64Array;
  /** Each node's operands as value indices (inputs, then params, then nodes by index). */
  private readonly operands: Int32Array[];
  private readonly inputCount: number;
  private readonly decisions: (order: Int32Array) => Int32Array;

  constructor(g: Graph, workspaceBytes?: WorkspaceBytes) {
    this.decisions = inplaceIndexDecider(g);
    const index = new Map<string, number>();
    const sized: { name: string; type: TensorType }[] = [...g.inputs, ...g.params, ...g.nodes.map((n) => ({ name: n.id, type: n.type }))];
    sized.forEach((v, i) => index.set(v.name, i));
    this.bytes = Float64Array.from(sized, (v) => bufferBytes(v.type, ARENA_ALIGNMENT));
    this.pinned = new Uint8Array(sized.length);
    this.inputCount = g.inputs.length + g.params.length;
    this.pinned.fill(1, 0, this.inputCount);
    for (const v of [...g.outputs.map((o) => o.value), ...g.updates.map((u) => u.value)]) {
      const i = index.get(v);
      if (i !== undefined) this.pinned[i] = 1;
    }
    this.operands = g.nodes.map((n) => Int32Array.from(n.inputs, (v) => index.get(v)!));
    this.workspace = new Float64Array(g.nodes.length);
    if (workspaceBytes) {
      g.nodes.forEach((n, k) => {
        const w = workspaceBytes(n, Array.from(this.operands[k], (i) => sized[i].type));
        if (w > 0) this.workspace[k] = alignUp(w, ARENA_ALIGNMENT);
      });
    }
  }

  /** The peak of `order` (indices into the graph's nodes) with its in-place decisions. */
  peak(order: Int32Array): number {
    const into = this.decisions(order);
    const values = this.bytes.length;
    const steps = Math.max(1, order.length);
    // Each value's class (its root's index: aliasing.ts aliasClasses), each class's interval and bytes.
    const root = new Int32Array(values).fill(-1);
    const lower = new Float64Array(values);
    const upper = new Float64Array(values);
    const size = new Float64Array(values);
    for (let i = 0; i < this.inputCount; i++) {
      root[i] = i;
      upper[i] = steps;
      size[i] = this.bytes[i];
    }
    const lastRead = new Int32Array(values).fill(-1);
    order.forEach((k, step) => {
      for (const v of this.operands[k]) lastRead[v] = step;
    });
    const live = new Float64Array(steps + 1);
    order.forEach((k, step) => {
      const i = this.inputCount + k;
      const operand = into[i];
      const joins = operand < 0 ? -1 : root[operand];
      const end = this.pinned[i] ? steps : (lastRead[i] < 0 ? step : lastRead[i]) + 1;
      if (joins >= 0) {
        root[i] = joins;
        upper[joins] = Math.max(upper[joins], end);
        size[joins] = Math.max(size[joins], this.bytes[i]);
      } else {
        root[i] = i;
        lower[i] = step;
        upper[i] = end;
        size[i] = this.bytes[i];
      }
      const w = this.workspace[k];
      if (w > 0) {
        live[step] += w;
        live[step + 1] -= w;
      }
    });
    for (let i = 0; i < values; i++) {
      if (root[i] !== i || upper[i] <= lower[i]) continue;
      live[lower[i]] += size[i];
      live[upper[i]] -= size[i];
    }
    let bytes = 0;
    let peak = 0;
    for (let t = 0; t < steps; t++) {
      bytes += live[t];
      peak = Math.max(peak, bytes);
    }
    return peak;
  }
}

/** The graph without in-place decisions and memory plan (itself when it has none). */
export function withoutMemoryDecisions(g: Graph): Graph {
  if (g.memory === undefined && g.nodes.every((n) => n.inplace === undefined)) return g;
  const { memory: _plan, ...rest } = g;
  const nodes = g.nodes.map((n): Node => {
    if (n.inplace === undefined) return n;
    const { inplace: _operand, ...plain } = n;
    return plain;
  });
  return { ...rest, nodes };
}
