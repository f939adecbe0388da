// The memory planner's options and results. The problem itself (buffers with a lifetime and a
// size, offsets in one arena; MiniMalloc's formulation) is in compiler/ir/plan-problem.ts, since
// the IR verifier checks graphs' plans and compiler/ir imports nothing from the passes; it is
// re-exported here for the planner and its users.

import type { PlanSolution } from "../../ir/plan-problem.ts";

export { alignUp, type PlanBuffer, type PlanProblem, type PlanSolution } from "../../ir/plan-problem.ts";

export interface SolveOptions {
  /** Wall-clock budget for the search, milliseconds; the best plan found so far is returned. */
  readonly timeLimitMs?: number;
  /**
   * Search budget in units of search work (a node among n buffers is n units) instead of wall
   * time (planner/clock.ts): the same problem then always gets the same plan. Overrides
   * timeLimitMs.
   */
  readonly workLimit?: number;
  /** Stop as soon as a plan of at most this many bytes is found (e.g. the lower bound, or a capacity). */
  readonly target?: number;
}

export interface SolveResult extends PlanSolution {
  /** Max-live lower bound: no plan can use less than this. */
  readonly lowerBound: number;
  /** Arena of the best greedy (heuristic) plan, for comparison. */
  readonly greedyArena: number;
  /** Whether the search proved `arena` optimal (it equals the lower bound, or the search space was exhausted). */
  readonly optimal: boolean;
  readonly elapsedMs: number;
}
