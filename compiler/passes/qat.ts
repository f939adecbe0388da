// qat — quantization-aware training (docs/IR.md "Quantization-aware training"). Runs on the
// forward graph before autodiff, so the backward pass is derived through fakeQuant's
// straight-through estimator, and on the forward entry (with `observe` off).
//
// For each layer quantize-dense would quantize (its layer finder, denseLayers: a matmul or conv2d
// with an f32 weight W read only there) it inserts, before the contraction,
//
//   weight      W' = fakeQuant(W, sw, 0, {axis = last, qmin = -127, qmax = 127})
//               sw[n] = max(fl(max_k |W[k, n]| / 127), eps)      computed from W at every step
//   activation  x' = fakeQuant(x, sx, zx, {axis = null, qmin = 0, qmax = 255})
//               from the range [lo, hi] of x's EMA observer (state qat/W/min, qat/W/max, f32 [])
//               lo' = min(lo, 0), hi' = max(hi, 0), sx = max(fl((hi' - lo') / 255), eps),
//               zx = clamp(rne(fl(-lo' * fl(1 / sx))), 0, 255)
//
// which is what quantize-dense's int8 parameters are (int8-params.ts), so the trained model sees
// the rounding its int8 build will do. The weight's scale is a function of W but fakeQuant gives
// it no gradient (no LSQ), as torch's per-channel FakeQuantize.
//
// The observer is torch.ao.quantization's MovingAverageMinMaxObserver (averaging constant 0.01):
// with `observe` (the train step), the step's batch range [min x, max x] is blended in,
//   lo <- lo + 0.01 (min x - lo),  hi <- hi + 0.01 (max x - hi),
// except at the first observed step (state qat/step = 0), which takes the batch range as it is;
// the fake quantization then uses the updated range (torch's FakeQuantize observes before it
// quantizes). The new lo, hi and qat/step + 1 are the step's state updates. Without `observe`
// (the forward entry: inference and evaluation) the stored range is used and nothing is updated,
// so running the forward pass never moves the observers. Before any step the range is [0, 0]:
// sx is eps and every positive activation saturates; QAT starts with a training step.

import { GraphBuilder } from "../ir/builder.ts";
import type { Graph } from "../ir/graph.ts";
import type { Pass } from "./pass.ts";
import { denseLayers } from "./quantize-dense.ts";
import { SCALE_EPS, WEIGHT_QMAX } from "./quantize/int8-params.ts";

export interface QatOptions {
  /** Update the observers (the train step) or only read them (the forward entry). */
  observe: boolean;
  /** Weights whose layers stay f32 (as --quantize-skip). */
  skip: readonly string[];
}

/** torch.ao.quantization.MovingAverageMinMaxObserver's default averaging constant. */
export const QAT_AVERAGING = 0.01;
export const QAT_STEP = "qat/step";
export const qatRangeNames = (weight: string) => ({ min: `qat/${weight}/min`, max: `qat/${weight}/max` });

