// checkpoint — trade recomputation for memory: drop forward activations the backward pass would
// keep alive and recompute them right before their backward uses (checkpoint/rewrite.ts).
//
// Stages:
// 1. Analysis (checkpoint/policies.ts): the droppable forward values (read by the backward pass,
//    not by an output or update) with their recompute cost (FLOPs per byte, checkpoint/cost.ts),
//    and the forward's cuts (values alone live across their position: the chain structure).
// 2. Policy, by `mode`:
//      none   nothing changes;
//      sqrt   keep ~sqrt(#cuts) evenly spaced cuts, recompute everything else (Chen et al. 2016);
//      auto   with `budgetBytes`, the least recompute FLOPs whose estimated peak fits it: a search over
//             "keep every k-th cut and every value costing >= t FLOPs/byte" (recompute cheap ops
//             — activations, norms, elementwise — first, keep matmul/conv outputs), with copies
//             serving the whole backward or only their region; plus the chain DP's optimal
//             multi-level schedules over the cuts (checkpoint/chain-dp.ts, chain-plan.ts) for
//             0 … 12 snapshot slots, and with the contractions kept, the DP's version whose room
//             grows as the backward frees them (chain-dp-capacity.ts); each with some of the
//             contractions dropped too (spill refinements); each candidate rewritten and
//             measured. A budget below every candidate's peak is a CheckpointBudgetError naming
//             the least peak found. Without a budget, recompute only the cheap ops (keep every
//             contraction and cut; defaultPolicy), or with `leastPeak` the least peak of all.
//             With a budget, a candidate's FLOPs come from its rewrite before its peak is
//             estimated, and the search measures only what could still be chosen (Search): the
//             capacity plans first, then nothing recomputing more than a candidate known to fit
//             (bisections start at the most spills under that bound and gallop down), and
//             nothing whose lower bound (checkpoint/live-bound.ts: the live bytes when the
//             forward pass ends) already misses the budget.
// 3. Rewrite (checkpoint/rewrite.ts): recompute nodes are ordinary nodes marked `recomputeOf`.
// The peak estimate is the max-live bytes after scheduling and in-place rewriting, the bound the
// planner reaches on every example. Runs after the training passes and before fusion
// and planning. Forward nodes are the first `forwardNodes` nodes (autodiff appends the backward).

import type { Graph } from "../ir/graph.ts";
import { schedule, scheduledPeak as orderPeak } from "./schedule.ts";
import type { WorkspaceBytes } from "./liveness.ts";
import { runPass, type Pass, type PassStats } from "./pass.ts";
import { analyseForward, dropSet, everyKthCut, spillOrder, sqrtDropSet, type ForwardAnalysis } from "./checkpoint/policies.ts";
import { recompute, type Recomputed } from "./checkpoint/rewrite.ts";
import { chainSlotsTable } from "./checkpoint/chain-dp.ts";
import { solveChainCapacity } from "./checkpoint/chain-dp-capacity.ts";
import { capacityModel, chainPlan, chainProblem, type ChainPlan } from "./checkpoint/chain-plan.ts";
import { boundaryLiveBytes } from "./checkpoint/live-bound.ts";

export type CheckpointMode = "none" | "sqrt" | "auto";

export interface CheckpointOptions {
  mode: CheckpointMode;
  /** auto: the arena budget in bytes (none: the cheap-ops policy, defaultPolicy below). */
  budgetBytes?: number;
  /**
   * auto without a budget: the least peak any candidate reaches instead (the lower end of
   * `mlc mem --tradeoff`'s curve; estimates every candidate, and may recompute many forward passes).
   */
  leastPeak?: boolean;
  /** How many leading nodes are the forward pass. */
  forwardNodes: number;
  /**
   * The peak a candidate graph will have, as the backend that emits it plans it (e.g. after its
   * fusion, with its kernels' workspaces); default `estimatedPeak`. `scheduled` asks for the
   * slower estimate after memory-aware scheduling.
   */
  peakOf?: PeakEstimator;
}

export type PeakEstimator = (g: Graph, scheduled: boolean) => number;

export class CheckpointBudgetError extends Error {
  override name = "CheckpointBudgetError";
}

