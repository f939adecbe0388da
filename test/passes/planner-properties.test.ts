// Property tests for the memory planner and its verifier, on random interval sets (fast-check).
//
// The oracles here are written independently of the planner: a naive O(n²) overlap check, and a
// brute-force optimum that tries every placement order with lowest-fit placement. That enumerates
// every canonical plan: take any plan, place its buffers in order of offset, each at the lowest
// aligned offset that fits; by induction each lands at or below where it was (the buffers below it
// have only moved down), so some order reaches an optimal arena.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bestFit, bestGreedy } from "../../compiler/passes/planner/greedy.ts";
import { maxLiveLowerBound } from "../../compiler/passes/planner/lower-bound.ts";
import { alignUp, type PlanProblem, type PlanSolution } from "../../compiler/passes/planner/problem.ts";
import { solve } from "../../compiler/passes/planner/solve.ts";
import { assertPlan, MAX_REPORTED_OVERLAPS, PlanVerifyError, verifyPlan } from "../../compiler/passes/planner/verify.ts";

// ---- random problems ----

const bufferSize = fc.oneof(
  { arbitrary: fc.integer({ min: 1, max: 16 }), weight: 3 },
  { arbitrary: fc.integer({ min: 1, max: 4096 }), weight: 3 },
  { arbitrary: fc.integer({ min: 1, max: 1 << 20 }), weight: 1 },
  { arbitrary: fc.constant(0), weight: 1 },
);

/** Up to `maxBuffers` buffers over a random horizon: short horizons give crowded lifetimes. */
function problems(maxBuffers: number, minBuffers = 0): fc.Arbitrary<PlanProblem> {
  return fc.integer({ min: 2, max: 200 }).chain((horizon) =>
    fc
      .record({
        alignment: fc.constantFrom(1, 16),
        buffers: fc.array(
          fc.record({ lower: fc.integer({ min: 0, max: horizon }), length: fc.integer({ min: 1, max: horizon }), size: bufferSize }),
          { minLength: minBuffers, maxLength: maxBuffers, size: "max" }, // fast-check's default stops near 10
        ),
      })
      .map(({ alignment, buffers }) => ({
        alignment,
        buffers: buffers.map((b, i) => ({ id: `b${i}`, lower: b.lower, upper: b.lower + b.length, size: b.size })),
      })),
  );
}

// ---- independent oracles ----

const liveTogether = (p: PlanProblem, i: number, j: number) =>
  p.buffers[i].lower < p.buffers[j].upper && p.buffers[j].lower < p.buffers[i].upper;

const rangesMeet = (start1: number, size1: number, start2: number, size2: number) =>
  size1 > 0 && size2 > 0 && start1 < start2 + size2 && start2 < start1 + size1;

const bytesMeet = (p: PlanProblem, offsets: readonly number[], i: number, j: number) =>
  rangesMeet(offsets[i], p.buffers[i].size, offsets[j], p.buffers[j].size);

/** Every overlapping pair as "i,j" with i < j, by checking all pairs. */
function naiveOverlaps(p: PlanProblem, offsets: readonly number[]): Set<string> {
  const pairs = new Set<string>();
  for (let i = 0; i < p.buffers.length; i++) {
    for (let j = i + 1; j < p.buffers.length; j++) {
      if (liveTogether(p, i, j) && bytesMeet(p, offsets, i, j)) pairs.add(`${i},${j}`);
    }
  }
  return pairs;
}

const arenaOf = (p: PlanProblem, offsets: readonly number[]) =>
  p.buffers.reduce((top, b, i) => Math.max(top, offsets[i] + b.size), 0);

/** Places buffers in `order`, each at the lowest aligned offset clear of those already placed. */
function lowestFitPlan(p: PlanProblem, order: readonly number[]): PlanSolution {
  const offsets = new Array<number>(p.buffers.length).fill(0);
  const placed: number[] = [];
  for (const i of order) {
    const neighbours = placed.filter((j) => liveTogether(p, i, j));
    // The lowest fit is 0 or the aligned end of a neighbour: any lower start would still fit.
    const candidates = [0, ...neighbours.map((j) => alignUp(offsets[j] + p.buffers[j].size, p.alignment))].sort((a, b) => a - b);
    const size = p.buffers[i].size;
    offsets[i] = candidates.find((c) => neighbours.every((j) => !rangesMeet(c, size, offsets[j], p.buffers[j].size)))!;
    placed.push(i);
  }
  return { offsets, arena: arenaOf(p, offsets) };
}

