// What `mlc mem` reports about a graph's memory: it plans the graph twice (with and without
// memory-aware scheduling) and breaks the bytes down by what they hold.
//
// Categories (each buffer counts under its alias class's first value, so a param updated in place
// counts once, as a param):
//   params           trainable params
//   optimizer state  `opt/*` state (moments, momentum buffers, step counters)
//   other state      other persistent state: batch-norm running statistics, `rng.step`,
//                    gradient accumulators `acc/*`
//   inputs           graph inputs
//   activations      values of the forward pass (nodes of the forward graph)
//   gradients        `grad/<param>` values
//   workspace        everything else: backward temporaries, optimizer temporaries, constants

import type { Graph } from "../ir/graph.ts";
import { bufferBytes, memoryProblem, naiveBytes } from "../passes/liveness.ts";
import { planMemory } from "../passes/pipeline.ts";

export const CATEGORIES = ["params", "optimizer state", "other state", "inputs", "activations", "gradients", "workspace"] as const;
export type Category = (typeof CATEGORIES)[number];

export interface CategoryBytes {
  /** Every value of the category in its own buffer. */
  naive: number;
  /** Bytes of the category's buffers live at the peak step of the planned schedule. */
  atPeak: number;
}

export interface MemoryReport {
  /** config.batch, when the model has one. */
  batch?: number;
  /** The planned arena (scheduled), bytes. */
  arena: number;
  /** Max-live lower bound of the planned schedule. */
  lowerBound: number;
  /** Every value its own buffer. */
  naive: number;
  /** Best greedy (best-fit) plan of the same problem. */
  greedy: number;
  /** arena / lowerBound. */
  ratio: number;
  /** naive / arena. */
  saving: number;
  /** Whether the planner proved its arena optimal for this schedule. */
  optimal: boolean;
  /** Max-live peak with the memory-aware schedule (= lowerBound) and with the original order. */
  peakScheduled: number;
  peakUnscheduled: number;
  /** Planned arena with the original order. */
  arenaUnscheduled: number;
  inplaceNodes: number;
  inplaceBytes: number;
  /** Buffers planned: alias classes (values sharing one buffer count once). */
  buffers: number;
  /** The step at which the planned schedule's live bytes peak. */
  peakStep: number;
  categories: Record<Category, CategoryBytes>;
}

export interface ReportOptions {
  /** Ids of the forward graph's nodes: their values are activations. */
  forwardIds: ReadonlySet<string>;
  batch?: number;
  timeLimitMs?: number;
}

/** Plans `graph` (scheduled and not) and reports; also returns the scheduled plan. */
export function memoryReport(graph: Graph, opts: ReportOptions): { report: MemoryReport; planned: Graph } {
  const timing = opts.timeLimitMs !== undefined ? { timeLimitMs: opts.timeLimitMs } : {};
  const scheduled = planMemory(graph, { schedule: true, ...timing });
  const unscheduled = planMemory(graph, { schedule: false, ...timing });
  const planStats = scheduled.stats.plan;
  const categoryOf = categorize(graph, opts.forwardIds);
  const categories = Object.fromEntries(CATEGORIES.map((c) => [c, { naive: 0, atPeak: 0 }])) as Record<Category, CategoryBytes>;
  for (const [v, bytes] of valueBytes(graph)) categories[categoryOf(v)].naive += bytes;
  const { problem, classes } = memoryProblem(scheduled.graph);
  const peakStep = busiestStep(problem.buffers);
  problem.buffers.forEach((b, i) => {
    if (b.lower <= peakStep && peakStep < b.upper) categories[categoryOf(classes[i].root)].atPeak += b.size;
  });
  const arena = planStats["arena-bytes"];
  const lowerBound = planStats["lower-bound-bytes"];
  const report: MemoryReport = {
    ...(opts.batch !== undefined ? { batch: opts.batch } : {}),
    arena,
    lowerBound,
    naive: naiveBytes(graph),
    greedy: planStats["greedy-bytes"],
    ratio: lowerBound > 0 ? arena / lowerBound : 1,
    saving: arena > 0 ? naiveBytes(graph) / arena : 1,
    optimal: planStats.optimal === 1,
    peakScheduled: scheduled.stats.schedule["peak-after-bytes"],
    peakUnscheduled: unscheduled.stats.plan["lower-bound-bytes"],
    arenaUnscheduled: unscheduled.stats.plan["arena-bytes"],
    inplaceNodes: scheduled.stats.inplace["inplace-nodes"],
    inplaceBytes: scheduled.stats.inplace["inplace-bytes"],
    buffers: planStats.buffers,
    peakStep,
    categories,
  };
  return { report, planned: scheduled.graph };
}

/** The category of every value of `g` (see the header). */
export function categorize(g: Graph, forwardIds: ReadonlySet<string>): (value: string) => Category {
  const fixed = new Map<string, Category>();
  for (const i of g.inputs) fixed.set(i.name, "inputs");
  for (const p of g.params) {
    fixed.set(p.name, p.trainable ? "params" : p.name.startsWith("opt/") ? "optimizer state" : "other state");
  }
  return (v) => fixed.get(v) ?? (v.startsWith("grad/") ? "gradients" : forwardIds.has(v) ? "activations" : "workspace");
}

function valueBytes(g: Graph): Array<[string, number]> {
  return [
    ...g.inputs.map((i): [string, number] => [i.name, bufferBytes(i.type)]),
    ...g.params.map((p): [string, number] => [p.name, bufferBytes(p.type)]),
    ...g.nodes.map((n): [string, number] => [n.id, bufferBytes(n.type)]),
  ];
}

/** The first step at which the most bytes are live. */
function busiestStep(buffers: ReadonlyArray<{ lower: number; upper: number; size: number }>): number {
  const steps = buffers.reduce((most, b) => Math.max(most, b.upper), 1);
  const change = new Float64Array(steps + 1);
  for (const b of buffers) {
    change[b.lower] += b.size;
    change[b.upper] -= b.size;
  }
  let live = 0;
  let best = -1;
  let at = 0;
  for (let t = 0; t < steps; t++) {
    live += change[t];
    if (live > best) [best, at] = [live, t];
  }
  return at;
}
