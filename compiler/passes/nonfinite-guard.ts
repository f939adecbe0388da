// nonfinite-guard — a training step that meets a NaN or Inf skips its update instead of
// poisoning every param for good (one batch with a NaN pixel makes every gradient NaN, the
// optimizer writes NaN into every param and moment, and no later batch can recover).
//
// Runs on the train step last, after the optimizer (or accumulate), which the driver gives the
// loss to guard by (`guardLoss`) or, with loss scaling, loss-scale's check of every gradient:
//
//   check    the loss, and each gradient as soon as it is computed (finite-gate.ts's
//            `allFinite`); the optimizer gates each param's update by "the loss and this
//            gradient are finite", so it runs in place as before, an identity when skipped
//            (optimizer.ts), and `step/finite` is all of them. A NaN/Inf batch makes the loss
//            non-finite: params, moments, the step counter and Adam's bias corrections (or the
//            accumulators) stay bit for bit as they were, so the next clean step computes what
//            it would have without the bad batch.
//   skip     when the optimizer left no `step/finite` (this pass on its own), it checks the loss
//            and every gradient itself and gates every update with where(ok, new, old).
//   count    the state `opt/skipped_steps` (f32[], saved in checkpoints like the rest of `opt/*`)
//            counts the skipped steps (micro-batches, with --accumulate); the step also outputs
//            `skipped_step` (1 when this step was skipped, else 0).
//   average  with --accumulate, `opt/accepted_micro_batches` counts the micro-batches added
//            into the accumulators since the last apply_update, which then averages over those
//            (not over N) and, when there were none, skips its update (accumulate.ts).
//
// On by default; `--no-nonfinite-guard` builds the step without it (the old behaviour: a NaN
// batch propagates into every param).

import { GraphBuilder } from "../ir/builder.ts";
import type { ParamDecl } from "../ir/graph.ts";
import { isFloat } from "../ir/types.ts";
import { scalar } from "../ir/vjp-kit.ts";
import { gradName } from "./autodiff.ts";
import { allFinite, FINITE, gateUpdates } from "./finite-gate.ts";
import type { Pass } from "./pass.ts";

export interface NonfiniteGuardOptions {
  /** The loss output, checked with the gradients. */
  loss: string;
  /** Micro-batches per update: above 1 the step accumulates, and accepted micro-batches are counted. */
  microBatches: number;
}

/** The count of skipped steps (f32[]): persistent training state, saved with the optimizer's. */
export const SKIPPED_STEPS = "opt/skipped_steps";
/** With --accumulate: micro-batches added into the accumulators since the last apply_update (f32[]). */
export const ACCEPTED_MICRO_BATCHES = "opt/accepted_micro_batches";
/** The train step's output: 1 when this step was skipped, else 0 (f32[]). */
export const SKIPPED_OUTPUT = "skipped_step";

const counter = (name: string): ParamDecl => ({ name, type: { dtype: "f32", shape: [] }, init: "zeros", trainable: false });

export const nonfiniteGuard: Pass<NonfiniteGuardOptions> = {
  name: "nonfinite-guard",
  summary: "skip the update of a train step whose loss or gradients hold NaN/Inf, and count skipped steps",
  defaults: { loss: "loss", microBatches: 1 },
  statistics: {
    "values-checked": "loss and grad/<param> values checked (0 when loss-scale's check is reused)",
    "updates-gated": "updates already in the step (running statistics, RNG counters) gated by where (0 when loss-scale did it); the optimizer gates its own",
  },
  run(g, opts) {
    const b = GraphBuilder.from(g);
    const loss = g.outputs.find((o) => o.name === opts.loss)?.value;
    if (loss === undefined) throw new Error(`nonfinite-guard: the train step has no output '${opts.loss}'`);
    let checked = 0;
    let gated = 0;
    let ok = FINITE;
    if (!b.has(FINITE)) {
      const grads = g.params.filter((p) => p.trainable && isFloat(p.type.dtype) && b.has(gradName(p.name))).map((p) => gradName(p.name));
      const updates = b.updates.splice(0);
      ok = allFinite(b, [loss, ...grads]);
      gateUpdates(b, ok, updates);
      checked = grads.length + 1;
      gated = updates.length;
    }
    const f32 = (x: number) => scalar(b, x, "f32");
    const skipped = b.op("where", [ok, f32(0), f32(1)], {}, undefined, "step/skipped");
    b.update(b.addParam(counter(SKIPPED_STEPS)), b.op("add", [SKIPPED_STEPS, skipped]));
    if (opts.microBatches > 1) b.update(b.addParam(counter(ACCEPTED_MICRO_BATCHES)), b.op("add", [ACCEPTED_MICRO_BATCHES, b.op("sub", [f32(1), skipped])]));
    b.output(SKIPPED_OUTPUT, skipped);
    return { graph: b.build(), stats: { "values-checked": checked, "updates-gated": gated } };
  },
};
