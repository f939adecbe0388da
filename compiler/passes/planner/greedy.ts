// Best-fit heuristics: place buffers one at a time, each at the lowest aligned offset where it fits
// against the buffers already placed whose lifetimes overlap its own.
//
// The result depends only on the order, so `bestGreedy` runs a handful of classic orders (largest
// first, most contended first, largest area first, earliest first) and keeps the smallest arena. Each run is O(n log T) index operations (see greedy-interval-index.ts), which
// keeps Y_1 (62,185 buffers) under a second per order.

import { PlacementIndex, rankLifetimes } from "./greedy-interval-index.ts";
import type { PlanProblem, PlanSolution } from "./problem.ts";

/** Lifetimes as ranks of elementary time segments, computed once per problem. */
export interface RankedLifetimes {
  readonly first: Int32Array;
  readonly last: Int32Array;
  readonly steps: number;
  /** The distinct endpoint times, ascending: segment r is [times[r], times[r + 1]). */
  readonly times: Float64Array;
}

export function rankProblem(problem: PlanProblem): RankedLifetimes {
  return rankLifetimes(
    problem.buffers.map((b) => b.lower),
    problem.buffers.map((b) => b.upper),
  );
}

export interface PlaceOptions {
  /** Offsets of buffers placed before the order starts (-1: not pinned); pinned buffers are skipped in the order. */
  readonly pinned?: ArrayLike<number>;
  /** Stop early, returning arena Infinity, once the arena exceeds this. */
  readonly giveUpAbove?: number;
}

/**
 * Places the buffers of `order` (buffer indices) one by one, each as low as it fits; pinned buffers
 * keep their offsets. Every buffer must be pinned or in the order.
 */
export function placeInOrder(
  problem: PlanProblem,
  ranked: RankedLifetimes,
  order: ArrayLike<number>,
  options: PlaceOptions = {},
): PlanSolution {
  const { buffers, alignment } = problem;
  const { first, last } = ranked;
  const n = buffers.length;
  const index = new PlacementIndex(ranked.steps);
  const offsets = new Array<number>(n).fill(-1);
  const giveUpAbove = options.giveUpAbove ?? Infinity;
  let arena = 0;
  if (options.pinned !== undefined) {
    for (let i = 0; i < n; i++) {
      const o = options.pinned[i];
      if (o < 0) continue;
      offsets[i] = o;
      index.place(first[i], last[i], o, buffers[i].size);
      arena = Math.max(arena, o + buffers[i].size);
    }
  }
  for (let k = 0; k < order.length; k++) {
    const i = order[k];
    if (offsets[i] !== -1) {
      if (options.pinned !== undefined && options.pinned[i] >= 0) continue;
      throw new Error(`bestFit: buffer ${i} appears twice in the order`);
    }
    const size = buffers[i].size;
    const offset = index.lowestFit(first[i], last[i], size, alignment);
    index.place(first[i], last[i], offset, size);
    offsets[i] = offset;
    if (offset + size > arena) {
      arena = offset + size;
      if (arena > giveUpAbove) return { offsets, arena: Infinity };
    }
  }
  if (offsets.includes(-1)) throw new Error("bestFit: the order leaves some buffer unplaced");
  return { offsets, arena };
}

/** Places buffers in `order` (buffer indices; each exactly once), each as low as it fits. */
export function bestFit(problem: PlanProblem, order: ArrayLike<number>): PlanSolution {
  const n = problem.buffers.length;
  if (order.length !== n) throw new Error(`bestFit: order has ${order.length} entries for ${n} buffers`);
  return placeInOrder(problem, rankProblem(problem), order);
}

/**
 * For each buffer, the largest total size live at any one time during its lifetime: how contended
 * the stretch of time it lives in is. Buffers on the peak get placed first under "pressure".
 */
