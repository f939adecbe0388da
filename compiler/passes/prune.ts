// prune — magnitude pruning inside the training step (docs/COMPRESSION.md "Pruning while
// training"; Zhu & Gupta 2017's gradual schedule, as TF-MOT's prune_low_magnitude).
//
// Runs on the train step after the optimizer pass. For each pruned weight W it adds a mask as
// persistent state (`prune/W/mask`: ones at first; W's shape for element and N:M masks, [N] — one
// per output channel, W's last axis — for channel masks, one per block for block:RxC masks:
// [ceil(rows/R), ceil(cols/C)] of W's matrix view, expanded where used, prune-units.ts) and a step
// counter `prune/step`, and rewrites the step so that
//   - the gradient is masked: the node that made grad/W is renamed grad/W/unmasked and
//     grad/W = grad/W/unmasked * mask takes its place, so everything that read the gradient (the
//     optimizer, the finite checks, an exposed grad/W output) reads the masked one, as
//     torch.nn.utils.prune's weight = weight_orig * weight_mask gives weight_orig;
//   - at scheduled steps the mask is recomputed from the updated weight (pruneMask: the k_t
//     smallest |W| for element masks, the k_t columns of smallest L1 norm — or sum of squares for
//     L2, the same ranking — for channel masks, the k_t blocks of smallest mean |w| or w² for block
//     masks, the n largest |w| of every m rows of a column for N:M masks), and the updated weight and every optimizer state
//     of W's shape (momentum, Adam's m and v) are multiplied by the new mask, so pruned weights and
//     their moments stay exactly 0 (masked gradients keep them there between recomputations).
// The forward pass is untouched: pruned weights are 0, so it computes what W * mask would.
//
// N:M masks have no polynomial schedule: their sparsity is 1 - n/m at every recomputation (a
// --prune value must say so, and there is no initial sparsity); they are recomputed at the same
// scheduled steps.
//
// Schedule: recomputations at steps start, start + every, …, up to end (step t counts train
// steps from 0: `prune/step` before this step's increment). At the j-th of the n + 1 of them the
// sparsity is s_j = s_f + (s_i - s_f) (1 - j/n)^3 (s_f at once when n = 0), and k_j =
// round-half-even(s_j · count) as torch.nn.utils.prune counts (count: each weight's elements or
// channels; with global scope every target's elements together, one ranking over all of them as
// torch's global_unstructured), worked out here (float64) and
// placed in the graph as a step function of j, exact. Between and after recomputations the mask
// is kept (pruneMask with update 0).

import { GraphBuilder } from "../ir/builder.ts";
import type { Graph, ParamDecl } from "../ir/graph.ts";
import { matrixView, parseStructure, PruneSpecError, roundHalfEven, type PruneStructure } from "../ir/prune-masks.ts";
import { numel } from "../ir/types.ts";
import { scalar } from "../ir/vjp-kit.ts";
import { gradName } from "./autodiff.ts";
import type { Pass } from "./pass.ts";
import { blockGrid, blockScores, expandBlocks, nmKeep } from "./prune-units.ts";

/** What a mask zeroes: elements, output channels, RxC blocks of the matrix view, or N of every M rows. */
export type PruneStructureKind = "element" | "channel" | `block:${number}x${number}` | `${number}:${number}`;

export interface PruneOptions {
  /** Final sparsity s_f, in [0, 1]. */
  sparsity: number;
  /** Sparsity at the first recomputation s_i (default 0). */
  initialSparsity: number;
  structure: PruneStructureKind;
  /** Channel and block scores: L1 norm (1) or L2 (2) of each output channel's column or block. */
  norm: 1 | 2;
  /** Rank each weight alone (layer) or every target's elements or blocks together (global; not channels or N:M). */
  scope: "layer" | "global";
  /** First, last and spacing of the recomputation steps. */
  start: number;
  end: number;
  every: number;
  /** The params to prune (default: every trainable f32 param of rank >= 2 with a gradient). */
  params?: readonly string[];
}

