// fold-batch-norm — batch norm in inference (eval) mode folded into the conv2d or matmul before
// it (docs/IR.md "Post-training quantization"). Runs before quantize-dense under --quantize int8,
// so the int8 weights and bias include the normalization (as PyTorch's fuse_modules does before
// its PTQ).
//
// mlc's batchNorm normalizes with the batch's statistics and updates the running ones at the end
// of the step (batchNormRunningStat nodes and two state updates), in training and in a plain f32
// inference bundle alike. Eval mode normalizes with the running statistics instead, which makes
// the batch norm a constant per-channel affine map, s[c] = gamma[c] / sqrt(var[c] + eps):
//
//   y = (W x + b - mean) * s + beta  =  (W * s) x + ((b - mean) * s + beta)
//
// A batch norm is folded when its input is a conv2d (groups = 1) or matmul whose weight W is an
// f32 param read only there (the last axis its output channels), optionally through an add of a
// bias param b [C] read only there, and that value is read by nothing but the batch norm and its
// two running-statistic nodes; gamma, beta and the running statistics must be params read only by
// it. The folded graph is
//
//   %h = conv2d|matmul %x, %W              W holds W * s (same name, new values)
//   %y = add %h, %beta                      beta holds (b - mean) * s + beta; %y keeps the batch
//                                           norm's id, so its readers are unchanged
//
// and gamma, the running statistics, b, the batchNormRunningStat nodes and their updates leave
// the graph (eval mode does not update them). Other batch norms are left as they are (batch
// statistics). The pass rewrites the structure; foldedBatchNormParams computes the new values of
// W and beta from the old params' (the driver hands them to calibration and the weights file).

import { GraphBuilder } from "../ir/builder.ts";
import { useCounts, type Graph, type Node } from "../ir/graph.ts";
import type { Pass } from "./pass.ts";

export interface FoldableBatchNorm {
  /** The batchNorm node, its contraction and (when one) the bias add between them. */
  readonly batchNorm: string;
  readonly contraction: string;
  readonly biasAdd?: string;
  readonly weight: string;
  readonly bias?: string;
  readonly gamma: string;
  readonly beta: string;
  readonly mean: string;
  readonly variance: string;
  /** The two batchNormRunningStat nodes. */
  readonly stats: readonly string[];
  readonly eps: number;
  /** Output channels (the weight's last axis). */
  readonly channels: number;
}

/** The batch norms of `g` this pass folds (see the header). */
export function foldableBatchNorms(g: Graph): FoldableBatchNorm[] {
  const uses = useCounts(g);
  const params = new Map(g.params.map((p) => [p.name, p]));
  const byId = new Map(g.nodes.map((n) => [n.id, n]));
  const readers = new Map<string, Node[]>();
  for (const n of g.nodes) for (const v of n.inputs) readers.set(v, [...(readers.get(v) ?? []), n]);
  const updated = new Map(g.updates.map((u) => [u.value, u.param]));
  const once = (v: string) => (uses.get(v) ?? 0) === 1;
  const f32Vector = (name: string, c: number) => {
    const p = params.get(name);
    return p !== undefined && p.type.dtype === "f32" && p.type.shape.length === 1 && p.type.shape[0] === c && once(name);
  };
  const found: FoldableBatchNorm[] = [];
  for (const n of g.nodes) {
    if (n.op !== "batchNorm") continue;
    const [h, gamma, beta] = n.inputs;
    // The running statistics: the updates whose value is a batchNormRunningStat of h.
    const statNodes = (readers.get(h) ?? []).filter((r) => r.op === "batchNormRunningStat");
    const mean = statNodes.find((s) => s.attrs.stat === "mean");
    const variance = statNodes.find((s) => s.attrs.stat === "var");
    if (!mean || !variance || statNodes.length !== 2 || !updated.has(mean.id) || !updated.has(variance.id)) continue;
    if (!statNodes.every((s) => once(s.id) && once(s.inputs[1]) && updated.get(s.id) === s.inputs[1])) continue;
    if ((readers.get(h) ?? []).length !== 3 || uses.get(h) !== 3) continue;
    let producer = byId.get(h);
    let bias: string | undefined;
    let biasAdd: string | undefined;
    if (producer?.op === "add") {
      const [a, b] = producer.inputs;
      const inner = byId.get(a);
      if (!inner || !once(a) || !params.has(b)) continue;
      bias = b;
      biasAdd = producer.id;
      producer = inner;
    }
    if (!producer || (producer.op !== "conv2d" && producer.op !== "matmul")) continue;
    if (producer.op === "conv2d" && producer.attrs.groups !== undefined && producer.attrs.groups !== 1) continue;
    if (producer.op === "matmul" && (producer.attrs.transposeA || producer.attrs.transposeB)) continue;
    const weight = producer.inputs[1];
    const w = params.get(weight);
    if (!w || w.type.dtype !== "f32" || !once(weight) || (producer.op === "matmul" && w.type.shape.length !== 2)) continue;
    const channels = w.type.shape[w.type.shape.length - 1];
    if (bias !== undefined && !f32Vector(bias, channels)) continue;
    if (!f32Vector(gamma, channels) || !f32Vector(beta, channels) || gamma === beta) continue;
    found.push({
      batchNorm: n.id, contraction: producer.id, ...(biasAdd ? { biasAdd, bias } : {}), weight, gamma, beta,
      mean: mean.inputs[1], variance: variance.inputs[1], stats: [mean.id, variance.id], eps: Number(n.attrs.eps ?? 1e-5), channels,
    });
  }
  return found;
}

