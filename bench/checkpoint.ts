// Gradient checkpointing on a deep net: examples/resnet at depth 8 … 128 (`--set depth=N`), its
// training step built as the bundle `mlc build --train --checkpoint MODE` writes (`buildBundle`),
// for MODE none, sqrt and auto. Per depth and mode:
//
//   arena             the bundle's planned arena (forward and train_step in one, with the kernels'
//                     workspaces: `layout.arena`)
//   activation        arena − pinned bytes (params, optimizer state, other state, inputs: the
//                     buffers live for the whole step; compiler/cli/memory-report.ts)
//   extra FLOPs %     the checkpoint pass's recomputed FLOPs over the un-checkpointed step's FLOPs
//                     (compiler/passes/checkpoint/cost.ts, conv transposes counted as convolutions)
//   step ms           the bundle's trainStep(), measured: the three bundles loaded side by side,
//                     same initial weights (reset before every round) and inputs, interleaved
//                     round by round (none, sqrt, auto, none, ...), each call timed alone after a
//                     warmup; the median over all calls. Overhead % is over none's median.
//
// auto gets the budget that cuts the un-checkpointed activation memory to a third:
// pinned + activation(none) / 3, from the none bundle's arena. The pass holds its own peak
// estimate to the budget; "met" says whether the bundle's arena fits it too.
//
// Before timing, the first two steps' losses of sqrt and auto must equal none's (relative 1e-4),
// so a broken recomputation never yields a figure. Should the next depth's none or sqrt bundle
// (emitting, mostly) take longer than BUILD_LIMIT_MS to build, deeper nets are planned (bundleProgram: the bundle's own
// fusion and one-arena planning, so the same arena) but not emitted, and their step time is not
// measured.
//
//   npx tsx bench/checkpoint.ts        prints the table and the JSON (MLC_BENCH_CHECKPOINT_DEPTHS=8,16
//                                      picks the depths)
//   npm run bench -- checkpoint        also writes bench/results/checkpoint.json and docs/BENCHMARKS.md

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build, compile } from "../compiler/driver/compile.ts";
import { wasmBackend } from "../compiler/codegen-wasm/backend.ts";
import { pinnedBytes } from "../compiler/cli/memory-report.ts";
import { randomInputs } from "../compiler/cli/random-inputs.ts";
import { graphFlops } from "../compiler/passes/checkpoint/cost.ts";
import { compileModelFile } from "../compiler/frontend/index.ts";
import type { Graph } from "../compiler/ir/graph.ts";
import { CheckpointBudgetError, type CheckpointMode } from "../compiler/passes/checkpoint.ts";
import { buildTrainingProgram, type TrainingOptions } from "../compiler/driver/phases.ts";
import { trainingSpec } from "../compiler/passes/train-options.ts";
import type { BenchReport } from "./run.ts";
import { loadBundle, timingSummary, type Timing } from "./bundle-kit.ts";

const DEPTHS = [8, 16, 32, 64, 128];
const MODES: readonly CheckpointMode[] = ["none", "sqrt", "auto"];
/** Planner search budget per bundle (the exact search stops at the lower bound long before). */
const PLAN_TIME_LIMIT_MS = 300;
/**
 * Deeper nets are planned but not built once the next depth's none or sqrt build would exceed
 * this: a build takes at least BUILD_GROWTH times as long at twice the depth (a guess on the safe
 * side: binaryen's optimiser and the planner's scheduling grow faster than the graph). auto's
 * build adds its checkpoint search, which PASS_LIMIT_MS bounds.
 */
const BUILD_LIMIT_MS = 120_000;
const BUILD_GROWTH = 4;
/**
 * Deeper nets are left out once the next depth's build with auto (its checkpoint search included)
 * would exceed this; it grows at least PASS_GROWTH times per doubling (its candidates and their
 * recompute nodes both grow with the depth).
 */
const PASS_LIMIT_MS = 600_000;
const PASS_GROWTH = 4;
const ROUNDS = 6;
/** Each mode's share of a round: calls until this much time has passed, at least MIN_CALLS. */
const ROUND_MS = 300;
const MIN_CALLS = 2;
const WARMUP_CALLS = 2;
const LOSS_TOLERANCE = 1e-4;

