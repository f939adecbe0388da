// plan — give every value a slot in one arena, sized and laid out at compile time.
//
// Stages:
// 1. Build the planning problem: liveness over the node order, one buffer per alias class (pure
//    aliases and in-place results share their operand's buffer; see liveness.ts).
// 2. Solve it (planner/solve.ts: best-fit heuristics, then a branch-and-bound search under a time
//    limit that stops early once the plan meets the max-live lower bound).
// 3. Verify the plan independently (planner/verify.ts): no two buffers live at the same time
//    overlap, every offset is aligned, the arena holds them all. A violation is a compiler error,
//    never a silently corrupted arena.
// 4. Record the plan on the graph (`graph.memory`): every value's slot; aliases share one; and,
//    when the backend says which kernels need scratch memory (`workspaceBytes`), each such
//    node's workspace, live during that node's step only.
//
// What it leaves to other passes: the node order (`schedule`) and the in-place decisions
// (`inplace`) are inputs here and are not changed.

import type { ArenaSlot, Graph } from "../ir/graph.ts";
import { ARENA_ALIGNMENT, memoryProblem, naiveBytes, type WorkspaceBytes } from "./liveness.ts";
import type { Pass } from "./pass.ts";
import { solve } from "./planner/solve.ts";
import { assertPlan } from "./planner/verify.ts";

export interface PlanOptions {
  /** Every offset and size is a multiple of this many bytes (16: one WASM SIMD vector). */
  alignment: number;
  /** Wall-clock budget of the planner's exact search, in milliseconds. */
  timeLimitMs: number;
  /** Scratch bytes each node's kernel needs (a backend's table, e.g. wasmWorkspaceBytes); none by default. */
  workspaceBytes?: WorkspaceBytes;
}

export const plan: Pass<PlanOptions> = {
  name: "plan",
  summary: "lay out every buffer in one arena (liveness + offsets), verified",
  statistics: {
    "arena-bytes": "the planned arena",
    "lower-bound-bytes": "max-live bytes (no plan can be smaller)",
    "naive-bytes": "every value in its own buffer",
    "greedy-bytes": "the best best-fit heuristic's arena, before the search",
    buffers: "buffers planned (alias classes)",
    workspaces: "kernel workspaces planned",
    optimal: "1 when the search proved the arena optimal",
    "solve-ms": "planner wall time",
  },
  defaults: { alignment: ARENA_ALIGNMENT, timeLimitMs: 1000 },
  run(g, opts) {
    if (!Number.isInteger(opts.alignment) || opts.alignment < 1) throw new Error(`plan: alignment must be a positive integer, got ${opts.alignment}`);
    const { problem, bufferOf, workspaces } = memoryProblem(g, opts.alignment, opts.workspaceBytes);
    const solution = solve(problem, { timeLimitMs: opts.timeLimitMs });
    assertPlan(problem, solution);

    const slots: Record<string, ArenaSlot> = Object.create(null);
    const slotOf = (v: string): ArenaSlot => {
      const b = bufferOf.get(v)!;
      return { offset: solution.offsets[b], size: problem.buffers[b].size };
    };
    for (const i of g.inputs) slots[i.name] = slotOf(i.name);
    for (const p of g.params) slots[p.name] = slotOf(p.name);
    for (const n of g.nodes) slots[n.id] = slotOf(n.id);
    const scratch: Record<string, ArenaSlot> = Object.create(null);
    for (const w of workspaces) scratch[w.node] = { offset: solution.offsets[w.buffer], size: problem.buffers[w.buffer].size };
    const memory = { arena: solution.arena, alignment: opts.alignment, slots, ...(workspaces.length > 0 ? { workspaces: scratch } : {}) };
    const graph: Graph = { ...g, memory };
    return {
      graph,
      stats: {
        "arena-bytes": solution.arena,
        "lower-bound-bytes": solution.lowerBound,
        "naive-bytes": naiveBytes(g, opts.alignment),
        "greedy-bytes": solution.greedyArena,
        buffers: problem.buffers.length,
        workspaces: workspaces.length,
        optimal: solution.optimal ? 1 : 0,
        "solve-ms": Math.round(solution.elapsedMs),
      },
    };
  },
};
