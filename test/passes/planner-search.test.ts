// The arena planner's algorithms: best-fit heuristics, the exact capacity search and the anytime
// solve() around them, checked against independent oracles:
//   - a brute force that tries every placement order (optimal for n <= 7: processing an optimal
//     plan's buffers by offset, lowest-fit never places one higher than that plan did);
//   - "guillotine" instances, cut from a full rectangle, whose optimum is known to be the height;
//   - the project's plan verifier (verify.ts), which shares no code with the planner.

import { describe, expect, it } from "vitest";
import {
  bestFit,
  bestGreedy,
  GREEDY_ORDERS,
  lifetimePressure,
  rankProblem,
  sortByKeys,
} from "../../compiler/passes/planner/greedy.ts";
import type { PlanBuffer, PlanProblem } from "../../compiler/passes/planner/problem.ts";
import { OffsetRuns } from "../../compiler/passes/planner/greedy-interval-index.ts";
import { HotCores } from "../../compiler/passes/planner/search-core.ts";
import { buildSearchModel } from "../../compiler/passes/planner/search-model.ts";
import { CapacitySearch } from "../../compiler/passes/planner/search.ts";
import { maxLiveLowerBound, solve } from "../../compiler/passes/planner/solve.ts";
import { assertPlan } from "../../compiler/passes/planner/verify.ts";
import { randInt as int, rng } from "../support/seeded-random.ts";