function* permutations(items: number[]): Generator<number[]> {
  if (items.length <= 1) {
    yield items;
    return;
  }
  for (let k = 0; k < items.length; k++) {
    const rest = [...items.slice(0, k), ...items.slice(k + 1)];
    for (const tail of permutations(rest)) yield [items[k], ...tail];
  }
}

function bruteForceOptimum(p: PlanProblem): number {
  let best = Infinity;
  for (const order of permutations([...p.buffers.keys()])) best = Math.min(best, lowestFitPlan(p, order).arena);
  return p.buffers.length === 0 ? 0 : best;
}

/** A valid plan made without the planner: lowest fit in index order. */
const referencePlan = (p: PlanProblem) => lowestFitPlan(p, [...p.buffers.keys()]);

const overlapPairs = (p: PlanProblem, solution: PlanSolution) =>
  verifyPlan(p, solution)
    .filter((v) => v.kind === "overlap")
    .map((v) => [...v.buffers].sort((a, b) => a - b).join(","));

// ---- the verifier ----

describe("verifyPlan against a naive O(n²) check", () => {
  it("finds exactly the overlapping pairs of arbitrary (often overlapping) plans", () => {
    const plans = problems(40).chain((p) => {
      const top = Math.max(1, ...p.buffers.map((b) => b.size)) * 2;
      const offset = fc.integer({ min: 0, max: Math.floor(top / p.alignment) }).map((k) => k * p.alignment);
      return fc.tuple(fc.constant(p), fc.array(offset, { minLength: p.buffers.length, maxLength: p.buffers.length }));
    });
    fc.assert(
      fc.property(plans, ([p, offsets]) => {
        const solution = { offsets, arena: arenaOf(p, offsets) };
        const expected = naiveOverlaps(p, offsets);
        const violations = verifyPlan(p, solution);
        const found = overlapPairs(p, solution);
        expect(violations.filter((v) => v.kind !== "overlap" && v.kind !== "truncated")).toEqual([]);
        expect(new Set(found).size).toBe(found.length);
        if (expected.size <= MAX_REPORTED_OVERLAPS) {
          expect(new Set(found)).toEqual(expected);
          expect(violations.some((v) => v.kind === "truncated")).toBe(false);
        } else {
          expect(found.length).toBe(MAX_REPORTED_OVERLAPS);
          for (const pair of found) expect(expected.has(pair)).toBe(true);
          expect(violations[violations.length - 1].kind).toBe("truncated");
        }
      }),
      { numRuns: 300 },
    );
  });

  it("accepts every valid plan", () => {
    fc.assert(
      fc.property(problems(60), (p) => {
        expect(verifyPlan(p, referencePlan(p))).toEqual([]);
        expect(() => assertPlan(p, referencePlan(p))).not.toThrow();
      }),
      { numRuns: 200 },
    );
  });

  it("rejects a buffer moved onto another one live at the same time, naming both", () => {
    const planted = problems(40, 2)
      .map((p) => {
        const pairs: [number, number][] = [];
        for (let i = 0; i < p.buffers.length; i++) {
          for (let j = 0; j < p.buffers.length; j++) {
            if (i !== j && liveTogether(p, i, j) && p.buffers[i].size > 0 && p.buffers[j].size > 0) pairs.push([i, j]);
          }
        }
        return { p, pairs };
      })
      .filter(({ pairs }) => pairs.length > 0)
      .chain(({ p, pairs }) => fc.tuple(fc.constant(p), fc.constantFrom(...pairs)));
    fc.assert(
      fc.property(planted, ([p, [moved, onto]]) => {
        const offsets = [...referencePlan(p).offsets];
        offsets[moved] = offsets[onto];
        const violations = verifyPlan(p, { offsets, arena: arenaOf(p, offsets) });
        const hit = violations.find((v) => v.kind === "overlap" && v.buffers.includes(moved) && v.buffers.includes(onto));
        expect(hit).toBeDefined();
        for (const i of [moved, onto]) {
          const b = p.buffers[i];
          expect(hit!.message).toContain(`'${b.id}' (live [${b.lower},${b.upper}), bytes [${offsets[i]},${offsets[i] + b.size}))`);
        }
        expect(() => assertPlan(p, { offsets, arena: arenaOf(p, offsets) })).toThrow(PlanVerifyError);
      }),
      { numRuns: 200 },
    );
  });

  it("rejects misaligned, negative and fractional offsets, a wrong arena and a buffer past the capacity", () => {
    const cases = problems(30, 1)
      .filter((p) => p.alignment === 16)
      .chain((p) => fc.tuple(fc.constant(p), fc.integer({ min: 0, max: p.buffers.length - 1 }), fc.integer({ min: 1, max: 15 })));
    fc.assert(
      fc.property(cases, ([p, i, shift]) => {
        const plan = referencePlan(p);
        const id = p.buffers[i].id;
        const withOffset = (offset: number) => {
          const offsets = [...plan.offsets];
          offsets[i] = offset;
          return verifyPlan(p, { offsets, arena: Number.isInteger(offset) ? arenaOf(p, offsets) : plan.arena });
        };
        const about = (violations: ReturnType<typeof verifyPlan>, why: string) =>
          violations.filter((v) => v.kind === "offset" && v.buffers[0] === i && v.message.includes(`'${id}'`) && v.message.includes(why));
        expect(about(withOffset(plan.offsets[i] + shift), "not a multiple of the alignment 16")).toHaveLength(1);
        expect(about(withOffset(-16 * shift), "negative")).toHaveLength(1);
        expect(about(withOffset(plan.offsets[i] + 0.5), "not an integer")).toHaveLength(1);
        expect(about(withOffset(Number.NaN), "not an integer")).toHaveLength(1);

        expect(verifyPlan(p, { offsets: plan.offsets, arena: plan.arena + shift }).map((v) => v.kind)).toEqual(["arena"]);
        expect(verifyPlan(p, { offsets: plan.offsets.slice(1), arena: plan.arena }).map((v) => v.kind)).toEqual(["offset-count"]);
        const capacity = plan.arena - shift;
        const past = p.buffers.map((b, k) => k).filter((k) => plan.offsets[k] + p.buffers[k].size > capacity);
        const capacityViolations = verifyPlan(p, plan, capacity).filter((v) => v.kind === "capacity");
        expect(capacityViolations.map((v) => v.buffers[0])).toEqual(past);
        expect(verifyPlan(p, plan, plan.arena)).toEqual([]);
      }),
      { numRuns: 200 },
    );
  });
});