/** One evaluated policy: what it drops, the rewritten graph, its peak and recompute FLOPs. */
export interface CheckpointCandidate {
  readonly every: number;
  readonly threshold: number;
  /** Whether copies are scoped to the region of the backward (rewrite.ts `regions`). */
  readonly scoped: boolean;
  /** Set when the cuts kept and held follow the chain DP's schedule with this many slots. */
  readonly slots?: number;
  /**
   * Set when they follow the capacity version's schedule instead (chain-plan.ts capacityModel):
   * room for this many spine-sized snapshots at the tail, more as the backward frees kept values.
   */
  readonly tailSlots?: number;
  /** How many of the costliest values (spillOrder) are dropped although they reach `threshold`. */
  readonly spill?: number;
  readonly graph: Graph;
  readonly peakBytes: number;
  readonly recomputeFlops: number;
  readonly recomputeNodes: number;
}

export const checkpoint: Pass<CheckpointOptions> = {
  name: "checkpoint",
  summary: "drop forward activations and recompute them in the backward pass to lower peak memory",
  statistics: {
    "recomputed-nodes": "forward nodes recomputed in the backward pass",
    "recomputed-flops": "FLOPs of those recomputations",
    "estimated-peak": "the chosen policy's peak estimate, bytes (absent with mode none)",
    cuts: "candidate cut points found in the forward pass (absent with mode none)",
  },
  defaults: { mode: "none", forwardNodes: 0 },
  run(g, opts) {
    if (opts.mode === "none") return { graph: g, stats: { "recomputed-nodes": 0, "recomputed-flops": 0 } as PassStats };
    const analysis = analyseForward(g, opts.forwardNodes);
    const peak = opts.peakOf ?? estimatedPeak;
    const chosen = opts.mode === "sqrt"
      ? scheduledPeak(evaluate(g, opts.forwardNodes, analysis, sqrtDropSet(analysis), Math.max(1, Math.round(Math.sqrt(analysis.cuts.length))), Infinity, false, peak), peak)
      : opts.budgetBytes === undefined && !opts.leastPeak
        ? defaultPolicy(g, opts.forwardNodes, analysis, peak)
        : autoCandidate(g, opts.forwardNodes, analysis, opts.budgetBytes, sharedPeaks(peak, opts.forwardNodes));
    return {
      graph: chosen.graph,
      stats: {
        "recomputed-nodes": chosen.recomputeNodes,
        "recomputed-flops": chosen.recomputeFlops,
        "estimated-peak": chosen.peakBytes,
        cuts: analysis.cuts.length,
      },
    };
  },
};

/**
 * The estimated peak of a training graph: max-live bytes after in-place rewriting, and with
 * `scheduled` after memory-aware scheduling first (what the planner then reaches on every example;
 * about 50x slower, and never larger, since the scheduler keeps the given order when it is best);
 * with a backend's `workspaceBytes`, its kernels' scratch included.
 */
export function estimatedPeak(g: Graph, scheduled = false, workspaceBytes?: WorkspaceBytes): number {
  // schedule reports the peak of the order it keeps as inplace and maxLiveBytes measure it
  if (scheduled) return runPass(schedule, g, workspaceBytes ? { workspaceBytes } : {}, { verify: false }).stats["peak-after-bytes"];
  return orderPeak(g, workspaceBytes);
}

/**
 * `peak` measuring each distinct rewritten step once: different policies often rewrite the step
 * alike (scoped copies that never meet a region switch; a chain plan keeping what every k-th cut
 * keeps), and the estimate (fusion, then max-live) costs far more than comparing the steps. Steps
 * are compared by their nodes after the forward pass (ids, operands, recompute marks), which is
 * all that differs between candidates of one step.
 */
function sharedPeaks(peak: PeakEstimator, forwardNodes: number): PeakEstimator {
  // By node count: the steps measured, with their peaks (quick, scheduled).
  const known = new Map<number, { graph: Graph; bytes: [number | undefined, number | undefined] }[]>();
  return (g, scheduled) => {
    const same = known.get(g.nodes.length) ?? known.set(g.nodes.length, []).get(g.nodes.length)!;
    let entry = same.find((e) => sameStep(e.graph, g, forwardNodes));
    if (!entry) same.push((entry = { graph: g, bytes: [undefined, undefined] }));
    const i = scheduled ? 1 : 0;
    return (entry.bytes[i] ??= peak(g, scheduled));
  };
}

