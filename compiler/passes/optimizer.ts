// optimizer — the parameter update of a training step, as graph nodes.
//
// For each trainable param p whose gradient `grad/p` is in the graph, appends the update rule of
// SGD (momentum, Nesterov, weight decay), Adam or AdamW, and `update` records that write the new
// p and the optimizer state back at the end of the step. Optimizer state is ordinary persistent
// state (`opt/p/m`, `opt/p/v`, `opt/p/momentum`, the step counter `opt/step` and Adam's bias
// corrections `opt/bias_correction1|2`), so the memory
// planner sees it and the in-place pass can update it where it lies. The arithmetic follows
// torch.optim (1.13) operation by operation, so results agree with it to rounding.
//
// The learning rate is not baked into the graph: it is the f32 scalar state `opt/lr` (initialized
// to `lr` with `fill(lr)`), which the update reads every step, so an app or `mlc train` sets it
// between steps (the bundle's `setLearningRate(x)`; schedules) without rebuilding.
//
// Gated (`gate`: the bool[] value `step/finite` of the non-finite guard or loss scaling,
// finite-gate.ts): on a step where it is false the update is an identity that still runs in place
// over its state. What enters the rules is gated, not their results: the effective gradient
// becomes 0 (after weight decay is added), the learning rate and Adam's step size 0, AdamW's decay
// factor, Adam's beta1/beta2 and SGD's momentum 1, and the scalar state (opt/step, the bias
// corrections) keeps its value. Then m*1 + 0*(1-beta1) = m, v*1 + 0 = v, buf*1 + 0 = buf and
// p - x*0 = p bit for bit (a moment or momentum buffer is never -0: it starts at +0 and
// +0 + -0 = +0; only a param that is exactly -0, from a weights file, can come back +0). On a true
// gate every gated value is the ungated one, so the arithmetic is unchanged.
//
// Guarded by the loss (`guardLoss`, the non-finite guard without loss scaling): the gate of each
// param's update is "the loss is finite and so is this param's gradient", known as soon as that
// gradient is, so every update still runs where it did and frees its gradient: waiting for a
// check of every gradient would keep them all live until the last one (a floor checkpointing
// cannot lower). A NaN/Inf batch makes the loss non-finite and skips everything; a finite loss
// with a non-finite gradient (an overflow in the backward pass) skips that param's update only.
// The scalar state (opt/step, bias corrections) advances only when everything was finite:
// `step/finite`, the guard's count. The updates already in the step: each running statistic
// when its own new value is finite (a NaN/Inf pixel makes it non-finite; one that arises only
// after that batch norm, e.g. in the loss, leaves it updated), the RNG counter when the loss was.

import { GraphBuilder } from "../ir/builder.ts";
import type { DType } from "../ir/types.ts";
import { scalar } from "../ir/vjp-kit.ts";
import { gradName } from "./autodiff.ts";
import { allFinite, FINITE, gated, gateForwardUpdates, gateUpdates } from "./finite-gate.ts";
import type { Pass } from "./pass.ts";

export type OptimizerKind = "sgd" | "adam" | "adamw";

export interface OptimizerOptions {
  kind: OptimizerKind;
  lr: number;
  /** SGD only. */
  momentum: number;
  nesterov: boolean;
  /** L2 penalty added to the gradient (SGD, Adam) or decoupled decay (AdamW; PyTorch default 0.01). */
  weightDecay: number | undefined;
  beta1: number;
  beta2: number;
  eps: number;
  /** Set by the driver: the bool[] value (step/finite) that, when false, makes the update an identity. */
  gate?: string;
  /**
   * Set by the driver for the non-finite guard without loss scaling: the loss output. The loss's
   * finiteness gates the whole step and each param's own gradient's its update (below).
   */
  guardLoss?: string;
}

export const OPTIMIZER_DEFAULTS: OptimizerOptions = {
  kind: "sgd", lr: 0.01, momentum: 0, nesterov: false, weightDecay: undefined, beta1: 0.9, beta2: 0.999, eps: 1e-8,
};

export const STEP_COUNTER = "opt/step";

/** The learning rate as state: f32[], read by every update (set it between steps). */
export const LEARNING_RATE = "opt/lr";