export const qat: Pass<QatOptions> = {
  name: "qat",
  summary: "fake-quantize the weights (int8 per output channel) and input activations (u8, EMA-observed range) of dense and conv2d layers before autodiff",
  defaults: { observe: true, skip: [] },
  statistics: {
    "layers-fake-quantized": "matmuls and conv2ds whose weight and input pass through fakeQuant",
    "observers": "EMA range observers added as state (qat/W/min, qat/W/max)",
  },
  run(g, opts) {
    const layers = denseLayers(g, opts.skip).layers;
    if (layers.length === 0) return { graph: g, stats: { "layers-fake-quantized": 0, observers: 0 } };
    const byNode = new Map(layers.map((l) => [l.node, l]));
    const b = new GraphBuilder(g.name);
    for (const i of g.inputs) b.addInput(i);
    for (const p of g.params) b.addParam(p);
    const state = (name: string, dtype: "f32" | "i32") => b.addParam({ name, type: { dtype, shape: [] }, init: "zeros", trainable: false });
    for (const l of layers) {
      const r = qatRangeNames(l.weight);
      state(r.min, "f32");
      state(r.max, "f32");
    }
    state(QAT_STEP, "i32");
    // Named ids: fresh integer ids could take one a later node of `g` has.
    const consts = new Map<string, string>();
    const scalar = (value: number, dtype: "f32" | "i32") => {
      const name = `qat/const/${dtype}/${value}`;
      if (!consts.has(name)) consts.set(name, b.op("const", [], { value, dtype, shape: [] }, undefined, name));
      return consts.get(name)!;
    };
    const f32 = (v: number) => scalar(v, "f32");
    const first = opts.observe ? b.op("equal", [QAT_STEP, scalar(0, "i32")], {}, undefined, "qat/first_step") : undefined;
    const ranges: { param: string; value: string }[] = [];
    for (const n of g.nodes) {
      const l = byNode.get(n.id);
      if (!l) { b.op(n.op, n.inputs, n.attrs, n.loc, n.id); continue; }
      const id = (what: string) => `qat/${l.weight}/${what}`;
      const rank = l.shape.length;
      const all = (r: number) => Array.from({ length: r }, (_, a) => a);
      // Weight: symmetric per output channel (the last axis), scale from this step's W.
      const amax = b.op("max", [b.op("abs", [l.weight], {}, n.loc, id("w_abs"))], { axes: all(rank - 1) }, n.loc, id("w_amax"));
      const sw = b.op("maximum", [b.op("div", [amax, f32(WEIGHT_QMAX)], {}, n.loc, id("w_scale_raw")), f32(SCALE_EPS)], {}, n.loc, id("w_scale"));
      const zw = b.op("const", [], { value: 0, dtype: "i32", shape: [l.n] }, n.loc, id("w_zero_point"));
      const w = b.op("fakeQuant", [l.weight, sw, zw], { axis: rank - 1, qmin: -WEIGHT_QMAX, qmax: WEIGHT_QMAX }, n.loc, id("w_fq"));
      // Activation: per tensor u8 over the observed range.
      const r = qatRangeNames(l.weight);
      let lo = r.min;
      let hi = r.max;
      if (first) {
        const xRank = b.typeOf(l.x).shape.length;
        const bmax = b.op("max", [l.x], { axes: all(xRank) }, n.loc, id("x_batch_max"));
        const bmin = b.op("neg", [b.op("max", [b.op("neg", [l.x], {}, n.loc, id("x_neg"))], { axes: all(xRank) }, n.loc, id("x_neg_max"))], {}, n.loc, id("x_batch_min"));
        const ema = (old: string, batch: string, what: string) =>
          b.op("where", [first, batch, b.op("add", [old, b.op("mul", [f32(QAT_AVERAGING), b.op("sub", [batch, old], {}, n.loc, id(`${what}_delta`))], {}, n.loc, id(`${what}_step`))], {}, n.loc, id(`${what}_ema`))], {}, n.loc, id(`${what}_new`));
        lo = ema(r.min, bmin, "min");
        hi = ema(r.max, bmax, "max");
        ranges.push({ param: r.min, value: lo }, { param: r.max, value: hi });
      }
      const low = b.op("minimum", [lo, f32(0)], {}, n.loc, id("x_low"));
      const high = b.op("maximum", [hi, f32(0)], {}, n.loc, id("x_high"));
      const sx = b.op("maximum", [b.op("div", [b.op("sub", [high, low], {}, n.loc, id("x_span")), f32(255)], {}, n.loc, id("x_scale_raw")), f32(SCALE_EPS)], {}, n.loc, id("x_scale"));
      // zx = clamp(rne(-low / sx), 0, 255): quantize computes exactly that (with its reciprocal).
      const zq = b.op("quantize", [b.op("neg", [low], {}, n.loc, id("x_neg_low")), sx, scalar(0, "i32")], { axis: null, dtype: "u8" }, n.loc, id("x_zero_point_u8"));
      const zx = b.op("cast", [zq], { dtype: "i32" }, n.loc, id("x_zero_point"));
      const x = b.op("fakeQuant", [l.x, sx, zx], { axis: null, qmin: 0, qmax: 255 }, n.loc, id("x_fq"));
      b.op(n.op, n.inputs.map((v) => (v === l.x ? x : v === l.weight ? w : v)), n.attrs, n.loc, n.id);
    }
    for (const o of g.outputs) b.output(o.name, o.value);
    for (const u of g.updates) b.update(u.param, u.value);
    for (const u of ranges) b.update(u.param, u.value);
    if (first) b.update(QAT_STEP, b.op("add", [QAT_STEP, scalar(1, "i32")], {}, undefined, "qat/step_next"));
    return { graph: b.build(), stats: { "layers-fake-quantized": layers.length, observers: layers.length } };
  },
};
