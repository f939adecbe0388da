// accumulate — gradient accumulation over micro-batches.
//
// `accumulate` turns a graph that computes grad/<p> into a micro-batch step that adds each
// gradient into a persistent accumulator `acc/<p>` (no parameter update). `applyUpdateGraph`
// builds the separate entry point the app calls every N micro-batches: it averages the
// accumulators (so N micro-batches of a mean loss equal one step on the N-times batch), runs the
// optimizer pass on that, and zeroes the accumulators.
//
// With the non-finite guard (nonfinite-guard.ts; `gate` is its `step/finite`), a micro-batch whose
// loss or gradients are NaN/Inf is not added (acc + where(ok, g, -0): x + -0 is x for every x, so
// the accumulators stay bit for bit), and the state `opt/accepted_micro_batches` counts those that were: the
// update then averages over the accepted micro-batches (dividing by N would shrink the step as if
// the skipped ones had a zero gradient), skips itself when none was accepted (params and optimizer
// state as they were: Adam would still move on its momentum and advance its counters), and resets
// that count with the accumulators.

import { GraphBuilder } from "../ir/builder.ts";
import type { Graph } from "../ir/graph.ts";
import { scalar, zeros } from "../ir/vjp-kit.ts";
import { gradName } from "./autodiff.ts";
import { allFinite, FINITE, gated, gateForwardUpdates } from "./finite-gate.ts";
import { ACCEPTED_MICRO_BATCHES } from "./nonfinite-guard.ts";
import { optimizer, type OptimizerOptions } from "./optimizer.ts";
import type { Pass } from "./pass.ts";

export interface AccumulateOptions {
  /** Micro-batches per update (N >= 1). */
  microBatches: number;
  /** Set by the driver: the bool[] value (step/finite) that, when false, leaves the accumulators as they are. */
  gate?: string;
  /** The non-finite guard without loss scaling: the loss output; each accumulator is gated as in optimizer.ts. */
  guardLoss?: string;
}

export const accName = (param: string) => `acc/${param}`;

export const accumulate: Pass<AccumulateOptions> = {
  name: "accumulate",
  summary: "add grad/<param> into persistent accumulators acc/<param> instead of updating params",
  statistics: { accumulators: "acc/<param> accumulators added (one per trainable param with a gradient)" },
  defaults: { microBatches: 1 },
  run(g, opts) {
    if (!Number.isInteger(opts.microBatches) || opts.microBatches < 1) throw new Error(`accumulate: micro-batches must be a positive integer, got ${opts.microBatches}`);
    const b = GraphBuilder.from(g);
    const targets = g.params.filter((p) => p.trainable && b.has(gradName(p.name)));
    // Guarded by the loss: each accumulator's gate is "the loss and this gradient are finite"
    // (optimizer.ts says why); step/finite is all of them; the updates already in the step are
    // gated as in optimizer.ts (running statistics by their own check, the RNG counter by the loss).
    const lossValue = opts.guardLoss === undefined ? undefined : g.outputs.find((o) => o.name === opts.guardLoss)?.value;
    if (opts.guardLoss !== undefined && lossValue === undefined) throw new Error(`accumulate: the graph has no output '${opts.guardLoss}'`);
    const lossOk = lossValue === undefined ? undefined : allFinite(b, [lossValue], "step/loss_finite");
    const earlier = lossOk ? b.updates.splice(0) : [];
    let everything = lossOk;
    for (const p of targets) {
      const acc = b.addParam({ name: accName(p.name), type: p.type, init: "zeros", trainable: false, ...(p.loc ? { loc: p.loc } : {}) });
      let ok = opts.gate;
      if (lossOk) {
        ok = b.op("where", [lossOk, allFinite(b, [gradName(p.name)], `step/finite/${p.name}`), lossOk]);
        everything = everything === lossOk ? ok : b.op("where", [everything!, ok, everything!]);
      }
      const grad = ok ? gated(b, ok, gradName(p.name), -0) : gradName(p.name);
      b.update(acc, b.op("add", [acc, grad], {}, p.loc));
    }
    if (lossOk) {
      b.op("where", [lossOk, everything!, lossOk], {}, undefined, FINITE);
      gateForwardUpdates(b, lossOk, earlier);
    }
    return { graph: b.build(), stats: { accumulators: targets.length } };
  },
};

/**
 * The update entry point for `--accumulate N`: params and accumulators in, the optimizer's
 * updates of params and optimizer state out, accumulators reset to zero.
 */
export function applyUpdateGraph(step: Graph, microBatches: number, opt: OptimizerOptions): Graph {
  const b = new GraphBuilder(`${step.name}_apply_update`);
  const trainable = step.params.filter((p) => p.trainable && step.params.some((q) => q.name === accName(p.name)));
  for (const p of trainable) b.addParam(p);
  // Guarded: the mean over the accepted micro-batches, 1 / max(accepted, 1).
  const accepted = step.params.find((q) => q.name === ACCEPTED_MICRO_BATCHES);
  if (accepted) b.addParam(accepted);
  const inverse = accepted ? b.op("div", [scalar(b, 1, "f32"), b.op("maximum", [accepted.name, scalar(b, 1, "f32")])]) : "";
  const resets: { param: string; value: string }[] = [];
  for (const p of trainable) {
    const acc = b.addParam(step.params.find((q) => q.name === accName(p.name))!);
    const factor = !accepted ? scalar(b, 1 / microBatches, p.type.dtype) : p.type.dtype === "f32" ? inverse : b.op("cast", [inverse], { dtype: p.type.dtype });
    b.op("mul", [acc, factor], {}, p.loc, gradName(p.name));
    resets.push({ param: acc, value: zeros(b, p.type.shape, p.type.dtype) });
  }
  for (const r of resets) b.update(r.param, r.value);
  if (!accepted) return optimizer.run(b.build(), opt).graph;
  // None accepted: the optimizer's gate makes its update an identity.
  const any = b.op("greater", [accepted.name, scalar(b, 0, "f32")], {}, undefined, "step/any_accepted");
  b.update(accepted.name, scalar(b, 0, "f32"));
  return optimizer.run(b.build(), { ...opt, gate: any }).graph;
}