describe("verifyPlan reports", () => {
  // 101 one-byte buffers side by side in [0, 2), then one 101-byte buffer at 0 during [1, 2): all
  // 101 overlaps appear when that last buffer starts.
  const crowd: PlanProblem = {
    alignment: 1,
    buffers: [
      ...Array.from({ length: 101 }, (_, i) => ({ id: `small${i}`, lower: 0, upper: 2, size: 1 })),
      { id: "wide", lower: 1, upper: 2, size: 101 },
    ],
  };
  const crowdOffsets = [...Array.from({ length: 101 }, (_, i) => i), 0];

  it("at most MAX_REPORTED_OVERLAPS overlaps, then says it stopped", () => {
    const violations = verifyPlan(crowd, { offsets: crowdOffsets, arena: 101 });
    expect(violations.filter((v) => v.kind === "overlap")).toHaveLength(MAX_REPORTED_OVERLAPS);
    expect(violations[violations.length - 1]).toEqual({
      kind: "truncated",
      buffers: [],
      message: `stopped after ${MAX_REPORTED_OVERLAPS} overlapping pairs; there are more`,
    });
  });

  it("every overlap when there are exactly MAX_REPORTED_OVERLAPS", () => {
    const problem = { ...crowd, buffers: crowd.buffers.slice(1) };
    const violations = verifyPlan(problem, { offsets: crowdOffsets.slice(1), arena: 101 });
    expect(violations.map((v) => v.kind)).toEqual(new Array(MAX_REPORTED_OVERLAPS).fill("overlap"));
  });

  it("all violations in PlanVerifyError's message, one per line", () => {
    const problem: PlanProblem = { alignment: 16, buffers: [{ id: "x", lower: 0, upper: 4, size: 32 }, { id: "y", lower: 2, upper: 6, size: 8 }] };
    expect(() => assertPlan(problem, { offsets: [0, 24], arena: 32 })).toThrow(
      "invalid memory plan (2 violations):\n" +
        "  - buffer 'y' has offset 24, which is not a multiple of the alignment 16\n" +
        "  - buffers 'x' (live [0,4), bytes [0,32)) and 'y' (live [2,6), bytes [24,32)) are live at the same time and overlap",
    );
  });
});

