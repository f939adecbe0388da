// The pipeline's phases, each a short run of registered passes (pipeline.ts lists them in order):
//
//   training  [qat] [precision] → autodiff → [loss-scale]         forward → train_step (+ apply_update)
//             → optimizer | accumulate → [nonfinite-guard]        (--mixed: forward retyped first; f16 scaled;
//                                                                  the guard unless --no-nonfinite-guard)
//   cleanup   dce → cse → fold-constants                          every entry
//   precision precision (inference --precision)                   every entry
//   training  checkpoint (when asked)                             train_step
//   fusion    fuse → fuse-reductions → fuse-epilogues             every entry, for a backend
//   memory    schedule → inplace (every entry) → plan (all entries in one arena)
//
// compile.ts strings them together; the functions here also serve callers that need one phase
// (tests, the checkpoint pass's peak estimates).

import type { Graph } from "../ir/graph.ts";
import { verifyGraph } from "../ir/verifier.ts";
import { accumulate, applyUpdateGraph } from "../passes/accumulate.ts";
import { autodiff } from "../passes/autodiff.ts";
import { checkpoint, type CheckpointMode, type PeakEstimator } from "../passes/checkpoint.ts";
import { fuse } from "../passes/fuse.ts";
import { fuseEpilogues } from "../passes/fuse-epilogues.ts";
import { fuseReductions } from "../passes/fuse-reductions.ts";
import { inplace } from "../passes/inplace.ts";
import { lossScale, LOSS_SCALE, type LossScaleOptions } from "../passes/loss-scale.ts";
import { nonfiniteGuard } from "../passes/nonfinite-guard.ts";
import { FINITE } from "../passes/finite-gate.ts";
import { MIXED_F32_OPS, precision, type HalfDType } from "../passes/precision.ts";
import type { WorkspaceBytes } from "../passes/liveness.ts";
import { optimizer, type OptimizerOptions } from "../passes/optimizer.ts";
import { prune, type PruneOptions } from "../passes/prune.ts";
import { qat } from "../passes/qat.ts";
import type { Pass, PassStats } from "../passes/pass.ts";
import { plan } from "../passes/plan.ts";
import { planProgram } from "../passes/plan-entries.ts";
import { schedule } from "../passes/schedule.ts";
import { PassRunner, type NamedGraph } from "./pass-runner.ts";
import { CLEANUP_PASSES } from "./pipeline.ts";

export interface TrainingOptions {
  loss: string;
  optimizer: OptimizerOptions;
  /** Micro-batches per update; 1 means the step updates params itself. */
  accumulate?: number;
  /** Add every grad/<param> as a graph output (for `mlc run --train` and tests). */
  exposeGradients?: boolean;
  /** Magnitude pruning while training (prune.ts), after the optimizer. */
  prune?: Partial<PruneOptions>;
  /**
   * Quantization-aware training (--train --quantize int8; qat.ts): fakeQuant on the dense and conv
   * layers' weights and inputs before autodiff, EMA range observers updated by the train step only.
   */
  quantize?: "int8";
  /** With quantize: weights whose layers stay f32. */
  quantizeSkip?: readonly string[];
  /** Recompute forward activations in the backward pass (checkpoint.ts); default none. */
  checkpoint?: { mode: CheckpointMode; budgetBytes?: number; leastPeak?: boolean; peakOf?: PeakEstimator };
  /**
   * Mixed precision (--mixed): 16-bit activations and gradients, f32 master weights and
   * optimizer state (precision.ts, mode "mixed"); f16 with dynamic loss scaling (loss-scale.ts)
   * unless `lossScale` is false.
   */
  mixed?: { dtype: HalfDType; lossScale?: Partial<LossScaleOptions> | false };
  /**
   * Skip the update of a step whose loss or gradients hold NaN/Inf and count it
   * (nonfinite-guard.ts); default true, false with --no-nonfinite-guard.
   */
  nonfiniteGuard?: boolean;
}

/** Inference with 16-bit storage (--precision, --io-precision): precision.ts, mode "inference". */
export interface PrecisionSpec {
  dtype: HalfDType;
  io?: "f32" | HalfDType;
}

/** The entry points of a compiled training program. */
export interface TrainingProgram {
  /** The forward pass after the clean-up phase. */
  forward: Graph;
  /** Forward + backward + (optimizer update | accumulation), cleaned up (and checkpointed when asked). */
  trainStep: Graph;
  /** Only with accumulate > 1: applies the averaged accumulated gradients. */
  applyUpdate?: Graph;
  /** Statistics of the training passes on the train step, by pass name. */
  stats: Record<string, PassStats>;
}

/**
 * The training phase and the clean-up phase, for the entries a training program has: autodiff →
 * [loss-scale] → optimizer (or accumulate, with the apply_update entry) → [nonfinite-guard] on the train step, dce → cse →
 * fold-constants on every entry, then checkpoint on the train step when asked. Checkpointing
 * comes after the clean-up so its cost model and peak estimates see the graph the backend will
 * get (and so cse never meets its recompute nodes).
 */
