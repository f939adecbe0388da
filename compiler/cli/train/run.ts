// What `mlc train` runs (commands/train.ts starts it in a process of its own, train/worker.ts, that
// loads neither the compiler nor yargs, so its memory is Node, the arena and the batch buffers).
//
// 1. A child `mlc build --train` compiles the bundle (train/bundle.ts).
// 2. The data (train/data.ts) is opened and checked against the bundle's inputs before anything
//    is written to RUN/: a bad file is a one-line error naming the tensor and file.
// 3. Each epoch visits the samples in a seeded permutation (train/permutation.ts), in batches of
//    the bundle's size; the last partial batch of an epoch is dropped (with --accumulate N, an
//    update takes N micro-batches and the epoch's last < N micro-batches are dropped too). The
//    learning rate of every step is written into the bundle's `opt/lr` state (train/schedule.ts).
// 4. After each epoch: the train loss, an evaluation on --eval (loss, and accuracy for
//    classifiers; train/evaluate.ts), and a save. Saves also every --save-every steps, at the
//    end, and on SIGINT (then exit code 130). A save writes RUN/checkpoint.safetensors (every
//    param and state tensor — optimizer state, `opt/lr`, RNG counters — plus the position in
//    __metadata__) and RUN/weights.safetensors (the params a forward bundle loads), each
//    atomically (cli/atomic-write.ts), so a kill at any moment leaves loadable files.
//    A step whose loss or gradients hold NaN/Inf (a bad sample) is skipped by the bundle's
//    non-finite guard (params and optimizer state untouched) and counted: the run says so once,
//    shows the count in its progress, epoch lines and summary, and keeps going. Built with
//    --no-nonfinite-guard, a non-finite loss ends the run ("training diverged").
// 5. `--resume RUN/` reads RUN/config.json (the run's settings; flags that would change the
//    result must agree) and the checkpoint, and continues to the same weights an uninterrupted
//    run reaches, bit for bit.

import { copyFileSync, existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createHash } from "node:crypto";
import { join, resolve } from "node:path";
import { decodeSafetensors, encodeSafetensors, type SafeDType, type SafeTensor } from "../../../runtime/safetensors.ts";
import { parseSetFlags, UsageError } from "../options.ts";
import { ensureDirectory, writeFileAtomic } from "../atomic-write.ts";
import { arenaBreakdown, buildInChild, formatArena, loadBundle, readBundleDir, type BuiltBundleDir } from "./bundle.ts";
import { compilerIdentity } from "../compiler-identity.ts";
import { Dataset, DataError } from "./data.ts";
import { evaluate, formatEval, type EvalResult } from "./evaluate.ts";
import { EpochPermutation } from "./permutation.ts";
import { duration, grouped, Progress } from "./progress.ts";
import { learningRate, needsTotal, type ScheduleKind, type ScheduleSpec } from "./schedule.ts";

/** The command line of `mlc train`, as yargs parsed it (commands/train.ts). */
export interface TrainArgs {
  model: string;
  set?: string[];
  data?: string;
  eval?: string;
  epochs?: number;
  steps?: number;
  seconds?: number;
  batch?: number;
  lr?: number;
  "lr-schedule"?: string;
  "lr-gamma"?: number;
  "lr-every"?: number;
  warmup?: number;
  seed?: number;
  out?: string;
  resume?: string;
  "save-every"?: number;
  optimizer?: string;
  accumulate?: number;
  checkpoint?: string;
  "memory-budget"?: string;
  "scale-u8"?: boolean;
  "nonfinite-guard"?: boolean;
  prune?: number;
  "prune-structure"?: string;
  "prune-schedule"?: string;
  "prune-scope"?: string;
  "prune-params"?: string;
  quantize?: "int8";
  "quantize-skip"?: string;
  "cache-dir"?: string;
  json: boolean;
}

/**
 * Flags passed on to the child mlc build as given (it checks the values), kept in RUN/config.json
 * under the field that names their family, by flag name without the dashes: the --prune family
 * and quantization-aware training's.
 */
const PASSED_FLAGS = {
  prune: ["prune", "prune-structure", "prune-schedule", "prune-scope", "prune-params"],
  qat: ["quantize", "quantize-skip"],
} as const;
type PassedFamily = keyof typeof PASSED_FLAGS;
const PASSED_FAMILIES = Object.keys(PASSED_FLAGS) as PassedFamily[];

