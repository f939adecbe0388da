// The anytime optimiser around the exact search: which capacities to attempt, with how much time.
//
// The branch and bound answers "does everything fit in C bytes?". Starting from the best heuristic
// plan, capacities are probed by bisection between the lowest capacity not yet ruled out and the
// best arena found so far. The first probe is the goal itself (the target, or the lower bound),
// because real instances are often solvable exactly there. A probe that runs out of its share of
// time counts as a failure for the bisection, but only an exhausted search proves infeasibility,
// which is what `optimal` rests on. Difficulty is not monotone in C (a looser capacity can take
// longer), so each probe gets a bounded share of the remaining time rather than all of it.

import type { RankedLifetimes } from "./greedy.ts";
import type { PlanProblem, PlanSolution } from "./problem.ts";
import type { SearchClock } from "./clock.ts";
import { HotCores } from "./search-core.ts";

export interface AnytimeResult {
  readonly best: PlanSolution;
  /** Every capacity below this is proven infeasible. */
  readonly provenBound: number;
}

/**
 * Share of the remaining time one probe may use. The first probe, at the goal itself, gets more:
 * it is the one that proves a plan optimal, and real instances are often solvable right there.
 */
const FIRST_PROBE_SHARE = 0.5;
const PROBE_SHARE = 0.25;

/**
 * When the goal equals the live bytes at every moment (a perfect packing: search-tight.ts), a plan
 * at the goal is the whole point and probes above it are worth little (best fit is already about
 * as good as they get there); the first probe gets nearly all the time.
 */
const TIGHT_FIRST_PROBE_SHARE = 0.9;

/**
 * On large cores the search either succeeds in its first dives or, in practice, not at all before
 * the deadline; one round of the round robin (each preorder at twice the core's size in nodes)
 * bounds what a probe can waste there.
 */
const LARGE_CORE_ROUNDS = 1;

/**
 * Hot-window thresholds, as fractions of the capacity, tried while the fill around a core fails.
 * Small problems are searched whole: there the core would be most of the problem anyway, and
 * clipping only blurs the preorder.
 */
const CORE_THRESHOLDS = [0.9, 0.75, 0.5, 0];
const WHOLE_PROBLEM_UP_TO = 1000;

/** Relative gap between the best arena and the failed capacities below which probing stops. */
const UNPROVEN_GAP_WORTH_PROBING = 1e-4;

/**
 * Probes capacities until `deadline`, keeping `fillReserveMs` (about one best-fit pass) free at the
 * end for placing the rest of the problem around a core solved at the last moment.
 */
export function improveByCapacityProbes(
  problem: PlanProblem,
  ranked: RankedLifetimes,
  initial: PlanSolution,
  lowerBound: number,
  goal: number,
  deadline: number,
  fillReserveMs: number,
  clock: SearchClock,
): AnytimeResult {
  const searchDeadline = deadline - fillReserveMs;
  let best = initial;
  let provenBound = lowerBound;
  let lowestOpen = lowerBound; // capacities below this failed (proven or out of time)
  let capacity = goal;
  const cores = new HotCores(problem, ranked);
  while (best.arena > goal && lowestOpen < best.arena) {
    // Unproven failures leave a gap the bisection would close byte by byte; below this
    // resolution another probe is not worth its time.
    if (lowestOpen > provenBound && best.arena - lowestOpen < best.arena * UNPROVEN_GAP_WORTH_PROBING) break;
    const now = clock.now();
    if (now >= searchDeadline) break;
    const share = capacity !== goal ? PROBE_SHARE : tightEverywhere(problem, goal) ? TIGHT_FIRST_PROBE_SHARE : FIRST_PROBE_SHARE;
    const probeDeadline = now + (searchDeadline - now) * share;
    const outcome = probeCapacity(problem, cores, capacity, best.arena, probeDeadline, clock);
    if (outcome.plan !== undefined && outcome.plan.arena < best.arena) best = outcome.plan;
    if (outcome.plan === undefined || outcome.plan.arena > capacity) {
      lowestOpen = capacity + 1;
      if (outcome.infeasible) provenBound = capacity + 1;
    }
    capacity = Math.max(goal, Math.floor((lowestOpen + best.arena - 1) / 2));
  }
  return { best, provenBound };
}

/**
 * Whether `capacity` (never below the live bytes) equals the live bytes throughout the problem's
 * time span with no padding: the buffers' area fills capacity × span.
 */
function tightEverywhere(problem: PlanProblem, capacity: number): boolean {
  let first = Infinity;
  let last = -Infinity;
  let area = 0;
  for (const b of problem.buffers) {
    if (b.upper <= b.lower || b.size === 0) continue;
    if (b.size % problem.alignment !== 0) return false;
    first = Math.min(first, b.lower);
    last = Math.max(last, b.upper);
    area += b.size * (b.upper - b.lower);
  }
  return area > 0 && area === capacity * (last - first);
}

interface ProbeOutcome {
  /** The best complete plan found (its arena may exceed the capacity if only the fill failed). */
  readonly plan?: PlanSolution;
  /** The search proved that nothing fits in the capacity. */
  readonly infeasible: boolean;
}

/** Tries to fit everything within `capacity` before `deadline`, growing the core on fill failure. */
function probeCapacity(
  problem: PlanProblem,
  cores: HotCores,
  capacity: number,
  incumbent: number,
  deadline: number,
  clock: SearchClock,
): ProbeOutcome {
  let plan: PlanSolution | undefined;
  let previousCoreSize = -1;
  const thresholds = problem.buffers.length <= WHOLE_PROBLEM_UP_TO ? [0] : CORE_THRESHOLDS;
  for (const fraction of thresholds) {
    if (clock.now() >= deadline) break;
    const core = cores.above(fraction * capacity);
    if (core === undefined) continue;
    if (core.indices.length === previousCoreSize) continue;
    previousCoreSize = core.indices.length;
    const rounds = core.indices.length > WHOLE_PROBLEM_UP_TO ? LARGE_CORE_ROUNDS : Infinity;
    // A capacity the core's live bytes meet exactly everywhere leaves no byte to waste: there the
    // skyline search (search-tight.ts) is exact, and far stronger than the general one.
    const run = core.tight.tightAt(capacity)
      ? core.tight.run(capacity, deadline, clock)
      : core.search.run(capacity, deadline, { rounds, clock });
    if (run.status === "infeasible") return { plan, infeasible: true };
    if (run.status === "aborted") break; // a larger core would only be harder
    const filled = cores.fill(core, run.offsets, capacity, incumbent, deadline, clock);
    if (filled.arena < (plan?.arena ?? Infinity)) plan = filled;
    if (filled.arena <= capacity) break;
  }
  return { plan, infeasible: false };
}
