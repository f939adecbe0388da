// `mlc plan problem.csv [--out solution.csv]` — the memory planner on its own, on a problem in
// MiniMalloc's CSV format (id,lower,upper,size), so it can be measured on public benchmarks and
// compared with other planners. `--check` instead verifies the offsets already in the file (for
// example another tool's solution) and reports the same numbers.
//
// A plan is always verified before it is written; an invalid one is never printed. The last line
// of output is machine-readable: `arena=<bytes> lower_bound=<bytes> ratio=<x.xxxx> ms=<elapsed>`.

import type { CommandModule } from "yargs";
import { formatPlanCsv, readPlanCsvFile } from "../../passes/planner/csv.ts";
import { maxLiveLowerBound } from "../../passes/planner/lower-bound.ts";
import type { PlanProblem, PlanSolution } from "../../passes/planner/problem.ts";
import { solve } from "../../passes/planner/solve.ts";
import { verifyPlan, type PlanViolation } from "../../passes/planner/verify.ts";
import { UsageError } from "../options.ts";
import { writeFileAtomic } from "../atomic-write.ts";

interface PlanArgs { problem: string; out?: string; timeLimit: number; alignment: number; check: boolean }

/** Exit code for an invalid plan: distinct from 1 (bad input) because the plan itself is wrong. */
export const INVALID_PLAN_EXIT_CODE = 2;

export const planCommand: CommandModule<object, PlanArgs> = {
  command: "plan <problem>",
  describe: "lay out buffers from a MiniMalloc CSV (id,lower,upper,size) in one arena",
  builder: (y) =>
    y
      .positional("problem", { type: "string", demandOption: true, describe: "problem CSV: id,lower,upper,size[,offset]" })
      .option("out", { type: "string", describe: "write the solution CSV (with an offset column) here" })
      .option("time-limit", { type: "number", default: 5, describe: "search time limit, seconds" })
      .option("alignment", { type: "number", default: 1, describe: "every offset is a multiple of this many bytes" })
      .option("check", { type: "boolean", default: false, describe: "verify the offsets in the CSV instead of planning" }) as never,
  handler: (args) => {
    if (!Number.isSafeInteger(args.alignment) || args.alignment < 1) throw new UsageError(`--alignment must be a positive integer, got ${args.alignment}`);
    if (!(args.timeLimit >= 0) || !Number.isFinite(args.timeLimit)) throw new UsageError(`--time-limit must be a non-negative number of seconds, got ${args.timeLimit}`);
    const parsed = readPlanCsvFile(args.problem);
    const problem: PlanProblem = { ...parsed.problem, alignment: args.alignment };

    const started = performance.now();
    let solution: PlanSolution;
    if (args.check) {
      if (!parsed.offsets) throw new UsageError(`--check needs a solution: ${args.problem} has no offset column`);
      const offsets = parsed.offsets;
      solution = { offsets, arena: problem.buffers.reduce((top, b, i) => Math.max(top, offsets[i] + b.size), 0) };
    } else {
      const result = solve(problem, { timeLimitMs: args.timeLimit * 1000 });
      solution = { offsets: result.offsets, arena: result.arena };
      process.stdout.write(`buffers=${problem.buffers.length} greedy=${result.greedyArena} optimal=${result.optimal ? "yes" : "no"}\n`);
    }
    const violations = verifyPlan(problem, solution);
    const elapsedMs = performance.now() - started;
    if (violations.length > 0) throwInvalidPlan(args.check ? args.problem : "the planner (a bug in mlc)", violations);

    if (args.out !== undefined) {
      writeFileAtomic(args.out, formatPlanCsv(problem, solution.offsets));
      process.stdout.write(`wrote ${args.out}\n`);
    }
    process.stdout.write(planSummary(solution.arena, maxLiveLowerBound(problem), elapsedMs) + "\n");
  },
};

/** The machine-readable last line. An empty problem has arena 0 and bound 0: ratio 1. */
export function planSummary(arena: number, lowerBound: number, elapsedMs: number): string {
  const ratio = lowerBound === 0 ? (arena === 0 ? 1 : Infinity) : arena / lowerBound;
  return `arena=${arena} lower_bound=${lowerBound} ratio=${ratio.toFixed(4)} ms=${Math.round(elapsedMs)}`;
}

/** An invalid plan is a user-facing error with its own exit code, listing every violation. */
class InvalidPlanError extends Error {
  override name = "InvalidPlanError";
  readonly exitCode = INVALID_PLAN_EXIT_CODE;
}

function throwInvalidPlan(source: string, violations: readonly PlanViolation[]): never {
  const n = violations.length;
  const lines = violations.map((v) => `\n  - ${v.message}`).join("");
  throw new InvalidPlanError(`invalid memory plan from ${source}: ${n} violation${n === 1 ? "" : "s"}${lines}`);
}