/** RUN/config.json: what the run was started with; a resumed run keeps it. */
export interface RunConfig {
  version: 1;
  model: string;
  modelSha256: string;
  set: Record<string, string>;
  seed: number;
  optimizer?: string;
  lr: number;
  schedule: ScheduleSpec;
  accumulate: number;
  checkpoint: string;
  memoryBudget?: string;
  scaleU8: boolean;
  /** false: built with --no-nonfinite-guard (absent: the guard is on). */
  nonfiniteGuard?: boolean;
  /** Pruning while training: the --prune family's values by flag (absent: none given). */
  prune?: Partial<Record<(typeof PASSED_FLAGS.prune)[number], string | number>>;
  /** Quantization-aware training: --quantize and --quantize-skip by flag (absent: none given). */
  qat?: Partial<Record<(typeof PASSED_FLAGS.qat)[number], string>>;
  stop: { epochs?: number; steps?: number; seconds?: number };
  data: string;
  eval?: string;
  /** Saves every N steps besides each epoch's end (0: none). */
  saveEvery: number;
  samples: number;
}

/** The position saved in the checkpoint's __metadata__ ("mlc.train"). */
export interface RunState {
  /** Optimizer steps done. */
  step: number;
  /** The epoch in progress (0-based) and the updates of it done. */
  epoch: number;
  update: number;
  samples: number;
  trainSeconds: number;
  epochLossSum: number;
  epochLossCount: number;
}

export const RUN_STATE_KEY = "mlc.train";

const SAFE_OF: Record<string, SafeDType> = { f32: "F32", f16: "F16", bf16: "BF16", i32: "I32", i8: "I8", u8: "U8", bool: "BOOL" };

export class TrainError extends Error {
  override name = "TrainError";
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}

