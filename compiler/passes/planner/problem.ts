// The static memory-planning problem, independent of the IR: buffers with a lifetime and a size
// get offsets in one arena so that no two buffers live at the same time overlap. This is
// MiniMalloc's formulation (its CSV format is `id,lower,upper,size[,offset]`), so the same planner
// is measured on public benchmarks and used for IR graphs.

/** One buffer: live during the half-open step interval [lower, upper), `size` bytes. */
export interface PlanBuffer {
  readonly id: string;
  readonly lower: number;
  readonly upper: number;
  readonly size: number;
}

export interface PlanProblem {
  readonly buffers: readonly PlanBuffer[];
  /** Every offset must be a multiple of this (16 for WASM SIMD); 1 for the CSV benchmarks. */
  readonly alignment: number;
}

/** Offsets by buffer index (same order as problem.buffers). */
export interface PlanSolution {
  readonly offsets: readonly number[];
  /** max(offset + size) over buffers: the arena size in bytes. */
  readonly arena: number;
}

export interface SolveOptions {
  /** Wall-clock budget for the search, milliseconds; the best plan found so far is returned. */
  readonly timeLimitMs?: number;
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

export function alignUp(x: number, alignment: number): number {
  return Math.ceil(x / alignment) * alignment;
}
