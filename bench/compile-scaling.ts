// How the compiler's own time grows with model depth, measured in-process: examples/resnet at
// `--set depth=N`, each measurement in a fresh `tsx` child process (so one depth's heap and JIT
// state do not carry into the next), timed inside it from the frontend on, without Node's or
// tsx's start-up. What each measures is what the CLI command of the same name does:
//
//   build   `mlc build --train`: frontend, compile (training, clean-up, fusion, memory passes),
//           the bundle (kernels emitted and optimised by binaryen)
//   mem     `mlc mem --train`: frontend, the program compiled with and without memory-aware
//           scheduling, the report, and the checkpoint comparison (none, sqrt and auto, each
//           compiled and planned: compiler/cli/memory-report.ts checkpointComparison)
//   auto    `mlc build --train --checkpoint auto --memory-budget B`: as build, the checkpoint
//           search included, B being bench/checkpoint.ts's budget (a third of the un-checkpointed
//           activation memory: pinned + (arena(none) − pinned) / 3, computed before the timing)
//   least   `mlc build --train --checkpoint auto` without a budget (what `mlc mem --train`
//           compiles for its comparison): before the cheap-ops default (docs/MEMORY.md
//           "Checkpointing"), the least peak auto finds; since, the cheap-ops policy
//
// Per depth and measurement: the median wall time of RUNS runs (interleaved), the CPU time of the
// same runs (on a shared machine it moves less), seconds per residual block (wall / depth), and the
// exponent b of time ≈ a·depth^b by least squares of log time on log depth over depths >= 32. Each
// child also reports its passes' wall times (PassRecord.ms) and the bundle writer's.
//
//   npx tsx bench/compile-scaling.ts                        every measurement, default depths
//   MLC_SCALING_DEPTHS=8,32 MLC_SCALING_WHAT=build MLC_SCALING_RUNS=3 npx tsx bench/compile-scaling.ts
//   MLC_SCALING_ROOT=/tmp/before npx tsx bench/compile-scaling.ts     an older checkout's compiler
//   MLC_SCALING_LIMIT_S=600                                 a child running longer is stopped (">")
//   npx tsx bench/compile-scaling.ts --one build 64         one measurement, JSON on stdout

import { spawnSync } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { BenchReport } from "./run.ts";

const repoRoot = dirname(dirname(fileURLToPath(import.meta.url)));
const WHATS = ["build", "mem", "auto", "least"] as const;
type What = (typeof WHATS)[number];

interface OneResult {
  what: What;
  depth: number;
  wallS: number;
  cpuS: number;
  frontendS: number;
  /** Seconds per pass (summed over entries and over every compile the measurement ran). */
  passes: Record<string, number>;
  /** The bundle writer (kernels, binaryen), seconds. */
  bundleS: number;
  nodes: number;
}