/** Trains as `mlc train` with these arguments; throws user errors (errors.ts) with exit codes. */
export async function runTraining(args: TrainArgs): Promise<void> {
  if (args.resume && args.out && resolve(args.out) !== resolve(args.resume)) throw new UsageError("--resume RUN/ continues in RUN/; give --out only to name the same directory");
  const out = args.resume ?? args.out;
  if (!out) throw new UsageError("name the run directory: --out RUN/ (or --resume RUN/)");
  const stops = (["epochs", "steps", "seconds"] as const).filter((k) => args[k] !== undefined);
  if (stops.length > 1) throw new UsageError(`give one of --epochs, --steps, --seconds, not ${stops.map((s) => `--${s}`).join(" and ")}`);
  for (const k of ["epochs", "steps", "batch", "accumulate", "save-every", "lr-every", "warmup"] as const) {
    const v = args[k];
    if (v !== undefined && (!Number.isInteger(v) || v < (k === "warmup" ? 0 : 1))) throw new UsageError(`--${k} must be a positive integer, got ${v}`);
  }
  if (args.seconds !== undefined && !(args.seconds > 0)) throw new UsageError(`--seconds must be positive, got ${args.seconds}`);
  if (args.lr !== undefined && !(args.lr > 0)) throw new UsageError(`--lr must be positive, got ${args.lr}`);

  const configPath = join(out, "config.json");
  const checkpointPath = join(out, "checkpoint.safetensors");
  const weightsPath = join(out, "weights.safetensors");
  const modelPath = resolve(args.model);
  const modelSha256 = sha256(readModel(args.model));

  let config: RunConfig;
  let saved: { state: RunState; bytes: Uint8Array } | undefined;
  if (args.resume) {
    config = readConfig(configPath, out);
    checkResumeFlags(config, args, modelPath, modelSha256);
    saved = readCheckpoint(checkpointPath);
    config = {
      ...config,
      ...(stops.length ? { stop: { [stops[0]]: args[stops[0]] } } : {}),
      ...(args.data ? { data: args.data } : {}),
      ...(args.eval ? { eval: args.eval } : {}),
      ...(args["save-every"] !== undefined ? { saveEvery: args["save-every"] } : {}),
    };
  } else {
    if (existsSync(configPath)) throw new UsageError(`${out} already holds a run (config.json): continue it with --resume ${out}, or choose another --out`);
    if (!args.data) throw new UsageError("name the training data: --data DATA");
    const set = parseSetFlags(args.set);
    if (args.batch !== undefined) {
      if ("batch" in set) throw new UsageError("give the batch size with --batch or --set batch=..., not both");
      set.batch = String(args.batch);
    }
    config = {
      version: 1,
      model: modelPath,
      modelSha256,
      set,
      seed: args.seed ?? 0,
      ...(args.optimizer ? { optimizer: args.optimizer } : {}),
      lr: args.lr ?? NaN, // the model's, read from the bundle below
      schedule: scheduleOf(args),
      accumulate: args.accumulate ?? 1,
      checkpoint: args.checkpoint ?? "none",
      ...(args["memory-budget"] ? { memoryBudget: args["memory-budget"] } : {}),
      scaleU8: args["scale-u8"] ?? true,
      ...(args["nonfinite-guard"] === false ? { nonfiniteGuard: false } : {}),
      ...passedFlags(args),
      stop: stops.length ? { [stops[0]]: args[stops[0]] } : { epochs: 1 },
      data: args.data,
      ...(args.eval ? { eval: args.eval } : {}),
      saveEvery: args["save-every"] ?? 0,
      samples: 0,
    };
  }
  if (args["memory-budget"] && config.checkpoint !== "auto") throw new UsageError("--memory-budget needs --checkpoint auto");
  if (needsTotal(config.schedule) && config.stop.seconds !== undefined) {
    throw new UsageError(`--lr-schedule ${config.schedule.kind} needs the run's length in steps: use --epochs or --steps, not --seconds`);
  }

  // 1. The bundle: reused on resume when built from the same settings, else built by a child mlc build.
  const buildArgs = buildArgsOf(config);
  const buildKey = sha256(JSON.stringify({ buildArgs, modelSha256: config.modelSha256 }));
  const bundleDir = join(out, "bundle");
  const compiler = compilerIdentity();
  let fresh: BuiltBundleDir | undefined;
  let built: Omit<BuiltBundleDir, "notes">;
  const previous = args.resume ? bundleBuild(bundleDir) : undefined;
  let rebuiltNote: string | undefined;
  if (previous?.key === buildKey && previous.compiler === compiler) {
    built = readBundleDir(bundleDir);
  } else {
    // A bundle from the same settings but another mlc: its kernels may differ from this one's.
    if (previous?.key === buildKey) rebuiltNote = `${bundleDir} was built by ${previous.compiler ?? "an older mlc"}; rebuilt by ${compiler} (the run goes on, but not bit-identically to one that never stopped if the kernels changed)`;
    fresh = await buildInChild(args.model, buildArgs);
    built = fresh;
  }
  const manifest = built.manifest;
  if (!manifest.loss) throw new TrainError(`${args.model}: the bundle has no training step`);

  // 2. The data, checked before RUN/ is touched.
  const dataOpts = { scaleU8: config.scaleU8, ...(args["cache-dir"] ? { cacheDir: args["cache-dir"] } : {}) };
  let trainData: Dataset;
  let evalData: Dataset | undefined;
  try {
    trainData = await Dataset.open(config.data, manifest.inputs, dataOpts);
    evalData = config.eval ? await Dataset.open(config.eval, manifest.inputs, dataOpts) : undefined;
  } catch (e) {
    if (fresh) rmSync(fresh.dir, { recursive: true, force: true });
    throw e;
  }
  if (args.resume && trainData.count !== config.samples) {
    throw new DataError(`${config.data} has ${trainData.count} samples, but the run was started on ${config.samples}: its data order would differ`);
  }
  const batch = trainData.batch;
  const n = config.accumulate;
  const updatesPerEpoch = Math.floor(Math.floor(trainData.count / batch) / n);
  if (updatesPerEpoch === 0) throw new DataError(`${config.data}: ${trainData.count} samples make no full step of ${batch * n} (batch ${batch}${n > 1 ? ` x ${n} micro-batches` : ""})`);
  const totalSteps = config.stop.epochs !== undefined ? config.stop.epochs * updatesPerEpoch : config.stop.steps;

  // 3. RUN/: the config and the bundle.
  try {
    ensureDirectory(out);
  } catch (e) {
    if (fresh) rmSync(fresh.dir, { recursive: true, force: true });
    throw e;
  }
  if (fresh) {
    if (Number.isNaN(config.lr)) config.lr = initialLearningRate(fresh);
    config.schedule = { ...config.schedule, lr: config.lr };
    installBundle(fresh, bundleDir, { key: buildKey, compiler });
    built = readBundleDir(bundleDir);
  }
  if (!args.resume) config.samples = trainData.count;
  if (!args.resume || stops.length || args.data || args.eval || args["save-every"] !== undefined) writeFileAtomic(configPath, JSON.stringify(config, null, 2) + "\n");

  const m = await loadBundle(built);
  if (saved) {
    // The bundle checks the checkpoint (params of its dtypes and shapes, finite values): a
    // refusal is about the file, so it names it.
    try {
      m.loadWeights(saved.bytes);
    } catch (e) {
      throw new TrainError(`${checkpointPath}: ${(e as Error).message}`);
    }
  }
  const state: RunState = saved?.state ?? { step: 0, epoch: 0, update: 0, samples: 0, trainSeconds: 0, epochLossSum: 0, epochLossCount: 0 };

  const say = (s: string) => process.stdout.write(s + "\n");
  for (const note of [...(rebuiltNote ? [rebuiltNote] : []), ...(fresh?.notes ?? [])]) say(`note: ${note}`);
  say(`${args.resume ? `resuming ${out} at step ${state.step} (epoch ${state.epoch + 1}, step ${state.update} of ${updatesPerEpoch})` : `training ${args.model} into ${out}`}: ` +
    `${grouped(trainData.count)} samples (${trainData.describe()}), batch ${batch}${n > 1 ? ` x ${n} micro-batches` : ""}, ` +
    `${updatesPerEpoch} steps per epoch (last partial batch dropped), ${stopText(config.stop)}, lr ${config.lr} ${config.schedule.kind}`);

  const save = () => {
    const tensors: Record<string, SafeTensor> = Object.create(null);
    for (const p of manifest.params) tensors[p.name] = { dtype: SAFE_OF[p.dtype], shape: [...p.shape], data: m.params[p.name] as SafeTensor["data"] };
    writeFileAtomic(checkpointPath, encodeSafetensors(tensors, { [RUN_STATE_KEY]: JSON.stringify(state) }));
    writeFileAtomic(weightsPath, m.saveWeights({ only: "params" }));
  };

  // 4. The loop.
  const saveEvery = config.saveEvery ?? 0;
  const progress = new Progress();
  const indices = new Float64Array(batch);
  let perm = new EpochPermutation(trainData.count, config.seed, state.epoch);
  let interrupted = false;
  const onSigint = () => {
    interrupted = true;
  };
  process.on("SIGINT", onSigint);
  const startSeconds = state.trainSeconds;
  const startSamples = state.samples;
  let runStart = performance.now();
  // CPU time of this process while training (user + system), for a speed that does not depend on
  // what else the machine runs; evaluation and saving are left out as from the wall-clock time.
  const cpuStart = process.cpuUsage();
  let cpuPaused = 0;
  const cpuSeconds = (since: NodeJS.CpuUsage) => {
    const d = process.cpuUsage(since);
    return (d.user + d.system) / 1e6;
  };
  const elapsed = () => startSeconds + (performance.now() - runStart) / 1000;
  let lastEval: EvalResult | undefined;
  let lastEvalStep = -1;
  let lastSaveStep = saved ? state.step : -1;
  let lastEpochLoss = NaN;
  let lr = config.lr;
  let warnedSkip = false;
  const skippedAtStart = m.skippedSteps ?? 0;
  const skippedText = () => ((m.skippedSteps ?? 0) > 0 ? `, ${grouped(m.skippedSteps!)} step${m.skippedSteps === 1 ? "" : "s"} skipped (NaN/Inf)` : "");
  const finished = () =>
    (config.stop.epochs !== undefined && state.epoch >= config.stop.epochs) ||
    (config.stop.steps !== undefined && state.step >= config.stop.steps) ||
    (config.stop.seconds !== undefined && state.trainSeconds >= config.stop.seconds);
  const runEval = () => {
    if (!evalData) return;
    lastEval = evaluate(m, manifest, evalData);
    lastEvalStep = state.step;
    progress.print(`  eval: ${formatEval(lastEval)}`);
  };
  try {
    while (!finished()) {
      lr = learningRate(config.schedule, state.step, totalSteps);
      m.setLearningRate(lr);
      let loss = 0;
      let accepted = 0;
      for (let k = 0; k < n; k++) {
        const base = (state.update * n + k) * batch;
        for (let r = 0; r < batch; r++) indices[r] = perm.at(base + r);
        trainData.read(indices, batch, m.inputs);
        const l = m.trainStep();
        if (m.lastStepSkipped) {
          if (!warnedSkip) progress.print(`step ${state.step + 1} (epoch ${state.epoch + 1}): the loss or a gradient is ${Number.isFinite(l) ? "NaN/Inf" : l}; the update was skipped (params and optimizer state kept) and training goes on; skipped steps are counted`);
          warnedSkip = true;
          continue;
        }
        if (!Number.isFinite(l)) throw new TrainError(`training diverged: the loss is ${l} at step ${state.step + 1} (epoch ${state.epoch + 1}); the last save is in ${out}`);
        loss += l;
        accepted++;
      }
      if (n > 1) m.applyUpdate();
      state.step++;
      state.update++;
      state.samples += batch * n;
      if (accepted > 0) {
        state.epochLossSum += loss / accepted;
        state.epochLossCount++;
      }
      state.trainSeconds = elapsed();
      const rate = (state.samples - startSamples) / Math.max(1e-9, state.trainSeconds - startSeconds);
      const eta = totalSteps !== undefined ? ((totalSteps - state.step) * batch * n) / rate : config.stop.seconds! - state.trainSeconds;
      progress.update({
        step: state.step, ...(totalSteps !== undefined ? { totalSteps } : {}), epoch: state.epoch, ...(config.stop.epochs !== undefined ? { epochs: config.stop.epochs } : {}),
        loss: state.epochLossSum / state.epochLossCount, samplesPerSecond: rate, etaSeconds: eta, lr, skipped: m.skippedSteps ?? 0,
      });
      if (state.update === updatesPerEpoch) {
        const pause = performance.now();
        const pauseCpu = process.cpuUsage();
        lastEpochLoss = state.epochLossSum / state.epochLossCount;
        progress.print(`epoch ${state.epoch + 1}${config.stop.epochs !== undefined ? `/${config.stop.epochs}` : ""}: train loss ${lastEpochLoss.toFixed(4)}, step ${state.step}${skippedText()}, ${grouped(rate)} samples/s`);
        state.epoch++;
        state.update = 0;
        state.epochLossSum = 0;
        state.epochLossCount = 0;
        perm = new EpochPermutation(trainData.count, config.seed, state.epoch);
        runEval();
        save();
        lastSaveStep = state.step;
        runStart += performance.now() - pause; // evaluation and saving are not training time
        cpuPaused += cpuSeconds(pauseCpu);
      } else if (saveEvery && state.step % saveEvery === 0) {
        const pause = performance.now();
        const pauseCpu = process.cpuUsage();
        save();
        lastSaveStep = state.step;
        runStart += performance.now() - pause;
        cpuPaused += cpuSeconds(pauseCpu);
      }
      if ((state.step & 7) === 0 || saveEvery) await new Promise((r) => setImmediate(r)); // lets SIGINT in
      if (interrupted) {
        save();
        progress.clear();
        throw new TrainError(`interrupted: saved step ${state.step} to ${checkpointPath}; continue with mlc train ${args.model} --resume ${out}`, 130);
      }
    }
  } finally {
    process.off("SIGINT", onSigint);
    trainData.close();
  }
  // The training's CPU time ends with its last step, as its wall-clock time does: the final save
  // and evaluation below are not training.
  const trainCpuSeconds = cpuSeconds(cpuStart) - cpuPaused;
  if (lastSaveStep !== state.step) save();
  if (evalData && lastEvalStep !== state.step) runEval();
  evalData?.close();

  // 5. The summary.
  const ranSeconds = state.trainSeconds - startSeconds;
  const samplesPerSecond = (state.samples - startSamples) / Math.max(1e-9, ranSeconds);
  const samplesPerCpuSecond = (state.samples - startSamples) / Math.max(1e-9, trainCpuSeconds);
  const arena = arenaBreakdown(built);
  const rss = process.resourceUsage().maxRSS * 1024;
  const trainLoss = state.epochLossCount > 0 ? state.epochLossSum / state.epochLossCount : lastEpochLoss;
  progress.clear();
  say(`trained to step ${state.step} (${(state.step / updatesPerEpoch).toFixed(2)} epochs): ${ranSeconds.toFixed(1)} s of training in this run, ` +
    `${grouped(samplesPerSecond)} samples/s; ${state.epochLossCount > 0 ? "this epoch's" : "the last epoch's"} mean train loss ${trainLoss.toFixed(4)}`);
  const skippedSteps = m.skippedSteps ?? 0;
  if (skippedSteps > 0) {
    say(`skipped ${grouped(skippedSteps)} step${skippedSteps === 1 ? "" : "s"}${n > 1 ? " (micro-batches)" : ""} whose loss or gradients were NaN/Inf (${grouped(skippedSteps - skippedAtStart)} in this run); their updates were not applied`);
  }
  if (lastEval) say(`eval (${config.eval}): ${formatEval(lastEval)}`);
  say(formatArena(arena));
  say(`peak RSS ${(rss / 2 ** 20).toFixed(1)} MiB (this process; the compiler ran in a child mlc build)`);
  say(`saved ${weightsPath} (params) and ${checkpointPath} (params, optimizer state, step ${state.step}); ${duration(state.trainSeconds)} of training in all`);
  if (args.json) {
    say(JSON.stringify({
      step: state.step, epochs: state.step / updatesPerEpoch, updatesPerEpoch, batch, accumulate: n, samples: trainData.count, trainSeconds: ranSeconds, samplesPerSecond, cpuSeconds: trainCpuSeconds, samplesPerCpuSecond,
      trainLoss, lr, skippedSteps, eval: lastEval ?? null, arena, peakRssBytes: rss, out,
    }));
  }
}