export const optimizer: Pass<OptimizerOptions> = {
  name: "optimizer",
  summary: "append SGD/Adam/AdamW parameter updates that consume grad/<param>",
  statistics: { "params-updated": "trainable params updated", "optimizer-nodes": "nodes the update adds" },
  defaults: OPTIMIZER_DEFAULTS,
  run(g, opts) {
    const b = GraphBuilder.from(g);
    const targets = g.params.filter((p) => p.trainable && b.has(gradName(p.name)));
    const weightDecay = opts.weightDecay ?? (opts.kind === "adamw" ? 0.01 : 0);
    const lossValue = opts.guardLoss === undefined ? undefined : g.outputs.find((o) => o.name === opts.guardLoss)?.value;
    if (opts.guardLoss !== undefined && lossValue === undefined) throw new Error(`optimizer: the graph has no output '${opts.guardLoss}'`);
    const lossOk = lossValue === undefined ? undefined : allFinite(b, [lossValue], "step/loss_finite");
    const earlier = lossOk ? b.updates.splice(0) : [];
    // The gate of what is being built: the step's, then each param's own.
    let ok = opts.gate ?? lossOk;
    let everything = ok;
    // `value` on a step (or param) that updates, `otherwise` on one the gate skips.
    const when = (value: string, otherwise: number) => (ok ? gated(b, ok, value, otherwise) : value);
    let corrections: BiasCorrections | undefined;
    // The learning rate, and what each param dtype reads of it (a cast per non-f32 dtype).
    const lr = targets.length > 0 ? b.addParam({ name: LEARNING_RATE, type: { dtype: "f32", shape: [] }, init: `fill(${opts.lr})`, trainable: false }) : "";
    const f32 = (x: number) => scalar(b, x, "f32");
    const inDtype = (v: string, dtype: DType) => (dtype === "f32" ? v : b.op("cast", [v], { dtype }));
    // Scalar state advances when the whole step did: recorded after the last param's gate.
    const scalarUpdates: { param: string; value: string }[] = [];
    const stateUpdate = (state: string, next: string) => scalarUpdates.push({ param: state, value: next });
    // AdamW's decoupled decay factor 1 - lr * wd, from the runtime lr.
    const decayFactor = opts.kind === "adamw" && weightDecay !== 0 && targets.length > 0 ? b.op("sub", [f32(1), b.op("mul", [lr, f32(weightDecay)])]) : "";
    if (opts.kind !== "sgd") {
      // torch.optim keeps one step count per param; they always agree, so one counter serves all
      // (the bias corrections below are kept as state of their own; the count is for the app).
      b.addParam({ name: STEP_COUNTER, type: { dtype: "f32", shape: [] }, init: "zeros", trainable: false });
      stateUpdate(STEP_COUNTER, b.op("add", [STEP_COUNTER, scalar(b, 1, "f32")]));
      corrections = biasCorrections(b, opts, lr, stateUpdate);
    }
    for (const p of targets) {
      b.defaultLoc = p.loc;
      if (lossOk) {
        ok = b.op("where", [lossOk, allFinite(b, [gradName(p.name)], `step/finite/${p.name}`), lossOk]);
        everything = everything === lossOk ? ok : b.op("where", [everything!, ok, everything!]);
      }
      const decay = decayFactor && when(decayFactor, 1);
      const sgdRate = opts.kind === "sgd" ? when(lr, 0) : "";
      const c = (v: number) => scalar(b, v, p.type.dtype);
      const state = (suffix: string) => b.addParam({ name: `opt/${p.name}/${suffix}`, type: p.type, init: "zeros", trainable: false });
      let grad = gradName(p.name);
      let param = p.name;
      if (opts.kind === "adamw" && weightDecay !== 0) param = b.op("mul", [param, inDtype(decay, p.type.dtype)]);
      else if (weightDecay !== 0) grad = b.op("add", [grad, b.op("mul", [p.name, c(weightDecay)])]);
      grad = when(grad, 0);

      let next: string;
      if (opts.kind === "sgd") {
        let direction = grad;
        if (opts.momentum !== 0) {
          const buf = state("momentum");
          const newBuf = b.op("add", [b.op("mul", [buf, when(c(opts.momentum), 1)]), direction]);
          b.update(buf, newBuf);
          direction = opts.nesterov ? b.op("add", [direction, b.op("mul", [newBuf, c(opts.momentum)])]) : newBuf;
        }
        next = b.op("sub", [param, b.op("mul", [direction, inDtype(sgdRate, p.type.dtype)])]);
      } else {
        next = adamStep(b, p.type.dtype, param, grad, state("m"), state("v"), { ...corrections!, stepSize: when(corrections!.stepSize, 0) }, opts, when);
      }
      b.update(p.name, next);
    }
    b.defaultLoc = undefined;
    const all = lossOk ? b.op("where", [lossOk, everything!, lossOk], {}, undefined, FINITE) : opts.gate;
    if (all) gateUpdates(b, all, scalarUpdates);
    else for (const u of scalarUpdates) b.update(u.param, u.value);
    // The forward pass's own updates: running statistics by their own check, so none waits for
    // the loss; the RNG counter by the loss (finite-gate.ts's gateForwardUpdates).
    if (lossOk) gateForwardUpdates(b, lossOk, earlier);
    return { graph: b.build(), stats: { "params-updated": targets.length, "optimizer-nodes": b.nodes.length - g.nodes.length } };
  },
};