/** Whether two rewrites of one step (same forward, same node count) have the same nodes after the forward. */
function sameStep(a: Graph, b: Graph, forwardNodes: number): boolean {
  for (let i = forwardNodes; i < a.nodes.length; i++) {
    const x = a.nodes[i];
    const y = b.nodes[i];
    if (x === y) continue;
    if (x.id !== y.id || x.recomputeOf !== y.recomputeOf || x.inputs.length !== y.inputs.length) return false;
    for (let k = 0; k < x.inputs.length; k++) if (x.inputs[k] !== y.inputs[k]) return false;
  }
  return true;
}

function evaluate(g: Graph, forwardNodes: number, a: ForwardAnalysis, dropped: ReadonlySet<string>, every: number, threshold: number, scoped: boolean, peak: PeakEstimator, spill?: number): CheckpointCandidate {
  const r = recompute(g, forwardNodes, dropped, scoped ? a.segments : undefined);
  return rewritten(g, r, withPeak({ every, threshold, scoped, ...(spill !== undefined ? { spill } : {}), get graph() { return r.graph; }, recomputeFlops: r.flops, recomputeNodes: r.nodes }, () => peak(r.graph, false)));
}

/** Candidate -> the step it rewrites and what its nodes after the forward pass read (its lower bound without its graph). */
const rewrites = new WeakMap<CheckpointCandidate, { step: Graph; readAfter: ReadonlySet<string> }>();

function rewritten(step: Graph, r: Recomputed, c: CheckpointCandidate): CheckpointCandidate {
  rewrites.set(c, { step, readAfter: r.readAfter });
  return c;
}

/** checkpoint/live-bound.ts's bound of the candidate's quick peak estimate. */
function lowerBoundOf(c: CheckpointCandidate, forwardNodes: number): number {
  const r = rewrites.get(c);
  return r ? boundaryLiveBytes(r.step, forwardNodes, r.readAfter) : boundaryLiveBytes(c.graph, forwardNodes);
}

/**
 * A candidate whose peak is estimated when first read: the rewrite gives its recompute FLOPs at
 * once, and the search reads the peaks of only the candidates it must compare (in budget mode,
 * those cheaper than the one chosen and the refinements' bases), the estimate (fusing the whole
 * rewritten step, then max-live) being most of a candidate's cost.
 */
function withPeak(fields: Omit<CheckpointCandidate, "peakBytes">, estimate: number | (() => number)): CheckpointCandidate {
  // (fields' graph may be a getter: the rewrite builds its nodes when first read; copied as one)
  const candidate = Object.defineProperties({}, Object.getOwnPropertyDescriptors(fields));
  if (typeof estimate === "number") return Object.defineProperty(candidate, "peakBytes", { value: estimate, enumerable: true }) as CheckpointCandidate;
  let bytes: number | undefined;
  return Object.defineProperty(candidate, "peakBytes", { get: () => (bytes ??= estimate()), enumerable: true }) as CheckpointCandidate;
}

/** The candidate's fields but its peak (without estimating it). */
function fieldsOf(c: CheckpointCandidate): Omit<CheckpointCandidate, "peakBytes"> {
  return {
    every: c.every, threshold: c.threshold, scoped: c.scoped,
    ...(c.slots !== undefined ? { slots: c.slots } : {}), ...(c.tailSlots !== undefined ? { tailSlots: c.tailSlots } : {}), ...(c.spill !== undefined ? { spill: c.spill } : {}),
    graph: c.graph, recomputeFlops: c.recomputeFlops, recomputeNodes: c.recomputeNodes,
  };
}

/**
 * Graphs up to this many nodes get schedule-aware peak estimates; beyond it the memory-aware list
 * scheduler takes tens of seconds per estimate, and the quick estimate (an upper bound) stands in.
 */
export const SCHEDULED_ESTIMATE_MAX_NODES = 4000;

