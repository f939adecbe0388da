// loss-scale — dynamic loss scaling of an f16 mixed-precision training step (Micikevicius et al.
// 2018, "Mixed precision training"; docs/PRECISION.md).
//
// f16 keeps numbers down to 2^-24 only: small activation gradients underflow to zero in the
// backward pass. The backward pass therefore starts from the loss's cotangent multiplied by a
// scale S (autodiff's `seed` is the state `amp/loss_scale`, which the precision pass declares),
// so every gradient is S times larger while it is 16-bit; this pass, run on the train step after
// autodiff and before the optimizer, undoes that and keeps S right:
//
//   unscale  each `grad/<p>` (f32 after the widening cast) becomes grad/<p>/scaled * (1/S), so the
//            optimizer (and an exposed gradient) sees the true gradient
//   check    ok = every scaled gradient finite (and the loss, when `loss` names it: the driver
//            does so when the non-finite guard is on, which then reuses this check): false when
//            one overflowed (inf) or is NaN — finite-gate.ts's `allFinite`, the node `step/finite`
//   skip     the updates already in the step (running statistics, RNG counters) become
//            where(ok, new, old) (finite-gate.ts's `gateUpdates`), and the driver gives `step/finite`
//            to the optimizer as its gate, which makes the parameter update an identity: an
//            overflowing step changes nothing but the scale (and the guard's count)
//   adjust   ok: after `growthInterval` good steps in a row S *= factor (and the count restarts);
//            not ok: S /= factor and the count restarts. The count is the state `amp/good_steps`.
//
// Defaults are Micikevicius's (and torch.cuda.amp's): S = 2^16, factor 2, growth interval 2000.
// The step also outputs `loss_scale`, the scale the next step will use (the bundle's
// `params["amp/loss_scale"]` holds it too).

import { GraphBuilder } from "../ir/builder.ts";
import { isFloat, type DType } from "../ir/types.ts";
import { gradName } from "./autodiff.ts";
import { allFinite, gateUpdates } from "./finite-gate.ts";
import type { Pass } from "./pass.ts";

export interface LossScaleOptions {
  /** The scale of the first step. */
  init: number;
  /** Good steps in a row after which the scale grows. */
  growthInterval: number;
  /** What the scale is multiplied by to grow and divided by on an overflow. */
  factor: number;
  /** The loss output, checked with the gradients (the non-finite guard's request); none by default. */
  loss?: string;
}

export const LOSS_SCALE_DEFAULTS: LossScaleOptions = { init: 2 ** 16, growthInterval: 2000, factor: 2 };

/** The state holding the current scale (f32[]), and the count of good steps since it last changed. */
export const LOSS_SCALE = "amp/loss_scale";
export const GOOD_STEPS = "amp/good_steps";
/** The train step's output holding the scale of the next step. */
export const LOSS_SCALE_OUTPUT = "loss_scale";

export const lossScale: Pass<LossScaleOptions> = {
  name: "loss-scale",
  summary: "unscale f16 gradients, skip the update when one overflowed, adjust the dynamic loss scale",
  defaults: LOSS_SCALE_DEFAULTS,
  statistics: {
    "gradients-unscaled": "grad/<param> values divided by the loss scale",
    "updates-gated": "state updates skipped on an overflowing step",
  },
  run(g, opts) {
    if (!g.params.some((p) => p.name === LOSS_SCALE)) throw new Error(`loss-scale: the graph has no state '${LOSS_SCALE}' (the precision pass declares it for --mixed f16)`);
    const b = new GraphBuilder(g.name);
    for (const i of g.inputs) b.addInput(i);
    for (const p of g.params) b.addParam(p);
    const scalar = { dtype: "f32" as const, shape: [] };
    if (!g.params.some((p) => p.name === GOOD_STEPS)) b.addParam({ name: GOOD_STEPS, type: scalar, init: "zeros", trainable: false });
    // Nodes made after the copied ones get fresh ids; those among them are named. 1/S comes
    // right before the first gradient, so the step still starts with the forward pass (the
    // checkpoint pass finds the forward nodes as the leading ones).
    const c = (value: number) => b.op("const", [], { value, dtype: "f32", shape: [] });
    const inverseAs = (dtype: DType) => {
      const inverse = "amp/inv_scale";
      if (!b.has(inverse)) b.op("div", [b.op("const", [], { value: 1, dtype: "f32", shape: [] }, undefined, "amp/one"), LOSS_SCALE], {}, undefined, inverse);
      const name = `${inverse}/${dtype}`;
      return dtype === "f32" ? inverse : b.has(name) ? name : b.op("cast", [inverse], { dtype }, undefined, name);
    };

    const grads = new Set(g.params.filter((p) => p.trainable && isFloat(p.type.dtype)).map((p) => gradName(p.name)));
    const scaled: string[] = [];
    for (const n of g.nodes) {
      if (!grads.has(n.id)) {
        b.op(n.op, n.inputs, n.attrs, n.loc, n.id);
        continue;
      }
      const raw = b.op(n.op, n.inputs, n.attrs, n.loc, `${n.id}/scaled`);
      scaled.push(raw);
      b.op("mul", [raw, inverseAs(b.typeOf(raw).dtype)], {}, n.loc, n.id);
    }

    const lossValue = opts.loss === undefined ? undefined : g.outputs.find((o) => o.name === opts.loss)?.value;
    if (opts.loss !== undefined && lossValue === undefined) throw new Error(`loss-scale: the graph has no output '${opts.loss}'`);
    const ok = allFinite(b, lossValue === undefined ? scaled : [lossValue, ...scaled]);
    gateUpdates(b, ok, g.updates);

    const good = b.op("add", [GOOD_STEPS, c(1)]);
    const grow = b.op("greater", [good, c(opts.growthInterval - 0.5)]);
    const nextScale = b.op("where", [ok, b.op("where", [grow, b.op("mul", [LOSS_SCALE, c(opts.factor)]), LOSS_SCALE]), b.op("div", [LOSS_SCALE, c(opts.factor)])], {}, undefined, "amp/next_scale");
    const nextGood = b.op("where", [ok, b.op("where", [grow, c(0), good]), c(0)], {}, undefined, "amp/next_good_steps");
    b.update(LOSS_SCALE, nextScale);
    b.update(GOOD_STEPS, nextGood);
    for (const o of g.outputs) b.output(o.name, o.value);
    if (!g.outputs.some((o) => o.name === LOSS_SCALE_OUTPUT)) b.output(LOSS_SCALE_OUTPUT, nextScale);
    return { graph: b.build(), stats: { "gradients-unscaled": scaled.length, "updates-gated": g.updates.length } };
  },
};
