// autodiff — reverse-mode AD by extending the graph.
//
// Appends to the forward graph the adjoint computation of a scalar loss with respect to the
// trainable params, as ordinary IR nodes, so later passes (in-place, planning, checkpointing) see
// every buffer of a training step. Stages:
//   1. activity: a node takes part when it depends on a trainable param AND the loss depends on it;
//      everything else (integer inputs, labels, running statistics) gets no backward node.
//   2. reverse sweep: walk the schedule backwards; sum the cotangent contributions of each active
//      value (fan-out), call its op's VJP rule, and hand the operands their contributions.
//   3. naming: the gradient of param p becomes the value `grad/p` (zeros if the loss ignores p).
// Left to other passes: optimizer updates (optimizer), accumulation (accumulate), memory.

import { GraphBuilder } from "../ir/builder.ts";
import type { Graph } from "../ir/graph.ts";
import { getOp } from "../ir/ops.ts";
import { isFloat, formatType, numel, sameType } from "../ir/types.ts";
import { zeros } from "../ir/vjp-kit.ts";
import type { Pass } from "./pass.ts";

export interface AutodiffOptions {
  /** Name of the graph output that holds the scalar loss. */
  loss: string;
  /** Params to differentiate with respect to; default: every trainable float param. */
  wrt?: readonly string[];
  /** Also add each `grad/<param>` as a graph output of the same name. */
  exposeGradients: boolean;
  /**
   * A scalar value of the graph to start the backward pass from instead of 1 (the loss scale of
   * f16 mixed precision, loss-scale.ts): every gradient is then `seed` times the loss's.
   */
  seed?: string;
}

export class AutodiffError extends Error {
  override name = "AutodiffError";
}

export const gradName = (param: string) => `grad/${param}`;

export const autodiff: Pass<AutodiffOptions> = {
  name: "autodiff",
  summary: "append the reverse-mode gradient of a scalar loss w.r.t. the trainable params",
  statistics: { "backward-nodes": "nodes the backward pass adds", "params-differentiated": "trainable params that get a grad/<param>" },
  defaults: { loss: "loss", exposeGradients: false },
  run(g, opts) {
    const loss = g.outputs.find((o) => o.name === opts.loss);
    if (!loss) throw new AutodiffError(`no output named '${opts.loss}' to differentiate (outputs: ${g.outputs.map((o) => o.name).join(", ")})`);
    const b = GraphBuilder.from(g);
    const lossType = b.typeOf(loss.value);
    if (numel(lossType.shape) !== 1 || lossType.shape.length !== 0 || !isFloat(lossType.dtype)) {
      throw new AutodiffError(`loss '${opts.loss}' must be a float scalar, got ${formatType(lossType)}`);
    }
    const wrt = opts.wrt ?? g.params.filter((p) => p.trainable && isFloat(p.type.dtype)).map((p) => p.name);
    const active = activeValues(g, new Set(wrt), loss.value);

    // Reverse sweep: cotangents[v] lists the contributions to v's cotangent, summed on first read.
    const seed = opts.seed === undefined
      ? b.op("const", [], { value: 1, dtype: lossType.dtype, shape: [] })
      : b.typeOf(opts.seed).dtype === lossType.dtype ? opts.seed : b.op("cast", [opts.seed], { dtype: lossType.dtype });
    const cotangents = new Map<string, string[]>([[loss.value, [seed]]]);
    const total = (v: string) => sumAll(b, cotangents.get(v) ?? []);
    let backwardNodes = b.nodes.length;
    for (const node of [...g.nodes].reverse()) {
      if (!active.has(node.id) || !cotangents.has(node.id)) continue;
      const rule = getOp(node.op).vjp;
      if (!rule) throw new AutodiffError(`op '${node.op}' has no VJP rule, so %${node.id}${node.loc ? ` (${node.loc.file}:${node.loc.line}:${node.loc.col})` : ""} cannot be differentiated`);
      b.defaultLoc = node.loc;
      const needs = node.inputs.map((v) => active.has(v));
      const grads = rule({ b, node, dy: total(node.id), needs });
      node.inputs.forEach((v, i) => {
        const grad = grads[i];
        if (!needs[i] || !grad) return;
        if (!sameType(b.typeOf(grad), b.typeOf(v))) {
          throw new AutodiffError(`VJP of '${node.op}' gave operand ${i} (%${v}: ${formatType(b.typeOf(v))}) a cotangent of type ${formatType(b.typeOf(grad))}`);
        }
        cotangents.set(v, [...(cotangents.get(v) ?? []), grad]);
      });
    }
    b.defaultLoc = undefined;

    const grads = wrt.map((p) => {
      const type = b.typeOf(p);
      return cotangents.has(p) ? total(p) : zeros(b, type.shape, type.dtype);
    });
    const forward = new Set(g.nodes.map((n) => n.id));
    const gradUses = new Map<string, number>();
    for (const v of grads) gradUses.set(v, (gradUses.get(v) ?? 0) + 1);
    wrt.forEach((p, i) => {
      const shared = gradUses.get(grads[i])! > 1;
      nameValue(b, grads[i], gradName(p), forward, shared);
      if (opts.exposeGradients) b.output(gradName(p), gradName(p));
    });
    backwardNodes = b.nodes.length - backwardNodes;
    return { graph: b.build(), stats: { "backward-nodes": backwardNodes, "params-differentiated": wrt.length } };
  },
};

/** Values that depend on a param in `wrt` and that the loss depends on. */
function activeValues(g: Graph, wrt: Set<string>, loss: string): Set<string> {
  const dependsOnParam = new Set(wrt);
  for (const n of g.nodes) if (n.inputs.some((v) => dependsOnParam.has(v))) dependsOnParam.add(n.id);
  const lossNeeds = new Set([loss]);
  for (const n of [...g.nodes].reverse()) if (lossNeeds.has(n.id)) n.inputs.forEach((v) => lossNeeds.add(v));
  return new Set([...dependsOnParam].filter((v) => lossNeeds.has(v)));
}

function sumAll(b: GraphBuilder, values: readonly string[]): string {
  return values.reduce((acc, v) => b.op("add", [acc, v]));
}

/**
 * Gives `value` the name `name`: renames the node when the sweep made it for this param alone,
 * otherwise defines `name` as a copy (e.g. when add's VJP hands one cotangent to two params).
 */
function nameValue(b: GraphBuilder, value: string, name: string, forward: Set<string>, shared: boolean): void {
  const fresh = !shared && !forward.has(value) && b.isNode(value) && !b.isUsed(value);
  if (fresh) b.rename(value, name);
  else b.op("copy", [value], {}, undefined, name);
}