/** One measurement in this process (the child's side). */
async function measureOne(what: What, depth: number, root: string): Promise<OneResult> {
  const load = <T>(rel: string) => import(pathToFileURL(join(root, rel)).href) as Promise<T>;
  const { compileModelFile } = await load<typeof import("../compiler/frontend/index.ts")>("compiler/frontend/index.ts");
  const driver = await load<typeof import("../compiler/driver/compile.ts")>("compiler/driver/compile.ts");
  const { wasmBackend } = await load<typeof import("../compiler/codegen-wasm/backend.ts")>("compiler/codegen-wasm/backend.ts");
  const { trainingSpec } = await load<typeof import("../compiler/passes/train-options.ts")>("compiler/passes/train-options.ts");
  const report = await load<typeof import("../compiler/cli/memory-report.ts")>("compiler/cli/memory-report.ts");
  const { verifyGraph } = await load<typeof import("../compiler/ir/verifier.ts")>("compiler/ir/verifier.ts");

  let budgetBytes: number | undefined;
  if (what === "auto") {
    // bench/checkpoint.ts's budget, outside the timing
    const m = compileModelFile(join(root, "examples/resnet/model.ts"), { set: { depth: String(depth) } });
    const spec = trainingSpec(m.train, {});
    const { buildTrainingProgram } = await load<typeof import("../compiler/driver/phases.ts")>("compiler/driver/phases.ts");
    const pinned = report.pinnedBytes(buildTrainingProgram(m.graph, spec).trainStep).total;
    const none = driver.compile(m.graph, { backend: wasmBackend, training: { ...spec, checkpoint: { mode: "none" } } });
    budgetBytes = Math.floor(pinned + (none.arena! - pinned) / 3);
  }
  let bundleMs = 0;
  const backend = {
    ...wasmBackend,
    writeBundle: (...args: Parameters<typeof wasmBackend.writeBundle>) => {
      const t = performance.now();
      const r = wasmBackend.writeBundle(...args);
      bundleMs += performance.now() - t;
      return r;
    },
  };
  const passes: Record<string, number> = {};
  const addRecords = (records: readonly { pass: string; ms?: number }[]) => {
    for (const r of records) passes[r.pass] = (passes[r.pass] ?? 0) + (r.ms ?? NaN) / 1000;
  };
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const model = compileModelFile(join(root, "examples/resnet/model.ts"), { set: { depth: String(depth) } });
  const frontendS = (performance.now() - t0) / 1000;
  verifyGraph(model.graph);
  const spec = trainingSpec(model.train, {});
  const training = { ...spec, accumulate: 1, exposeGradients: false };
  let nodes = 0;
  if (what !== "mem") {
    const checkpoint = what === "build" ? { mode: "none" as const } : { mode: "auto" as const, ...(budgetBytes !== undefined ? { budgetBytes } : {}) };
    const built = driver.build(model.graph, { backend, training: { ...training, checkpoint } });
    addRecords(built.program.records);
    nodes = built.program.entries.reduce((t, e) => t + e.graph.nodes.length, 0);
  } else {
    const options = { backend, training: { ...training, checkpoint: { mode: "none" as const } } };
    // as `mlc mem` does (compiler/cli/commands/mem.ts): one front for every plan and checkpoint
    // row, one fused program for the scheduled and unscheduled plans (an older checkout without
    // the staged driver compiles each from the start)
    const front = driver.compileFront?.(model.graph, options);
    const fused = front && driver.fuseFront(front, options);
    const program = fused ? driver.planFused(fused, options) : driver.compile(model.graph, options);
    const unscheduled = fused ? driver.planFused(fused, { ...options, schedule: false }) : driver.compile(model.graph, { ...options, schedule: false });
    addRecords(program.records);
    addRecords(unscheduled.records);
    report.memoryReport(program, unscheduled, { forwardIds: new Set(model.graph.nodes.map((n) => n.id)), backend });
    // the report's own program is the comparison's none row
    report.checkpointComparison(model.graph, { training, backend, compiled: { checkpoint: options.training.checkpoint, program }, ...(front ? { front } : {}) });
    nodes = program.entries.reduce((t, e) => t + e.graph.nodes.length, 0);
  }
  const wallS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { what, depth, wallS, cpuS: (cpu.user + cpu.system) / 1e6, frontendS, passes, bundleS: bundleMs / 1000, nodes };
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Exponent b of t ≈ a·d^b, least squares of log t on log d. */
export function fittedExponent(points: readonly { depth: number; s: number }[]): number {
  const xs = points.map((p) => Math.log(p.depth));
  const ys = points.map((p) => Math.log(p.s));
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
  const my = ys.reduce((a, b) => a + b, 0) / ys.length;
  let num = 0;
  let den = 0;
  xs.forEach((x, i) => {
    num += (x - mx) * (ys[i] - my);
    den += (x - mx) ** 2;
  });
  return num / den;
}

interface Row {
  what: What;
  depth: number;
  runs: OneResult[];
  /** Set when a run was stopped at the limit, or failed (then after how long, and its error). */
  overS?: number;
  failed?: string;
  wallS: number;
  cpuS: number;
}

function spawnOne(what: What, depth: number, root: string, limitS: number): OneResult | { overS: number } | { failed: string; afterS: number } {
  const started = performance.now();
  const r = spawnSync(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url), "--one", what, String(depth)], {
    cwd: repoRoot,
    env: { ...process.env, MLC_SCALING_ROOT: root },
    encoding: "utf8",
    timeout: limitS * 1000,
    maxBuffer: 64 << 20,
  });
  if (r.error && (r.error as NodeJS.ErrnoException).code === "ETIMEDOUT") return { overS: limitS };
  if (r.status !== 0) {
    const error = r.stderr.split("\n").find((line) => /Error/.test(line)) ?? `exit status ${r.status}`;
    return { failed: error.trim(), afterS: (performance.now() - started) / 1000 };
  }
  return JSON.parse(r.stdout.trim().split("\n").pop()!) as OneResult;
}

