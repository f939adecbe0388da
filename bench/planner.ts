// The memory planner on public static-allocation benchmarks (MiniMalloc's CSV format): for every
// file in bench/data/memplan (or $MLC_MEMPLAN_DIR), the max-live lower bound, the best
// greedy arena, our arena under a per-file time limit, and whether it meets the file's target.
// Then on generated perfect packings (scripts/gen-perfect-packing.ts), whose optimum is known: the
// capacity of the box they were cut from. Greedy and solve() side by side, arena / capacity.
//
// Targets come from published results (see the data directory's README): the MiniMalloc
// "challenging" instances A–K are all solvable at the capacity in their names (1,048,576 bytes;
// greedy orders land 23–41% above it), so we must reach it; on the real-model traces (resnet50,
// G_1, pangu_2.6B) greedy lands 0.4–3.3% above the lower bound and we aim for 0.5%; on the two
// largest traces (S_1, Y_1) for 1%.

import { existsSync, readdirSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { readPlanCsvFile } from "../compiler/passes/planner/csv.ts";
import { bestGreedy } from "../compiler/passes/planner/greedy.ts";
import { maxLiveLowerBound } from "../compiler/passes/planner/lower-bound.ts";
import type { PlanProblem } from "../compiler/passes/planner/problem.ts";
import { solve } from "../compiler/passes/planner/solve.ts";
import { verifyPlan } from "../compiler/passes/planner/verify.ts";
import { perfectPacking } from "../scripts/gen-perfect-packing.ts";
import type { BenchReport } from "./run.ts";

interface FileSettings {
  readonly timeLimitMs: number;
  /** The arena we must reach, in bytes, and how it is stated. */
  readonly target: (lowerBound: number) => { bytes: number; rule: string };
  /** Handed to solve() so it can stop early: A–K are decision problems at a capacity. */
  readonly stopAtTarget: boolean;
}

export interface PlannerBenchRow {
  readonly file: string;
  readonly buffers: number;
  readonly lowerBound: number;
  readonly greedyArena: number;
  readonly greedyRatio: number;
  readonly greedyMs: number;
  readonly arena: number;
  readonly ratio: number;
  readonly optimal: boolean;
  readonly timeLimitMs: number;
  readonly solveMs: number;
  readonly verifyMs: number;
  readonly target: number;
  readonly targetRule: string;
  readonly met: boolean;
}

const CHALLENGING = /^[A-K]\.(\d+)\.csv$/;

function settingsFor(file: string): FileSettings {
  const capacity = CHALLENGING.exec(file);
  if (capacity) {
    const bytes = Number(capacity[1]);
    return { timeLimitMs: 5000, target: () => ({ bytes, rule: `≤ ${bytes.toLocaleString("en-US")}` }), stopAtTarget: true };
  }
  const withinLowerBound = (timeLimitMs: number, slack: number): FileSettings => ({
    timeLimitMs,
    target: (lb) => ({ bytes: Math.floor(lb * (1 + slack)), rule: slack === 0 ? "= LB" : `≤ ${1 + slack}·LB` }),
    stopAtTarget: false,
  });
  if (/^(resnet50|G_1|pangu_2\.6B)\.csv$/.test(file)) return withinLowerBound(2000, 0.005);
  if (/^(S_1|Y_1)\.csv$/.test(file)) return withinLowerBound(20_000, 0.01);
  if (file === "input.12.csv") return withinLowerBound(1000, 0);
  return withinLowerBound(5000, 0.01); // a file added to the directory later
}

const repoRoot = dirname(dirname(fileURLToPath(import.meta.url)));

export function memplanDir(): string {
  return process.env.MLC_MEMPLAN_DIR ?? join(repoRoot, "bench", "data", "memplan");
}

function timed<T>(f: () => T): [T, number] {
  const start = performance.now();
  const value = f();
  return [value, performance.now() - start];
}

export function benchFile(dir: string, file: string): PlannerBenchRow {
  const settings = settingsFor(file);
  const problem: PlanProblem = readPlanCsvFile(join(dir, file)).problem;
  const lowerBound = maxLiveLowerBound(problem);
  const target = settings.target(lowerBound);
  const [greedy, greedyMs] = timed(() => bestGreedy(problem));
  const [result, solveMs] = timed(() =>
    solve(problem, { timeLimitMs: settings.timeLimitMs, ...(settings.stopAtTarget ? { target: target.bytes } : {}) }),
  );
  const [violations, verifyMs] = timed(() => verifyPlan(problem, result));
  if (violations.length > 0) {
    throw new Error(`${file}: the planner produced an invalid plan:\n${violations.map((v) => `  - ${v.message}`).join("\n")}`);
  }
  return {
    file,
    buffers: problem.buffers.length,
    lowerBound,
    greedyArena: greedy.arena,
    greedyRatio: greedy.arena / lowerBound,
    greedyMs,
    arena: result.arena,
    ratio: result.arena / lowerBound,
    optimal: result.optimal,
    timeLimitMs: settings.timeLimitMs,
    solveMs,
    verifyMs,
    target: target.bytes,
    targetRule: target.rule,
    met: result.arena <= target.bytes,
  };
}

/**
 * Generated perfect packings: sizes (buffers), seeds, and the time limit solve() gets. The seeds
 * were never used while tuning the search (that used seeds 1-20); see docs/BENCHMARKS.md.
 */
export const PERFECT_SIZES = [60, 100, 200, 500, 1000];
export const PERFECT_SEEDS = [1001, 1002, 1003, 1004, 1005];
export const PERFECT_TIME_LIMIT_MS = 10_000;

export interface PerfectBenchRow {
  readonly buffers: number;
  readonly seed: number;
  readonly capacity: number;
  readonly lowerBound: number;
  readonly greedyArena: number;
  readonly greedyMs: number;
  readonly arena: number;
  readonly solveMs: number;
  readonly optimal: boolean;
}

/** One generated instance: the best greedy order and solve(), both verified. */
export function benchPerfect(buffers: number, seed: number, timeLimitMs = PERFECT_TIME_LIMIT_MS): PerfectBenchRow {
  const { problem, capacity } = perfectPacking({ buffers, seed });
  const [greedy, greedyMs] = timed(() => bestGreedy(problem));
  const [result, solveMs] = timed(() => solve(problem, { timeLimitMs }));
  for (const [who, plan] of [["greedy", greedy], ["solve", result]] as const) {
    const violations = verifyPlan(problem, plan);
    if (violations.length > 0) throw new Error(`perfect packing ${buffers}/${seed}: ${who} produced an invalid plan: ${violations[0].message}`);
  }
  return {
    buffers, seed, capacity, lowerBound: result.lowerBound, greedyArena: greedy.arena, greedyMs,
    arena: result.arena, solveMs, optimal: result.optimal,
  };
}

export async function run(): Promise<BenchReport> {
  const dir = memplanDir();
  if (!existsSync(dir)) throw new Error(`no benchmark data at ${dir} (set MLC_MEMPLAN_DIR to the memplan directory)`);
  const files = readdirSync(dir).filter((f) => f.endsWith(".csv")).sort(byNaturalName);
  const rows: PlannerBenchRow[] = [];
  for (const file of files) {
    rows.push(benchFile(dir, file));
    const r = rows[rows.length - 1];
    process.stderr.write(`  ${file}: arena ${r.arena} (${r.ratio.toFixed(4)}×LB) in ${(r.solveMs / 1000).toFixed(2)} s, target ${r.met ? "met" : "MISSED"}\n`);
  }
  const perfect: PerfectBenchRow[] = [];
  for (const buffers of PERFECT_SIZES) {
    for (const seed of PERFECT_SEEDS) {
      const r = benchPerfect(buffers, seed);
      perfect.push(r);
      process.stderr.write(`  perfect ${buffers}/${seed}: greedy ${(r.greedyArena / r.capacity).toFixed(4)}, ours ${(r.arena / r.capacity).toFixed(4)} in ${(r.solveMs / 1000).toFixed(2)} s\n`);
    }
  }
  const dataDir = relative(repoRoot, dir) || ".";
  return {
    name: "planner",
    title: "Memory planner",
    results: { dataDir, rows, perfect: { timeLimitMs: PERFECT_TIME_LIMIT_MS, rows: perfect } },
    markdown: plannerMarkdown(rows) + "\n\n" + perfectMarkdown(perfect),
  };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function perfectMarkdown(rows: readonly PerfectBenchRow[]): string {
  const ratio = (x: number) => x.toFixed(4);
  const lines: string[] = [];
  for (const buffers of PERFECT_SIZES) {
    const group = rows.filter((r) => r.buffers === buffers);
    const greedy = group.map((r) => r.greedyArena / r.capacity);
    const ours = group.map((r) => r.arena / r.capacity);
    const reached = group.filter((r) => r.arena === r.capacity).length;
    lines.push(
      [
        buffers,
        group.length,
        `${ratio(median(greedy))} (${ratio(Math.max(...greedy))})`,
        median(group.map((r) => r.greedyMs)).toFixed(1),
        `${ratio(median(ours))} (${ratio(Math.max(...ours))})`,
        `${reached} of ${group.length}`,
        `${(median(group.map((r) => r.solveMs)) / 1000).toFixed(2)} (${(Math.max(...group.map((r) => r.solveMs)) / 1000).toFixed(2)})`,
      ].join(" | "),
    );
  }
  const total = rows.filter((r) => r.arena === r.capacity).length;
  return [
    "Generated perfect packings (`scripts/gen-perfect-packing.ts`, default settings): a 1 MiB × 10n-step",
    "box cut into n buffers by random guillotine cuts, sizes multiples of 16, so the optimum arena is",
    "the capacity C = 1,048,576 (= the max-live bound). Seeds " + PERFECT_SEEDS.join(", ") + " (never used for tuning).",
    `Ratios are arena / C, median (max) over the seeds; times are medians (max); solve() gets ${PERFECT_TIME_LIMIT_MS / 1000} s.`,
    "",
    "| buffers | instances | greedy / C | greedy (ms) | ours / C | ours at C | ours (s) |",
    "|--:|--:|--:|--:|--:|--:|--:|",
    ...lines.map((l) => `| ${l} |`),
    "",
    `Capacity reached: ${total} of ${rows.length}.`,
  ].join("\n");
}

/** A–K first, then the rest by name; "input.12" sorts among the names. */
function byNaturalName(a: string, b: string): number {
  const rank = (f: string) => (CHALLENGING.test(f) ? 0 : 1);
  return rank(a) - rank(b) || a.localeCompare(b, "en");
}

function plannerMarkdown(rows: readonly PlannerBenchRow[]): string {
  const bytes = (n: number) => n.toLocaleString("en-US");
  const ratio = (x: number) => x.toFixed(4);
  const header = "| file | buffers | lower bound (LB) | best greedy | greedy/LB | ours | ours/LB | time (s) / limit | verify (ms) | target | met |";
  const rule = "|---|--:|--:|--:|--:|--:|--:|--:|--:|---|---|";
  const lines = rows.map((r) =>
    [
      r.file,
      bytes(r.buffers),
      bytes(r.lowerBound),
      bytes(r.greedyArena),
      ratio(r.greedyRatio),
      bytes(r.arena) + (r.optimal ? " (optimal)" : ""),
      ratio(r.ratio),
      `${(r.solveMs / 1000).toFixed(2)} / ${r.timeLimitMs / 1000}`,
      r.verifyMs.toFixed(1),
      r.targetRule,
      r.met ? "yes" : "**no**",
    ].join(" | "),
  );
  const met = rows.filter((r) => r.met).length;
  return [
    "Static memory planning on the public MiniMalloc and idealloc benchmark traces",
    "(`bench/data/memplan/`; see its README for sources and licences). LB is the max-live lower bound,",
    "so ours/LB = 1 proves a plan optimal. \"Best greedy\" is the best of our best-fit orders;",
    "\"ours\" is `solve()` (greedy, then search until the time limit or the target); \"verify\" is the",
    "plan verifier that runs on every build.",
    "",
    header,
    rule,
    ...lines.map((l) => `| ${l} |`),
    "",
    `Targets met: ${met} of ${rows.length}.`,
  ].join("\n");
}