export const PRUNE_STEP = "prune/step";
export const maskName = (param: string) => `prune/${param}/mask`;

export class PruneOptionsError extends Error {
  override name = "PruneOptionsError";
}

/** k_j for each of the schedule's recomputations j = 0 … n, over `count` prunable units. */
export function scheduleCounts(opts: Pick<PruneOptions, "sparsity" | "initialSparsity" | "start" | "end" | "every">, count: number): number[] {
  const n = Math.floor((opts.end - opts.start) / opts.every);
  return Array.from({ length: n + 1 }, (_, j) => {
    const s = n === 0 ? opts.sparsity : opts.sparsity + (opts.initialSparsity - opts.sparsity) * (1 - j / n) ** 3;
    return roundHalfEven(s * count);
  });
}

/** The options' structure, parsed (PruneOptionsError for a malformed one). */
export function pruneStructureOf(o: Pick<PruneOptions, "structure" | "norm">): PruneStructure {
  try {
    return parseStructure(o.structure, o.norm);
  } catch (e) {
    if (e instanceof PruneSpecError) throw new PruneOptionsError(`prune: ${e.message.replace(/^--structure /, "structure ")}`);
    throw e;
  }
}

export function checkPruneOptions(o: PruneOptions): void {
  const fraction = (v: number) => Number.isFinite(v) && v >= 0 && v <= 1;
  if (!fraction(o.sparsity)) throw new PruneOptionsError(`prune: sparsity ${o.sparsity} must be a fraction in [0, 1]`);
  if (!fraction(o.initialSparsity)) throw new PruneOptionsError(`prune: initial sparsity ${o.initialSparsity} must be a fraction in [0, 1]`);
  const step = (v: number) => Number.isSafeInteger(v) && v >= 0;
  const s = pruneStructureOf(o);
  if (o.scope === "global" && (s.kind === "channel" || s.kind === "nm")) throw new PruneOptionsError(`prune: global scope ranks elements and blocks only (${s.kind === "nm" ? "N:M masks are per group of M" : "channels are ranked per layer so far"})`);
  if (s.kind === "nm") {
    const implied = 1 - s.n / s.m;
    if (Math.abs(o.sparsity - implied) > 1e-9) throw new PruneOptionsError(`prune: structure ${o.structure} keeps ${s.n} of every ${s.m} weights, sparsity ${implied}: the sparsity ${o.sparsity} contradicts it (N:M masks have no schedule of sparsities)`);
    if (o.initialSparsity !== 0) throw new PruneOptionsError(`prune: structure ${o.structure} has no initial sparsity (every recomputation keeps ${s.n} of ${s.m}), got ${o.initialSparsity}`);
  }
  if (!step(o.start) || !step(o.end) || !(Number.isSafeInteger(o.every) && o.every >= 1) || o.end < o.start) {
    throw new PruneOptionsError(`prune: schedule ${o.start}:${o.end}:${o.every} must be START:END:EVERY with 0 <= START <= END and EVERY >= 1`);
  }
}

