// The compiler's own speed: wall time of `mlc` commands, each a fresh `node bin/mlc.js ...` process
// (what a user or a build script pays), on the compiled CLI in dist/ (scripts/build.mjs).
//
//   start-up          `mlc --help`, and `mlc ir` / `mlc build --train` of examples/mnist-mlp, next
//                     to the same commands before the CLI was compiled and its commands imported
//                     lazily (BEFORE: tsx transpiling the sources and binaryen's 14.8 MB index.js
//                     on every start, every command's module imported up front)
//   examples          `mlc ir`, `mlc build`, `mlc mem` of every examples/*/model.ts, forward and
//                     --train
//   resnet by depth   `mlc build --train` and `mlc mem --train` of examples/resnet at
//                     `--set depth=N`: time per block and the exponent b of time ≈ a·depth^b
//                     (least squares on log time against log depth). DEPTHS always run; the
//                     deeper MORE_DEPTHS only while the depths before predict a run under LIMIT_S.
//
// Every figure is the median of RUNS runs (interleaved: one run of every command, then the next
// round), with the CPU time (user + system) of the same runs beside it where /proc says (Linux):
// on a shared machine the CPU time moves less than the wall time. dist/ is rebuilt, outside the
// timings, whenever the sources changed. Settings (environment):
//
//   MLC_BENCH_COMPILE_RUNS=3          runs per command (start-up and examples)
//   MLC_BENCH_COMPILE_DEPTH_RUNS=3    runs per resnet depth and command
//   MLC_BENCH_COMPILE_DEPTHS=8,16,32,64,128,256
//   MLC_BENCH_COMPILE_MORE_DEPTHS=512
//   MLC_BENCH_COMPILE_LIMIT_S=60      longest predicted run of a MORE_DEPTHS depth that is measured
//   MLC_BENCH_COMPILE_EXAMPLES=cnn,lstm   only these examples (default: all)
//   MLC_BENCH_COMPILE_BEFORE=/path    a checkout of the old CLI (e.g. `git worktree add /tmp/before
//                                     9705670`, node_modules linked in): its start-up commands are
//                                     measured in the same rounds; otherwise BEFORE's figures are shown
//
//   npx tsx bench/compile.ts          prints the tables and the JSON
//   npm run bench -- compile          also writes bench/results/compile.json and docs/BENCHMARKS.md

import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build as buildDist, buildState } from "../scripts/build.mjs";
import type { BenchReport } from "./run.ts";

const repoRoot = dirname(dirname(fileURLToPath(import.meta.url)));

const intList = (text: string) => text.split(",").map((s) => Number(s.trim())).filter((n) => Number.isInteger(n) && n > 0);
const RUNS = Math.max(1, Number(process.env.MLC_BENCH_COMPILE_RUNS ?? 3));
const DEPTH_RUNS = Math.max(1, Number(process.env.MLC_BENCH_COMPILE_DEPTH_RUNS ?? 3));
const DEPTHS = intList(process.env.MLC_BENCH_COMPILE_DEPTHS ?? "8,16,32,64,128,256");
const MORE_DEPTHS = intList(process.env.MLC_BENCH_COMPILE_MORE_DEPTHS ?? "512");
const LIMIT_S = Number(process.env.MLC_BENCH_COMPILE_LIMIT_S ?? 60);
/** The shallowest depth the fitted exponent is computed from. */
const FIT_FROM_DEPTH = 32;
const EXAMPLES_FILTER = process.env.MLC_BENCH_COMPILE_EXAMPLES?.split(",").map((s) => s.trim());
const BEFORE_DIR = process.env.MLC_BENCH_COMPILE_BEFORE;

/**
 * Before, when not measured live (MLC_BENCH_COMPILE_BEFORE, the better comparison): the start-up
 * commands with bin/mlc.js at commit 9705670 (tsx's loader, every command imported by main.ts),
 * medians of 3 runs, wall time, on a 2-core AMD EPYC (Node v20.20.2) at a load average of about 9.
 */
