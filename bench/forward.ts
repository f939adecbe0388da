// Whole-model latency, single thread: the forward pass and the training step of three examples
// (examples/mnist-mlp, examples/cnn, examples/transformer) as mlc bundles (`buildBundle`, the code
// `mlc build --train` writes, loaded through its own JS) against TF.js's WASM backend
// (bench/peer-tfjs-models.ts) and ONNX Runtime Web's WASM execution provider
// (bench/peer-onnx-models.ts, forward only: ORT Web does not train). Every peer starts from the
// bundle's initial weights and gets the same random inputs.
//
// Before any timing, the peers must compute what mlc computes: each peer's logits within 1e-3 of
// mlc's (max |difference| over max |logit|), and TF.js's loss before and after one training step
// within 1e-3 of mlc's (relative), else the module throws, so a wrong twin never yields a figure.
//
// One call = what an app does per batch: copy the inputs in, run, get the result as JS data (mlc:
// `inputs.*.set`, `forward()` and a copy of the logits, or `trainStep()` returning the loss; TF.js:
// tensors from the arrays, the model, `dataSync` of the logits or of the loss; ORT: `session.run`
// on tensors wrapping the arrays). Contenders run interleaved, round by round (mlc, TF.js, ORT,
// mlc, ...), each call timed on its own after a warmup; figures are medians over all calls.
//
//   npx tsx bench/forward.ts        prints the tables and the JSON
//   npm run bench -- forward        also writes bench/results/forward.json and docs/BENCHMARKS.md

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "../compiler/driver/compile.ts";
import { wasmBackend } from "../compiler/codegen-wasm/backend.ts";
import type { WasmLayout } from "../compiler/codegen-wasm/emit.ts";
import { randomInputs } from "../compiler/cli/random-inputs.ts";
import { compileModelFile } from "../compiler/frontend/index.ts";
import type { OptimizerOptions } from "../compiler/passes/optimizer.ts";
import { trainingSpec } from "../compiler/passes/train-options.ts";
import { decodeSafetensors } from "../runtime/safetensors.ts";
import { ortForward } from "./peer-onnx-models.ts";
import { loadTfjsWithGradients, tfjsTwin, type PeerInputs, type PeerModelName } from "./peer-tfjs-models.ts";
import type { BenchReport } from "./run.ts";
import { loadBundle, timingSummary, type Timing } from "./bundle-kit.ts";

const ROUNDS = 8;
/** Each contender's share of a round: calls until this much time has passed, at least MIN_CALLS. */
const ROUND_MS = 80;
const MIN_CALLS = 3;
const WARMUP_MS = 300;
/** Largest accepted |peer − mlc| / max |mlc| over the logits, and relative loss difference. */
const TOLERANCE = 1e-3;

const repoRoot = dirname(dirname(fileURLToPath(import.meta.url)));

interface Case {
  readonly model: PeerModelName;
  /** `--set` overrides of the model's config. */
  readonly set: Readonly<Record<string, string>>;
}

// The transformer is compiled with dropout 0 for both entries: mlc's dropout is always on (also in
// `forward`), and the peers' twins have none, so only then do all compute the same function.
const CASES: readonly Case[] = [
  { model: "mnist-mlp", set: {} },
  { model: "mnist-mlp", set: { batch: "256" } },
  { model: "cnn", set: {} },
  { model: "cnn", set: { batch: "128" } },
  { model: "transformer", set: { dropout: "0" } },
];

/** The API of a loaded bundle (runtime/bundle-runtime.js), as far as this benchmark uses it. */
interface LoadedBundle {
  readonly memory: { readonly buffer: ArrayBuffer };
  readonly inputs: Record<string, Float32Array | Int32Array>;
  readonly outputs: Record<string, Float32Array>;
  forward(): void;
  trainStep(): number;
}

export interface ForwardRow {
  readonly model: PeerModelName;
  readonly config: Record<string, number>;
  readonly optimizer: OptimizerOptions;
  readonly buildMs: number;
  /** Forward latency per runtime (mlc, TF.js, ORT) and each peer's median over mlc's. */
  readonly forward: { readonly ms: Record<string, Timing>; readonly ratio: Record<string, number> };
  readonly train: { readonly ms: Record<string, Timing>; readonly ratio: Record<string, number> };
  readonly check: {
    /** max |peer − mlc| / max |mlc| over the logits, per peer. */
    readonly logitsRelDiff: Record<string, number>;
    /** Loss of the first and second training step (before and after one update), per runtime. */
    readonly losses: Record<string, [number, number]>;
    /** Loss of the last timed training step, per runtime (the weights part ways after the checks). */
    readonly finalLoss: Record<string, number>;
  };
  readonly memory: {
    /** The bundle's wasm memory (page-rounded) and the planned arena, in bytes. */
    readonly wasmMemoryBytes: number;
    readonly arenaBytes: number;
    /** Every value of every entry in a buffer of its own (params and inputs once), plus workspaces. */
    readonly unplannedBytes: number;
  };
}