function scheduleOf(args: TrainArgs): ScheduleSpec {
  const kind = (args["lr-schedule"] ?? "constant") as ScheduleKind;
  if (args["lr-gamma"] !== undefined && kind !== "step") throw new UsageError("--lr-gamma is for --lr-schedule step");
  if (args["lr-every"] !== undefined && kind !== "step") throw new UsageError("--lr-every is for --lr-schedule step");
  if (args.warmup !== undefined && kind !== "warmup-cosine") throw new UsageError("--warmup is for --lr-schedule warmup-cosine");
  return {
    kind,
    lr: NaN,
    ...(args["lr-gamma"] !== undefined ? { gamma: args["lr-gamma"] } : {}),
    ...(args["lr-every"] !== undefined ? { every: args["lr-every"] } : {}),
    ...(args.warmup !== undefined ? { warmup: args.warmup } : {}),
  };
}

/** The passed-on flags given on the command line, by family (families without any left out). */
function passedFlags(args: TrainArgs): Pick<RunConfig, PassedFamily> {
  const out: Partial<Record<PassedFamily, Record<string, string | number>>> = {};
  for (const family of PASSED_FAMILIES) {
    const given = PASSED_FLAGS[family].filter((f) => args[f] !== undefined);
    if (given.length > 0) out[family] = Object.fromEntries(given.map((f) => [f, args[f]!]));
  }
  return out as Pick<RunConfig, PassedFamily>;
}