/** Short lifetimes in a few steps, so that most buffers overlap; sizes up to `maxSize`. */
/** A Fisher-Yates shuffle of 0..n-1. */
function shuffle(random: () => number, n: number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = int(random, 0, i);
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

function randomProblem(seed: number, n: number, alignment: number, maxSize = 24): PlanProblem {
  const random = rng(seed);
  const buffers: PlanBuffer[] = [];
  for (let i = 0; i < n; i++) {
    const lower = int(random, 0, 4);
    buffers.push({ id: `b${i}`, lower, upper: lower + int(random, 1, 3), size: int(random, 1, maxSize) });
  }
  return { buffers, alignment };
}

/** The lowest aligned offset where buffer i fits against the placed buffers (offset >= 0). */
function naiveLowestFit(problem: PlanProblem, offsets: readonly number[], i: number): number {
  const { buffers, alignment } = problem;
  const align = (x: number) => Math.ceil(x / alignment) * alignment;
  const live = (j: number) => offsets[j] >= 0 && buffers[i].lower < buffers[j].upper && buffers[j].lower < buffers[i].upper;
  const candidates = [0];
  buffers.forEach((b, j) => live(j) && candidates.push(align(offsets[j] + b.size)));
  const fits = (o: number) =>
    buffers.every((b, j) => !live(j) || b.size === 0 || o + buffers[i].size <= offsets[j] || offsets[j] + b.size <= o);
  return Math.min(...candidates.filter(fits));
}

/** Minimum arena over every placement order, each buffer at its lowest aligned free offset. */
function bruteForceOptimum(problem: PlanProblem): number {
  const n = problem.buffers.length;
  const offsets = new Array<number>(n).fill(-1);
  let best = Infinity;
  const place = (depth: number, arena: number): void => {
    if (arena >= best) return;
    if (depth === n) {
      best = arena;
      return;
    }
    for (let i = 0; i < n; i++) {
      if (offsets[i] >= 0) continue;
      offsets[i] = naiveLowestFit(problem, offsets, i);
      place(depth + 1, Math.max(arena, offsets[i] + problem.buffers[i].size));
      offsets[i] = -1;
    }
  };
  place(0, 0);
  return best;
}

/**
 * Cuts the rectangle [0, width) x [0, height) (time x bytes) into `pieces` buffers by random
 * guillotine cuts. The pieces tile the rectangle, so the optimum equals the lower bound: height.
 */
function guillotineProblem(seed: number, pieces: number, width: number, height: number): PlanProblem {
  const random = rng(seed);
  const rects = [{ lower: 0, upper: width, bottom: 0, top: height }];
  while (rects.length < pieces) {
    const k = int(random, 0, rects.length - 1);
    const r = rects[k];
    const splitTime = random() < 0.5;
    const span = splitTime ? r.upper - r.lower : r.top - r.bottom;
    if (span < 2) continue;
    const cut = int(random, 1, span - 1);
    if (splitTime) {
      rects.splice(k, 1, { ...r, upper: r.lower + cut }, { ...r, lower: r.lower + cut });
    } else {
      rects.splice(k, 1, { ...r, top: r.bottom + cut }, { ...r, bottom: r.bottom + cut });
    }
  }
  return {
    alignment: 1,
    buffers: rects.map((r, i) => ({ id: `g${i}`, lower: r.lower, upper: r.upper, size: r.top - r.bottom })),
  };
}

/** MiniMalloc's README example (benchmarks/examples/input.12.csv): the optimum is 12. */
const EXAMPLE_12: PlanProblem = {
  alignment: 1,
  buffers: [
    { id: "b1", lower: 0, upper: 3, size: 4 },
    { id: "b2", lower: 3, upper: 9, size: 4 },
    { id: "b3", lower: 0, upper: 9, size: 4 },
    { id: "b4", lower: 9, upper: 21, size: 4 },
    { id: "b5", lower: 0, upper: 21, size: 4 },
  ],
};

/**
 * Instances whose optimum lies above the lower bound: with 16-byte alignment, which buffer ends up
 * on top (and so needs no padding) matters. Found by random search; the optimum is re-checked by
 * brute force in the test. Buffers are [lower, upper, size].
 */
const GAP_INSTANCES = [
  { buffers: [[1, 4, 25], [3, 4, 35], [0, 1, 31], [1, 3, 2], [1, 2, 38], [2, 5, 1]], lowerBound: 82, optimum: 83 },
  { buffers: [[1, 3, 21], [1, 2, 31], [0, 1, 1], [2, 4, 18], [3, 6, 25], [0, 1, 28]], lowerBound: 53, optimum: 57 },
  { buffers: [[0, 2, 20], [1, 4, 1], [1, 4, 25], [0, 1, 40], [2, 3, 25], [3, 5, 10]], lowerBound: 68, optimum: 72 },
  { buffers: [[1, 2, 13], [1, 2, 29], [2, 5, 13], [3, 6, 16], [2, 4, 18], [1, 3, 1]], lowerBound: 50, optimum: 61 },
  { buffers: [[3, 4, 14], [1, 3, 2], [1, 4, 10], [2, 5, 1], [2, 5, 1], [0, 2, 26]], lowerBound: 50, optimum: 58 },
  { buffers: [[0, 1, 28], [0, 1, 2], [1, 3, 22], [0, 2, 30], [3, 6, 34], [1, 4, 13]], lowerBound: 70, optimum: 76 },
];

function searchModelOf(problem: PlanProblem) {
  const { buffers, alignment } = problem;
  return buildSearchModel(
    buffers.map((b) => b.lower),
    buffers.map((b) => b.upper),
    buffers.map((b) => b.size),
    alignment,
  )!;
}

describe("maxLiveLowerBound", () => {
  it("takes the largest sum of sizes live at one moment; half-open lifetimes that touch do not add", () => {
    const problem: PlanProblem = {
      alignment: 1,
      buffers: [
        { id: "a", lower: 0, upper: 2, size: 5 },
        { id: "b", lower: 2, upper: 4, size: 7 },
        { id: "c", lower: 1, upper: 3, size: 3 },
        { id: "never-live", lower: 3, upper: 3, size: 100 },
      ],
    };
    expect(maxLiveLowerBound(problem)).toBe(10); // b + c during [2, 3)
  });

  it("counts live buffers rounded up to the alignment, except the topmost", () => {
    const problem: PlanProblem = {
      alignment: 16,
      buffers: [
        { id: "a", lower: 0, upper: 4, size: 10 },
        { id: "b", lower: 0, upper: 4, size: 10 },
      ],
    };
    // One sits at 0, the other at 16: 16 + 10.
    expect(maxLiveLowerBound(problem)).toBe(26);
    expect(solve(problem).arena).toBe(26);
  });

  it("is zero for no buffers", () => {
    expect(maxLiveLowerBound({ alignment: 1, buffers: [] })).toBe(0);
  });
});

describe("OffsetRuns", () => {
  it("merges touching and overlapping runs and finds the first run blocking a range", () => {
    const runs = new OffsetRuns();
    runs.add(30, 40);
    runs.add(10, 20);
    runs.add(20, 25); // touches [10, 20): one run [10, 25)
    expect(runs.blockingEnd(0, 10)).toBe(-1);
    expect(runs.blockingEnd(0, 11)).toBe(25);
    expect(runs.blockingEnd(25, 5)).toBe(-1);
    expect(runs.blockingEnd(25, 6)).toBe(40);
    runs.add(5, 35); // swallows both: [5, 40)
    expect(runs.blockingEnd(0, 5)).toBe(-1);
    expect(runs.blockingEnd(0, 6)).toBe(40);
    expect(runs.blockingEnd(40, 100)).toBe(-1);
  });
});

describe("bestFit and bestGreedy", () => {
  it("places each buffer at the lowest offset free during its whole lifetime", () => {
    const problem: PlanProblem = {
      alignment: 1,
      buffers: [
        { id: "long", lower: 0, upper: 10, size: 4 },
        { id: "early", lower: 0, upper: 4, size: 6 },
        { id: "late", lower: 6, upper: 10, size: 3 },
        { id: "middle", lower: 3, upper: 7, size: 2 },
      ],
    };
    // long [0,4); early [4,10); late [4,7); middle overlaps all three in time, so it goes on top.
    expect(bestFit(problem, [0, 1, 2, 3]).offsets).toEqual([0, 4, 4, 10]);
    expect(bestFit(problem, [0, 1, 2, 3]).arena).toBe(12);
    // early first: early [0,6); long [6,10); late fits under long at [0,3); middle goes to 10.
    expect(bestFit(problem, [1, 0, 2, 3]).offsets).toEqual([6, 0, 0, 10]);
  });

  it("agrees with a naive lowest-fit scan in any order", () => {
    for (let seed = 300; seed < 320; seed++) {
      const problem = randomProblem(seed, 80, [1, 16][seed % 2]);
      const shuffled = shuffle(rng(seed), 80);
      const offsets = new Array<number>(80).fill(-1);
      for (const i of shuffled) offsets[i] = naiveLowestFit(problem, offsets, i);
      expect(bestFit(problem, shuffled).offsets).toEqual(offsets);
    }
  });

  it("respects the alignment", () => {
    const problem = randomProblem(7, 12, 16);
    const plan = bestFit(problem, sortByKeys(12, GREEDY_ORDERS[0].keys(problem, lifetimePressure(problem))));
    assertPlan(problem, plan);
    for (const o of plan.offsets) expect(o % 16).toBe(0);
  });

  it("rejects orders that are not a permutation", () => {
    expect(() => bestFit(EXAMPLE_12, [0, 1, 2, 3])).toThrow(/4 entries for 5 buffers/);
    expect(() => bestFit(EXAMPLE_12, [0, 1, 2, 3, 3])).toThrow(/appears twice/);
  });

  it("keeps the best of its orders, each of which verifies", () => {
    for (let seed = 1; seed <= 20; seed++) {
      const problem = randomProblem(seed, 30, seed % 2 === 0 ? 1 : 8);
      const pressure = lifetimePressure(problem);
      const best = bestGreedy(problem);
      assertPlan(problem, best);
      for (const order of GREEDY_ORDERS) {
        const plan = bestFit(problem, sortByKeys(30, order.keys(problem, pressure)));
        assertPlan(problem, plan);
        expect(best.arena).toBeLessThanOrEqual(plan.arena);
      }
      expect(GREEDY_ORDERS.map((o) => o.name)).toContain(best.order);
    }
  });
});

describe("CapacitySearch", () => {
  it("fits MiniMalloc's example in 12 bytes and proves 11 impossible", () => {
    const model = searchModelOf(EXAMPLE_12);
    const found = new CapacitySearch(model).run(12, Infinity);
    expect(found.status).toBe("found");
    const offsets = Array.from(found.offsets);
    assertPlan(EXAMPLE_12, { offsets, arena: Math.max(...offsets.map((o, i) => o + EXAMPLE_12.buffers[i].size)) }, 12);
    expect(new CapacitySearch(model).run(11, Infinity).status).toBe("infeasible");
  });

  it("agrees with brute force on whether a capacity is feasible", () => {
    for (let seed = 100; seed < 130; seed++) {
      const problem = randomProblem(seed, 6, seed % 3 === 0 ? 4 : 1);
      const optimum = bruteForceOptimum(problem);
      const model = searchModelOf(problem);
      expect(new CapacitySearch(model).run(optimum, Infinity).status).toBe("found");
      expect(new CapacitySearch(model).run(optimum - 1, Infinity).status).toBe("infeasible");
    }
  });

  it("gives up at the deadline", () => {
    const problem = guillotineProblem(3, 120, 1000, 1000);
    const run = new CapacitySearch(searchModelOf(problem)).run(1000, performance.now() - 1);
    expect(run.status).toBe("aborted");
    expect(new CapacitySearch(searchModelOf(problem)).run(1000, Infinity).status).toBe("found");
  });
});

/**
 * A tight guillotine block during [0, 100) followed by a long, cool tail of small buffers, as in a
 * training step where only one stretch comes close to the peak.
 */
function hotBlockWithColdTail(seed: number, tail: number): PlanProblem {
  const block = guillotineProblem(seed, 40, 100, 1000);
  const random = rng(seed + 1);
  const buffers = [...block.buffers];
  for (let i = 0; i < tail; i++) {
    const lower = int(random, 200, 5000);
    buffers.push({ id: `t${i}`, lower, upper: lower + int(random, 1, 20), size: int(random, 1, 100) });
  }
  return { alignment: 1, buffers };
}

describe("HotCores", () => {
  it("takes the buffers live in the hot window, clipped to it", () => {
    const problem: PlanProblem = {
      alignment: 1,
      buffers: [
        { id: "cold", lower: 0, upper: 10, size: 1 },
        { id: "long", lower: 0, upper: 100, size: 5 },
        { id: "peak", lower: 40, upper: 60, size: 10 },
        { id: "later", lower: 70, upper: 90, size: 2 },
      ],
    };
    const core = new HotCores(problem, rankProblem(problem)).above(14)!;
    // Live memory exceeds 14 only during [40, 60): "long" and "peak".
    expect(Array.from(core.indices)).toEqual([1, 2]);
    expect(Array.from(core.model.lower)).toEqual([40, 40]);
    expect(Array.from(core.model.upper)).toEqual([60, 60]);
    expect(Array.from(core.model.width)).toEqual([100, 20]); // the preorder sees full lifetimes
    expect(new HotCores(problem, rankProblem(problem)).above(15)).toBeUndefined();
  });
});

describe("solve", () => {
  it("solves MiniMalloc's example optimally", () => {
    const result = solve(EXAMPLE_12);
    expect(result.lowerBound).toBe(12);
    expect(result.arena).toBe(12);
    expect(result.optimal).toBe(true);
    assertPlan(EXAMPLE_12, result);
  });

  it("matches the brute-force optimum and proves it (n <= 7)", () => {
    for (let seed = 1; seed <= 60; seed++) {
      const n = 4 + (seed % 4);
      const problem = randomProblem(seed, n, [1, 4, 16, 16][seed % 4], 40);
      const optimum = bruteForceOptimum(problem);
      const result = solve(problem, { timeLimitMs: 10_000 });
      assertPlan(problem, result);
      expect(result.arena).toBe(optimum);
      expect(result.optimal).toBe(true);
    }
  });

  it("proves optimality above the lower bound", () => {
    for (const { buffers, lowerBound, optimum } of GAP_INSTANCES) {
      const problem: PlanProblem = {
        alignment: 16,
        buffers: buffers.map(([lower, upper, size], i) => ({ id: `b${i}`, lower, upper, size })),
      };
      expect(bruteForceOptimum(problem)).toBe(optimum);
      const result = solve(problem);
      expect(result).toMatchObject({ lowerBound, arena: optimum, optimal: true });
      assertPlan(problem, result);
      const model = searchModelOf(problem);
      expect(new CapacitySearch(model).run(optimum - 1, Infinity).status).toBe("infeasible");
    }
  });

  it("packs guillotine instances to their known optimum, which best-fit misses", () => {
    let greedyMissed = 0;
    for (let seed = 1; seed <= 12; seed++) {
      const problem = guillotineProblem(seed, 30, 200, 1000);
      const result = solve(problem, { timeLimitMs: 20_000 });
      assertPlan(problem, result);
      expect(result.lowerBound).toBe(1000);
      expect(result.arena).toBe(1000);
      expect(result.optimal).toBe(true);
      if (result.greedyArena > 1000) greedyMissed++;
    }
    expect(greedyMissed).toBeGreaterThan(3);
  });

  it("searches only the hot core of a large problem and fits the rest around it", () => {
    let greedyMissed = 0;
    for (const seed of [1, 2, 3, 4]) {
      const problem = hotBlockWithColdTail(seed, 1500);
      const result = solve(problem, { timeLimitMs: 20_000 });
      assertPlan(problem, result);
      expect(result).toMatchObject({ lowerBound: 1000, arena: 1000, optimal: true });
      if (result.greedyArena > 1000) greedyMissed++;
    }
    expect(greedyMissed).toBeGreaterThan(0);
  });

  it("is never worse than bestGreedy and always verifies, with any alignment", () => {
    for (let seed = 200; seed < 230; seed++) {
      const problem = randomProblem(seed, 40, [1, 8, 16][seed % 3]);
      const result = solve(problem, { timeLimitMs: 200 });
      assertPlan(problem, result);
      expect(result.arena).toBeLessThanOrEqual(bestGreedy(problem).arena);
      expect(result.greedyArena).toBe(bestGreedy(problem).arena);
      expect(result.arena).toBeGreaterThanOrEqual(result.lowerBound);
      for (const o of result.offsets) expect(o % problem.alignment).toBe(0);
    }
  });

  it("stops at the target when one is given", () => {
    const problem = guillotineProblem(5, 40, 300, 1000);
    const greedy = bestGreedy(problem).arena;
    expect(greedy).toBeGreaterThan(1000);
    const target = Math.floor((greedy + 1000) / 2);
    const result = solve(problem, { target, timeLimitMs: 20_000 });
    expect(result.arena).toBeLessThanOrEqual(target);
    assertPlan(problem, result);
  });

  it("with no time left returns the best greedy plan, unsearched", () => {
    const problem = guillotineProblem(9, 60, 400, 1000);
    const greedy = bestGreedy(problem);
    expect(greedy.arena).toBeGreaterThan(1000);
    const result = solve(problem, { timeLimitMs: 0 });
    expect(result.arena).toBe(greedy.arena);
    expect(result.offsets).toEqual(greedy.offsets);
    expect(result.optimal).toBe(false);
    assertPlan(problem, result);
  });

  it("is deterministic when the search completes", () => {
    const problem = guillotineProblem(11, 60, 400, 1000);
    const a = solve(problem, { timeLimitMs: 20_000 });
    const b = solve(problem, { timeLimitMs: 20_000 });
    expect(a.optimal).toBe(true); // finished within the limit, so time played no part
    expect(a.arena).toBeLessThan(a.greedyArena);
    expect(b.offsets).toEqual(a.offsets);
  });

  it("handles empty problems, zero sizes and empty lifetimes", () => {
    expect(solve({ alignment: 4, buffers: [] })).toMatchObject({ arena: 0, lowerBound: 0, optimal: true, offsets: [] });
    const problem: PlanProblem = {
      alignment: 4,
      buffers: [
        { id: "empty", lower: 0, upper: 5, size: 0 },
        { id: "instant", lower: 2, upper: 2, size: 8 },
        { id: "x", lower: 0, upper: 5, size: 6 },
        { id: "y", lower: 1, upper: 3, size: 3 },
      ],
    };
    const result = solve(problem);
    assertPlan(problem, result);
    // x at 0 would push y to 8 (arena 11); y at 0 and x at 4 gives the lower bound, 8 + 4 - 2.
    expect(result.arena).toBe(10);
    expect(result.optimal).toBe(true);
  });

  it("rejects malformed problems", () => {
    const one = (b: Partial<PlanBuffer>): PlanProblem => ({ alignment: 1, buffers: [{ id: "a", lower: 0, upper: 1, size: 1, ...b }] });
    expect(() => solve(one({ size: -1 }))).toThrow(/invalid size/);
    expect(() => solve(one({ size: 1.5 }))).toThrow(/invalid size/);
    expect(() => solve(one({ lower: 2 }))).toThrow(/lifetime/);
    expect(() => solve({ ...one({}), alignment: 0 })).toThrow(/alignment/);
  });
});