interface BiasCorrections {
  /** opt/lr / (1 - beta1^t) */
  stepSize: string;
  /** sqrt(1 - beta2^t) */
  sqrtCorrection2: string;
}

export const BIAS_CORRECTION = (k: 1 | 2) => `opt/bias_correction${k}`;

/**
 * Adam's per-step scalars. `1 - beta^t` is kept as persistent state c and advanced by
 * c <- c*beta + (1 - beta): computing it as 1 - pow(beta, t) in f32 would cancel catastrophically
 * (0.999 rounds to f32 with a 1.3e-8 error, which is 1.3e-5 of 1 - 0.999), where torch computes
 * it in double; the recurrence has no cancellation, so f32 graphs stay close to torch.
 */
function biasCorrections(b: GraphBuilder, o: OptimizerOptions, lr: string, stateUpdate: (state: string, next: string) => void): BiasCorrections {
  const f32 = (x: number) => scalar(b, x, "f32");
  const correction = (k: 1 | 2, beta: number) => {
    const state = b.addParam({ name: BIAS_CORRECTION(k), type: { dtype: "f32", shape: [] }, init: "zeros", trainable: false });
    const next = b.op("add", [b.op("mul", [state, f32(beta)]), f32(1 - beta)]);
    stateUpdate(state, next);
    return next;
  };
  const correction1 = correction(1, o.beta1);
  const correction2 = correction(2, o.beta2);
  // A skipped update still computes with the next corrections (never 0, so it stays finite) but
  // takes a step of size 0 (the caller gates stepSize).
  return { stepSize: b.op("div", [lr, correction1]), sqrtCorrection2: b.op("sqrt", [correction2]) };
}

/** One Adam update of `param` (already decayed for AdamW); returns the new param value. */
function adamStep(b: GraphBuilder, dtype: DType, param: string, grad: string, m: string, v: string, k: BiasCorrections, o: OptimizerOptions, when: (value: string, otherwise: number) => string): string {
  const c = (x: number) => scalar(b, x, dtype);
  const newM = b.op("add", [b.op("mul", [m, when(c(o.beta1), 1)]), b.op("mul", [grad, c(1 - o.beta1)])]);
  const newV = b.op("add", [b.op("mul", [v, when(c(o.beta2), 1)]), b.op("mul", [b.op("mul", [grad, grad]), c(1 - o.beta2)])]);
  b.update(m, newM);
  b.update(v, newV);
  const toParam = (s: string) => (dtype === "f32" ? s : b.op("cast", [s], { dtype }));
  const denom = b.op("add", [b.op("div", [b.op("sqrt", [newV]), toParam(k.sqrtCorrection2)]), c(o.eps)]);
  return b.op("sub", [param, b.op("mul", [b.op("div", [newM, denom]), toParam(k.stepSize)])]);
}