/** The candidate with its peak re-estimated after scheduling (on graphs small enough). */
function scheduledPeak(c: CheckpointCandidate, peak: PeakEstimator): CheckpointCandidate {
  if (c.graph.nodes.length > SCHEDULED_ESTIMATE_MAX_NODES) return c;
  return withPeak(fieldsOf(c), peak(c.graph, true));
}

/** The policies `auto` searches, each rewritten and measured (deduplicated by what they drop). */
export function autoCandidates(
  g: Graph,
  forwardNodes: number,
  analysis: ForwardAnalysis = analyseForward(g, forwardNodes),
  peak: PeakEstimator = estimatedPeak,
  plans: readonly ChainPlan[] = chainPlans(g, forwardNodes, analysis),
): CheckpointCandidate[] {
  // Keep values costing >= t FLOPs/byte, for t each distinct cost (the smallest keeps everything)
  // and Infinity (keeps nothing but cuts).
  const thresholds = [...new Set(analysis.droppable.map((d) => d.flopsPerByte))].sort((a, b) => a - b);
  thresholds.push(Infinity);
  const spacings = [Infinity];
  for (let k = 1; k <= analysis.cuts.length; k *= 2) spacings.push(k);
  const seen = new Set<string>();
  const out: CheckpointCandidate[] = [];
  for (const threshold of thresholds) {
    for (const every of spacings) {
      const dropped = dropSet(analysis, everyKthCut(analysis, every), threshold);
      const key = [...dropped].join(",");
      if (seen.has(key)) continue;
      seen.add(key);
      for (const scoped of [false, true]) out.push(evaluate(g, forwardNodes, analysis, dropped, every, threshold, scoped, peak));
    }
  }
  // Chain schedules alone, and with the costliest values (per byte: the contractions) kept too.
  for (const plan of plans) {
    for (const threshold of new Set([Infinity, analysis.costliest])) out.push(chainCandidate(g, forwardNodes, analysis, plan, threshold, [], peak));
  }
  return out;
}

/** Most snapshot slots the chain candidates try (Revolve needs few: cost falls fast with slots). */
const MAX_CHAIN_SLOTS = 12;

/**
 * The chain DP's optimal schedules (chain-dp.ts, slot version over the cuts, costs = segment
 * FLOPs) for 0 … MAX_CHAIN_SLOTS slots, as plans: the forward keeps the cuts of Revolve's first
 * sweep, the backward holds recomputed cuts as the schedule says. Index = slots; none without cuts.
 */
function chainPlans(g: Graph, forwardNodes: number, a: ForwardAnalysis): ChainPlan[] {
  if (a.cuts.length === 0) return [];
  const maxSlots = Math.min(MAX_CHAIN_SLOTS, a.cuts.length);
  const table = chainSlotsTable(chainProblem(g, forwardNodes, a), maxSlots);
  return Array.from({ length: maxSlots + 1 }, (_, slots) => chainPlan(a, table.solution(0, a.cuts.length + 1, slots).schedule, slots));
}

/**
 * A chain plan's candidate: within segments, values costing at least `threshold` FLOPs/byte are
 * kept too, except `spilled`. `capacity`: the plan is a capacity schedule with plan.slots at the tail.
 */
function chainCandidate(
  g: Graph, forwardNodes: number, a: ForwardAnalysis, plan: ChainPlan, threshold: number, spilled: readonly string[], peak: PeakEstimator, capacity = false,
): CheckpointCandidate {
  const r = recompute(g, forwardNodes, dropSet(a, plan.kept, threshold, spilled), a.segments, (region) => plan.holds.get(region) ?? new Set());
  return rewritten(g, r, withPeak({
    every: Infinity, threshold, scoped: true, ...(capacity ? { tailSlots: plan.slots } : { slots: plan.slots }), spill: spilled.length,
    get graph() { return r.graph; }, recomputeFlops: r.flops, recomputeNodes: r.nodes,
  }, () => peak(r.graph, false)));
}

/**
 * What the budget search shares: the budget, the scheduling slack, the least FLOPs of a candidate
 * known to fit (lowered as refinements find fits), and each candidate's lower bound (checkpoint/
 * live-bound.ts), which spares the estimate of a candidate that cannot fit.
 */
