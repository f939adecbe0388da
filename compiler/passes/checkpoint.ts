// checkpoint — trade recomputation for memory: drop forward activations the backward pass would
// keep alive and recompute them right before their backward uses (checkpoint/rewrite.ts).
//
// Stages:
// 1. Analysis (checkpoint/policies.ts): the droppable forward values (read by the backward pass,
//    not by an output or update) with their recompute cost (FLOPs per byte, checkpoint/cost.ts),
//    and the forward's cuts (values alone live across their position: the chain structure).
// 2. Policy, by `mode`:
//      none   nothing changes;
//      sqrt   keep ~sqrt(#cuts) evenly spaced cuts, recompute everything else (Chen et al. 2016);
//      auto   the least recompute FLOPs whose estimated peak fits `budgetBytes`: a search over
//             "keep every k-th cut and every value costing >= t FLOPs/byte" (recompute cheap ops
//             — activations, norms, elementwise — first, keep matmul/conv outputs), each
//             candidate rewritten and measured; no budget means the least peak. A budget below
//             every candidate's peak is a CheckpointBudgetError naming the least peak found.
// 3. Rewrite (checkpoint/rewrite.ts): recompute nodes are ordinary nodes marked `recomputeOf`.
// The peak estimate is the max-live bytes after in-place rewriting (what the planner reaches on
// every example); scheduling can only lower it. Runs after the training passes and before fusion
// and planning. Forward nodes are the first `forwardNodes` nodes (autodiff appends the backward).

import type { Graph } from "../ir/graph.ts";
import { inplace } from "./inplace.ts";
import { maxLiveBytes } from "./liveness.ts";
import { runPass, type Pass, type PassStats } from "./pass.ts";
import { analyseForward, dropSet, sqrtDropSet, type ForwardAnalysis } from "./checkpoint/policies.ts";
import { recompute } from "./checkpoint/rewrite.ts";

export type CheckpointMode = "none" | "sqrt" | "auto";

export interface CheckpointOptions {
  mode: CheckpointMode;
  /** auto: the arena budget in bytes (default: the least peak the search finds). */
  budgetBytes?: number;
  /** How many leading nodes are the forward pass. */
  forwardNodes: number;
}

export class CheckpointBudgetError extends Error {
  override name = "CheckpointBudgetError";
}

/** One evaluated policy: what it drops, the rewritten graph, its peak and recompute FLOPs. */
export interface CheckpointCandidate {
  readonly every: number;
  readonly threshold: number;
  readonly graph: Graph;
  readonly peakBytes: number;
  readonly recomputeFlops: number;
  readonly recomputeNodes: number;
}

export const checkpoint: Pass<CheckpointOptions> = {
  name: "checkpoint",
  summary: "drop forward activations and recompute them in the backward pass to lower peak memory",
  defaults: { mode: "none", forwardNodes: 0 },
  run(g, opts) {
    if (opts.mode === "none") return { graph: g, stats: { "recomputed-nodes": 0, "recomputed-flops": 0 } as PassStats };
    const analysis = analyseForward(g, opts.forwardNodes);
    const chosen = opts.mode === "sqrt"
      ? evaluate(g, opts.forwardNodes, sqrtDropSet(analysis), Math.max(1, Math.round(Math.sqrt(analysis.cuts.length))), Infinity)
      : autoCandidate(g, opts.forwardNodes, analysis, opts.budgetBytes);
    return {
      graph: chosen.graph,
      stats: {
        "recomputed-nodes": chosen.recomputeNodes,
        "recomputed-flops": chosen.recomputeFlops,
        "estimated-peak": chosen.peakBytes,
        cuts: analysis.cuts.length,
      },
    };
  },
};

/** The estimated peak of a training graph: max-live bytes after in-place rewriting. */
export function estimatedPeak(g: Graph): number {
  return maxLiveBytes(runPass(inplace, g, {}, { verify: false }).graph);
}

function evaluate(g: Graph, forwardNodes: number, dropped: ReadonlySet<string>, every: number, threshold: number): CheckpointCandidate {
  const r = recompute(g, forwardNodes, dropped);
  return { every, threshold, graph: r.graph, peakBytes: estimatedPeak(r.graph), recomputeFlops: r.flops, recomputeNodes: r.nodes };
}

/** The policies `auto` searches, each rewritten and measured (deduplicated by what they drop). */
export function autoCandidates(g: Graph, forwardNodes: number, analysis: ForwardAnalysis = analyseForward(g, forwardNodes)): CheckpointCandidate[] {
  const thresholds = [...new Set(analysis.droppable.map((d) => d.flopsPerByte))].sort((a, b) => a - b).map((t) => t * (1 + 1e-9));
  thresholds.unshift(0);
  thresholds.push(Infinity);
  const spacings = [Infinity];
  for (let k = 1; k <= analysis.cuts.length; k = Math.max(k + 1, Math.floor(k * 1.5))) spacings.push(k);
  const seen = new Set<string>();
  const out: CheckpointCandidate[] = [];
  for (const threshold of thresholds) {
    for (const every of spacings) {
      const dropped = dropSet(analysis, every, threshold);
      const key = [...dropped].join(",");
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(evaluate(g, forwardNodes, dropped, every, threshold));
    }
  }
  return out;
}

function autoCandidate(g: Graph, forwardNodes: number, analysis: ForwardAnalysis, budget: number | undefined): CheckpointCandidate {
  const candidates = autoCandidates(g, forwardNodes, analysis);
  const least = candidates.reduce((a, b) => (b.peakBytes < a.peakBytes || (b.peakBytes === a.peakBytes && b.recomputeFlops < a.recomputeFlops) ? b : a));
  if (budget === undefined) return least;
  const fitting = candidates.filter((c) => c.peakBytes <= budget);
  if (fitting.length === 0) {
    throw new CheckpointBudgetError(`memory budget ${budget} bytes is infeasible for '${g.name}': the least peak checkpointing reaches is ${least.peakBytes} bytes`);
  }
  return fitting.reduce((a, b) => (b.recomputeFlops < a.recomputeFlops || (b.recomputeFlops === a.recomputeFlops && b.peakBytes < a.peakBytes) ? b : a));
}
