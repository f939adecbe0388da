// The driver: the one pipeline every command runs (mlc ir, run, mem, build; the benchmarks).
//
//   forward graph (frontend) ─ training ─ cleanup ─ checkpoint ─┬─ (no backend: ir, run stop here)
//                                                                └─ fusion ─ memory ─ backend.writeBundle
//
// With a backend, the fusion and memory phases see exactly what that backend emits (its fusion,
// its kernels' scratch bytes as workspaces) and `plan` lays every entry point out in one arena, so
// `mlc mem --target T` reports the arena `mlc build --target T` writes. Checkpointing's auto mode
// weighs its candidates by the same fused, workspace-aware peak.

import { valueTypes, type Graph, type Node } from "../ir/graph.ts";
import type { TensorType } from "../ir/types.ts";
import { estimatedPeak } from "../passes/checkpoint.ts";
import type { PassStats } from "../passes/pass.ts";
import { UnsupportedTargetError, bundleName, type Backend, type BundleMeta, type BundleLayoutSummary, type ProgramEntry, type WrittenBundle } from "../bundle/backend.ts";
import { PassRunner, type IrDumpOptions, type PassRecord } from "./pass-runner.ts";
import { checkpointPhase, fuseGraph, fusionPhase, memoryPhase, trainingFront, type PrecisionSpec, type TrainingOptions } from "./phases.ts";
import { quantizeModel, type Quantization, type QuantizeSpec } from "./calibrate.ts";
import { quantizeDense } from "../passes/quantize-dense.ts";
import { quantizeCodebook } from "../passes/quantize-codebook.ts";
import { codebookModel, type Codebooks, type CodebookSpec } from "./codebook.ts";
import { sparsify } from "../passes/sparsify.ts";
import { sparsifyModel, type Sparsification, type SparseSpec } from "./sparsify-weights.ts";
import { blockSparse } from "../passes/block-sparse.ts";
import { sparse24 } from "../passes/sparse-24.ts";
import { blockSparseModel } from "./block-sparse-weights.ts";
import { foldBatchNorm } from "../passes/fold-batch-norm.ts";
import { toSafeTensor } from "../bundle/tensor-io.ts";
import type { SafeTensor } from "../../runtime/safetensors.ts";

export interface CompileOptions<Layout extends BundleLayoutSummary = BundleLayoutSummary> {
  /**
   * The backend to compile for: the fusion and memory phases run with its scratch bytes. Without
   * one the driver stops after the clean-up phase (what `mlc ir` prints and `mlc run` interprets).
   */
  readonly backend?: Backend<Layout>;
  /** Build the training step (and apply_update when accumulating) besides the forward pass. */
  readonly training?: TrainingOptions;
  /** Inference with 16-bit weights and activations (the precision pass after the clean-up). */
  readonly precision?: PrecisionSpec;
  /**
   * Post-training int8 quantization of an inference program (--quantize int8): calibration
   * (calibrate.ts), then the fold-batch-norm and quantize-dense passes after the clean-up.
   */
  readonly quantize?: QuantizeSpec;
  /**
   * Codebook quantization of an inference program (--quantize codebookN): k-means tables and
   * indices of its dense layers' weights (codebook.ts), then the quantize-codebook pass.
   */
  readonly codebook?: CodebookSpec;
  /**
   * Structured sparsity of an inference program (--sparse): the zero output channels that the
   * weights allow removed (sparsify-weights.ts), then the sparsify pass after the clean-up.
   */
  readonly sparse?: SparseSpec;
  /** Memory-aware scheduling (default true; `mlc mem` also plans without it, for comparison). */
  readonly schedule?: boolean;
  /**
   * A wall-clock budget for the planner's search, milliseconds, instead of its default work budget
   * (deterministic: the same program always gets the same arena; passes/plan-entries.ts).
   */
  readonly timeLimitMs?: number;
  readonly dumps?: IrDumpOptions;
  /** Verify the passes' results: once per phase (true, the default; pass-runner.ts), after every pass ("each"), or not. */
  readonly verify?: boolean | "each";
}

