// The static memory-planning problem, independent of the graphs: buffers with a lifetime and a
// size get offsets in one arena so that no two buffers live at the same time overlap. This is
// MiniMalloc's formulation (its CSV format is `id,lower,upper,size[,offset]`), so the same planner
// is measured on public benchmarks and used for IR graphs. It lives in compiler/ir because a
// graph's memory plan is part of the IR (the verifier checks it); the planner itself, its options
// and results are in compiler/passes/planner/.

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

export function alignUp(x: number, alignment: number): number {
  return Math.ceil(x / alignment) * alignment;
}
