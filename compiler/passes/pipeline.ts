// The pass pipeline, in order: the training passes (autodiff, then either the optimizer update or
// gradient accumulation with a separate update entry point, then checkpoint when asked), then, for a backend, the fusion
// passes (fuse, fuseReductions, fuseEpilogues), then the memory passes (schedule, inplace, plan; see
// docs/MEMORY.md).

import type { Graph } from "../ir/graph.ts";
import { accumulate, applyUpdateGraph } from "./accumulate.ts";
import { autodiff } from "./autodiff.ts";
import { checkpoint, type CheckpointMode, type PeakEstimator } from "./checkpoint.ts";
import { fuse } from "./fuse.ts";
import { fuseEpilogues } from "./fuse-epilogues.ts";
import { fuseReductions } from "./fuse-reductions.ts";
import { optimizer, type OptimizerOptions } from "./optimizer.ts";
import { runPass, type PassStats, type RunPassHooks } from "./pass.ts";
import { verifyGraph } from "../ir/verifier.ts";
import { inplace } from "./inplace.ts";
import type { WorkspaceBytes } from "./liveness.ts";
import { plan } from "./plan.ts";
import { schedule } from "./schedule.ts";

export const TRAINING_PASSES = [autodiff, optimizer, accumulate] as const;

export interface TrainingOptions {
  loss: string;
  optimizer: OptimizerOptions;
  /** Micro-batches per update; 1 means the step updates params itself. */
  accumulate?: number;
  /** Add every grad/<param> as a graph output (for `mlc run --train` and tests). */
  exposeGradients?: boolean;
  /** Recompute forward activations in the backward pass (checkpoint.ts); default none. */
  checkpoint?: { mode: CheckpointMode; budgetBytes?: number; peakOf?: PeakEstimator };
}

/** The entry points of a compiled training program. */
export interface TrainingProgram {
  forward: Graph;
  /** Forward + backward + (optimizer update | accumulation). */
  trainStep: Graph;
  /** Only with accumulate > 1: applies the averaged accumulated gradients. */
  applyUpdate?: Graph;
  stats: Record<string, PassStats>;
}

export function buildTrainingProgram(forward: Graph, opts: TrainingOptions, hooks: RunPassHooks = {}): TrainingProgram {
  const stats: Record<string, PassStats> = {};
  const run = <O extends object>(pass: { name: string } & Parameters<typeof runPass<O>>[0], g: Graph, o: Partial<O>) => {
    const r = runPass(pass, g, o, hooks);
    stats[pass.name] = r.stats;
    return r.graph;
  };
  const withGrads = run(autodiff, forward, { loss: opts.loss, exposeGradients: opts.exposeGradients ?? false });
  // Checkpointing rewrites the backward's uses of forward values. It runs last, on the whole step,
  // so that its peak estimates see the gradients live until the optimizer (or accumulation) reads
  // them; those nodes read only gradients, params and state, never forward values.
  const withCheckpoints = (g: Graph) => opts.checkpoint && opts.checkpoint.mode !== "none"
    ? run(checkpoint, g, { ...opts.checkpoint, forwardNodes: forward.nodes.length })
    : g;
  const n = opts.accumulate ?? 1;
  if (n <= 1) return { forward, trainStep: withCheckpoints(run(optimizer, withGrads, opts.optimizer)), stats };
  const trainStep = withCheckpoints(run(accumulate, withGrads, { microBatches: n }));
  const applyUpdate = applyUpdateGraph(trainStep, n, opts.optimizer);
  if (hooks.verify ?? true) verifyGraph(applyUpdate);
  return { forward, trainStep, applyUpdate, stats };
}

export const FUSION_PASSES = [fuse, fuseReductions, fuseEpilogues] as const;

/**
 * fuse → fuseReductions → fuseEpilogues, each verified: elementwise chains become `fused` nodes,
 * a sum/mean/max absorbs the elementwise producer of its operand, then the consumer of a
 * matmul/conv2d result becomes its epilogue. Runs on the graphs a backend emits (after the
 * training passes: fused nodes have no VJP), before planMemory, so the planner sees them.
 */
export function fuseGraph(graph: Graph, hooks: RunPassHooks = {}): { graph: Graph; stats: Record<string, PassStats> } {
  const chains = runPass(fuse, graph, {}, hooks);
  const reductions = runPass(fuseReductions, chains.graph, {}, hooks);
  const epilogues = runPass(fuseEpilogues, reductions.graph, {}, hooks);
  return {
    graph: epilogues.graph,
    stats: { [fuse.name]: chains.stats, [fuseReductions.name]: reductions.stats, [fuseEpilogues.name]: epilogues.stats },
  };
}

export const MEMORY_PASSES = [schedule, inplace, plan] as const;

export interface MemoryOptions {
  /** Reorder nodes to lower the peak first (default true). */
  schedule?: boolean;
  /** Arena alignment in bytes (default 16). */
  alignment?: number;
  /** Budget of the planner's exact search, milliseconds. */
  timeLimitMs?: number;
  /** Scratch bytes each node's kernel needs (e.g. wasmWorkspaceBytes); planned as workspaces. */
  workspaceBytes?: WorkspaceBytes;
}

/**
 * schedule → inplace → plan, each verified: the graph with every value's arena slot
 * (`graph.memory`), and each pass's statistics by pass name.
 */
export function planMemory(graph: Graph, opts: MemoryOptions = {}, hooks: RunPassHooks = {}): { graph: Graph; stats: Record<string, PassStats> } {
  const stats: Record<string, PassStats> = {};
  let g = graph;
  if (opts.schedule ?? true) {
    const r = runPass(schedule, g, opts.workspaceBytes ? { workspaceBytes: opts.workspaceBytes } : {}, hooks);
    stats[schedule.name] = r.stats;
    g = r.graph;
  }
  const placed = runPass(inplace, g, {}, hooks);
  stats[inplace.name] = placed.stats;
  const planOptions = {
    ...(opts.alignment !== undefined ? { alignment: opts.alignment } : {}),
    ...(opts.timeLimitMs !== undefined ? { timeLimitMs: opts.timeLimitMs } : {}),
    ...(opts.workspaceBytes !== undefined ? { workspaceBytes: opts.workspaceBytes } : {}),
  };
  const planned = runPass(plan, placed.graph, planOptions, hooks);
  stats[plan.name] = planned.stats;
  return { graph: planned.graph, stats };
}
