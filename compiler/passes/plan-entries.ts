// plan-program — one arena for several entry points of one module (forward and train_step), so
// that the params, state and inputs they share sit at the same offsets in both. The driver runs it
// as the pipeline's `plan` step, after `schedule` and `inplace` have run on each entry;
// `planEntries` runs all three (for callers outside the driver).
//
// Stages:
// 1. Per entry: its planning problem (liveness.ts), with node workspaces when the backend names
//    them.
// 2. Concatenate the problems on one timeline: entry k's steps follow entry k-1's, since an app
//    calls one entry at a time. Buffers of values an entry owns (intermediates, outputs,
//    workspaces) keep their own intervals, shifted, so entries reuse each other's memory freely.
//    A buffer whose class root is a graph input or a param/state is SHARED by name: one buffer,
//    live over the whole timeline, as large as the largest use.
// 3. Solve and verify that combined problem once (planner/solve.ts, planner/verify.ts), then
//    record each entry's slots and workspaces on its graph; each graph's `arena` is the end of its
//    own buffers (the largest is the combined arena), and each graph is verified on its own (its
//    plan is a restriction of the combined one).
//
// One combined problem (rather than planning the train step and then the forward around pinned
// params) lets the forward's intermediates fill the holes the train step leaves, and needs no
// pinning in the solver. Outputs live until their entry returns: an app reads `forward`'s outputs
// before calling another entry, which may reuse their bytes.

import type { ArenaSlot, Graph } from "../ir/graph.ts";
import { ARENA_ALIGNMENT, memoryProblem, type WorkspaceBytes } from "./liveness.ts";
import { inplace } from "./inplace.ts";
import { runPass, type PassStats, type ProgramPass, type RunPassHooks } from "./pass.ts";
import type { PlanBuffer } from "./planner/problem.ts";
import { solve } from "./planner/solve.ts";
import { assertPlan } from "./planner/verify.ts";
import { schedule } from "./schedule.ts";
import { verifyGraph } from "../ir/verifier.ts";

export interface PlanEntriesOptions {
  /** Reorder each entry's nodes to lower its peak first (default true). */
  schedule?: boolean;
  alignment?: number;
  timeLimitMs?: number;
  /** Scratch bytes each node's kernel needs (e.g. wasmWorkspaceBytes). */
  workspaceBytes?: WorkspaceBytes;
}

export interface PlannedEntries {
  /** The entries in the order given, each with its `memory` (one shared arena). */
  readonly graphs: readonly Graph[];
  readonly arena: number;
  readonly stats: PassStats;
}

export class PlanEntriesError extends Error {
  override name = "PlanEntriesError";
}

export function planEntries(entries: readonly Graph[], opts: PlanEntriesOptions = {}, hooks: RunPassHooks = {}): PlannedEntries {
  const prepared = entries.map((g) => {
    const scheduled = (opts.schedule ?? true) ? runPass(schedule, g, opts.workspaceBytes ? { workspaceBytes: opts.workspaceBytes } : {}, hooks).graph : g;
    return runPass(inplace, scheduled, {}, hooks).graph;
  });
  const { graphs, stats } = planProgram.run(prepared, { ...planProgram.defaults, ...definedOnly(opts) });
  if (hooks.verify ?? true) graphs.forEach((g) => verifyGraph(g));
  return { graphs, arena: stats["arena-bytes"], stats };
}

export interface PlanProgramOptions {
  alignment: number;
  /**
   * The planner's search budget in units of work (planner/clock.ts): deterministic, so the same
   * program always gets the same arena (`mlc mem` and `mlc build` agree). About a second here.
   */
  workLimit: number;
  /** A wall-clock budget instead, milliseconds (results may then vary with the machine's load). */
  timeLimitMs?: number;
  workspaceBytes?: WorkspaceBytes;
}

