// `mlc plan` through the real command line: the solution CSV it writes parses and verifies, the
// last line has the promised format and numbers, bad input is one line and exit code 1, and an
// invalid plan (given with --check) is exit code 2 and is never printed as a summary.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { formatPlanCsv, parsePlanCsv } from "../../compiler/passes/planner/csv.ts";
import { maxLiveLowerBound } from "../../compiler/passes/planner/lower-bound.ts";
import type { PlanProblem } from "../../compiler/passes/planner/problem.ts";
import { verifyPlan } from "../../compiler/passes/planner/verify.ts";
import { perfectPacking } from "../../scripts/gen-perfect-packing.ts";

/** google/minimalloc benchmarks/examples/input.12.csv (Apache-2.0), also in bench/data/memplan. */
const INPUT_12_CSV = "id,lower,upper,size\nb1,0,3,4\nb2,3,9,4\nb3,0,9,4\nb4,9,21,4\nb5,0,21,4\n";
const SUMMARY = /^arena=(\d+) lower_bound=(\d+) ratio=(\d+\.\d{4}) ms=(\d+)$/;

const tmp = mkdtempSync(join(tmpdir(), "mlc-plan-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function mlc(...args: string[]) {
  const r = spawnSync(process.execPath, ["bin/mlc.js", ...args], { encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function write(name: string, text: string): string {
  const path = join(tmp, name);
  writeFileSync(path, text);
  return path;
}

function lastLine(stdout: string): string {
  const lines = stdout.trimEnd().split("\n");
  return lines[lines.length - 1];
}

/** A seeded pseudo-random problem: 80 buffers, sizes 1..5000 bytes, crowded lifetimes. */
function seededProblem(seed: number): PlanProblem {
  let state = seed;
  const next = (n: number) => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0; // 32-bit LCG, exact in integer math
    return (state >>> 8) % n;
  };
  return {
    alignment: 1,
    buffers: Array.from({ length: 80 }, (_, i) => {
      const lower = next(60);
      return { id: `t${i}`, lower, upper: lower + 1 + next(20), size: 1 + next(5000) };
    }),
  };
}

describe("mlc plan", () => {
  it("plans input.12.csv at its lower bound, 12 bytes, and writes a solution that verifies", () => {
    const problemPath = write("input.12.csv", INPUT_12_CSV);
    const outPath = join(tmp, "input.12.solution.csv");
    const { code, stdout, stderr } = mlc("plan", problemPath, "--out", outPath);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const summary = SUMMARY.exec(lastLine(stdout));
    expect(summary).not.toBeNull();
    expect(summary!.slice(1, 4)).toEqual(["12", "12", "1.0000"]);

    const solution = parsePlanCsv(readFileSync(outPath, "utf8"), outPath);
    expect(solution.problem).toEqual(parsePlanCsv(INPUT_12_CSV).problem);
    const offsets = solution.offsets!;
    const arena = Math.max(...solution.problem.buffers.map((b, i) => offsets[i] + b.size));
    expect(arena).toBe(12);
    expect(verifyPlan(solution.problem, { offsets, arena })).toEqual([]);
  });

  it("honours --alignment and reports the aligned lower bound and the ratio to 4 decimals", () => {
    const problem = seededProblem(7);
    const problemPath = write("seeded.csv", formatPlanCsv(problem));
    const outPath = join(tmp, "seeded.solution.csv");
    const { code, stdout, stderr } = mlc("plan", problemPath, "--out", outPath, "--alignment", "16", "--time-limit", "0.5");
    expect(stderr).toBe("");
    expect(code).toBe(0);
    const [, arena, lowerBound, ratio] = SUMMARY.exec(lastLine(stdout))!;
    const aligned = { ...problem, alignment: 16 };
    expect(Number(lowerBound)).toBe(maxLiveLowerBound(aligned));
    expect(ratio).toBe((Number(arena) / Number(lowerBound)).toFixed(4));

    const { offsets } = parsePlanCsv(readFileSync(outPath, "utf8"));
    expect(offsets!.every((o) => o % 16 === 0)).toBe(true);
    expect(verifyPlan(aligned, { offsets: offsets!, arena: Number(arena) })).toEqual([]);
  });

  it("packs a generated perfect packing (scripts/gen-perfect-packing.ts) at its capacity, the optimum", () => {
    const generated = perfectPacking({ buffers: 150, seed: 11 });
    const problemPath = write("perfect.csv", formatPlanCsv(generated.problem));
    const outPath = join(tmp, "perfect.solution.csv");
    for (const alignment of ["1", "16"]) {
      const { code, stdout, stderr } = mlc("plan", problemPath, "--out", outPath, "--alignment", alignment, "--time-limit", "30");
      expect(stderr).toBe("");
      expect(code).toBe(0);
      expect(stdout).toMatch(/optimal=yes/);
      const [, arena, lowerBound] = SUMMARY.exec(lastLine(stdout))!;
      expect(Number(lowerBound)).toBe(generated.capacity);
      expect(Number(arena)).toBe(generated.capacity);
      const { offsets } = parsePlanCsv(readFileSync(outPath, "utf8"));
      const problem = { ...generated.problem, alignment: Number(alignment) };
      expect(verifyPlan(problem, { offsets: offsets!, arena: generated.capacity }, generated.capacity)).toEqual([]);
    }
  });

  it("rejects a malformed CSV with one line naming the file line, exit code 1", () => {
    const path = write("bad.csv", "id,lower,upper,size\na,0,3,4\nb,1,2,-4\n");
    const { code, stdout, stderr } = mlc("plan", path);
    expect(code).toBe(1);
    expect(stdout).toBe("");
    expect(stderr).toBe(`error: ${path}:3: size is negative: -4\n`);
  });

  it("rejects a missing file and bad flags with exit code 1", () => {
    const missing = mlc("plan", join(tmp, "nope.csv"));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(`error: cannot read ${join(tmp, "nope.csv")}: ENOENT\n`);
    const problemPath = write("flags.csv", INPUT_12_CSV);
    for (const flags of [["--alignment", "0"], ["--alignment", "3.5"], ["--time-limit", "-1"]]) {
      const r = mlc("plan", problemPath, ...flags);
      expect(r.code, flags.join(" ")).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`^error: ${flags[0]} must be`));
    }
  });

  it("--check verifies a given solution and reports it like a planned one", () => {
    const path = write("given.csv", "id,lower,upper,size,offset\nb1,0,3,4,8\nb2,3,9,4,8\nb3,0,9,4,4\nb4,9,21,4,4\nb5,0,21,4,0\n");
    const { code, stdout, stderr } = mlc("plan", path, "--check");
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(lastLine(stdout)).toMatch(/^arena=12 lower_bound=12 ratio=1\.0000 ms=\d+$/);
  });

  it("--check on an invalid solution lists the violations and exits with code 2, printing no summary", () => {
    // b2 moved onto b3 during [3, 9); b4 misaligned for --alignment 4.
    const path = write("invalid.csv", "id,lower,upper,size,offset\nb1,0,3,4,8\nb2,3,9,4,4\nb3,0,9,4,4\nb4,9,21,4,6\nb5,0,21,4,0\n");
    const outPath = join(tmp, "invalid.out.csv");
    const { code, stdout, stderr } = mlc("plan", path, "--check", "--alignment", "4", "--out", outPath);
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toBe(
      `error: invalid memory plan from ${path}: 2 violations\n` +
        "  - buffer 'b4' has offset 6, which is not a multiple of the alignment 4\n" +
        "  - buffers 'b3' (live [0,9), bytes [4,8)) and 'b2' (live [3,9), bytes [4,8)) are live at the same time and overlap\n",
    );
    expect(() => readFileSync(outPath)).toThrow();
  });

  it("--check needs an offset column", () => {
    const r = mlc("plan", write("no-offsets.csv", INPUT_12_CSV), "--check");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("has no offset column");
  });
});
