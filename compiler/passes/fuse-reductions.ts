// fuseReductions — fold the elementwise node (or `fused` chain) whose only use is a sum, mean or
// max into that reduction, as a `fusedReduce` node (ir/ops/fused-reduce.ts): the values are
// folded as they are computed and never get a buffer. In a training step these are the
// reductions of products in normalization backward passes (Σ dy * xhat, the variance's mean of
// squared deviations, a weight decay's squared norm): each saved a full-size temporary, live in
// the backward pass where memory peaks.
//
// Runs after `fuse` (chains are then single `fused` nodes) and before `fuseEpilogues`; then
// schedule/inplace/plan. A reduction R absorbs the producer P of its operand when:
//   - R's record says `fusion.reduceHead` (sum, mean, max) and R has a float result; P, of R's dtype, is a `fused` node or a fusable elementwise
//     op (fuse.ts's rule) whose result is read by R alone;
//   - R folds at least two values into each result, over reduced axes that are neighbours once
//     size-1 axes are dropped (one reduced block: the backend walks it as one axis);
//   - every operand of P has P's shape, or P's shape with size 1 on every reduced axis (constant
//     along the reduction: a per-channel statistic), or size 1 on every kept axis (constant across
//     the result: a per-position weight) — ir/ops/fused-reduce.ts `operandLayout`. One-element
//     float constants become literals;
//   - P's body has no step whose record says `fusion.scalarOnly` (pow: its element function is
//     scalar-only, and a reduction walks SIMD lanes).
// The new node takes R's id, type, place and location. Moving P down to R lengthens P's operands'
// live ranges to R's position; P ran just before R in every case that matters.

import type { Node } from "../ir/graph.ts";
import { useCounts, valueTypes } from "../ir/graph.ts";
import { attr } from "../ir/op-def.ts";
import { getOp } from "../ir/ops.ts";
import { isFloat } from "../ir/types.ts";
import { formatBody } from "../ir/ops/fused-body.ts";
import { FUSED_REDUCTIONS, operandLayout, reducedAxisFlags, reducesOneBlock } from "../ir/ops/fused-reduce.ts";
import { bodyOf, fusedResult, isFusable, withoutInlinedConstants, FUSION_STATISTICS } from "./fuse.ts";
import type { Pass } from "./pass.ts";

export interface FuseReductionsOptions {
  /** The reductions that may absorb their operand's producer (default: every op whose record says `fusion.reduceHead`). */
  reductions: readonly string[];
}

export const fuseReductions: Pass<FuseReductionsOptions> = {
  name: "fuse-reductions",
  summary: "fold the elementwise producer of a sum/mean/max operand into the reduction",
  statistics: { "fused-reductions": "elementwise producers absorbed into sum/mean/max", ...FUSION_STATISTICS },
  defaults: { reductions: FUSED_REDUCTIONS },
  run(g, opts) {
    const types = valueTypes(g);
    const nodeOf = new Map(g.nodes.map((n) => [n.id, n] as const));
    const uses = useCounts(g);
    const replaced = new Map<string, Node>();
    const absorbed = new Set<string>();
    for (const r of g.nodes) {
      if (!opts.reductions.includes(r.op) || !getOp(r.op).fusion?.reduceHead || !isFloat(r.type.dtype)) continue;
      const p = nodeOf.get(r.inputs[0]);
      if (!p || uses.get(p.id) !== 1 || absorbed.has(p.id) || !(p.op === "fused" || isFusable(p, types))) continue;
      // One dtype throughout (a fused node may read 16-bit operands into an f32 body: not here).
      if ([p.id, ...p.inputs].some((v) => types.get(v)!.dtype !== r.type.dtype)) continue;
      const shape = p.type.shape;
      const reduced = reducedAxisFlags(shape, attr.ints(r.attrs, "axes"));
      if (!reducesOneBlock(shape, reduced)) continue;
      const { operands, steps } = bodyOf(p, nodeOf);
      if (steps.some((s) => getOp(s.op).fusion?.scalarOnly) || !operands.every((v) => operandLayout(types.get(v)!.shape, shape, reduced))) continue;
      absorbed.add(p.id);
      replaced.set(r.id, {
        id: r.id,
        op: "fusedReduce",
        inputs: operands,
        attrs: { body: formatBody(steps), reduce: r.op, axes: attr.ints(r.attrs, "axes"), keepDims: attr.bool(r.attrs, "keepDims") },
        type: r.type,
        ...(r.loc ? { loc: r.loc } : {}),
      });
    }
    const nodes = withoutInlinedConstants(g, g.nodes.filter((n) => !absorbed.has(n.id)).map((n) => replaced.get(n.id) ?? n), uses);
    return fusedResult(g, nodes, { "fused-reductions": replaced.size });
  },
};