function buildArgsOf(c: RunConfig): string[] {
  return [
    "--train", "--target", "wasm-simd", "--seed", String(c.seed),
    ...Object.entries(c.set).flatMap(([k, v]) => ["--set", `${k}=${v}`]),
    ...(c.optimizer ? ["--optimizer", c.optimizer] : []),
    "--accumulate", String(c.accumulate),
    "--checkpoint", c.checkpoint,
    ...(c.memoryBudget ? ["--memory-budget", c.memoryBudget] : []),
    ...(c.nonfiniteGuard === false ? ["--no-nonfinite-guard"] : []),
    ...PASSED_FAMILIES.flatMap((family) => Object.entries(c[family] ?? {}).flatMap(([flag, value]) => [`--${flag}`, String(value)])),
  ];
}

function stopText(s: RunConfig["stop"]): string {
  if (s.epochs !== undefined) return `${s.epochs} epoch${s.epochs > 1 ? "s" : ""}`;
  if (s.steps !== undefined) return `${s.steps} steps`;
  return `${s.seconds} s of training`;
}

/** The model's learning rate: the initial value of `opt/lr` in the bundle's weights file. */
function initialLearningRate(b: BuiltBundleDir): number {
  const { tensors } = decodeSafetensors(readFileSync(join(b.dir, `${b.name}.safetensors`)));
  const lr = tensors["opt/lr"];
  if (!lr) throw new TrainError(`the bundle of ${b.name} has no learning-rate state opt/lr`);
  return shortestF32((lr.data as Float32Array)[0]);
}