export const prune: Pass<PruneOptions> = {
  name: "prune",
  summary: "mask weights' gradients and recompute magnitude masks at scheduled steps (pruning while training)",
  statistics: { "pruned-params": "params with a mask", "mask-elements": "mask elements added as state", "recomputations": "scheduled mask recomputations" },
  defaults: { sparsity: 0.5, initialSparsity: 0, structure: "element", norm: 1, scope: "layer", start: 0, end: 0, every: 1 },
  run(g, opts) {
    checkPruneOptions(opts);
    const structure = pruneStructureOf(opts);
    const targets = pruneTargets(g, opts.params);
    const schedule = Math.floor((opts.end - opts.start) / opts.every);
    if (structure.kind === "nm") {
      for (const p of targets) {
        const { rows } = matrixView(p.type.shape);
        if (rows % structure.m !== 0) throw new PruneOptionsError(`prune: structure ${opts.structure}: '${p.name}' has ${rows} input rows (shape [${p.type.shape.join(",")}]), not a multiple of ${structure.m} (--prune-params chooses the weights)`);
      }
    }
    if (targets.length === 0) return { graph: g, stats: { "pruned-params": 0, "mask-elements": 0, recomputations: 0 } };
    const b = new GraphBuilder(g.name);
    for (const i of g.inputs) b.addInput(i);
    for (const p of g.params) b.addParam(p);
    const maskShape = (p: ParamDecl): readonly number[] => {
      if (structure.kind === "channel") return [p.type.shape[p.type.shape.length - 1]];
      if (structure.kind === "block") return blockGrid(p.type.shape, structure);
      return p.type.shape;
    };
    // A stored mask as a factor of W's shape (channel masks broadcast along W's last axis).
    const expand = (mask: string, p: ParamDecl, id: string) => (structure.kind === "block" ? expandBlocks(b, mask, p, structure, id) : mask);
    for (const p of targets) b.addParam({ name: maskName(p.name), type: { dtype: "f32", shape: maskShape(p) }, init: "ones", trainable: false, ...(p.loc ? { loc: p.loc } : {}) });
    b.addParam({ name: PRUNE_STEP, type: { dtype: "i32", shape: [] }, init: "zeros", trainable: false });
    const grads = new Map(targets.map((p) => [gradName(p.name), p] as const));
    for (const n of g.nodes) {
      const p = grads.get(n.id);
      if (!p) {
        b.op(n.op, n.inputs, n.attrs, n.loc, n.id);
        continue;
      }
      const raw = b.op(n.op, n.inputs, n.attrs, n.loc, `${n.id}/unmasked`);
      b.op("mul", [raw, expand(maskName(p.name), p, `${maskName(p.name)}/expanded`)], {}, n.loc, n.id);
    }
    for (const o of g.outputs) b.output(o.name, o.value);

    // Which recomputation this step is (q), and whether it is one (update).
    const i32 = (v: number) => scalar(b, v, "i32");
    const t = PRUNE_STEP;
    const d = b.op("sub", [t, i32(opts.start)]);
    const q = b.op("div", [d, i32(opts.every)]);
    const onGrid = b.op("equal", [b.op("sub", [d, b.op("mul", [q, i32(opts.every)])]), i32(0)]);
    const inWindow = b.op("mul", [b.op("cast", [b.op("greater", [t, i32(opts.start - 1)])], { dtype: "i32" }), b.op("cast", [b.op("less", [t, i32(opts.end + 1)])], { dtype: "i32" })]);
    const update = b.op("mul", [inWindow, b.op("cast", [onGrid], { dtype: "i32" })]);

    const updated = new Map(g.updates.map((u) => [u.param, u.value] as const));
    const replaced = new Map<string, string>();
    // k for a group of `count` units: counts[0] + sum over j of (counts[j] - counts[j-1]) * [q >= j].
    const kFor = (count: number) => {
      const counts = scheduleCounts(opts, count);
      let k = i32(counts[0]);
      for (let j = 1; j < counts.length; j++) {
        const delta = counts[j] - counts[j - 1];
        if (delta !== 0) k = b.op("add", [k, b.op("mul", [b.op("cast", [b.op("greater", [q, i32(j - 1)])], { dtype: "i32" }), i32(delta)])]);
      }
      return k;
    };
    const scoresOf = (p: ParamDecl) => {
      const next = updated.get(p.name)!;
      if (structure.kind === "block") return blockScores(b, next, p, structure, opts.scope === "global");
      const magnitude = b.op("abs", [next]);
      if (structure.kind === "element") return magnitude;
      const rows = Array.from({ length: p.type.shape.length - 1 }, (_, a) => a);
      return b.op("sum", [opts.norm === 1 ? magnitude : b.op("mul", [next, next])], { axes: rows });
    };
    const masks = new Map<string, string>();
    if (structure.kind === "nm") {
      // The new N:M mask on scheduled steps, the old one between them.
      const now = b.op("greater", [update, i32(0)]);
      for (const p of targets) masks.set(p.name, b.op("where", [now, nmKeep(b, updated.get(p.name)!, p, structure.n, structure.m), maskName(p.name)], {}, p.loc));
    } else if (opts.scope === "global") {
      // One ranking of every target's magnitudes (torch's global_unstructured): the scores and the
      // old masks flattened and concatenated, the new mask cut back into each target's.
      const flat = (v: string) => b.op("reshape", [v], { shape: [-1] });
      const scores = b.op("concat", targets.map((p) => flat(scoresOf(p))), { axis: 0 });
      const old = b.op("concat", targets.map((p) => flat(maskName(p.name))), { axis: 0 });
      const total = targets.reduce((sum, p) => sum + numel(maskShape(p)), 0);
      const all = b.op("pruneMask", [scores, kFor(total), old, update]);
      let at = 0;
      for (const p of targets) {
        const n = numel(maskShape(p));
        masks.set(p.name, b.op("reshape", [b.op("slice", [all], { begin: [at], size: [n] })], { shape: [...maskShape(p)] }, p.loc));
        at += n;
      }
    } else {
      for (const p of targets) masks.set(p.name, b.op("pruneMask", [scoresOf(p), kFor(numel(maskShape(p))), maskName(p.name), update], {}, p.loc));
    }
    for (const p of targets) {
      const mask = masks.get(p.name)!;
      const rank = p.type.shape.length;
      replaced.set(maskName(p.name), mask);
      const factor = expand(mask, p, `${maskName(p.name)}/next/expanded`);
      replaced.set(p.name, b.op("mul", [updated.get(p.name)!, factor], {}, p.loc));
      // Optimizer state of W's shape (opt/W/momentum, opt/W/m, opt/W/v) is masked alike.
      for (const u of g.updates) {
        if (!u.param.startsWith(`opt/${p.name}/`)) continue;
        const state = g.params.find((x) => x.name === u.param)!;
        if (state.type.shape.length === rank && state.type.shape.every((dim, a) => dim === p.type.shape[a])) replaced.set(u.param, b.op("mul", [u.value, factor]));
      }
    }
    for (const u of g.updates) b.update(u.param, replaced.get(u.param) ?? u.value);
    for (const p of targets) b.update(maskName(p.name), replaced.get(maskName(p.name))!);
    b.update(PRUNE_STEP, b.op("add", [t, i32(1)]));
    return {
      graph: b.build(),
      stats: { "pruned-params": targets.length, "mask-elements": targets.reduce((s, p) => s + numel(maskShape(p)), 0), recomputations: schedule + 1 },
    };
  },
};

/** The params `prune` masks: those named, or every trainable f32 param of rank >= 2 updated with a gradient. */
export function pruneTargets(g: Graph, names: readonly string[] | undefined): ParamDecl[] {
  const updated = new Set(g.updates.map((u) => u.param));
  const nodes = new Set(g.nodes.map((n) => n.id));
  const prunable = (p: ParamDecl) => p.trainable && p.type.dtype === "f32" && updated.has(p.name) && nodes.has(gradName(p.name));
  if (names === undefined) return g.params.filter((p) => prunable(p) && p.type.shape.length >= 2);
  return names.map((name) => {
    const p = g.params.find((x) => x.name === name);
    if (!p) throw new PruneOptionsError(`prune: the model has no param '${name}' (params: ${g.params.filter((x) => x.trainable).map((x) => x.name).join(", ")})`);
    if (!prunable(p)) throw new PruneOptionsError(`prune: '${name}' is not a trainable f32 param with a gradient`);
    if (p.type.shape.length < 1) throw new PruneOptionsError(`prune: '${name}' is a scalar`);
    return p;
  });
}