/** The params a fold removes (gamma, the running statistics, the contraction's own bias). */
export function foldRemovedParams(folds: readonly FoldableBatchNorm[]): string[] {
  return folds.flatMap((f) => [f.gamma, f.mean, f.variance, ...(f.bias ? [f.bias] : [])]);
}

/**
 * The folded values of each fold's weight and beta (f32, computed from `params`' values): W's
 * output channel c times s[c], and (b[c] - mean[c]) * s[c] + beta[c].
 */
export function foldedBatchNormParams(folds: readonly FoldableBatchNorm[], params: Readonly<Record<string, ArrayLike<number>>>): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = Object.create(null);
  for (const f of folds) {
    const c = f.channels;
    const gamma = params[f.gamma], beta = params[f.beta], mean = params[f.mean], variance = params[f.variance];
    const s = Float64Array.from({ length: c }, (_, j) => gamma[j] / Math.sqrt(variance[j] + f.eps));
    const w = params[f.weight];
    out[f.weight] = Float32Array.from({ length: w.length }, (_, i) => w[i] * s[i % c]);
    const b = f.bias ? params[f.bias] : undefined;
    out[f.beta] = Float32Array.from({ length: c }, (_, j) => ((b ? b[j] : 0) - mean[j]) * s[j] + beta[j]);
  }
  return out;
}

export const foldBatchNorm: Pass<Record<string, never>> = {
  name: "fold-batch-norm",
  summary: "eval-mode batch norm (running statistics) after a conv2d or matmul folded into its weight and a bias add",
  defaults: {},
  statistics: {
    "batch-norms-folded": "batchNorm nodes replaced by an add of the folded bias (their weight rescaled)",
    "params-removed": "params that left the graph: gamma, running mean and variance, the contraction's own bias",
  },
  run(g) {
    const folds = foldableBatchNorms(g);
    if (folds.length === 0) return { graph: g, stats: { "batch-norms-folded": 0, "params-removed": 0 } };
    const removed = new Set(foldRemovedParams(folds));
    const dropped = new Set(folds.flatMap((f) => [...f.stats, ...(f.biasAdd ? [f.biasAdd] : [])]));
    const byBatchNorm = new Map(folds.map((f) => [f.batchNorm, f]));
    const b = new GraphBuilder(g.name);
    for (const i of g.inputs) b.addInput(i);
    for (const p of g.params) if (!removed.has(p.name)) b.addParam(p);
    for (const n of g.nodes) {
      if (dropped.has(n.id)) continue;
      const f = byBatchNorm.get(n.id);
      if (f) { b.op("add", [f.contraction, f.beta], {}, n.loc, n.id); continue; }
      b.op(n.op, n.inputs, n.attrs, n.loc, n.id);
    }
    for (const o of g.outputs) b.output(o.name, o.value);
    for (const u of g.updates) if (!removed.has(u.param)) b.update(u.param, u.value);
    return { graph: b.build(), stats: { "batch-norms-folded": folds.length, "params-removed": removed.size } };
  },
};