// ---- the planner ----

describe("planner plans", () => {
  it("from bestGreedy, bestFit in any order and solve all verify, solve never loses to greedy, and none beats the lower bound", () => {
    const cases = problems(200).chain((p) =>
      fc.tuple(fc.constant(p), fc.shuffledSubarray([...p.buffers.keys()], { minLength: p.buffers.length, maxLength: p.buffers.length })),
    );
    fc.assert(
      fc.property(cases, ([p, order]) => {
        const lowerBound = maxLiveLowerBound(p);
        const greedy = bestGreedy(p);
        assertPlan(p, greedy);
        assertPlan(p, bestFit(p, order));
        const result = solve(p, { timeLimitMs: 50 });
        assertPlan(p, result);
        expect(result.arena).toBeLessThanOrEqual(greedy.arena);
        expect(result.arena).toBeLessThanOrEqual(result.greedyArena);
        expect(result.arena).toBeGreaterThanOrEqual(lowerBound);
        expect(result.lowerBound).toBe(lowerBound);
        if (result.arena === lowerBound) expect(result.optimal).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it("brute force: the oracle itself on hand-solved cases", () => {
    const p = (alignment: number, ...rows: [number, number, number][]): PlanProblem => ({
      alignment,
      buffers: rows.map(([lower, upper, size], i) => ({ id: `b${i}`, lower, upper, size })),
    });
    // input.12.csv: b3 and b5 live throughout [0, 9) and b5 to the end; b1, b2, b4 share one slot.
    expect(bruteForceOptimum(p(1, [0, 3, 4], [3, 9, 4], [0, 9, 4], [9, 21, 4], [0, 21, 4]))).toBe(12);
    // 20 bytes at 0, then 1 byte at 32 (alignment 16): 33, less than 1 at 0 and 20 at 16.
    expect(bruteForceOptimum(p(16, [0, 4, 1], [0, 4, 20]))).toBe(33);
    // A staircase of 3-byte buffers: the first and last never meet, so they share a slot (6);
    // a 1-byte buffer live with the first two makes 7.
    expect(bruteForceOptimum(p(1, [0, 2, 3], [1, 3, 3], [2, 4, 3]))).toBe(6);
    expect(bruteForceOptimum(p(1, [0, 2, 3], [1, 3, 3], [2, 4, 3], [1, 2, 1]))).toBe(7);
  });

  it("the lower bound never exceeds the brute-force optimum (n <= 6)", () => {
    fc.assert(
      fc.property(problems(6), (p) => {
        expect(maxLiveLowerBound(p)).toBeLessThanOrEqual(bruteForceOptimum(p));
      }),
      { numRuns: 500 },
    );
  });

  it("solve finds the brute-force optimum on small instances (n <= 6)", () => {
    fc.assert(
      fc.property(problems(6), (p) => {
        const optimum = bruteForceOptimum(p);
        const result = solve(p, { timeLimitMs: 2000 });
        assertPlan(p, result);
        expect(result.arena).toBe(optimum);
        expect(result.optimal).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
