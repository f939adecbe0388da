// Focusing the exact search where it matters. On large problems only a short stretch of time comes
// close to the peak: pangu_2.6B has 18,692 buffers, but live memory exceeds 90% of the peak in only
// 375 of 20,282 steps. So a capacity is attempted in two steps:
//
//   1. The "hot window" is the span from the first to the last moment where live memory exceeds a
//      threshold. Buffers live in it, with lifetimes clipped to it, form the core, solved exactly
//      by the branch and bound. (Clipping to one interval keeps every overlap: two intervals that
//      meet each other and the window meet inside the window.) A core that cannot fit proves the
//      whole problem cannot: clipping only removes constraints.
//   2. The remaining buffers live where there is slack, so best-fit places them around the pinned
//      core, trying several orders until one stays within the capacity.
//
// A threshold of 0 makes the core the whole problem; callers lower the threshold when the fill
// fails.

import { GREEDY_ORDERS, lifetimePressure, placeInOrder, sortByKeys, type RankedLifetimes } from "./greedy.ts";
import { wallClock, type SearchClock } from "./clock.ts";
import type { PlanProblem, PlanSolution } from "./problem.ts";
import { buildSearchModel, type SearchModel } from "./search-model.ts";
import { CapacitySearch } from "./search.ts";
import { TightSearch } from "./search-tight.ts";

export interface Core {
  /** Problem buffer index of each core buffer (model buffer k is problem buffer indices[k]). */
  readonly indices: Int32Array;
  readonly model: SearchModel;
  /** The search over the model, kept for reuse: it is back in its initial state after each run. */
  readonly search: CapacitySearch;
  /** The search for capacities the core's live bytes meet exactly everywhere (perfect packings). */
  readonly tight: TightSearch;
}

/** Memory bound for a core's overlap lists (Int32 entries; 2 per overlapping pair). */
const MAX_OVERLAP_ENTRIES = 16_000_000;

/** A core model can take tens of megabytes; probes at nearby capacities reuse the last few. */
const CACHED_CORES = 2;

/**
 * Finds and caches cores (nearby capacities often share a hot window, and models are costly), and
 * fills the rest of the problem around a solved core.
 */
export class HotCores {
  private readonly problem: PlanProblem;
  private readonly ranked: RankedLifetimes;
  /** Live bytes (sizes rounded up to the alignment) per elementary time step. */
  private readonly live: Float64Array;
  private readonly cache = new Map<string, Core | undefined>();
  /** The greedy orders as buffer index lists, sorted once for every fill. */
  private orders: Int32Array[] | undefined;

  constructor(problem: PlanProblem, ranked: RankedLifetimes) {
    this.problem = problem;
    this.ranked = ranked;
    const { buffers, alignment } = problem;
    const { first, last, steps } = ranked;
    const live = new Float64Array(steps + 1);
    for (let i = 0; i < buffers.length; i++) {
      if (first[i] >= last[i]) continue;
      const padded = Math.ceil(buffers[i].size / alignment) * alignment;
      live[first[i]] += padded;
      live[last[i]] -= padded;
    }
    for (let t = 1; t <= steps; t++) live[t] += live[t - 1];
    this.live = live;
  }

  /**
   * The core for live memory above `threshold` bytes: buffers live in the hot window, clipped to
   * it. Undefined when nothing is that hot or the core would be too large to search.
   */
  above(threshold: number): Core | undefined {
    const { live } = this;
    let hotFirst = -1;
    let hotLast = -1;
    for (let t = 0; t < this.ranked.steps; t++) {
      if (live[t] > threshold) {
        if (hotFirst < 0) hotFirst = t;
        hotLast = t + 1;
      }
    }
    if (hotFirst < 0) return undefined;
    const key = `${hotFirst}:${hotLast}`;
    if (!this.cache.has(key)) {
      if (this.cache.size >= CACHED_CORES) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(key, this.build(hotFirst, hotLast));
    }
    return this.cache.get(key);
  }

  /**
   * Places every buffer outside the core around the core's offsets, trying best-fit orders until
   * one stays within `capacity`; after the first order, no new one starts past the deadline.
   * Returns the best plan seen, or arena Infinity if every order went above `giveUpAbove`.
   */
  fill(core: Core, coreOffsets: ArrayLike<number>, capacity: number, giveUpAbove: number, deadline: number, clock: SearchClock = wallClock()): PlanSolution {
    const { problem, ranked } = this;
    const pinned = new Float64Array(problem.buffers.length).fill(-1);
    core.indices.forEach((i, k) => (pinned[i] = coreOffsets[k]));
    // Buffers left out of the core model (zero size, never live) are placed like any other.
    if (this.orders === undefined) {
      const pressure = lifetimePressure(problem, ranked);
      this.orders = GREEDY_ORDERS.map((order) => sortByKeys(problem.buffers.length, order.keys(problem, pressure)));
    }
    let best: PlanSolution = { offsets: [], arena: Infinity };
    for (let k = 0; k < this.orders.length; k++) {
      if (k > 0 && clock.now() > deadline) break;
      const plan = placeInOrder(problem, ranked, this.orders[k], { pinned, giveUpAbove: Math.min(giveUpAbove, best.arena) });
      if (plan.arena < best.arena) best = plan;
      if (best.arena <= capacity) break;
    }
    return best;
  }

  private build(hotFirst: number, hotLast: number): Core | undefined {
    const { buffers, alignment } = this.problem;
    const { first, last, times } = this.ranked;
    const members: number[] = [];
    for (let i = 0; i < buffers.length; i++) {
      if (first[i] < last[i] && first[i] < hotLast && last[i] > hotFirst && buffers[i].size > 0) members.push(i);
    }
    const windowStart = times[hotFirst];
    const windowEnd = times[hotLast];
    const model = buildSearchModel(
      members.map((i) => Math.max(buffers[i].lower, windowStart)),
      members.map((i) => Math.min(buffers[i].upper, windowEnd)),
      members.map((i) => buffers[i].size),
      alignment,
      { width: members.map((i) => buffers[i].upper - buffers[i].lower), maxOverlapEntries: MAX_OVERLAP_ENTRIES },
    );
    if (model === undefined) return undefined;
    return { indices: Int32Array.from(members), model, search: new CapacitySearch(model), tight: new TightSearch(model) };
  }
}