interface Search {
  readonly budget: number;
  readonly slack: number;
  readonly peak: PeakEstimator;
  /**
   * The least recompute FLOPs of a candidate known to fit the budget that the final choice sees
   * (Infinity until one is found): a candidate recomputing more can never be chosen, so it is never
   * measured.
   */
  bestFlops: number;
  /** The lower bound of the candidate's quick estimate (the unfused step's live bytes at the end of the forward pass). */
  lowerBound(c: CheckpointCandidate): number;
}

/**
 * Whether `c` surely misses `limit` without estimating it: its lower bound exceeds the limit. The
 * bound is of the quick estimate; with `scheduled` (the candidate is measured schedule-aware) it
 * holds only on graphs too large for that, where the quick estimate stands in.
 */
function surelyOver(s: Search, c: CheckpointCandidate, limit: number, scheduled: boolean): boolean {
  return (!scheduled || nodeCount(c) > SCHEDULED_ESTIMATE_MAX_NODES) && s.lowerBound(c) > limit;
}

/** The candidate's node count (without building a rewrite's graph: the step's nodes and the copies added). */
function nodeCount(c: CheckpointCandidate): number {
  const r = rewrites.get(c);
  return r ? r.step.nodes.length + c.recomputeNodes : c.graph.nodes.length;
}

/**
 * Between "keep every contraction" (cheap, maybe over budget) and dropping whole segments (a full
 * extra forward), the family above has little; so for each candidate that keeps the contractions
 * — with every k-th cut or none, or with a chain DP plan (whose held snapshots of the residual
 * spine make its recomputation nearly free, so spilled contractions cost only themselves) —
 * binary-search how many contractions to drop as well (spillOrder) for the quick estimate to come
 * within `slack` of the budget, the difference scheduling makes; and, schedule-aware, how few of
 * the off-spine contractions suffice (below). Bases that already recompute more than a candidate
 * known to fit are not searched (spilling only adds FLOPs).
 */
function refinements(
  g: Graph, forwardNodes: number, a: ForwardAnalysis, plans: readonly ChainPlan[], candidates: readonly CheckpointCandidate[], s: Search,
): CheckpointCandidate[] {
  const { budget, slack, peak } = s;
  const { order, offSpine } = spillOrder(a, a.costliest);
  const spiller = (base: CheckpointCandidate) => memoized((n: number) => base.slots === undefined
    ? evaluate(g, forwardNodes, a, dropSet(a, everyKthCut(a, base.every), a.costliest, order.slice(0, n)), base.every, a.costliest, true, peak, n)
    : chainCandidate(g, forwardNodes, a, plans[base.slots], a.costliest, order.slice(0, n), peak));
  const out: CheckpointCandidate[] = [];
  const offSpineFits: { spill: (n: number) => CheckpointCandidate; at: CheckpointCandidate }[] = [];
  // Bases already far over the budget would need most contractions recomputed: not worth a search.
  // (A base whose lower bound is over the budget is judged "far over" by that bound, unestimated.)
  const worthRefining = (c: CheckpointCandidate) => s.lowerBound(c) > budget
    ? s.lowerBound(c) <= 2 * budget
    : c.peakBytes > budget && c.peakBytes <= 2 * budget;
  const bases = candidates.filter((c) => c.scoped && c.threshold === a.costliest && c.recomputeFlops <= s.bestFlops && worthRefining(c));
  for (const base of bases) {
    if (base.recomputeFlops > s.bestFlops) continue;
    const spill = spiller(base);
    const found = fewestSpills(1, order.length, spill, s, budget + slack, false);
    if (found) out.push(found);
    // The quick estimate overstates some bases' peaks by far more than the slack measured on one
    // candidate (scheduling lowers chain schedules' peaks most), and by different amounts at
    // different spill counts. Spilling the off-spine contractions costs one recomputation each;
    // spilling more costs far more (they are recomputed per region). So each base is measured
    // schedule-aware with every off-spine contraction spilled, and the cheapest that fit are
    // bisected again below that on the schedule-aware estimate.
    const limit = Math.min(offSpine, found?.spill ?? offSpine);
    if (limit < 1 || spill(limit).recomputeFlops > s.bestFlops || surelyOver(s, spill(limit), budget, true)) continue;
    const at = scheduledPeak(found?.spill === limit ? found : spill(limit), peak);
    if (at.peakBytes <= budget) offSpineFits.push({ spill, at });
  }
  for (const { spill, at } of offSpineFits.sort((x, y) => x.at.recomputeFlops - y.at.recomputeFlops).slice(0, SCHEDULED_REFINEMENTS)) {
    const found = fewestSpills(1, at.spill! - 1, spill, s, budget, true) ?? at;
    s.bestFlops = Math.min(s.bestFlops, found.recomputeFlops);
    out.push(found);
  }
  return out;
}

