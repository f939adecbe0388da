// The arena planner's entry point. Stages:
//   1. The max-live lower bound: no plan can be smaller.
//   2. Best-fit heuristics (greedy.ts) under several orders; often already optimal. Orders stop
//      early only once one reaches the goal (the target, or else the lower bound).
//   3. Otherwise the anytime search (search-anytime.ts): exact branch and bound (search.ts) on the
//      hot core of the problem (search-core.ts), probing capacities by bisection under the time
//      limit, stopping at the goal.
// There is no randomness: a search that finishes within the time limit gives the same plan every
// time; only a search cut short by the clock depends on how far it got, and under the work clock
// (options.workLimit, clock.ts) not even that. Checking plans is left to
// the plan verifier (verify.ts).

import { bestGreedy, GREEDY_ORDERS, rankProblem } from "./greedy.ts";
import type { PlanProblem, SolveOptions, SolveResult } from "./problem.ts";
import { wallClock, workClock } from "./clock.ts";
import { improveByCapacityProbes } from "./search-anytime.ts";

const DEFAULT_TIME_LIMIT_MS = 5000;

export function solve(problem: PlanProblem, options: SolveOptions = {}): SolveResult {
  const start = performance.now();
  checkProblem(problem);
  const clock = options.workLimit !== undefined ? workClock() : wallClock();
  const deadline = clock.now() + (options.workLimit ?? options.timeLimitMs ?? DEFAULT_TIME_LIMIT_MS);
  const lowerBound = maxLiveLowerBound(problem);
  const goal = Math.max(lowerBound, options.target ?? lowerBound);
  // Every greedy order runs, whatever the time limit, so solve() is never worse than bestGreedy.
  const greedyStart = performance.now();
  const greedy = bestGreedy(problem, { goodEnough: goal });
  const greedyPassMs = (performance.now() - greedyStart) / GREEDY_ORDERS.length;
  let best = { offsets: greedy.offsets, arena: greedy.arena };
  let provenBound = lowerBound;
  if (best.arena > goal) {
    const ranked = rankProblem(problem);
    // Room left at the end for placing the rest around a core: about two best-fit passes of time
    // (none needed under the work clock, which best-fit passes do not advance).
    const fillReserve = clock.counted ? 0 : 2 * greedyPassMs;
    const improved = improveByCapacityProbes(problem, ranked, best, lowerBound, goal, deadline, fillReserve, clock);
    best = { offsets: improved.best.offsets, arena: improved.best.arena };
    provenBound = improved.provenBound;
  }
  return {
    offsets: best.offsets,
    arena: best.arena,
    lowerBound,
    greedyArena: greedy.arena,
    optimal: best.arena <= provenBound,
    elapsedMs: performance.now() - start,
  };
}

/**
 * The largest total live at any moment, a lower bound on every arena. With alignment, every
 * buffer in a stack except the topmost takes its size rounded up, so at each moment the bound is
 * the sum of rounded sizes minus the largest rounding among the live buffers. A sweep over sorted
 * endpoints: O(n log n).
 */
export function maxLiveLowerBound(problem: PlanProblem): number {
  const { buffers, alignment } = problem;
  const n = buffers.length;
  const padding = (i: number): number => Math.ceil(buffers[i].size / alignment) * alignment - buffers[i].size;
  // Events: 2*i starts buffer i, 2*i+1 ends it; ends sort first at equal times (half-open).
  const events = Int32Array.from({ length: 2 * n }, (_, e) => e);
  const time = (e: number): number => ((e & 1) === 0 ? buffers[e >> 1].lower : buffers[e >> 1].upper);
  events.sort((a, b) => time(a) - time(b) || (b & 1) - (a & 1) || a - b);
  const livePaddings = new Map<number, number>(); // padding -> count of live buffers with it
  let largestPadding = 0;
  let live = 0;
  let bound = 0;
  for (const e of events) {
    const i = e >> 1;
    if (buffers[i].lower >= buffers[i].upper) continue; // never live
    const pad = padding(i);
    if ((e & 1) === 0) {
      live += buffers[i].size + pad;
      livePaddings.set(pad, (livePaddings.get(pad) ?? 0) + 1);
      if (pad > largestPadding) largestPadding = pad;
      bound = Math.max(bound, live - largestPadding);
    } else {
      live -= buffers[i].size + pad;
      const left = livePaddings.get(pad)! - 1;
      if (left > 0) livePaddings.set(pad, left);
      else livePaddings.delete(pad);
      if (left === 0 && pad === largestPadding) largestPadding = Math.max(0, ...livePaddings.keys());
    }
  }
  return bound;
}

function checkProblem(problem: PlanProblem): void {
  const { alignment, buffers } = problem;
  if (!Number.isInteger(alignment) || alignment < 1) {
    throw new Error(`plan: alignment must be a positive integer, got ${alignment}`);
  }
  for (const b of buffers) {
    if (!Number.isInteger(b.size) || b.size < 0) throw new Error(`plan: buffer ${b.id} has invalid size ${b.size}`);
    if (!(b.lower <= b.upper)) throw new Error(`plan: buffer ${b.id} has lifetime [${b.lower}, ${b.upper})`);
  }
}