const repoRoot = dirname(dirname(fileURLToPath(import.meta.url)));
const MODEL = join(repoRoot, "examples", "resnet", "model.ts");

/** The API of a loaded bundle (runtime/bundle-runtime.js), as far as this benchmark uses it. */
interface LoadedBundle {
  readonly inputs: Record<string, Float32Array | Int32Array>;
  trainStep(): number;
  saveWeights(): Uint8Array;
  loadWeights(bytes: Uint8Array): void;
}

interface ModeResult {
  readonly mode: CheckpointMode;
  /** auto: the budget it was given. */
  readonly budgetBytes?: number;
  /** The bundle's planned arena (forward + train_step, with workspaces). */
  readonly arenaBytes: number;
  readonly activationBytes: number;
  /** The checkpoint pass's statistics: its peak estimate (what auto holds to the budget), recomputation. */
  readonly estimatedPeakBytes?: number;
  readonly recomputedNodes: number;
  readonly recomputedFlops: number;
  readonly extraFlopsPercent: number;
  /** The build with this mode, the checkpoint search included, milliseconds. */
  readonly passMs: number;
  /** buildBundle (or bundleEntries when not built), milliseconds. */
  readonly buildMs: number;
  readonly built: boolean;
  readonly step?: Timing;
  /** Median step time over none's, minus 1, in percent. */
  readonly stepOverheadPercent?: number;
  /** Loss of the first two training steps from the initial weights. */
  readonly losses?: [number, number];
}

interface DepthRow {
  readonly depth: number;
  readonly nodes: { forward: number; trainStep: number };
  readonly stepFlops: number;
  readonly pinnedBytes: number;
  readonly autoBudget: {
    readonly bytes: number;
    /** The pass found a policy whose estimate fits (else auto ran for its least peak, `leastPeak`). */
    readonly feasible: boolean;
    /** auto's bundle arena fits the budget. */
    readonly metByArena: boolean;
    /** auto's activation memory over none's. */
    readonly activationFraction: number;
  };
  readonly modes: Record<CheckpointMode, ModeResult>;
  /** Why the step time was not measured, when it was not. */
  readonly notTimed?: string;
}

