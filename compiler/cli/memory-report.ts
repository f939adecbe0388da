// What `mlc mem` reports about a program's memory: the arena the driver plans for a backend (the
// same one `mlc build` writes: every entry point, fused, with the backend's workspaces), planned
// again without memory-aware scheduling for comparison, and the bytes broken down by what they hold.
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
//   workspace        everything else: backward temporaries, optimizer temporaries, constants, and
//                    the kernels' scratch
// A cast the precision pass made (`bf16/<v>`, docs/PRECISION.md) counts as what it casts, a cast
// param (a 16-bit copy of an f32 master weight) as an activation. With 16-bit values
// (--precision, --mixed) the report also breaks the bytes down by dtype (kernel scratch under
// "workspace").

import { valueTypes, type Graph } from "../ir/graph.ts";
import type { Backend } from "../bundle/backend.ts";
import { backendPeak, compileFront, fuseFront, planFused, type CompiledProgram, type ProgramFront } from "../driver/compile.ts";
import type { TrainingOptions } from "../driver/phases.ts";
import type { CheckpointMode } from "../passes/checkpoint.ts";
import { bufferBytes, memoryProblem } from "../passes/liveness.ts";
import { graphFlops } from "../passes/checkpoint/cost.ts";

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
  /** Every value of the reported entry (train step, else forward) in its own buffer. */
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
  /** Buffers of the reported entry: alias classes (values sharing one buffer count once) and workspaces. */
  buffers: number;
  /** The step at which the planned schedule's live bytes peak. */
  peakStep: number;
  categories: Record<Category, CategoryBytes>;
  /** Bytes by dtype (the kernels' scratch as "workspace"), when the program stores 16-bit values. */
  dtypes?: Record<string, CategoryBytes>;
  /** With --train: the training step planned with each checkpoint policy (below). */
  checkpoint?: CheckpointComparison;
}

export interface ReportOptions {
  /** Ids of the forward graph's nodes: their values are activations. */
  forwardIds: ReadonlySet<string>;
  batch?: number;
  /** The backend the programs were planned for (its scratch bytes are the workspaces). */
  backend: Backend;
}

/** The entry a report breaks down: the train step when there is one, else the forward pass. */
export function mainEntry(program: CompiledProgram): Graph {
  return (program.entries.find((e) => e.exportName === "train_step") ?? program.entries[0]).graph;
}

/**
 * Reports on `program` (planned by the driver for `opts.backend`) beside `unscheduled` (the same
 * program planned without memory-aware scheduling).
 */
export function memoryReport(program: CompiledProgram, unscheduled: CompiledProgram, opts: ReportOptions): MemoryReport {
  const stats = (p: CompiledProgram) => p.records.find((r) => r.pass === "plan")!.stats;
  const planStats = stats(program);
  const main = mainEntry(program);
  const categoryOf = categorize(main, opts.forwardIds);
  const categories = Object.fromEntries(CATEGORIES.map((c) => [c, { naive: 0, atPeak: 0 }])) as Record<Category, CategoryBytes>;
  const types = valueTypes(main);
  const dtypes: Record<string, CategoryBytes> = {};
  const byDtype = (key: string) => (dtypes[key] ??= { naive: 0, atPeak: 0 });
  for (const [v, bytes] of valueBytes(main)) {
    categories[categoryOf(v)].naive += bytes;
    byDtype(types.get(v)!.dtype).naive += bytes;
  }
  const { problem, classes } = memoryProblem(main, main.memory!.alignment, opts.backend.scratchBytes);
  const peakStep = busiestStep(problem.buffers);
  problem.buffers.forEach((b, i) => {
    if (!(b.lower <= peakStep && peakStep < b.upper)) return;
    categories[i < classes.length ? categoryOf(classes[i].root) : "workspace"].atPeak += b.size;
    byDtype(i < classes.length ? types.get(classes[i].root)!.dtype : "workspace").atPeak += b.size;
  });
  const half = Object.keys(dtypes).some((d) => d === "f16" || d === "bf16");
  const arena = program.arena!;
  const lowerBound = planStats["lower-bound-bytes"];
  const naive = valueBytes(main).reduce((t, [, bytes]) => t + bytes, 0);
  const inplace = program.records.filter((r) => r.pass === "inplace");
  return {
    ...(opts.batch !== undefined ? { batch: opts.batch } : {}),
    arena,
    lowerBound,
    naive,
    greedy: planStats["greedy-bytes"],
    ratio: lowerBound > 0 ? arena / lowerBound : 1,
    saving: arena > 0 ? naive / arena : 1,
    optimal: planStats.optimal === 1,
    peakScheduled: lowerBound,
    peakUnscheduled: stats(unscheduled)["lower-bound-bytes"],
    arenaUnscheduled: unscheduled.arena!,
    inplaceNodes: inplace.reduce((t, r) => t + r.stats["inplace-nodes"], 0),
    inplaceBytes: inplace.reduce((t, r) => t + r.stats["inplace-bytes"], 0),
    buffers: problem.buffers.length,
    peakStep,
    categories,
    ...(half ? { dtypes } : {}),
  };
}