/**
 * Chain plans for the policy that keeps the contractions, with their schedules from the capacity
 * version of the chain DP: the fixed-slot plans above give every region the tail's room, but the
 * backward frees the kept contractions as it goes, so earlier regions can hold more snapshots
 * (and the DP's costs here are what advancing costs with the contractions kept: the cheap ops).
 * For each room at the tail (0 … CAPACITY_TAIL_SLOTS spine-sized snapshots), the fewest spills
 * (spillOrder) whose candidate fits the budget, bisected on the schedule-aware estimate (on graphs
 * small enough; the quick one beyond).
 */
function capacityRefinements(g: Graph, forwardNodes: number, a: ForwardAnalysis, s: Search): CheckpointCandidate[] {
  if (a.cuts.length === 0) return [];
  const contractions = new Set(a.droppable.filter((d) => d.flopsPerByte >= a.costliest).map((d) => d.id));
  const contraction = (id: string) => contractions.has(id);
  const problem = chainProblem(g, forwardNodes, a, contraction);
  const model = capacityModel(g, forwardNodes, a, contraction);
  const spine = model.spine;
  const { order, offSpine } = spillOrder(a, a.costliest);
  const out: CheckpointCandidate[] = [];
  // (each DP solve takes a while on deep nets: the next room's search starts near the last fit)
  let hint: number | undefined;
  for (let tailSlots = 0; tailSlots <= CAPACITY_TAIL_SLOTS; tailSlots++) {
    const spill = memoized((n: number): CheckpointCandidate => {
      const spilled = order.slice(0, n);
      const capacity = model.capacities(new Set(spilled), tailSlots * spine, CAPACITY_EXTRA_SLOTS * spine);
      const plan = chainPlan(a, solveChainCapacity(problem, capacity, spine / CAPACITY_LEVELS_PER_SLOT).schedule, tailSlots);
      return chainCandidate(g, forwardNodes, a, plan, a.costliest, spilled, s.peak, true);
    });
    // The off-spine values spilled last (spillOrder spreads them so the tail's comes last) do not
    // lower the tail's peak: recomputing it there needs its input alive instead. So the peak is
    // not monotone across that boundary: bisect below it first, then beyond it.
    const found = fewestSpills(0, offSpine - 1, spill, s, s.budget, true, hint) ?? fewestSpills(offSpine, order.length, spill, s, s.budget, true, hint);
    if (found) out.push(found);
    hint = found?.spill ?? hint;
  }
  return out;
}

/** Room at the tail the capacity plans try, in spine-sized snapshots. */
const CAPACITY_TAIL_SLOTS = 4;
/** Spare snapshots beyond the tail's the capacity model grants any region. */
const CAPACITY_EXTRA_SLOTS = 12;
/** Memory levels per spine-sized snapshot in the capacity DP (smaller cuts hold a level or more). */
const CAPACITY_LEVELS_PER_SLOT = 4;

/** How many of the most promising spill refinements are bisected again on the schedule-aware estimate. */
const SCHEDULED_REFINEMENTS = 3;

/** `f` remembering its result per argument (a refinement's candidates are asked for their FLOPs before they are measured). */
function memoized<T>(f: (n: number) => T): (n: number) => T {
  const known = new Map<number, T>();
  return (n) => {
    let v = known.get(n);
    if (v === undefined) known.set(n, (v = f(n)));
    return v;
  };
}

/**
 * The candidate with the fewest spills in lo … hi whose peak is within `limit`, by bisection (the
 * peak falls and the FLOPs grow with the count); `scheduled`: measured schedule-aware (on graphs
 * small enough). Counts whose candidates recompute more than s.bestFlops are never measured: once
 * a fit is known, the most spills still under it (found by galloping from `hint`, asking only the
 * FLOPs) is measured first — when it misses, no fewer fits — then the search gallops down from it
 * (the fewest that fit is usually near) and bisects the last step. Candidates whose lower bound
 * misses the limit are not estimated either. A result that fits the budget lowers s.bestFlops.
 */