async function measureDepth(depth: number, emit: boolean): Promise<DepthRow> {
  const compiled = compileModelFile(MODEL, { set: { depth: String(depth) } });
  const spec = trainingSpec(compiled.train);
  const plain = buildTrainingProgram(compiled.graph, spec).trainStep;
  const stepFlops = graphFlops(plain);
  const pinned = pinnedBytes(plain).total;

  const dir = mkdtempSync(join(tmpdir(), "mlc-bench-checkpoint-"));
  try {
    const loaded = new Map<CheckpointMode, LoadedBundle>();
    const results = new Map<CheckpointMode, Omit<ModeResult, "step" | "stepOverheadPercent" | "losses">>();
    const buildMode = async (mode: CheckpointMode, budgetBytes?: number, leastPeak?: boolean) => {
      const training: TrainingOptions = { ...spec, checkpoint: { mode, ...(budgetBytes !== undefined ? { budgetBytes } : {}), ...(leastPeak ? { leastPeak } : {}) } };
      // The checkpoint pass runs inside the build (weighing candidates by the WASM backend's
      // peak): its statistics come from the bundle itself.
      const started = performance.now();
      let arenaBytes: number;
      let stats: Record<string, number>;
      if (emit) {
        const bundle = build(compiled.graph, { backend: wasmBackend, training, timeLimitMs: PLAN_TIME_LIMIT_MS });
        arenaBytes = bundle.layout.arena;
        stats = bundle.trainingStats.checkpoint ?? {};
        // A folder per mode (in a fresh folder per depth): each import is a module of its own.
        loaded.set(mode, await loadBundle<LoadedBundle>(bundle, join(dir, mode)));
      } else {
        const program = compile(compiled.graph, { backend: wasmBackend, training, timeLimitMs: PLAN_TIME_LIMIT_MS });
        arenaBytes = program.arena!;
        stats = program.trainingStats.checkpoint ?? {};
      }
      const recomputedFlops = stats["recomputed-flops"] ?? 0;
      results.set(mode, {
        mode,
        ...(budgetBytes !== undefined ? { budgetBytes } : {}),
        arenaBytes,
        activationBytes: arenaBytes - pinned,
        ...(stats["estimated-peak"] !== undefined ? { estimatedPeakBytes: stats["estimated-peak"] } : {}),
        recomputedNodes: stats["recomputed-nodes"] ?? 0,
        recomputedFlops,
        extraFlopsPercent: (100 * recomputedFlops) / stepFlops,
        passMs: performance.now() - started,
        buildMs: performance.now() - started,
        built: emit,
      });
    };

    await buildMode("none");
    await buildMode("sqrt");
    const budget = Math.floor(pinned + results.get("none")!.activationBytes / 3);
    let feasible = true;
    try {
      await buildMode("auto", budget);
    } catch (e) {
      if (!(e instanceof CheckpointBudgetError)) throw e;
      feasible = false;
      process.stderr.write(`checkpoint: depth ${depth}: ${e.message}; auto runs for its least peak instead\n`);
      await buildMode("auto", undefined, true);
    }

    const timed = emit ? await timeSteps(compiled.graph, loaded, `resnet depth ${depth}`) : undefined;
    const none = results.get("none")!;
    const modes = Object.fromEntries(MODES.map((mode) => {
      const r = results.get(mode)!;
      const t = timed?.get(mode);
      const overhead = t && timed ? { stepOverheadPercent: 100 * (t.step.median / timed.get("none")!.step.median - 1) } : {};
      return [mode, { ...r, ...(t ? { step: t.step, losses: t.losses } : {}), ...overhead }];
    })) as Record<CheckpointMode, ModeResult>;
    return {
      depth,
      nodes: { forward: compiled.graph.nodes.length, trainStep: plain.nodes.length },
      stepFlops,
      pinnedBytes: pinned,
      autoBudget: {
        bytes: budget,
        feasible,
        metByArena: modes.auto.arenaBytes <= budget,
        activationFraction: modes.auto.activationBytes / none.activationBytes,
      },
      modes,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Checks that every mode trains alike, then times trainStep() round by round. */
async function timeSteps(forward: Graph, loaded: ReadonlyMap<CheckpointMode, LoadedBundle>, label: string): Promise<Map<CheckpointMode, { step: Timing; losses: [number, number] }>> {
  const inputs = randomInputs(forward, 1);
  const initial = new Map([...loaded].map(([mode, m]) => [mode, m.saveWeights()] as const));
  const reset = (mode: CheckpointMode) => {
    const m = loaded.get(mode)!;
    m.loadWeights(initial.get(mode)!);
    for (const [name, values] of Object.entries(inputs)) m.inputs[name].set(values);
  };
  const losses = new Map<CheckpointMode, [number, number]>();
  for (const mode of MODES) {
    reset(mode);
    const m = loaded.get(mode)!;
    losses.set(mode, [m.trainStep(), m.trainStep()]);
  }
  const reference = losses.get("none")!;
  for (const mode of MODES) {
    losses.get(mode)!.forEach((loss, k) => {
      const diff = Math.abs(loss - reference[k]) / Math.max(Math.abs(reference[k]), 1e-6);
      if (!(diff <= LOSS_TOLERANCE)) throw new Error(`${label}: --checkpoint ${mode}'s loss at step ${k + 1} is ${loss}, none's ${reference[k]} (relative ${diff.toExponential(2)} > ${LOSS_TOLERANCE})`);
    });
  }
  for (const mode of MODES) {
    reset(mode);
    for (let i = 0; i < WARMUP_CALLS; i++) loaded.get(mode)!.trainStep();
  }
  const samples = new Map(MODES.map((mode) => [mode, [] as number[]]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const mode of MODES) {
      reset(mode);
      const m = loaded.get(mode)!;
      const times = samples.get(mode)!;
      const start = performance.now();
      for (let calls = 0; calls < MIN_CALLS || performance.now() - start < ROUND_MS; calls++) {
        const before = performance.now();
        m.trainStep();
        times.push(performance.now() - before);
      }
    }
  }
  return new Map(MODES.map((mode) => [mode, { step: timingSummary(samples.get(mode)!), losses: losses.get(mode)! }]));
}

/** Least-squares slope of log(y) over log(x): y grows like x^slope. */
function growthExponent(points: ReadonlyArray<[number, number]>): number {
  const xs = points.map(([x]) => Math.log(x));
  const ys = points.map(([, y]) => Math.log(y));
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

// ---- report --------------------------------------------------------------------------------------

const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(2);
const pct = (p: number | undefined) => (p === undefined ? "–" : `${p >= 0 ? "+" : ""}${p.toFixed(1)}%`);
const ms = (t: Timing | undefined) => (t === undefined ? "–" : t.median < 10 ? t.median.toFixed(2) : t.median.toFixed(1));

function markdown(rows: readonly DepthRow[], skipped: readonly { depth: number; reason: string }[], settings: Record<string, unknown>): string {
  const head = ["depth", ...MODES.flatMap((m) => [`${m} arena MiB`, `${m} activation MiB`, ...(m === "none" ? [] : [`${m} extra FLOPs`]), `${m} step ms`, ...(m === "none" ? [] : [`${m} step overhead`])])];
  const table = [
    `| ${head.join(" | ")} |`,
    `|${head.map(() => "---:").join("|")}|`,
    ...rows.map((r) => {
      const cells = MODES.flatMap((mode) => {
        const x = r.modes[mode];
        return [mb(x.arenaBytes), mb(x.activationBytes), ...(mode === "none" ? [] : [pct(x.extraFlopsPercent)]), ms(x.step), ...(mode === "none" ? [] : [pct(x.stepOverheadPercent)])];
      });
      return `| ${r.depth} | ${cells.join(" | ")} |`;
    }),
  ];
  const budgets = [
    "| depth | step GFLOP | pinned MiB | auto budget MiB | auto estimate MiB | auto arena MiB | met by the arena | auto activation / none's | auto extra FLOPs | auto recompute nodes | auto pass s | build s (none / sqrt / auto) |",
    "|---:|---:|---:|---:|---:|---:|:---:|---:|---:|---:|---:|---|",
    ...rows.map((r) => {
      const a = r.modes.auto;
      const builds = MODES.map((m) => (r.modes[m].buildMs / 1000).toFixed(1)).join(" / ") + (r.modes.none.built ? "" : " (planned only)");
      return `| ${r.depth} | ${(r.stepFlops / 1e9).toFixed(2)} | ${mb(r.pinnedBytes)} | ${mb(r.autoBudget.bytes)}${r.autoBudget.feasible ? "" : " (infeasible)"} | ${a.estimatedPeakBytes !== undefined ? mb(a.estimatedPeakBytes) : "–"} | ${mb(a.arenaBytes)} | ${r.autoBudget.metByArena ? "yes" : "no"} | ${r.autoBudget.activationFraction.toFixed(2)} | ${pct(a.extraFlopsPercent)} | ${a.recomputedNodes} | ${(a.passMs / 1000).toFixed(1)} | ${builds} |`;
    }),
  ];
  const growth = MODES.map((mode) => `${mode} ~ depth^${growthExponent(rows.map((r) => [r.depth, r.modes[mode].activationBytes])).toFixed(2)}`).join(", ");
  const timed = rows.filter((r) => r.modes.sqrt.stepOverheadPercent !== undefined);
  const worst = (mode: CheckpointMode, key: "stepOverheadPercent" | "extraFlopsPercent", from: readonly DepthRow[]) =>
    from.length ? Math.max(...from.map((r) => r.modes[mode][key] ?? -Infinity)) : undefined;
  const notTimed = rows.filter((r) => r.notTimed);
  return [
    "examples/resnet (batch 8, 16×16 images, 16 channels, SGD with momentum) at several depths, its training step " +
      "built as `mlc build --train --checkpoint MODE` builds it (`buildBundle`). Arena: the bundle's planned arena (forward and " +
      "train_step in one, with the kernels' workspaces). Activation: arena minus the pinned bytes (params, optimizer state, " +
      "running statistics, inputs: the buffers live for the whole step). Extra FLOPs: the recomputed FLOPs over the " +
      "un-checkpointed step's. Step: median `trainStep()` of the bundle, single thread, the three modes interleaved " +
      `(${ROUNDS} rounds of ~${ROUND_MS} ms each and at least ${MIN_CALLS} calls, after ${WARMUP_CALLS} warmup calls; weights reset every round); ` +
      "overhead over none's median. auto's budget cuts none's activation memory to a third: pinned + activation(none) / 3.",
    "",
    ...table,
    "",
    "### auto at a third of the activation memory",
    "",
    ...budgets,
    "",
    "Notes:",
    "",
    `- Activation memory grows with depth as ${growth} (least-squares slope over the depths above). ` +
      "Without checkpointing every block's activations are kept (linear); sqrt keeps about sqrt(#cuts) block outputs and one " +
      "segment's recomputed values at a time, so about sqrt(depth); auto's follows its budget, a third of none's, so linear.",
    timed.length
      ? `- Step-time overhead at the timed depths (${timed.map((r) => r.depth).join(", ")}): sqrt at most ${pct(worst("sqrt", "stepOverheadPercent", timed))} (goal: at most +35%), ` +
        `auto at most ${pct(worst("auto", "stepOverheadPercent", timed))}. auto's recomputed FLOPs at a third of the activation memory: at most ${pct(worst("auto", "extraFlopsPercent", rows))} over all depths (goal: at most 15%).`
      : `- No depth was timed. auto's recomputed FLOPs at a third of the activation memory: at most ${pct(worst("auto", "extraFlopsPercent", rows))} (goal: at most 15%).`,
    ...(notTimed.length ? [`- Depth ${notTimed.map((r) => r.depth).join(", ")}: ${notTimed[0].notTimed}`] : []),
    ...skipped.map((x) => `- Depth ${x.depth}: ${x.reason}.`),
    `- Before timing, sqrt's and auto's losses of the first two steps equal none's within ${LOSS_TOLERANCE} (relative). Settings: ${JSON.stringify(settings)}.`,
  ].join("\n");
}

export async function run(): Promise<BenchReport> {
  const depths = process.env.MLC_BENCH_CHECKPOINT_DEPTHS?.split(",").map(Number) ?? DEPTHS;
  const rows: DepthRow[] = [];
  const skipped: { depth: number; reason: string }[] = [];
  let emitStopped: string | undefined;
  for (const depth of depths) {
    const last = rows[rows.length - 1];
    if (skipped.length > 0 || (last && last.modes.auto.passMs * PASS_GROWTH > PASS_LIMIT_MS)) {
      skipped.push({
        depth,
        reason: skipped.length > 0 ? skipped[0].reason : `left out: auto's checkpoint search took ${(last!.modes.auto.passMs / 1000).toFixed(0)} s at depth ${last!.depth} ` +
          `(${last!.modes.auto.recomputedNodes} recompute nodes) and grows at least ${PASS_GROWTH}x per doubling`,
      });
      continue;
    }
    const row = await measureDepth(depth, emitStopped === undefined);
    rows.push(emitStopped === undefined ? row : { ...row, notTimed: emitStopped });
    // none's and sqrt's builds are mostly emitting (binaryen); auto's also holds its checkpoint
    // search, which PASS_LIMIT_MS governs.
    const slowest = Math.max(row.modes.none.buildMs, row.modes.sqrt.buildMs);
    if (emitStopped === undefined && row.modes.none.built && slowest * BUILD_GROWTH > BUILD_LIMIT_MS) {
      emitStopped = `planned (bundleEntries: the bundle's own fusion and one-arena planning, so the same arena) but not built or timed: ` +
        `depth ${depth}'s slowest bundle without auto's search took ${(slowest / 1000).toFixed(0)} s to build, and twice the depth takes at least ${BUILD_GROWTH}x as long ` +
        "(binaryen's optimiser, superlinear in the size of the entry functions).";
    }
    process.stderr.write(`checkpoint: depth ${depth} done (builds ${MODES.map((m) => `${m} ${(row.modes[m].buildMs / 1000).toFixed(1)} s`).join(", ")})\n`);
  }
  const settings = { depths, planTimeLimitMs: PLAN_TIME_LIMIT_MS, buildLimitMs: BUILD_LIMIT_MS, rounds: ROUNDS, roundMs: ROUND_MS, minCalls: MIN_CALLS, warmupCalls: WARMUP_CALLS, lossTolerance: LOSS_TOLERANCE };
  return { name: "checkpoint", title: "Gradient checkpointing (resnet by depth)", results: { settings, rows, skipped }, markdown: markdown(rows, skipped, settings) };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const report = await run();
  console.log(report.markdown);
  console.log(JSON.stringify(report.results, null, 2));
}
