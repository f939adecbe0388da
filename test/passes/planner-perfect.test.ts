// Perfect packings: generated instances whose optimum is known (a box cut by guillotine cuts, so the
// optimum arena is the box's capacity), and the exact search for tight capacities that solves them
// (search-skyline.ts, run as a portfolio by search-tight.ts). Checked against the general
// branch and bound (search.ts) as an independent oracle, and every plan against the verifier.
// No assertion depends on timing: limits are generous and only bound the worst case.

import { describe, expect, it } from "vitest";
import { bestGreedy } from "../../compiler/passes/planner/greedy.ts";
import type { PlanProblem } from "../../compiler/passes/planner/problem.ts";
import { buildSearchModel } from "../../compiler/passes/planner/search-model.ts";
import { SkylineSearch } from "../../compiler/passes/planner/search-skyline.ts";
import { TightSearch } from "../../compiler/passes/planner/search-tight.ts";
import { CapacitySearch } from "../../compiler/passes/planner/search.ts";
import { maxLiveLowerBound, solve } from "../../compiler/passes/planner/solve.ts";
import { assertPlan } from "../../compiler/passes/planner/verify.ts";
import { perfectPacking, seededRandom } from "../../scripts/gen-perfect-packing.ts";

const modelOf = (problem: PlanProblem) =>
  buildSearchModel(
    problem.buffers.map((b) => b.lower),
    problem.buffers.map((b) => b.upper),
    problem.buffers.map((b) => b.size),
    problem.alignment,
  )!;

const problemOf = (capacity: number, rows: readonly (readonly number[])[]): { problem: PlanProblem; capacity: number } => ({
  capacity,
  problem: { alignment: 1, buffers: rows.map(([lower, upper, size], i) => ({ id: `b${i}`, lower, upper, size })) },
});

/**
 * Random small instances whose live bytes equal `capacity` at every step (random buffers, then
 * more buffers topping every step up), feasible or not. Found by such a search: the first of these
 * cannot be packed within its capacity, 9, although 9 bytes are live at every step.
 */
const TIGHT_INFEASIBLE = problemOf(9, [
  [7, 8, 8], [2, 8, 1], [1, 3, 2], [0, 2, 5], [0, 1, 3], [0, 2, 1], [1, 6, 1],
  [2, 7, 4], [2, 5, 1], [3, 7, 1], [3, 4, 1], [4, 5, 1], [5, 6, 2], [6, 7, 3],
]);