function fewestSpills(
  lo: number, hi: number, spill: (n: number) => CheckpointCandidate, s: Search, limit: number, scheduled: boolean, hint?: number,
): CheckpointCandidate | undefined {
  const measured = (n: number): CheckpointCandidate | undefined => {
    const c = spill(n);
    if (surelyOver(s, c, limit, scheduled)) return undefined;
    const m = scheduled ? scheduledPeak(c, s.peak) : c;
    return m.peakBytes <= limit ? m : undefined;
  };
  let found: CheckpointCandidate | undefined;
  if (Number.isFinite(s.bestFlops)) {
    if (lo > hi) return undefined;
    const underBest = (n: number) => spill(n).recomputeFlops <= s.bestFlops;
    // top: the most spills under the bound, between a count under it and one over it (lo is taken
    // to be under it until checked: galloping from a hint seldom needs it)
    let under = lo;
    let over = hi + 1;
    const start = Math.min(hi, Math.max(lo, hint ?? lo));
    if (underBest(start)) {
      under = start;
      for (let step = 1; under + step < over; step *= 2) {
        if (underBest(under + step)) under += step;
        else {
          over = under + step;
          break;
        }
      }
    } else {
      over = start;
      for (let step = 1; over - step > under; step *= 2) {
        if (!underBest(over - step)) over -= step;
        else {
          under = over - step;
          break;
        }
      }
    }
    while (over - under > 1) {
      const mid = Math.floor((under + over) / 2);
      if (underBest(mid)) under = mid;
      else over = mid;
    }
    if (under === lo && !underBest(lo)) return undefined;
    found = measured(under);
    if (!found) return undefined;
    // gallop down from the fit: the fewest that fit lie between the last miss and the last fit
    let fit = under;
    for (let step = 1; fit - step >= lo; step *= 2) {
      const c = measured(fit - step);
      if (!c) {
        lo = fit - step + 1;
        break;
      }
      found = c;
      fit -= step;
    }
    hi = fit - 1;
  }
  while (lo <= hi) {
    const mid = Math.floor((lo + hi) / 2);
    const c = measured(mid);
    if (c) {
      found = c;
      hi = mid - 1;
    } else lo = mid + 1;
  }
  if (found && found.peakBytes <= s.budget) s.bestFlops = Math.min(s.bestFlops, found.recomputeFlops);
  return found;
}

/**
 * The candidates by recompute FLOPs, ties by peak (a stable sort), as they are read, except those
 * `skip` rules out: a run of equal FLOPs is ordered by peak when reached, so the peaks of
 * candidates after the one the caller stops at are never estimated.
 */
function* byFlopsThenPeak(candidates: readonly CheckpointCandidate[], skip: (c: CheckpointCandidate) => boolean): Generator<CheckpointCandidate> {
  const sorted = [...candidates].sort((a, b) => a.recomputeFlops - b.recomputeFlops);
  for (let i = 0; i < sorted.length; ) {
    let j = i + 1;
    while (j < sorted.length && sorted[j].recomputeFlops === sorted[i].recomputeFlops) j++;
    const run = sorted.slice(i, j).filter((c) => !skip(c));
    yield* run.length <= 1 ? run : run.sort((a, b) => a.peakBytes - b.peakBytes);
    i = j;
  }
}

/** Schedule-aware re-estimates `auto` may spend on candidates whose quick estimate misses the budget. */
const SCHEDULED_CHECKS = 6;

/**
 * auto without a budget: recompute only what is cheap, as torch.compile's default partitioner
 * does (it never recomputes a matmul or convolution): every contraction output and every cut (a
 * residual block's output) is kept, and the elementwise ops, activations and norms between them
 * are recomputed from those, each within its own segment. The recomputation is a small fraction
 * of the step's FLOPs at any depth, and choosing it takes one rewrite and two estimates (no
 * search). Fewer bytes take a budget (--memory-budget), which the search meets with the fewest
 * recomputed FLOPs. Where dropping the cheap values does not lower the peak, nothing is dropped.
 */