export function trainingEntries(source: Graph, opts: TrainingOptions | undefined, runner: PassRunner, inference?: PrecisionSpec): NamedGraph[] {
  const front = trainingFront(source, opts, runner, inference);
  return opts?.checkpoint ? checkpointPhase(front, opts.checkpoint, runner) : front.entries;
}

/** What the training and clean-up phases give: the entries, and where the train step's forward pass ends. */
export interface TrainingFront {
  readonly entries: NamedGraph[];
  /** How many leading nodes of train_step are the forward pass (with training). */
  readonly forwardNodes?: number;
}

/**
 * trainingEntries without the checkpoint pass: what every checkpoint policy of one program
 * starts from (`mlc mem` compares policies on one front; checkpointPhase finishes it).
 */
export function trainingFront(source: Graph, opts: TrainingOptions | undefined, runner: PassRunner, inference?: PrecisionSpec): TrainingFront {
  const entry = "train_step";
  if (!opts) {
    const cleaned = cleanupPhase([{ exportName: "forward", graph: source }], runner);
    return { entries: inference ? precisionPhase(cleaned, inference, runner) : cleaned };
  }
  if (inference) throw new Error("--precision is for inference; a training program takes --mixed");
  const n = opts.accumulate ?? 1;
  const scaling = opts.mixed && (opts.mixed.lossScale ?? (opts.mixed.dtype === "f16" ? {} : false));
  if (scaling && n > 1) throw new Error("--mixed f16 with loss scaling does not combine with --accumulate yet");
  const guard = opts.nonfiniteGuard ?? true;
  // With both, loss-scale's one finite check covers the loss too and the guard reuses it.
  const scale = scaling ? { ...lossScale.defaults, ...scaling, ...(guard ? { loss: opts.loss } : {}) } : undefined;
  // Mixed precision retypes the forward pass before autodiff, so the backward pass is derived in
  // 16 bits and the master weights' gradients come out f32 (the VJP of their casts).
  if (opts.quantize && (opts.mixed || n > 1)) throw new Error("quantization-aware training does not combine with --mixed or --accumulate yet");
  const base = opts.mixed
    ? runner.one(precision, "forward", source, { dtype: opts.mixed.dtype, mode: "mixed", lossScale: scale?.init ?? 0, keepF32: MIXED_F32_OPS })
    : source;
  // QAT: the forward entry reads the observers' ranges, the train step's forward pass updates them.
  const skip = opts.quantizeSkip ?? [];
  const forward = opts.quantize ? runner.one(qat, "forward", base, { observe: false, skip }) : base;
  const stepForward = opts.quantize ? runner.one(qat, entry, base, { observe: true, skip }) : base;
  const withGrads = runner.one(autodiff, entry, stepForward, { loss: opts.loss, exposeGradients: opts.exposeGradients ?? false, ...(scale ? { seed: LOSS_SCALE } : {}) });
  // The finite check (loss-scale's, shared with the guard) comes before the update, which the
  // optimizer or accumulate pass gates by it (finite-gate.ts).
  // With loss scaling its check of every gradient comes first and gates the whole update; the
  // guard alone gates each param's update by the loss and its own gradient, so no gradient waits
  // for the others (optimizer.ts). The guard then counts the steps that step/finite skipped.
  let step = scale ? runner.one(lossScale, entry, withGrads, scale) : withGrads;
  const gate = scale ? { gate: FINITE } : guard ? { guardLoss: opts.loss } : {};
  step = n <= 1 ? runner.one(optimizer, entry, step, { ...opts.optimizer, ...gate }) : runner.one(accumulate, entry, step, { microBatches: n, ...gate });
  if (opts.prune) {
    if (n > 1) throw new Error("pruning while training does not combine with --accumulate yet");
    step = runner.one(prune, entry, step, opts.prune);
  }
  if (guard) step = runner.one(nonfiniteGuard, entry, step, { loss: opts.loss, microBatches: n });
  const named: NamedGraph[] = [{ exportName: "forward", graph: forward }, { exportName: entry, graph: step }];
  if (n > 1) {
    const applyUpdate = applyUpdateGraph(step, n, opts.optimizer);
    verifyGraph(applyUpdate);
    named.push({ exportName: "apply_update", graph: applyUpdate });
  }
  const cleaned = cleanupPhase(named, runner);
  // The step's leading nodes are the forward pass (autodiff appends; the clean-up keeps order and ids).
  const forwardIds = new Set(stepForward.nodes.map((node) => node.id));
  const cleanedStep = cleaned.find((e) => e.exportName === entry)!.graph;
  const firstBackward = cleanedStep.nodes.findIndex((node) => !forwardIds.has(node.id));
  return { entries: cleaned, forwardNodes: firstBackward < 0 ? cleanedStep.nodes.length : firstBackward };
}

