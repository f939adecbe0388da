// The max-live lower bound and the live-bytes profile behind it: at any moment the buffers live
// then must all sit in the arena side by side, so no plan is smaller than the largest such sum.
// Every plan is measured against it (the ratio arena / lower bound), and a plan that meets it is
// provably optimal.
//
// The bound itself lives next to the solver, which needs it first (solve.ts; with an alignment,
// every live buffer but the topmost is counted rounded up). It is re-exported here so that
// reports, the CLI and the benchmarks depend on this module and there is one implementation.

import { alignUp, type PlanProblem } from "./problem.ts";

export { maxLiveLowerBound } from "./solve.ts";

/** One step of the live-bytes step function: from `time` until the next step's time. */
export interface LiveStep {
  readonly time: number;
  /** Summed sizes (each rounded up to the alignment) of the buffers live from `time` on. */
  readonly bytes: number;
}

/**
 * Live bytes over time (0 before the first step), one step per time at which the total changes;
 * the last step is 0 bytes.
 * Ends are applied before starts at the same time: lifetimes are half-open, so a buffer ending at
 * t and one starting at t are never live together. Buffers with an empty lifetime never count.
 */
export function liveProfile(problem: PlanProblem): LiveStep[] {
  const { buffers, alignment } = problem;
  const changes = new Map<number, number>(); // time -> change in live bytes
  for (const b of buffers) {
    if (b.upper <= b.lower) continue;
    const bytes = alignUp(b.size, alignment);
    changes.set(b.lower, (changes.get(b.lower) ?? 0) + bytes);
    changes.set(b.upper, (changes.get(b.upper) ?? 0) - bytes);
  }
  const steps: LiveStep[] = [];
  let live = 0;
  for (const time of [...changes.keys()].sort((a, b) => a - b)) {
    live += changes.get(time)!;
    const before = steps.length === 0 ? 0 : steps[steps.length - 1].bytes;
    if (live !== before) steps.push({ time, bytes: live });
  }
  return steps;
}