const MLC = "mlc";
const TFJS = "TF.js wasm";
const ORT = "ORT Web wasm";

async function measureCase(c: Case): Promise<ForwardRow> {
  const file = join(repoRoot, "examples", c.model, "model.ts");
  const compiled = compileModelFile(file, { set: c.set });
  const spec = trainingSpec(compiled.train);
  const config = Object.fromEntries(Object.entries(compiled.config).filter((e): e is [string, number] => typeof e[1] === "number"));
  const started = performance.now();
  const bundle = build(compiled.graph, { backend: wasmBackend, training: spec });
  const buildMs = performance.now() - started;

  const dir = mkdtempSync(join(tmpdir(), "mlc-bench-forward-"));
  try {
    const m = await loadBundle<LoadedBundle>(bundle, dir);

    const weights: Record<string, Float32Array> = {};
    for (const [name, t] of Object.entries(decodeSafetensors(bundle.files[`${bundle.name}.safetensors`] as Uint8Array).tensors)) {
      if (t.dtype === "F32") weights[name] = t.data as Float32Array;
    }
    const inputs: PeerInputs = {};
    for (const [name, values] of Object.entries(randomInputs(compiled.graph, 1))) {
      const dtype = compiled.graph.inputs.find((i) => i.name === name)!.type.dtype;
      inputs[name] = dtype === "i32" ? Int32Array.from(values) : Float32Array.from(values);
    }

    const tf = await loadTfjsWithGradients();
    const tfjs = await tfjsTwin(c.model, weights, config, spec.optimizer);
    const ort = await ortForward(c.model, weights, config);
    let disposed = false;
    try {
      const setInputs = () => {
        for (const [name, data] of Object.entries(inputs)) m.inputs[name].set(data);
      };
      const mlcForward = () => {
        setInputs();
        m.forward();
        return m.outputs.logits.slice();
      };
      const mlcTrain = () => {
        setInputs();
        return m.trainStep();
      };
      const label = `${c.model} ${JSON.stringify(config)}`;

      // Correctness first: logits on the initial weights, then two training steps.
      const reference = mlcForward();
      const logitsRelDiff = { [TFJS]: relDiff(reference, tfjs.forward(inputs), `${label}: TF.js logits`), [ORT]: relDiff(reference, await ort.run(inputs), `${label}: ORT logits`) };
      const losses: Record<string, [number, number]> = { [MLC]: [mlcTrain(), mlcTrain()], [TFJS]: [tfjs.trainStep(inputs), tfjs.trainStep(inputs)] };
      for (const k of [0, 1]) {
        const [ours, theirs] = [losses[MLC][k], losses[TFJS][k]];
        const diff = Math.abs(ours - theirs) / Math.max(Math.abs(ours), 1e-6);
        if (!(diff < TOLERANCE)) throw new Error(`${label}: training step ${k + 1} loss differs: mlc ${ours}, TF.js ${theirs} (relative ${diff.toExponential(2)} ≥ ${TOLERANCE})`);
      }

      // The twin's steady state (weights and optimizer state exist now): the timed calls must leave it as it is.
      const tensorsBefore = tf.memory().numTensors;
      const forwardMs = await interleaved([
        { name: MLC, call: mlcForward },
        { name: TFJS, call: () => tfjs.forward(inputs) },
        { name: ORT, call: () => ort.run(inputs) },
      ]);
      const finalLoss: Record<string, number> = {};
      const trainMs = await interleaved([
        { name: MLC, call: () => (finalLoss[MLC] = mlcTrain()) },
        { name: TFJS, call: () => (finalLoss[TFJS] = tfjs.trainStep(inputs)) },
      ]);
      const leaked = tf.memory().numTensors - tensorsBefore;
      if (leaked !== 0) throw new Error(`${label}: the TF.js twin's calls leaked ${leaked} tensors`);
      disposed = true;
      tfjs.dispose();
      return {
        model: c.model,
        config,
        optimizer: spec.optimizer,
        buildMs,
        forward: { ms: forwardMs, ratio: ratios(forwardMs) },
        train: { ms: trainMs, ratio: ratios(trainMs) },
        check: { logitsRelDiff, losses, finalLoss },
        memory: {
          wasmMemoryBytes: m.memory.buffer.byteLength,
          arenaBytes: bundle.layout.arena,
          unplannedBytes: unplannedBytes(bundle.files[`${bundle.name}.plan.json`] as string, bundle.layout),
        },
      };
    } catch (e) {
      if (!disposed) tfjs.dispose();
      throw e;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** max |b − a| / max |a|; throws when it reaches TOLERANCE (or the lengths differ, or a NaN appears). */
function relDiff(a: Float32Array, b: ArrayLike<number>, what: string): number {
  if (a.length !== b.length) throw new Error(`${what}: ${b.length} values, mlc has ${a.length}`);
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    scale = Math.max(scale, Math.abs(a[i]));
    worst = Math.max(worst, Math.abs(b[i] - a[i]));
    if (Number.isNaN(a[i]) || Number.isNaN(b[i])) worst = Infinity;
  }
  const rel = worst / Math.max(scale, 1e-30);
  if (!(rel < TOLERANCE)) throw new Error(`${what} differ from mlc's: max |difference| ${worst.toExponential(2)} over max |logit| ${scale.toExponential(2)} = ${rel.toExponential(2)} (≥ ${TOLERANCE})`);
  return rel;
}

interface Contender {
  readonly name: string;
  readonly call: () => unknown;
}

/** Warmup, then ROUNDS rounds in which each contender in turn makes calls for ROUND_MS, each timed. */
async function interleaved(contenders: readonly Contender[]): Promise<Record<string, Timing>> {
  for (const c of contenders) await callsFor(c, WARMUP_MS, 1);
  const samples = new Map(contenders.map((c) => [c.name, [] as number[]]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const c of contenders) samples.get(c.name)!.push(...(await callsFor(c, ROUND_MS, MIN_CALLS)));
  }
  return Object.fromEntries([...samples].map(([name, ms]) => [name, timingSummary(ms)]));
}

async function callsFor(c: Contender, ms: number, minCalls: number): Promise<number[]> {
  const times: number[] = [];
  const start = performance.now();
  let now = start;
  while (times.length < minCalls || now - start < ms) {
    const before = performance.now();
    await c.call();
    now = performance.now();
    times.push(now - before);
  }
  return times;
}

/** Each peer's median over mlc's: above 1, mlc is faster. */
function ratios(ms: Record<string, Timing>): Record<string, number> {
  return Object.fromEntries(Object.keys(ms).filter((n) => n !== MLC).map((n) => [n, ms[n].median / ms[MLC].median]));
}

/** The bytes the bundle would take with no memory planning, from its plan.json (see ForwardRow). */
function unplannedBytes(planJson: string, layout: WasmLayout): number {
  const plan = JSON.parse(planJson) as { entries: Record<string, { slots: Record<string, { size: number }>; workspaces: Record<string, { size: number }> }> };
  const shared = new Set([...layout.params.map((p) => p.name), ...Object.values(layout.entries).flatMap((e) => e.inputs.map((i) => i.name))]);
  const sharedSize = new Map<string, number>();
  let total = 0;
  for (const entry of Object.values(plan.entries)) {
    for (const [value, slot] of Object.entries(entry.slots)) {
      if (shared.has(value)) sharedSize.set(value, slot.size);
      else total += slot.size;
    }
    for (const ws of Object.values(entry.workspaces)) total += ws.size;
  }
  return total + [...sharedSize.values()].reduce((a, b) => a + b, 0);
}

// ---- report --------------------------------------------------------------------------------------

const describeConfig = (r: ForwardRow) =>
  r.model === "transformer"
    ? `batch ${r.config.batch}, seq ${r.config.seq}, dim ${r.config.dim}, dropout ${r.config.dropout}`
    : `batch ${r.config.batch}`;
const ms = (t: Timing) => (t.median < 1 ? t.median.toFixed(3) : t.median < 10 ? t.median.toFixed(2) : t.median.toFixed(1));
const kib = (bytes: number) => `${(bytes / 1024).toFixed(0)} KiB`;

function markdown(rows: readonly ForwardRow[]): string {
  const forward = [
    `| model | config | mlc ms | ${TFJS} ms | ${ORT} ms | ${TFJS} / mlc | ${ORT} / mlc |`,
    "|---|---|---|---|---|---|---|",
    ...rows.map((r) => `| ${r.model} | ${describeConfig(r)} | ${ms(r.forward.ms[MLC])} | ${ms(r.forward.ms[TFJS])} | ${ms(r.forward.ms[ORT])} | ${r.forward.ratio[TFJS].toFixed(2)}x | ${r.forward.ratio[ORT].toFixed(2)}x |`),
  ];
  const train = [
    `| model | config | optimizer | mlc ms | ${TFJS} ms | ${TFJS} / mlc |`,
    "|---|---|---|---|---|---|",
    ...rows.map((r) => `| ${r.model} | ${describeConfig(r)} | ${r.optimizer.kind} lr ${r.optimizer.lr} | ${ms(r.train.ms[MLC])} | ${ms(r.train.ms[TFJS])} | ${r.train.ratio[TFJS].toFixed(2)}x |`),
  ];
  const memory = [
    "| model | config | wasm memory | planned arena | unplanned (every value its own buffer) | arena / unplanned |",
    "|---|---|---|---|---|---|",
    ...rows.map((r) => `| ${r.model} | ${describeConfig(r)} | ${kib(r.memory.wasmMemoryBytes)} | ${kib(r.memory.arenaBytes)} | ${kib(r.memory.unplannedBytes)} | ${(r.memory.arenaBytes / r.memory.unplannedBytes).toFixed(2)} |`),
  ];
  const worst = (peer: string) => Math.max(...rows.map((r) => r.check.logitsRelDiff[peer])).toExponential(1);
  return [
    "Latency of one call on one batch, single thread, in milliseconds: the median over all calls of " +
      `${ROUNDS} interleaved rounds (mlc, TF.js, ORT, mlc, ...; each contender ~${ROUND_MS} ms and at least ${MIN_CALLS} calls a round, ` +
      `after a ${WARMUP_MS} ms warmup). A call copies the batch in, runs, and returns JS data: the logits (forward) or the loss (training step). ` +
      "mlc is the bundle `mlc build --train` writes (forward and train_step in one arena); TF.js is the WASM backend (SIMD, 1 thread); " +
      "ONNX Runtime Web is the WASM execution provider (1 thread), forward only. Ratios are peer / mlc: above 1, mlc is faster.",
    "",
    "### Forward pass",
    "",
    ...forward,
    "",
    "### Training step (forward, backward, optimizer update)",
    "",
    ...train,
    "",
    "### mlc bundle memory",
    "",
    ...memory,
    "",
    "Notes:",
    "",
    `- Same weights (the bundle's seeded initial weights) and inputs everywhere. Before timing, each peer's logits must be within ${TOLERANCE} of mlc's ` +
      `(max |difference| / max |logit|; worst seen: ${worst(TFJS)} for TF.js, ${worst(ORT)} for ORT), and TF.js's losses of the first two training steps within ${TOLERANCE} of mlc's (relative).`,
    "- The transformer is compiled with `dropout: 0` (mlc's dropout is always active, also in `forward`; the twins have none), for both entries.",
    "- TF.js training step: `tf.variableGrads` of `tf.losses.softmaxCrossEntropy` (mean over positions, as mlc) and the model's optimizer " +
      "(`tf.train.adam`, `tf.train.momentum`). TF.js has no AdamW: the transformer's decoupled weight decay is applied as p ← p·(1 − lr·wd) " +
      "before `tf.train.adam`'s update, which is AdamW's arithmetic. The WASM backend has no kernels for Conv2D's filter gradient and for " +
      "Gather's gradient: the CNN's conv layers use a custom gradient (input gradient by `conv2dTranspose`, as TF.js's own; filter gradient " +
      "as one more conv2d with batch and channels swapped) and the embedding's table gradient is oneHotᵀ · dy (bench/peer-tfjs-models.ts). " +
      "Every other gradient is TF.js's own. Much of TF.js's training time is its matMul gradient: it multiplies with a transpose flag, and " +
      "the WASM backend's matMul with a transpose flag runs ~10x slower than a plain one (measured while writing the twins: 14 ms for [64,784]ᵀ·[64,256] against " +
      "1.4 ms for `tf.transpose` + `tf.matMul`). The twins keep TF.js's stock gradients, as a TF.js user gets them.",
    "- Memory: the wasm memory is the arena rounded up to 64 KiB pages; the unplanned figure gives every value of both entries its own buffer " +
      "(params, optimizer state and inputs counted once) plus the kernels' workspaces.",
  ].join("\n");
}

export async function run(): Promise<BenchReport> {
  await loadTfjsWithGradients();
  const rows: ForwardRow[] = [];
  for (const c of CASES) {
    rows.push(await measureCase(c));
    const r = rows[rows.length - 1];
    process.stderr.write(`forward: ${r.model} ${describeConfig(r)} done\n`);
  }
  const settings = { rounds: ROUNDS, roundMs: ROUND_MS, minCalls: MIN_CALLS, warmupMs: WARMUP_MS, tolerance: TOLERANCE };
  return { name: "forward", title: "Model forward and training step (single thread)", results: { settings, rows }, markdown: markdown(rows) };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const report = await run();
  console.log(report.markdown);
  console.log(JSON.stringify(report.results, null, 2));
}