export interface CompiledProgram {
  /** forward, then train_step and apply_update when built, after the last phase that ran. */
  readonly entries: readonly ProgramEntry[];
  /** The planned arena, bytes (with a backend). */
  readonly arena?: number;
  /** Every pass's statistics, per entry ("*": a pass over all entries), in pipeline order. */
  readonly records: readonly PassRecord[];
  /** Statistics of the training passes on the train step, by pass name (empty without training). */
  readonly trainingStats: Readonly<Record<string, PassStats>>;
  /** With `quantize`: the quantized params' values and the report. */
  readonly quantization?: Quantization;
  /** With `codebook`: the tables' and indices' values and the report. */
  readonly codebooks?: Codebooks;
  /** With `sparse`: the shrunk params' values and the report. */
  readonly sparsification?: Sparsification;
}

export function compile(forward: Graph, opts: CompileOptions = {}): CompiledProgram {
  const runner = new PassRunner(opts.dumps, opts.verify ?? true);
  const checkpointed = checkpointStage(frontStage(forward, opts, runner), opts, runner);
  if (!opts.backend) {
    const q = checkpointed.quantization ? { quantization: checkpointed.quantization } : {};
    const sp = checkpointed.sparsification ? { sparsification: checkpointed.sparsification } : {};
    const cb = checkpointed.codebooks ? { codebooks: checkpointed.codebooks } : {};
    return { entries: checkpointed.entries, records: runner.records, trainingStats: checkpointed.trainingStats, ...q, ...sp, ...cb };
  }
  return memoryStage(fusionStage(checkpointed, runner), opts, opts.backend, runner);
}

// The same pipeline in stages, for callers that compile several programs differing only in their
// checkpoint policy or schedule (`mlc mem`: the scheduled and unscheduled plans, and each policy
// of its comparison): each stage's result can be continued more than once, and a program
// continued from shared stages is the one compile() returns (records included).

/** A program before checkpointing: the training and clean-up phases, and quantization. */
export interface ProgramFront {
  readonly entries: readonly ProgramEntry[];
  readonly records: readonly PassRecord[];
  /** With training: how many leading nodes of train_step are the forward pass. */
  readonly forwardNodes?: number;
  readonly quantization?: Quantization;
  readonly codebooks?: Codebooks;
  readonly sparsification?: Sparsification;
}

/** A program after checkpointing and, with a backend, fusion: what the memory phase plans. */
export interface FusedProgram extends ProgramFront {
  readonly trainingStats: Readonly<Record<string, PassStats>>;
}

/** compile's stages up to the checkpoint pass (opts.training's checkpoint is not read). */
export function compileFront(forward: Graph, opts: CompileOptions = {}): ProgramFront {
  return frontStage(forward, opts, new PassRunner(undefined, opts.verify ?? true));
}

/** Continues `front` with opts.training's checkpoint policy and, with opts.backend, fusion. */
export function fuseFront(front: ProgramFront, opts: CompileOptions = {}): FusedProgram {
  const runner = continuing(front, opts);
  const checkpointed = checkpointStage(front, opts, runner);
  return opts.backend ? fusionStage(checkpointed, runner) : checkpointed;
}

/** Continues a fused program with the memory phase for `opts.backend` (opts.schedule, timeLimitMs). */
export function planFused(fused: FusedProgram, opts: CompileOptions & { readonly backend: Backend }): CompiledProgram {
  return memoryStage(fused, opts, opts.backend, continuing(fused, opts));
}

function continuing(from: ProgramFront, opts: CompileOptions): PassRunner {
  const runner = new PassRunner(undefined, opts.verify ?? true);
  runner.records.push(...from.records);
  return runner;
}