/** checkpoint on the train step of a training front (nothing with mode none). */
export function checkpointPhase(front: TrainingFront, policy: NonNullable<TrainingOptions["checkpoint"]>, runner: PassRunner): NamedGraph[] {
  if (policy.mode === "none" || front.forwardNodes === undefined) return front.entries;
  const forwardNodes = front.forwardNodes;
  return front.entries.map((e) => (e.exportName === "train_step" ? { exportName: e.exportName, graph: runner.one(checkpoint, e.exportName, e.graph, { ...policy, forwardNodes }) } : e));
}

/** The training program's graphs (training and clean-up phases): see trainingEntries. */
export function buildTrainingProgram(forward: Graph, opts: TrainingOptions, runner = new PassRunner()): TrainingProgram {
  const entries = trainingEntries(forward, opts, runner);
  const graphOf = (name: string) => entries.find((e) => e.exportName === name)?.graph;
  const stats = Object.fromEntries(runner.records.filter((r) => r.entry === "train_step").map((r) => [r.pass, r.stats]));
  return { forward: graphOf("forward")!, trainStep: graphOf("train_step")!, ...(graphOf("apply_update") ? { applyUpdate: graphOf("apply_update")! } : {}), stats };
}

/** precision on every entry: inference with 16-bit weights and activations. */
export function precisionPhase(entries: readonly NamedGraph[], spec: PrecisionSpec, runner: PassRunner): NamedGraph[] {
  return runner.each(precision, entries, () => ({ dtype: spec.dtype, mode: "inference" as const, io: spec.io ?? "f32" }));
}

/** dce → cse → fold-constants on every entry. */
export function cleanupPhase(entries: readonly NamedGraph[], runner: PassRunner): NamedGraph[] {
  let out = [...entries];
  for (const pass of CLEANUP_PASSES as readonly Pass<object>[]) out = runner.each(pass, out);
  return out;
}

/**
 * fuse → fuse-reductions → fuse-epilogues on every entry: elementwise chains become `fused`
 * nodes, a sum/mean/max absorbs the elementwise producer of its operand, then the consumer of a
 * matmul/conv2d result becomes its epilogue. Runs after the training passes (fused nodes have no
 * VJP) and before the memory passes, so the planner sees the graphs the backend emits.
 */
export function fusionPhase(entries: readonly NamedGraph[], runner: PassRunner): NamedGraph[] {
  return runner.each(fuseEpilogues, runner.each(fuseReductions, runner.each(fuse, entries)));
}

/** One graph through the fusion phase (the checkpoint pass's peak estimates, `transient`; tests). */
export function fuseGraph(graph: Graph, opts: { verify?: boolean; transient?: boolean } = {}): { graph: Graph; stats: Record<string, PassStats> } {
  const runner = new PassRunner(undefined, opts.verify ?? true, opts.transient ?? false);
  const [out] = fusionPhase([{ exportName: graph.name, graph }], runner);
  return { graph: out.graph, stats: Object.fromEntries(runner.records.map((r) => [r.pass, r.stats])) };
}

export interface MemoryOptions {
  /** Reorder nodes to lower the peak first (default true). */
  schedule?: boolean;
  /** Arena alignment in bytes (default 16). */
  alignment?: number;
  /** Budget of the planner's exact search, milliseconds. */
  timeLimitMs?: number;
  /** Scratch bytes each node's kernel needs (a backend's); planned as workspaces. */
  workspaceBytes?: WorkspaceBytes;
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** schedule → inplace on every entry, then plan: all entries in one arena. */
export function memoryPhase(entries: readonly NamedGraph[], opts: MemoryOptions, runner: PassRunner): NamedGraph[] {
  const ws = definedOnly({ workspaceBytes: opts.workspaceBytes });
  const ordered = (opts.schedule ?? true) ? runner.each(schedule, entries, () => ws) : [...entries];
  const placed = runner.each(inplace, ordered);
  return runner.program(planProgram, placed, definedOnly({ alignment: opts.alignment, timeLimitMs: opts.timeLimitMs, workspaceBytes: opts.workspaceBytes }));
}

/**
 * The memory passes on one graph on its own (schedule → inplace → plan): the graph with every
 * value's arena slot and each pass's statistics by name. Reports and tests of a single graph use
 * it; bundles plan all their entries together (memoryPhase).
 */
export function planMemory(graph: Graph, opts: MemoryOptions = {}): { graph: Graph; stats: Record<string, PassStats> } {
  const runner = new PassRunner();
  const entry = graph.name;
  let g = graph;
  if (opts.schedule ?? true) g = runner.one(schedule, entry, g, definedOnly({ workspaceBytes: opts.workspaceBytes }));
  g = runner.one(inplace, entry, g);
  g = runner.one(plan, entry, g, definedOnly({ alignment: opts.alignment, timeLimitMs: opts.timeLimitMs, workspaceBytes: opts.workspaceBytes }));
  return { graph: g, stats: Object.fromEntries(runner.records.map((r) => [r.pass, r.stats])) };
}