/** The shortest decimal that rounds to the same f32 (0.05, not 0.05000000074505806). */
function shortestF32(x: number): number {
  for (let digits = 1; digits < 17; digits++) {
    const y = Number(x.toPrecision(digits));
    if (Math.fround(y) === x) return y;
  }
  return x;
}

/** RUN/bundle/build.json: the digest of the build's settings and model, and the mlc that built it. */
interface BundleBuild {
  readonly key: string;
  readonly compiler?: string;
}

/** Moves a freshly built bundle into RUN/bundle/, its build.json written last. */
function installBundle(b: BuiltBundleDir, dir: string, build: BundleBuild): void {
  rmSync(dir, { recursive: true, force: true });
  ensureDirectory(dir);
  for (const f of readdirSync(b.dir)) copyFileSync(join(b.dir, f), join(dir, f));
  writeFileAtomic(join(dir, "build.json"), JSON.stringify(build) + "\n");
  rmSync(b.dir, { recursive: true, force: true });
}

/** What RUN/bundle/build.json says, if it can be read. */
function bundleBuild(dir: string): BundleBuild | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, "build.json"), "utf8")) as BundleBuild;
  } catch {
    return undefined;
  }
}

function readModel(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    throw new UsageError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

function readConfig(path: string, out: string): RunConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    throw new UsageError(`${out} holds no mlc train run to resume (no config.json)`);
  }
  try {
    const c = JSON.parse(text) as RunConfig;
    if (c.version !== 1) throw new Error(`version ${c.version}`);
    return c;
  } catch (e) {
    throw new TrainError(`${path}: not a run configuration (${(e as Error).message})`);
  }
}