export function lifetimePressure(problem: PlanProblem, ranked: RankedLifetimes = rankProblem(problem)): Float64Array {
  const { buffers } = problem;
  const n = buffers.length;
  const { first, last, steps } = ranked;
  // Live total per elementary step via a difference array, then a sparse table for range max.
  const live = new Float64Array(steps + 1);
  for (let i = 0; i < n; i++) {
    if (first[i] >= last[i]) continue;
    live[first[i]] += buffers[i].size;
    live[last[i]] -= buffers[i].size;
  }
  for (let t = 1; t <= steps; t++) live[t] += live[t - 1];
  const table: Float64Array[] = [live];
  for (let w = 1; 2 * w <= steps; w *= 2) {
    const prev = table[table.length - 1];
    const next = new Float64Array(steps - 2 * w + 1);
    for (let t = 0; t < next.length; t++) next[t] = Math.max(prev[t], prev[t + w]);
    table.push(next);
  }
  const pressure = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const a = first[i];
    const b = last[i];
    if (a >= b) continue;
    const level = 31 - Math.clz32(b - a);
    const row = table[level];
    pressure[i] = Math.max(row[a], row[b - (1 << level)]);
  }
  return pressure;
}

/** A named placement order: sort keys over buffer indices, ascending (ties fall back to the index). */
export interface GreedyOrder {
  readonly name: string;
  readonly keys: (problem: PlanProblem, pressure: Float64Array) => Float64Array[];
}

const length = (p: PlanProblem): Float64Array => Float64Array.from(p.buffers, (b) => b.upper - b.lower);
const size = (p: PlanProblem): Float64Array => Float64Array.from(p.buffers, (b) => b.size);
const area = (p: PlanProblem): Float64Array => Float64Array.from(p.buffers, (b) => b.size * (b.upper - b.lower));
const lower = (p: PlanProblem): Float64Array => Float64Array.from(p.buffers, (b) => b.lower);
const negate = (a: Float64Array): Float64Array => a.map((x) => -x);

/**
 * "Largest first" keys are negated. On the public benchmarks every winning order is one of these
 * four (longest-lived-first orders never won), so the others are not worth their time.
 */
export const GREEDY_ORDERS: readonly GreedyOrder[] = [
  { name: "size", keys: (p) => [negate(size(p)), negate(length(p))] },
  { name: "pressure-size", keys: (p, pressure) => [negate(pressure), negate(size(p)), negate(length(p))] },
  { name: "area", keys: (p) => [negate(area(p)), negate(size(p))] },
  { name: "lower", keys: (p) => [lower(p), negate(size(p))] },
];

/** Buffer indices sorted by the given keys (lexicographically ascending, then by index). */
export function sortByKeys(n: number, keys: readonly Float64Array[]): Int32Array {
  const order = Int32Array.from({ length: n }, (_, i) => i);
  order.sort((a, b) => {
    for (const key of keys) {
      const d = key[a] - key[b];
      if (d !== 0) return d;
    }
    return a - b;
  });
  return order;
}

export interface GreedyOptions {
  /** Stop trying further orders once an arena this small is found (e.g. the lower bound). */
  readonly goodEnough?: number;
}

/** Runs the orders of GREEDY_ORDERS and keeps the smallest arena (the first one wins ties). */
export function bestGreedy(problem: PlanProblem, options: GreedyOptions = {}): PlanSolution & { order: string } {
  const ranked = rankProblem(problem);
  const pressure = lifetimePressure(problem, ranked);
  const n = problem.buffers.length;
  let best: (PlanSolution & { order: string }) | undefined;
  for (const order of GREEDY_ORDERS) {
    const solution = placeInOrder(problem, ranked, sortByKeys(n, order.keys(problem, pressure)), {
      giveUpAbove: best === undefined ? Infinity : best.arena,
    });
    if (best === undefined || solution.arena < best.arena) best = { ...solution, order: order.name };
    if (best.arena <= (options.goodEnough ?? -1)) break;
  }
  return best!;
}