function defaultPolicy(g: Graph, forwardNodes: number, analysis: ForwardAnalysis, peak: PeakEstimator): CheckpointCandidate {
  const cheap = scheduledPeak(evaluate(g, forwardNodes, analysis, dropSet(analysis, new Set(analysis.cuts), analysis.costliest), 1, analysis.costliest, true, peak), peak);
  const untouched = scheduledPeak(withPeak({ every: Infinity, threshold: 0, scoped: false, graph: g, recomputeFlops: 0, recomputeNodes: 0 }, () => peak(g, false)), peak);
  return cheap.recomputeNodes > 0 && cheap.peakBytes < untouched.peakBytes ? cheap : untouched;
}

function autoCandidate(g: Graph, forwardNodes: number, analysis: ForwardAnalysis, budget: number | undefined, peak: PeakEstimator): CheckpointCandidate {
  const plans = chainPlans(g, forwardNodes, analysis);
  const candidates = autoCandidates(g, forwardNodes, analysis, peak, plans);
  const byPeak = (a: CheckpointCandidate, b: CheckpointCandidate) => a.peakBytes - b.peakBytes || a.recomputeFlops - b.recomputeFlops;
  if (budget === undefined) return scheduledPeak([...candidates].sort(byPeak)[0], peak);
  // A budget the step already fits needs no recomputation at all.
  const bounds = new WeakMap<CheckpointCandidate, number>();
  const lowerBound = (c: CheckpointCandidate) => bounds.get(c) ?? bounds.set(c, lowerBoundOf(c, forwardNodes)).get(c)!;
  const untouched = scheduledPeak(withPeak({ every: Infinity, threshold: 0, scoped: false, graph: g, recomputeFlops: 0, recomputeNodes: 0 }, () => peak(g, false)), peak);
  if (!(g.nodes.length > SCHEDULED_ESTIMATE_MAX_NODES && lowerBound(untouched) > budget) && untouched.peakBytes <= budget) return untouched;
  // The quick estimate is an upper bound of the scheduled one; how much scheduling saves is
  // measured once, on the candidate that keeps every contraction, and lets candidates within that
  // slack of the budget be checked on the scheduled estimate (a few seconds each on deep nets).
  const keepContractions = candidates.find((c) => c.every === Infinity && c.scoped && c.slots === undefined && c.threshold === analysis.costliest);
  // (none beyond SCHEDULED_ESTIMATE_MAX_NODES, where the quick estimate stands in for it)
  const slack = keepContractions && keepContractions.graph.nodes.length <= SCHEDULED_ESTIMATE_MAX_NODES
    ? keepContractions.peakBytes - scheduledPeak(keepContractions, peak).peakBytes
    : 0;
  // The capacity plans first: they usually fit with the fewest FLOPs, and every candidate
  // recomputing more than one known to fit is then never measured.
  const search: Search = { budget, slack, peak, bestFlops: Infinity, lowerBound };
  const capacity = capacityRefinements(g, forwardNodes, analysis, search);
  candidates.push(...refinements(g, forwardNodes, analysis, plans, candidates, search));
  candidates.push(...capacity);
  let checks = 0;
  // Candidates recomputing more than one known to fit come after it; one whose lower bound is
  // beyond the slack would not be re-estimated either (refinements may carry schedule-aware peaks,
  // which the bound does not bound: on graphs small enough for them, every candidate is read).
  for (const c of byFlopsThenPeak(candidates, (c) => c.recomputeFlops > search.bestFlops || surelyOver(search, c, budget + slack, true))) {
    if (c.peakBytes <= budget) return scheduledPeak(c, peak);
    if (c.peakBytes <= budget + slack && checks < SCHEDULED_CHECKS) {
      checks++;
      const s = scheduledPeak(c, peak);
      if (s.peakBytes <= budget) return s;
    }
  }
  const least = scheduledPeak([...candidates].sort(byPeak)[0], peak);
  if (least.peakBytes <= budget) return least;
  throw new CheckpointBudgetError(`memory budget ${budget} bytes is infeasible for '${g.name}': the least peak checkpointing reaches is ${least.peakBytes} bytes`);
}