function randomTight(seed: number): { problem: PlanProblem; capacity: number } {
  const random = seededRandom(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
  const capacity = int(3, 10);
  const steps = int(4, 9);
  const live = new Array<number>(steps).fill(0);
  const rows: number[][] = [];
  for (let k = int(4, 14); k > 0; k--) {
    const lower = int(0, steps - 1);
    const upper = int(lower + 1, steps);
    const size = int(1, capacity - 1);
    if (live.slice(lower, upper).some((x) => x + size > capacity)) continue;
    for (let t = lower; t < upper; t++) live[t] += size;
    rows.push([lower, upper, size]);
  }
  for (let t = 0; t < steps; t++) {
    while (live[t] < capacity) {
      let upper = t + 1;
      while (upper < steps && live[upper] < capacity && random() < 0.5) upper++;
      const size = int(1, Math.min(...live.slice(t, upper).map((x) => capacity - x)));
      for (let u = t; u < upper; u++) live[u] += size;
      rows.push([t, upper, size]);
    }
  }
  return problemOf(capacity, rows);
}

describe("perfectPacking (scripts/gen-perfect-packing.ts)", () => {
  it("tiles the box: the box's own plan verifies at the capacity, which is the max-live bound", () => {
    for (const shape of ["balanced", "uniform"] as const) {
      for (const [buffers, seed] of [[1, 1], [7, 2], [60, 3], [300, 4]]) {
        const { problem, offsets, capacity } = perfectPacking({ buffers, seed, shape });
        expect(problem.buffers).toHaveLength(buffers);
        expect(capacity).toBe(1 << 20);
        assertPlan(problem, { offsets, arena: capacity }, capacity);
        expect(maxLiveLowerBound(problem)).toBe(capacity);
        expect(maxLiveLowerBound({ ...problem, alignment: 16 })).toBe(capacity);
        for (const b of problem.buffers) {
          expect(b.size % 16).toBe(0);
          expect(b.size).toBeGreaterThan(0);
          expect(b.upper).toBeGreaterThan(b.lower);
        }
      }
    }
  });

  it("is deterministic per seed, and seeds differ", () => {
    const a = perfectPacking({ buffers: 100, seed: 5 });
    expect(perfectPacking({ buffers: 100, seed: 5 })).toEqual(a);
    expect(perfectPacking({ buffers: 100, seed: 6 }).problem).not.toEqual(a.problem);
  });

  it("honours capacity, steps and granularity, and rejects impossible requests", () => {
    const { problem, capacity } = perfectPacking({ buffers: 40, seed: 1, capacity: 4096, steps: 50, granularity: 64 });
    expect(capacity).toBe(4096);
    expect(Math.max(...problem.buffers.map((b) => b.upper))).toBe(50);
    for (const b of problem.buffers) expect(b.size % 64).toBe(0);
    expect(() => perfectPacking({ buffers: 10, seed: 1, capacity: 100 })).toThrow(/multiple of the granularity/);
    expect(() => perfectPacking({ buffers: 100, seed: 1, capacity: 64, steps: 2 })).toThrow(/do not fit/);
  });
});

describe("SkylineSearch", () => {
  it("is exact only where live bytes meet the capacity everywhere", () => {
    const { problem, capacity } = perfectPacking({ buffers: 30, seed: 1 });
    const search = new SkylineSearch(modelOf(problem));
    expect(search.tightAt(capacity)).toBe(true);
    expect(search.tightAt(capacity + 16)).toBe(false);
    // A size that needs padding at the alignment: no longer tight.
    const padded = { ...problem, alignment: 32 };
    expect(new SkylineSearch(modelOf(padded)).tightAt(capacity)).toBe(problem.buffers.every((b) => b.size % 32 === 0));
  });

  it("proves a tight capacity infeasible, as the general search does", () => {
    const { problem, capacity } = TIGHT_INFEASIBLE;
    const model = modelOf(problem);
    expect(maxLiveLowerBound(problem)).toBe(capacity);
    expect(new SkylineSearch(model).tightAt(capacity)).toBe(true);
    expect(new SkylineSearch(model).run(capacity, Infinity).status).toBe("infeasible");
    expect(new TightSearch(model).run(capacity, Infinity).status).toBe("infeasible");
    expect(new CapacitySearch(model).run(capacity, Infinity).status).toBe("infeasible");
    const result = solve(problem, { timeLimitMs: 20_000 });
    assertPlan(problem, result);
    expect(result.arena).toBeGreaterThan(capacity);
    expect(result.optimal).toBe(true);
    expect(new CapacitySearch(model).run(result.arena - 1, Infinity).status).toBe("infeasible");
  });

  it("agrees with the general search on random tight instances, and its plans verify", () => {
    let infeasible = 0;
    for (let seed = 1; seed <= 400; seed++) {
      const { problem, capacity } = randomTight(seed);
      const model = modelOf(problem);
      const skyline = new SkylineSearch(model);
      expect(skyline.tightAt(capacity)).toBe(true);
      const run = skyline.run(capacity, Infinity);
      expect(run.status).toBe(new CapacitySearch(model).run(capacity, Infinity).status);
      if (run.status === "infeasible") infeasible++;
      else assertPlan(problem, { offsets: Array.from(run.offsets), arena: capacity }, capacity);
    }
    expect(infeasible).toBeGreaterThan(0);
  });

  it("packs generated instances exactly, both shapes, forwards and backwards in time", () => {
    for (const shape of ["balanced", "uniform"] as const) {
      for (let seed = 1; seed <= 6; seed++) {
        const { problem, capacity } = perfectPacking({ buffers: 80, seed, shape });
        const run = new TightSearch(modelOf(problem)).run(capacity, Infinity);
        expect(run.status).toBe("found");
        assertPlan(problem, { offsets: Array.from(run.offsets), arena: capacity }, capacity);
      }
    }
  });

  it("gives up at the deadline or the node limit", () => {
    const { problem, capacity } = perfectPacking({ buffers: 200, seed: 3 });
    const search = new SkylineSearch(modelOf(problem));
    expect(search.run(capacity, performance.now() - 1).status).toBe("aborted");
    expect(search.run(capacity, Infinity, { nodeLimit: 10 }).status).toBe("aborted");
    expect(new TightSearch(modelOf(problem)).run(capacity, performance.now() - 1).status).toBe("aborted");
  });

  it("honours a work clock: the deadline counts search work (buffers per node), not time", () => {
    const { problem, capacity } = perfectPacking({ buffers: 1000, seed: 3 });
    let work = 0;
    const clock = { now: () => work, tick: (units: number) => void (work += units) };
    // The clock is read every 256 nodes: a deadline of one node stops the search there.
    const run = new SkylineSearch(modelOf(problem)).run(capacity, 1000, { clock });
    expect(run.status).toBe("aborted");
    expect(work).toBe(256 * 1000);
  });
});

describe("solve on perfect packings", () => {
  it("reaches the capacity (the optimum) where best-fit does not, with alignment 1 and 16", () => {
    let greedyMissed = 0;
    for (const buffers of [60, 100, 150, 200]) {
      for (const seed of [1, 2, 3]) {
        const generated = perfectPacking({ buffers, seed });
        for (const alignment of [1, 16]) {
          const problem = { ...generated.problem, alignment };
          const result = solve(problem, { timeLimitMs: 30_000 });
          assertPlan(problem, result);
          expect(result.lowerBound).toBe(generated.capacity);
          expect(result.arena).toBe(generated.capacity);
          expect(result.optimal).toBe(true);
          if (result.greedyArena > generated.capacity) greedyMissed++;
        }
      }
    }
    expect(greedyMissed).toBeGreaterThan(12);
  });

  it("with a tiny time limit still returns a verified plan, never worse than best-fit", () => {
    for (const limit of [0, 1, 5]) {
      const { problem } = perfectPacking({ buffers: 1000, seed: 2 });
      const result = solve(problem, { timeLimitMs: limit });
      assertPlan(problem, result);
      expect(result.arena).toBeLessThanOrEqual(bestGreedy(problem).arena);
    }
  });
});