export async function measure(opts: { depths: number[]; whats: What[]; runs: number; root: string; limitS: number }): Promise<Row[]> {
  const rows: Row[] = [];
  for (const what of opts.whats) {
    for (const depth of opts.depths) {
      const runs: OneResult[] = [];
      let overS: number | undefined;
      let failed: string | undefined;
      for (let k = 0; k < opts.runs && overS === undefined; k++) {
        const r = spawnOne(what, depth, opts.root, opts.limitS);
        if ("failed" in r) [overS, failed] = [r.afterS, r.failed];
        else if ("overS" in r) overS = r.overS;
        else runs.push(r);
      }
      const row: Row = overS !== undefined
        ? { what, depth, runs, overS, ...(failed ? { failed } : {}), wallS: overS, cpuS: NaN }
        : { what, depth, runs, wallS: median(runs.map((r) => r.wallS)), cpuS: median(runs.map((r) => r.cpuS)) };
      rows.push(row);
      process.stderr.write(`${what} depth ${depth}: ${overS !== undefined ? `> ${overS.toFixed(0)} s${failed ? ` (failed: ${failed})` : ""}` : `${row.wallS.toFixed(2)} s wall, ${row.cpuS.toFixed(2)} s CPU`}` +
        (runs[0] ? `  [frontend ${runs[0].frontendS.toFixed(2)}, bundle ${runs[0].bundleS.toFixed(2)}, ${Object.entries(runs[0].passes).filter(([, s]) => s > 0.05).map(([p, s]) => `${p} ${s.toFixed(2)}`).join(", ")}]` : "") + "\n");
      // Deeper runs of a measurement already past the limit would be too.
      if (overS !== undefined) break;
    }
  }
  return rows;
}

export function table(rows: readonly Row[]): string {
  const lines: string[] = [];
  for (const what of WHATS) {
    const mine = rows.filter((r) => r.what === what);
    if (mine.length === 0) continue;
    const fitted = mine.filter((r) => r.depth >= 32 && r.overS === undefined);
    const b = fitted.length >= 2 ? fittedExponent(fitted.map((r) => ({ depth: r.depth, s: r.wallS }))) : NaN;
    lines.push(`${what}: ` + mine.map((r) => `d${r.depth} ${r.overS !== undefined ? `>${r.overS}` : r.wallS.toFixed(2)} s (${(r.wallS / r.depth * 1000).toFixed(0)} ms/block)`).join(", ") + `; exponent ${b.toFixed(2)}`);
  }
  return lines.join("\n");
}

const intList = (text: string) => text.split(",").map((s) => Number(s.trim())).filter((n) => Number.isInteger(n) && n > 0);

function settings() {
  return {
    depths: intList(process.env.MLC_SCALING_DEPTHS ?? "8,32,64,128,256"),
    whats: (process.env.MLC_SCALING_WHAT?.split(",") ?? ["build", "mem", "auto"]) as What[],
    runs: Math.max(1, Number(process.env.MLC_SCALING_RUNS ?? 3)),
    root: resolve(process.env.MLC_SCALING_ROOT ?? repoRoot),
    limitS: Number(process.env.MLC_SCALING_LIMIT_S ?? 600),
  };
}

/** `npm run bench -- compile-scaling`: the current compiler's figures (the section in docs/BENCHMARKS.md is written by hand). */
export async function run(): Promise<BenchReport> {
  const rows = await measure(settings());
  const text = table(rows);
  return { name: "compile-scaling", title: "Compile time by depth (in-process)", results: rows.map(({ runs: _runs, ...r }) => r), markdown: "```\n" + text + "\n```\n" };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  if (args[0] === "--one") {
    const r = await measureOne(args[1] as What, Number(args[2]), resolve(process.env.MLC_SCALING_ROOT ?? repoRoot));
    process.stdout.write(JSON.stringify(r) + "\n");
  } else {
    const rows = await measure(settings());
    process.stdout.write(table(rows) + "\n" + JSON.stringify(rows.map(({ runs, ...r }) => ({ ...r, first: runs[0] }))) + "\n");
  }
}