const BEFORE_RECORDED = {
  source: "recorded on 2026-12-07 at a load average of about 9 (not measured in this run)",
  commit: "9705670",
  runs: 3,
  seconds: { help: 12.73, ir: 13.53, buildTrain: 16.22 } as Record<string, number>,
};

interface Sample {
  readonly wallS: number;
  /** null where /proc/self/stat is not there to say. */
  readonly cpuS: number | null;
}

interface Measured {
  readonly label: string;
  readonly args: readonly string[];
  readonly runs: number;
  readonly wallS: number;
  readonly cpuS: number | null;
  readonly samples: readonly Sample[];
}

/** Seconds of CPU time (user + system) of this process's waited-for children, from /proc. */
function childrenCpuSeconds(): number | null {
  try {
    const stat = readFileSync("/proc/self/stat", "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // Fields 16 and 17 of stat(5) (cutime, cstime), counted from the state (field 3), in ticks.
    return (Number(fields[13]) + Number(fields[14])) / 100;
  } catch {
    return null;
  }
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

interface Command {
  readonly label: string;
  readonly args: readonly string[];
  /** The checkout whose bin/mlc.js runs (default: this one). */
  readonly cwd?: string;
}

/** One fresh `node bin/mlc.js ...args`, timed. */
function runOnce(c: Command): Sample {
  const env = { ...process.env };
  delete env.MLC_FROM_SOURCE;
  const cpu0 = childrenCpuSeconds();
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ["bin/mlc.js", ...c.args], { cwd: c.cwd ?? repoRoot, env, encoding: "utf8", maxBuffer: 1 << 28 });
  const wallS = (performance.now() - t0) / 1000;
  const cpu1 = childrenCpuSeconds();
  if (r.status !== 0) throw new Error(`mlc ${c.args.join(" ")} (in ${c.cwd ?? repoRoot}) exited with ${r.status}:\n${r.stderr}`);
  return { wallS, cpuS: cpu0 === null || cpu1 === null ? null : cpu1 - cpu0 };
}

async function ensureBuilt(): Promise<void> {
  if (buildState() !== "fresh") await buildDist();
}

/** Runs every command `runs` times, round by round, and returns their medians in the same order. */
/** dist/ is rebuilt first (untimed) whenever the sources changed. */
async function measureAll(commands: readonly Command[], runs: number): Promise<Measured[]> {
  const samples = commands.map(() => [] as Sample[]);
  for (let round = 0; round < runs; round++) {
    for (const [i, c] of commands.entries()) {
      await ensureBuilt();
      samples[i]!.push(runOnce(c));
    }
    process.stderr.write(`  round ${round + 1}/${runs} done\n`);
  }
  return commands.map((c, i) => summarize(c.label, c.args, samples[i]!));
}

function summarize(label: string, args: readonly string[], samples: readonly Sample[]): Measured {
  const cpus = samples.map((s) => s.cpuS);
  return {
    label,
    args,
    runs: samples.length,
    wallS: median(samples.map((s) => s.wallS)),
    cpuS: cpus.every((c) => c !== null) ? median(cpus as number[]) : null,
    samples,
  };
}

/** Least-squares b in log t = log a + b log x. */
export function fitExponent(xs: readonly number[], ts: readonly number[]): number {
  const lx = xs.map(Math.log);
  const lt = ts.map(Math.log);
  const mx = lx.reduce((a, b) => a + b, 0) / lx.length;
  const mt = lt.reduce((a, b) => a + b, 0) / lt.length;
  let num = 0;
  let den = 0;
  for (let i = 0; i < lx.length; i++) {
    num += (lx[i]! - mx) * (lt[i]! - mt);
    den += (lx[i]! - mx) ** 2;
  }
  return num / den;
}

interface DepthRow {
  readonly depth: number;
  readonly build: Measured;
  readonly mem: Measured;
}

export async function run(): Promise<BenchReport> {
  const load0 = loadavg()[0]!;
  await ensureBuilt();
  const scratch = mkdtempSync(join(tmpdir(), "mlc-bench-compile-"));
  try {
    const out = (name: string) => join(scratch, name);
    const examples = readdirSync(join(repoRoot, "examples"))
      .filter((e) => existsSync(join(repoRoot, "examples", e, "model.ts")))
      .filter((e) => !EXAMPLES_FILTER || EXAMPLES_FILTER.includes(e))
      .sort();

    process.stderr.write(`compile: start-up and ${examples.length} examples, ${RUNS} runs each\n`);
    const startup = [
      { label: "help", args: ["--help"] },
      { label: "ir", args: ["ir", "examples/mnist-mlp/model.ts"] },
      { label: "buildTrain", args: ["build", "examples/mnist-mlp/model.ts", "--train", "--out", out("startup")] },
    ];
    const perExample = examples.flatMap((e) => {
      const model = `examples/${e}/model.ts`;
      return [
        { label: `${e} ir`, args: ["ir", model] },
        { label: `${e} ir --train`, args: ["ir", model, "--train"] },
        { label: `${e} build`, args: ["build", model, "--out", out(`${e}-fwd`)] },
        { label: `${e} build --train`, args: ["build", model, "--train", "--out", out(`${e}-train`)] },
        { label: `${e} mem`, args: ["mem", model] },
        { label: `${e} mem --train`, args: ["mem", model, "--train"] },
      ];
    });
    const before: Command[] = BEFORE_DIR ? startup.map((c) => ({ ...c, label: `before ${c.label}`, cwd: BEFORE_DIR })) : [];
    const measured = await measureAll([...before, ...startup, ...perExample], RUNS);
    const beforeRows = measured.slice(0, before.length);
    const startupRows = measured.slice(before.length, before.length + startup.length);
    const exampleRows = measured.slice(before.length + startup.length);
    const beforeFigures = BEFORE_DIR
      ? {
          source: "measured in the same rounds",
          commit: gitHead(BEFORE_DIR),
          runs: RUNS,
          seconds: Object.fromEntries(beforeRows.map((m) => [m.label.replace(/^before /, ""), m.wallS])),
          rows: beforeRows,
        }
      : BEFORE_RECORDED;

    process.stderr.write(`compile: resnet --train by depth (${DEPTHS.join(", ")}, then ${MORE_DEPTHS.join(", ")} under ${LIMIT_S} s a run; ${DEPTH_RUNS} run(s) each)\n`);
    const depthRows: DepthRow[] = [];
    const skipped: { depth: number; predictedS: number }[] = [];
    for (const depth of [...DEPTHS, ...MORE_DEPTHS]) {
      const predicted = predictSeconds(depthRows, depth);
      if (!DEPTHS.includes(depth) && predicted > LIMIT_S) {
        skipped.push({ depth, predictedS: predicted });
        continue;
      }
      const model = "examples/resnet/model.ts";
      const set = ["--set", `depth=${depth}`];
      const [build, mem] = await measureAll(
        [
          { label: `resnet depth ${depth} build --train`, args: ["build", model, "--train", ...set, "--out", out(`resnet-${depth}`)] },
          { label: `resnet depth ${depth} mem --train`, args: ["mem", model, "--train", ...set] },
        ],
        DEPTH_RUNS,
      );
      depthRows.push({ depth, build: build!, mem: mem! });
      process.stderr.write(`  depth ${depth}: build ${build!.wallS.toFixed(1)} s, mem ${mem!.wallS.toFixed(1)} s\n`);
    }
    // The exponent is fitted from depth 32 on (fixed costs such as binaryen's optimisation of the
    // kernels weigh on the shallow nets), or over every depth when fewer than two reach 32.
    const deep = depthRows.filter((r) => r.depth >= FIT_FROM_DEPTH);
    const fitted = deep.length >= 2 ? deep : depthRows;
    const fit = (pick: (r: DepthRow) => number) =>
      fitted.length >= 2 ? fitExponent(fitted.map((r) => r.depth), fitted.map(pick)) : null;
    const cpuFit = (pick: (r: DepthRow) => number | null) => (fitted.every((r) => pick(r) !== null) ? fit((r) => pick(r)!) : null);
    const exponents = {
      build: fit((r) => r.build.wallS),
      mem: fit((r) => r.mem.wallS),
      buildCpu: cpuFit((r) => r.build.cpuS),
      memCpu: cpuFit((r) => r.mem.cpuS),
    };
    const load1 = loadavg()[0]!;
    const settings = { runs: RUNS, depthRuns: DEPTH_RUNS, depths: DEPTHS, moreDepths: MORE_DEPTHS, limitS: LIMIT_S, cores: cpus().length, loadAverage: { start: load0, end: load1 } };
    const results = { settings, before: beforeFigures, startup: startupRows, examples: exampleRows, resnet: { rows: depthRows, skipped, exponents } };
    return { name: "compile", title: "Compiler speed (mlc's own wall time)", results, markdown: markdown(results) };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/**
 * The slower command's time at `depth`, extrapolated from the last two depths measured with their
 * own exponent, at least linear (from one depth: linear; from none: 0).
 */
function predictSeconds(rows: readonly DepthRow[], depth: number): number {
  const slowest = (r: DepthRow) => Math.max(r.build.wallS, r.mem.wallS);
  const last = rows[rows.length - 1];
  if (!last) return 0;
  const prev = rows[rows.length - 2];
  const exponent = prev ? Math.max(1, Math.log(slowest(last) / slowest(prev)) / Math.log(last.depth / prev.depth)) : 1;
  return slowest(last) * (depth / last.depth) ** exponent;
}

/** The commit checked out in `dir` (short), or "unknown". */
function gitHead(dir: string): string {
  const r = spawnSync("git", ["rev-parse", "--short", "HEAD"], { cwd: dir, encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : "unknown";
}

export type Results = {
  settings: { runs: number; depthRuns: number; depths: number[]; moreDepths: number[]; limitS: number; cores: number; loadAverage: { start: number; end: number } };
  before: { source: string; commit: string; runs: number; seconds: Record<string, number> };
  startup: Measured[];
  examples: Measured[];
  resnet: { rows: DepthRow[]; skipped: { depth: number; predictedS: number }[]; exponents: { build: number | null; mem: number | null; buildCpu: number | null; memCpu: number | null } };
};

const secs = (m: Measured) => `${m.wallS.toFixed(2)}${m.cpuS === null ? "" : ` (${m.cpuS.toFixed(2)})`}`;

export function markdown(r: Results): string {
  const lines: string[] = [];
  lines.push(
    `Wall time of \`mlc\` commands, each a fresh \`node bin/mlc.js ...\` process, in seconds: the median of ${r.settings.runs} interleaved runs` +
      ` (resnet: ${r.settings.depthRuns} per depth), with the CPU time (user + system) of the same runs in parentheses.` +
      ` bin/mlc.js runs the compiled JavaScript in dist/ (\`npm run build\`, esbuild, file by file) and main.ts imports a command's module` +
      ` (and with it ts-morph, binaryen or webgpu) only when that command runs.` +
      ` Load average during the run: ${r.settings.loadAverage.start.toFixed(1)} at the start, ${r.settings.loadAverage.end.toFixed(1)} at the end on ${r.settings.cores} cores` +
      (Math.min(r.settings.loadAverage.start, r.settings.loadAverage.end) > r.settings.cores
        ? ": other jobs shared the machine, so wall times include waiting for a core and the CPU times are the steadier figures."
        : "."),
  );
  lines.push("", "### Start-up", "");
  lines.push(
    `Before: bin/mlc.js at ${r.before.commit}, which ran the sources through tsx's loader (transpiling them and binaryen's 14.8 MB index.js on every start) and imported every command up front; median of ${r.before.runs} runs, wall time, ${r.before.source}.`,
    "",
  );
  lines.push("| command | before s | now s (CPU s) | before / now |", "|---|--:|--:|--:|");
  const names: Record<string, string> = {
    help: "mlc --help",
    ir: "mlc ir examples/mnist-mlp/model.ts",
    buildTrain: "mlc build examples/mnist-mlp/model.ts --train",
  };
  for (const m of r.startup) {
    const before = r.before.seconds[m.label];
    lines.push(`| \`${names[m.label] ?? m.label}\` | ${before?.toFixed(2) ?? "–"} | ${secs(m)} | ${before ? `${(before / m.wallS).toFixed(1)}x` : "–"} |`);
  }

  lines.push("", "### Examples", "");
  lines.push("| example | ir | ir --train | build | build --train | mem | mem --train |", "|---|--:|--:|--:|--:|--:|--:|");
  const byExample = new Map<string, Measured[]>();
  for (const m of r.examples) {
    const name = m.label.split(" ")[0]!;
    byExample.set(name, [...(byExample.get(name) ?? []), m]);
  }
  for (const [name, ms] of byExample) lines.push(`| ${name} | ${ms.map(secs).join(" | ")} |`);

  lines.push("", "### ResNet by depth (`--train`)", "");
  lines.push(
    "`examples/resnet/model.ts --set depth=N` (N residual blocks: conv-BN-ReLU-conv-BN). Per block: the time over the depth; Δ per block: the time added per block since the previous depth.",
    "",
  );
  lines.push("| depth | build --train s (CPU s) | per block ms | Δ per block ms | mem --train s (CPU s) | per block ms | Δ per block ms |", "|--:|--:|--:|--:|--:|--:|--:|");
  const rows = r.resnet.rows;
  rows.forEach((row, i) => {
    const prev = rows[i - 1];
    const per = (t: number) => ((t / row.depth) * 1000).toFixed(0);
    const delta = (t: number, tp: number | undefined) => (prev && tp !== undefined ? (((t - tp) / (row.depth - prev.depth)) * 1000).toFixed(0) : "–");
    lines.push(
      `| ${row.depth} | ${secs(row.build)} | ${per(row.build.wallS)} | ${delta(row.build.wallS, prev?.build.wallS)} | ${secs(row.mem)} | ${per(row.mem.wallS)} | ${delta(row.mem.wallS, prev?.mem.wallS)} |`,
    );
  });
  const exp = (b: number | null) => (b === null ? "–" : b.toFixed(2));
  const deep = rows.filter((x) => x.depth >= FIT_FROM_DEPTH);
  lines.push(
    "",
    `Fitted exponent b of wall time ≈ a·depth^b (least squares, log-log, depths ${(deep.length >= 2 ? deep : rows).map((x) => x.depth).join(", ")}): build --train ${exp(r.resnet.exponents.build)}, mem --train ${exp(r.resnet.exponents.mem)}` +
      ` (of CPU time: ${exp(r.resnet.exponents.buildCpu)} and ${exp(r.resnet.exponents.memCpu)}).` +
      " The fixed start-up cost (loading ts-morph and binaryen, the stem and the head) pulls b below the growth of the per-block work; the Δ columns show that growth.",
  );
  if (r.resnet.skipped.length > 0) {
    lines.push(
      "",
      `Not run: ${r.resnet.skipped.map((s) => `depth ${s.depth} (predicted ${s.predictedS.toFixed(0)} s)`).join(", ")}, over the ${r.settings.limitS} s limit a run.`,
    );
  }
  return lines.join("\n");
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const report = await run();
  console.log(report.markdown);
  console.log(JSON.stringify(report.results, null, 2));
}