/** The category of every value of `g` (see the header). */
export function categorize(g: Graph, forwardIds: ReadonlySet<string>): (value: string) => Category {
  const fixed = new Map<string, Category>();
  for (const i of g.inputs) fixed.set(i.name, "inputs");
  for (const p of g.params) {
    fixed.set(p.name, p.trainable ? "params" : p.name.startsWith("opt/") ? "optimizer state" : "other state");
  }
  const of = (v: string): Category => {
    const cast = /^(?:f32|f16|bf16)\/(.+)$/.exec(v);
    if (cast && (forwardIds.has(cast[1]) || fixed.get(cast[1]) === "params" || fixed.get(cast[1]) === "inputs")) return "activations";
    if (cast && fixed.has(cast[1])) return fixed.get(cast[1])!;
    return fixed.get(v) ?? (v.startsWith("grad/") ? "gradients" : forwardIds.has(v) ? "activations" : "workspace");
  };
  return of;
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

// ---- checkpointing: none / sqrt / auto side by side, and auto's memory-versus-recompute curve ----
//
// Activation memory is what a planned training step's arena holds beyond the buffers pinned for
// the whole step:
//   activation = arena − pinned, pinned = params + optimizer state + other state + inputs
// (other state: running statistics, `rng.step`, accumulators `acc/*`), each rounded up to the
// arena's 16-byte alignment. These buffers are live at every step, so the arena always holds them
// side by side and activation memory is never negative; the rest is what checkpointing acts on:
// forward values kept for the backward pass, their recomputed copies, backward temporaries and
// gradients. Gradients are NOT subtracted as a fixed part (as in the usual params + grads +
// optimizer state + activations split): the memory-aware schedule applies each update right after
// its gradient, so the plan rarely holds them all at once (resnet's peak holds none, and on recsys
// the arena is smaller than params + gradients + optimizer state + inputs).

/** The buffers live for the whole training step (see above), bytes. */
export interface PinnedBytes {
  params: number;
  optimizerState: number;
  otherState: number;
  inputs: number;
  total: number;
}

export function pinnedBytes(g: Graph): PinnedBytes {
  const s = { params: 0, optimizerState: 0, otherState: 0, inputs: 0, total: 0 };
  for (const i of g.inputs) s.inputs += bufferBytes(i.type);
  for (const p of g.params) {
    const bytes = bufferBytes(p.type);
    if (p.trainable) s.params += bytes;
    else if (p.name.startsWith("opt/")) s.optimizerState += bytes;
    else s.otherState += bytes;
  }
  s.total = s.params + s.optimizerState + s.otherState + s.inputs;
  return s;
}

/** One checkpoint policy's training step, planned. */
export interface CheckpointRow {
  mode: CheckpointMode;
  /** auto: the budget it was given (absent: auto recomputes only the cheap ops; checkpoint.ts defaultPolicy). */
  budgetBytes?: number;
  /** The planned arena of the program (every entry, as `mlc build` plans it). */
  arena: number;
  /** arena − pinned bytes (see PinnedBytes). */
  activationBytes: number;
  /** The checkpoint pass's own peak estimate of the step, which auto holds to its budget (checkpoint.ts). */
  estimatedPeak: number;
  recomputedNodes: number;
  recomputedFlops: number;
  /** recomputedFlops / the un-checkpointed step's FLOPs, in percent. */
  extraFlopsPercent: number;
}

/** Auto at budgets from the least peak it can reach to the un-checkpointed peak. */
export interface TradeoffReport {
  /** The least estimated peak any auto policy reaches (auto with `leastPeak`). */
  leastPeak: number;
  /** The estimated peak without checkpointing: the largest budget that can matter. */
  uncheckpointedPeak: number;
  /** Auto at each budget, budgets ascending (evenly spaced, plus sqrt's estimated peak). */
  points: Array<CheckpointRow & { budgetBytes: number; atSqrtPeak: boolean }>;
  /** The sqrt policy, for comparison. */
  sqrt: CheckpointRow;
}

export interface CheckpointComparison {
  /** FLOPs of the un-checkpointed training step (passes/checkpoint/cost.ts). */
  stepFlops: number;
  pinned: PinnedBytes;
  /** none, sqrt, auto (with the given budget if any). */
  modes: CheckpointRow[];
  tradeoff?: TradeoffReport;
}

export interface ComparisonOptions {
  /** The training options (loss, optimizer, accumulation), without checkpointing. */
  training: Omit<TrainingOptions, "checkpoint">;
  /** The backend each policy's program is planned for, as `mlc build` would. */
  backend: Backend;
  /** auto's budget; none: auto's cheap-ops policy. */
  budgetBytes?: number;
  /** Also compute the tradeoff curve over this many evenly spaced budgets (plus sqrt's peak). */
  tradeoffBudgets?: number;
  timeLimitMs?: number;
  /**
   * A program the caller already compiled from the same forward graph with these training
   * options and one of the policies (`mlc mem`'s own): that policy's row is read from it instead
   * of being compiled again.
   */
  compiled?: { checkpoint: { mode: CheckpointMode; budgetBytes?: number }; program: CompiledProgram };
  /** compileFront of the same forward graph with these training options, when the caller has it. */
  front?: ProgramFront;
}

/** Compiles and plans the training program of `forward` with each checkpoint policy. */
export function checkpointComparison(forward: Graph, opts: ComparisonOptions): CheckpointComparison {
  const timing = opts.timeLimitMs !== undefined ? { timeLimitMs: opts.timeLimitMs } : {};
  // Every row continues one front (training and clean-up phases): only the checkpoint pass and
  // what follows it differ between policies.
  const front = opts.front ?? compileFront(forward, { backend: opts.backend, training: opts.training });
  const none = front.entries.find((e) => e.exportName === "train_step")!.graph;
  const stepFlops = graphFlops(none);
  const pinned = pinnedBytes(none);
  const programs = new Map<string, CompiledProgram>();
  const keyOf = (mode: CheckpointMode, budgetBytes?: number, leastPeak?: boolean) => `${mode} ${budgetBytes ?? ""} ${leastPeak ? "least" : ""}`;
  if (opts.compiled) programs.set(keyOf(opts.compiled.checkpoint.mode, opts.compiled.checkpoint.budgetBytes), opts.compiled.program);
  const programOf = (mode: CheckpointMode, budgetBytes?: number, leastPeak?: boolean): CompiledProgram => {
    const key = keyOf(mode, budgetBytes, leastPeak);
    let program = programs.get(key);
    if (!program) {
      const checkpoint = { mode, ...(budgetBytes !== undefined ? { budgetBytes } : {}), ...(leastPeak ? { leastPeak } : {}) };
      // Reported, never emitted: planned without the IR verifier (docs/IR.md "Verification").
      const options = { backend: opts.backend, training: { ...opts.training, checkpoint }, ...timing, verify: false };
      program = planFused(fuseFront(front, options), options);
      programs.set(key, program);
    }
    return program;
  };
  // The pass runs last on the whole step and reports its choice's scheduled estimate: the
  // un-checkpointed peak in the same terms is the plain step's scheduled estimate, which is what
  // the memory phase's schedule pass measured on the fused plain step (backendPeak(none, true)).
  const uncheckpointedPeak = programOf("none").records.find((r) => r.pass === "schedule" && r.entry === "train_step")?.stats["peak-after-bytes"]
    ?? backendPeak(opts.backend)(none, true);
  const row = (mode: CheckpointMode, budgetBytes?: number, leastPeak?: boolean): CheckpointRow => {
    const program = programOf(mode, budgetBytes, leastPeak);
    const arena = program.arena!;
    const stats = program.trainingStats.checkpoint ?? {};
    const recomputedFlops = stats["recomputed-flops"] ?? 0;
    return {
      mode,
      ...(budgetBytes !== undefined ? { budgetBytes } : {}),
      arena,
      activationBytes: arena - pinned.total,
      estimatedPeak: stats["estimated-peak"] ?? uncheckpointedPeak,
      recomputedNodes: stats["recomputed-nodes"] ?? 0,
      recomputedFlops,
      extraFlopsPercent: stepFlops > 0 ? (100 * recomputedFlops) / stepFlops : 0,
    };
  };
  const modes = [row("none"), row("sqrt"), row("auto", opts.budgetBytes)];
  const out: CheckpointComparison = { stepFlops, pinned, modes };
  if (opts.tradeoffBudgets !== undefined) {
    const sqrt = modes[1];
    const leastPeak = row("auto", undefined, true).estimatedPeak;
    const n = Math.max(2, opts.tradeoffBudgets);
    const budgets = new Set<number>();
    for (let i = 0; i < n; i++) budgets.add(Math.round(leastPeak + ((uncheckpointedPeak - leastPeak) * i) / (n - 1)));
    // sqrt's peak as a budget: what auto does with the memory sqrt needs (when it is in the range).
    const sqrtBudget = sqrt.estimatedPeak >= leastPeak && sqrt.estimatedPeak <= uncheckpointedPeak ? sqrt.estimatedPeak : undefined;
    if (sqrtBudget !== undefined) budgets.add(sqrtBudget);
    const points = [...budgets].sort((a, b) => a - b).map((b) => ({ ...row("auto", b), budgetBytes: b, atSqrtPeak: b === sqrtBudget }));
    out.tradeoff = { leastPeak, uncheckpointedPeak, points, sqrt };
  }
  return out;
}