function frontStage(forward: Graph, opts: CompileOptions, runner: PassRunner): ProgramFront {
  const front = trainingFront(forward, opts.training, runner, opts.precision);
  let entries: ProgramEntry[] = front.entries;
  let quantization: Quantization | undefined;
  if (opts.quantize) {
    if (opts.training || opts.precision) throw new Error("int8 quantization is for f32 inference programs (not with training or --precision)");
    quantization = opts.quantize.result ?? quantizeModel(entries[0].graph, opts.quantize);
    const layers = quantization.layers;
    entries = runner.each(foldBatchNorm, entries, () => ({}));
    entries = runner.each(quantizeDense, entries, () => ({ layers }));
  }
  let codebooks: Codebooks | undefined;
  if (opts.codebook) {
    if (opts.training || opts.precision || opts.quantize) throw new Error("codebook quantization is for f32 inference programs (not with training, --precision or int8)");
    codebooks = codebookModel(entries[0].graph, opts.codebook);
    const layers = codebooks.layers;
    entries = runner.each(quantizeCodebook, entries, () => ({ layers }));
  }
  let sparsification: Sparsification | undefined;
  if (opts.sparse) {
    if (opts.training || opts.precision || opts.quantize || opts.codebook) throw new Error("structured sparsity is for f32 inference programs (not with training, --precision or --quantize)");
    sparsification = sparsifyModel(entries[0].graph, opts.sparse);
    const remove = sparsification.remove;
    entries = runner.each(sparsify, entries, () => ({ remove }));
    // What stays irregular: each dense layer's kernel from its (shrunk) weight's block density.
    const values: Record<string, ArrayLike<number>> = { ...opts.sparse.params };
    for (const [name, t] of Object.entries(sparsification.tensors)) values[name] = t.data;
    const blocks = blockSparseModel(entries[0].graph, values);
    entries = runner.each(blockSparse, entries, () => ({ layers: blocks.layers }));
    entries = runner.each(sparse24, entries, () => ({ weights: blocks.twoFour }));
    sparsification = { ...sparsification, blocks };
  }
  return {
    entries,
    records: runner.records,
    ...(front.forwardNodes !== undefined ? { forwardNodes: front.forwardNodes } : {}),
    ...(quantization ? { quantization } : {}),
    ...(codebooks ? { codebooks } : {}),
    ...(sparsification ? { sparsification } : {}),
  };
}

function checkpointStage(front: ProgramFront, opts: CompileOptions, runner: PassRunner): FusedProgram {
  const backend = opts.backend;
  const policy = opts.training?.checkpoint;
  // With a backend, auto weighs its candidates by the peak that backend's pipeline plans.
  const withPeak = policy && backend ? { ...policy, peakOf: backendPeak(backend) } : policy;
  const entries = withPeak ? checkpointPhase({ entries: [...front.entries], ...(front.forwardNodes !== undefined ? { forwardNodes: front.forwardNodes } : {}) }, withPeak, runner) : [...front.entries];
  const trainingStats = Object.fromEntries(runner.records.filter((r) => r.entry === "train_step").map((r) => [r.pass, r.stats]));
  return { ...front, entries, records: runner.records, trainingStats };
}

function fusionStage(program: FusedProgram, runner: PassRunner): FusedProgram {
  return { ...program, entries: fusionPhase(program.entries, runner), records: runner.records };
}

function memoryStage(fused: FusedProgram, opts: CompileOptions, backend: Backend, runner: PassRunner): CompiledProgram {
  const entries = memoryPhase(fused.entries, { schedule: opts.schedule, timeLimitMs: opts.timeLimitMs, workspaceBytes: scratchOf(backend) }, runner);
  const q = fused.quantization ? { quantization: fused.quantization } : {};
  const sp = fused.sparsification ? { sparsification: fused.sparsification } : {};
  const cb = fused.codebooks ? { codebooks: fused.codebooks } : {};
  return { entries, arena: runner.statsOf("plan", "*")!["arena-bytes"], records: runner.records, trainingStats: fused.trainingStats, ...q, ...sp, ...cb };
}

/**
 * The weights of a quantized bundle: the given file's tensors less the params quantization
 * removed (f32 weights and folded biases), plus the quantized ones (W/q, W/scale, W/bias).
 */