/** The checkpoint and its position; undefined when the run never saved (it starts over). */
function readCheckpoint(path: string): { state: RunState; bytes: Uint8Array } | undefined {
  if (!existsSync(path)) return undefined;
  const bytes = readFileSync(path);
  let meta: Record<string, string>;
  try {
    meta = decodeSafetensors(bytes).metadata;
  } catch (e) {
    throw new TrainError(`${path}: not a valid checkpoint: ${(e as Error).message}`);
  }
  const text = meta[RUN_STATE_KEY];
  if (!text) throw new TrainError(`${path}: not an mlc train checkpoint (no ${RUN_STATE_KEY} metadata)`);
  return { state: JSON.parse(text) as RunState, bytes };
}

/** Flags given with --resume must not change what the run computes. */
function checkResumeFlags(c: RunConfig, args: TrainArgs, modelPath: string, modelSha256: string): void {
  if (c.model !== modelPath) throw new UsageError(`the run in ${args.resume} trains ${c.model}, not ${modelPath}`);
  if (c.modelSha256 !== modelSha256) throw new UsageError(`${args.model} changed since the run in ${args.resume} started: resuming would not continue the same model`);
  const differs: string[] = [];
  const check = (flag: string, given: unknown, saved: unknown) => {
    if (given !== undefined && JSON.stringify(given) !== JSON.stringify(saved)) differs.push(`--${flag} ${JSON.stringify(given)} (the run has ${JSON.stringify(saved)})`);
  };
  check("seed", args.seed, c.seed);
  check("batch", args.batch, c.set.batch === undefined ? undefined : Number(c.set.batch));
  check("lr", args.lr, c.lr);
  check("lr-schedule", args["lr-schedule"], c.schedule.kind);
  check("lr-gamma", args["lr-gamma"], c.schedule.gamma);
  check("lr-every", args["lr-every"], c.schedule.every);
  check("warmup", args.warmup, c.schedule.warmup);
  check("optimizer", args.optimizer, c.optimizer);
  check("accumulate", args.accumulate, c.accumulate);
  check("checkpoint", args.checkpoint, c.checkpoint);
  check("memory-budget", args["memory-budget"], c.memoryBudget);
  check("scale-u8", args["scale-u8"], c.scaleU8);
  check("nonfinite-guard", args["nonfinite-guard"], c.nonfiniteGuard ?? true);
  for (const family of PASSED_FAMILIES) {
    const saved: Readonly<Record<string, unknown>> = c[family] ?? {};
    for (const flag of PASSED_FLAGS[family]) check(flag, args[flag], saved[flag]);
  }
  if (args.set) {
    const set = parseSetFlags(args.set);
    for (const [k, v] of Object.entries(set)) check(`set ${k}`, v, c.set[k]);
  }
  if (differs.length > 0) throw new UsageError(`a resumed run keeps its settings (${join(args.resume!, "config.json")}): ${differs.join(", ")}`);
}