export const planProgram: ProgramPass<PlanProgramOptions> = {
  name: "plan",
  summary: "lay out every buffer of every entry point in one arena (liveness + offsets), verified",
  defaults: { alignment: ARENA_ALIGNMENT, workLimit: 1e7 },
  statistics: {
    "arena-bytes": "the planned arena",
    "lower-bound-bytes": "max-live bytes over the entries' combined timeline (no plan can be smaller)",
    "greedy-bytes": "the best best-fit heuristic's arena, before the search",
    buffers: "buffers planned (alias classes, workspaces; params and inputs once)",
    optimal: "1 when the search proved the arena optimal",
  },
  run(entries, opts) {
    const alignment = opts.alignment;
    const problems = entries.map((g) => memoryProblem(g, alignment, opts.workspaceBytes));
    checkSharedTypes(entries);
    // Stage 2: one timeline; shared names get one buffer each, spanning all of it.
    const total = problems.reduce((t, p) => t + p.liveness.steps, 0);
    const buffers: PlanBuffer[] = [];
    const sharedIndex = new Map<string, number>();
    const indexOf: number[][] = []; // entry → its buffer index → combined index
    let start = 0;
    entries.forEach((g, k) => {
      const shared = new Set([...g.inputs.map((i) => i.name), ...g.params.map((p) => p.name)]);
      const map: number[] = [];
      problems[k].problem.buffers.forEach((b, i) => {
        const isShared = i < problems[k].classes.length && shared.has(b.id);
        if (!isShared) {
          map.push(buffers.length);
          buffers.push({ id: `${k}:${g.name}:${b.id}`, lower: b.lower + start, upper: b.upper + start, size: b.size });
          return;
        }
        const at = sharedIndex.get(b.id);
        if (at === undefined) {
          sharedIndex.set(b.id, buffers.length);
          map.push(buffers.length);
          buffers.push({ id: b.id, lower: 0, upper: total, size: b.size });
        } else {
          buffers[at] = { ...buffers[at], size: Math.max(buffers[at].size, b.size) };
          map.push(at);
        }
      });
      indexOf.push(map);
      start += problems[k].liveness.steps;
    });

    // Stage 3: solve once, verify, and give each entry its slots.
    const problem = { buffers, alignment };
    const solution = solve(problem, opts.timeLimitMs !== undefined ? { timeLimitMs: opts.timeLimitMs } : { workLimit: opts.workLimit });
    assertPlan(problem, solution);
    const slotOf = (k: number, i: number): ArenaSlot => ({ offset: solution.offsets[indexOf[k][i]], size: problems[k].problem.buffers[i].size });
    const graphs = entries.map((g, k): Graph => {
      const { bufferOf, workspaces } = problems[k];
      const slots: Record<string, ArenaSlot> = Object.create(null);
      for (const v of [...g.inputs.map((i) => i.name), ...g.params.map((p) => p.name), ...g.nodes.map((n) => n.id)]) {
        slots[v] = slotOf(k, bufferOf.get(v)!);
      }
      const scratch: Record<string, ArenaSlot> = Object.create(null);
      for (const w of workspaces) scratch[w.node] = slotOf(k, w.buffer);
      // Each graph's arena is the end of its own buffers (the verifier's rule); the module is
      // sized to the largest, which is the combined arena.
      let arena = 0;
      for (const s of [...Object.values(slots), ...Object.values(scratch)]) arena = Math.max(arena, s.offset + s.size);
      const planned: Graph = { ...g, memory: { arena, alignment, slots, ...(workspaces.length > 0 ? { workspaces: scratch } : {}) } };
      return planned;
    });
    return {
      graphs,
      stats: { "arena-bytes": solution.arena, "lower-bound-bytes": solution.lowerBound, "greedy-bytes": solution.greedyArena, buffers: buffers.length, optimal: solution.optimal ? 1 : 0 },
    };
  },
};

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Inputs and params shared by name must have one type, or one slot could not hold both. */
function checkSharedTypes(graphs: readonly Graph[]): void {
  const seen = new Map<string, { graph: string; type: string }>();
  for (const g of graphs) {
    for (const d of [...g.inputs, ...g.params]) {
      const type = `${d.type.dtype}[${d.type.shape.join(",")}]`;
      const before = seen.get(d.name);
      if (before && before.type !== type) {
        throw new PlanEntriesError(`'${d.name}' is ${before.type} in graph '${before.graph}' but ${type} in graph '${g.name}'; entries share it by name`);
      }
      seen.set(d.name, { graph: g.name, type });
    }
  }
}