export function quantizedWeights(weights: BundleMeta["weights"], quantization: Quantization): NonNullable<BundleMeta["weights"]> {
  const removed = new Set(quantization.removed);
  const tensors: Record<string, SafeTensor> = Object.create(null);
  // qat/*: the QAT ranges the quantization took its activation parameters from.
  for (const [name, t] of Object.entries(weights?.tensors ?? {})) if (!removed.has(name) && !name.startsWith("qat/")) tensors[name] = t;
  for (const [name, t] of Object.entries(quantization.tensors)) tensors[name] = toSafeTensor(t.type, t.data);
  return { source: weights?.source ?? "the quantized weights", tensors };
}

/** The weights of a codebook bundle: the given file's tensors less the f32 weights it replaced, plus W/indices and W/codebook. */
export function codebookWeights(weights: BundleMeta["weights"], codebooks: Codebooks): NonNullable<BundleMeta["weights"]> {
  const removed = new Set(codebooks.removed);
  const tensors: Record<string, SafeTensor> = Object.create(null);
  for (const [name, t] of Object.entries(weights?.tensors ?? {})) if (!removed.has(name)) tensors[name] = t;
  for (const [name, t] of Object.entries(codebooks.tensors)) tensors[name] = toSafeTensor(t.type, t.data);
  return { source: weights?.source ?? "the codebook weights", tensors };
}

/**
 * The weights of a sparsified bundle: the given file's tensors with the shrunk params replaced,
 * and the weights that run block-sparse replaced by their packed blocks (W/values, W/rows, W/starts).
 */
export function sparseWeights(weights: BundleMeta["weights"], sparsification: Sparsification): NonNullable<BundleMeta["weights"]> {
  const tensors: Record<string, SafeTensor> = Object.create(null);
  const packed = new Set(sparsification.blocks?.removed ?? []);
  for (const [name, t] of Object.entries(weights?.tensors ?? {})) if (!packed.has(name)) tensors[name] = t;
  for (const [name, t] of Object.entries(sparsification.tensors)) if (!packed.has(name)) tensors[name] = toSafeTensor(t.type, t.data);
  for (const [name, t] of Object.entries(sparsification.blocks?.tensors ?? {})) tensors[name] = toSafeTensor(t.type, t.data);
  return { source: weights?.source ?? "the shrunk weights", tensors };
}

export interface BuildOptions<Layout extends BundleLayoutSummary> extends CompileOptions<Layout> {
  readonly backend: Backend<Layout>;
  readonly weights?: BundleMeta["weights"];
  /** Seed of the params' initializers (default 0). */
  readonly seed?: number;
  /** A debug bundle (Backend.debugBuild; docs/MEMORY.md "Debug builds"). */
  readonly debug?: boolean;
}

export interface BuiltBundle<Layout extends BundleLayoutSummary> extends WrittenBundle<Layout> {
  readonly program: CompiledProgram;
  /** Statistics of the training passes on the train step, by pass name. */
  readonly trainingStats: Readonly<Record<string, PassStats>>;
}

/** compile, then the backend's bundle: what `mlc build` writes. */
export function build<Layout extends BundleLayoutSummary>(forward: Graph, opts: BuildOptions<Layout>): BuiltBundle<Layout> {
  if (opts.debug && !opts.backend.debugBuild) {
    throw new UnsupportedTargetError(`--debug: the ${opts.backend.name} target has no debug build (poisoned arena checks run between kernels on the host; docs/MEMORY.md "Debug builds"); build it for --target wasm-simd`);
  }
  const program = compile(forward, opts);
  requireAddressableArena(opts.backend, program.arena!);
  requireKernels(opts.backend, program.entries);
  const meta: BundleMeta = {
    name: bundleName(forward.name),
    accumulate: opts.training?.accumulate ?? 1,
    seed: opts.seed ?? 0,
    ...(opts.training ? { loss: opts.training.loss } : {}),
    ...(program.quantization
      ? { weights: quantizedWeights(opts.weights, program.quantization) }
      : program.codebooks
        ? { weights: codebookWeights(opts.weights, program.codebooks) }
      : program.sparsification
        ? { weights: sparseWeights(opts.weights, program.sparsification) }
        : opts.weights
          ? { weights: opts.weights }
          : {}),
    ...(opts.debug ? { debug: true } : {}),
  };
  const bundle = opts.backend.writeBundle(program.entries, meta);
  return { ...bundle, program, trainingStats: program.trainingStats };
}

/** The peak of a training graph as `backend`'s pipeline will plan it: fused, with its workspaces. */
export function backendPeak(backend: Backend): (g: Graph, scheduled: boolean) => number {
  const scratch = scratchOf(backend);
  return (g, scheduled) => estimatedPeak(fuseGraph(g, { verify: false, transient: true }).graph, scheduled, scratch);
}

/**
 * Each backend's scratchBytes, remembered (memoizedScratch) and one function for every caller: the
 * memory passes keep what they work out about a graph per (graph, workspace table), and the
 * checkpoint pass's estimate of the step it chooses and the memory phase's schedule of that step
 * then share it.
 */
const scratchTables = new WeakMap<Backend, Backend["scratchBytes"]>();

function scratchOf(backend: Backend): Backend["scratchBytes"] {
  let table = scratchTables.get(backend);
  if (!table) scratchTables.set(backend, (table = memoizedScratch(backend.scratchBytes)));
  return table;
}

/**
 * `scratchBytes` remembered per node: the checkpoint search estimates many rewrites of one step,
 * which share most of their nodes (as objects, or rebuilt alike by fusion under the same id), and
 * a kernel's scratch (a convolution's padded copy, its geometry worked out per call) depends only
 * on the node's op, attributes and types, which a reuse checks.
 */
function memoizedScratch(scratchBytes: Backend["scratchBytes"]): Backend["scratchBytes"] {
  const byNode = new WeakMap<Node, { types: readonly TensorType[]; bytes: number }>();
  const byId = new Map<string, { op: string; attrs: string; types: readonly TensorType[]; bytes: number }>();
  return (node, types) => {
    const hit = byNode.get(node);
    if (hit && sameTypes(hit.types, types)) return hit.bytes;
    const attrs = JSON.stringify(node.attrs);
    const same = byId.get(node.id);
    const allTypes = [node.type, ...types];
    const bytes = same && same.op === node.op && same.attrs === attrs && sameTypes(same.types, allTypes) ? same.bytes : scratchBytes(node, types);
    byNode.set(node, { types, bytes });
    byId.set(node.id, { op: node.op, attrs, types: allTypes, bytes });
    return bytes;
  };
}

function sameTypes(a: readonly TensorType[], b: readonly TensorType[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (a[i] === b[i]) continue;
    if (a[i].dtype !== b[i].dtype || a[i].shape.length !== b[i].shape.length || a[i].shape.some((d, k) => d !== b[i].shape[k])) return false;
  }
  return true;
}

/** A planned arena larger than the target can address: the model is too large for it. */
export class ArenaTooLargeError extends Error {
  override name = "ArenaTooLargeError";
}

/** Refuses, before anything is emitted or allocated, an arena past the backend's limit. */
function requireAddressableArena(backend: Backend, arena: number): void {
  const limit = backend.maxArenaBytes;
  if (limit === undefined || arena <= limit) return;
  const gib = (n: number) => `${(n / 2 ** 30).toFixed(2)} GiB`;
  throw new ArenaTooLargeError(
    `the planned arena is ${arena} bytes (${gib(arena)}), more than ${backend.name} can address (${limit} bytes, ${gib(limit)}): ` +
      `make the model smaller (smaller params or batch), or see \`mlc mem\` for what takes the memory (--checkpoint reduces a training step's activations)`,
  );
}

/** Every node the backend has no kernel for, named in one error. */
function requireKernels(backend: Backend, entries: readonly ProgramEntry[]): void {
  const missing = new Set<string>();
  for (const { graph } of entries) {
    const types = valueTypes(graph);
    for (const n of graph.nodes) {
      const why = backend.missingKernel(n, n.inputs.map((v) => types.get(v)!));
      if (why) missing.add(why);
    }
  }
  if (missing.size > 0) throw new UnsupportedTargetError([...missing].join("; "));
}
