// The backward ops of the 2-D pools that their VJPs emit. Both take the pool's attributes
// unchanged and walk the very windows the forward kernel walks (forEachWindow), so padding,
// "same" geometry and overlapping windows (stride < size) are handled in one place:
//
//   maxPool2dGrad(x, dy)  routes each dy element to the input that won its window: the first
//                         maximum in window order (rows, then columns), as TensorFlow and
//                         PyTorch do on ties; overlapping windows that share a winner add up.
//   avgPool2dGrad(dy)     spreads each dy element evenly over the real (non-padding) pixels of
//                         its window, dividing by their count as the forward does (TensorFlow's
//                         convention). It needs the input shape as an attribute, like
//                         conv2dBackpropInput.
//
// avgPool2dGrad is the transpose of the linear map avgPool2d, so its own VJP is avgPool2d.
// maxPool2dGrad has none: its transpose in dy (read each window's winner) is no existing op,
// and nothing differentiates a gradient through max pooling today.

import type { Attrs } from "../graph.ts";
import type { AttrValue, OpDef } from "../op-def.ts";
import { formatType, numel, sameShape, ShapeError, type Shape, type TensorType } from "../types.ts";
import { beatsMax, forEachWindow, POOL_ATTRS, poolWindow, rank4ShapeAttr } from "./nn.ts";
import { linearVjp } from "../vjp-kit.ts";
import { requireFloat, requireRank, requireSameDtype } from "./operand-checks.ts";

/** dy must be exactly the pool's result for an input of shape `x`. */
function requirePoolOutput(op: string, dy: TensorType, x: Shape, attrs: Attrs): void {
  const win = poolWindow(op, x, attrs);
  const want = [x[0], win.outH, win.outW, x[3]];
  if (!sameShape(dy.shape, want)) {
    throw new ShapeError(`${op}: dy must have the pool's output shape [${want.join(",")}] for an input of shape [${x.join(",")}], got ${formatType(dy)}`);
  }
}

const maxPool2dGrad: OpDef = {
  name: "maxPool2dGrad",
  summary: "cotangent of maxPool2d's input: each dy element added at its window's first maximum in x",
  kind: "other",
  operands: ["x", "dy"],
  attrs: POOL_ATTRS,
  tolerance: 1e-5,
  infer([x, dy], attrs) {
    const op = "maxPool2dGrad";
    requireRank(op, "x", x, 4, "N, H, W, C");
    requireFloat(op, "x", x);
    requireSameDtype(op, ["x", "dy"], [x, dy]);
    requirePoolOutput(op, dy, x.shape, attrs);
    return x;
  },
  interpret([x, dy], attrs, out) {
    const win = poolWindow("maxPool2dGrad", x.type.shape, attrs);
    const xs = x.data;
    // The winning input index of each window, chosen with the forward kernel's own comparison;
    // the first visit always wins so that an all -inf window still has a winner.
    const winner = new Int32Array(dy.data.length).fill(-1);
    forEachWindow(x.type.shape, win, (o, i) => {
      if (winner[o] < 0 || beatsMax(xs[i], xs[winner[o]])) winner[o] = i;
    }, () => {});
    const dx = new Float64Array(numel(out.shape));
    for (let o = 0; o < winner.length; o++) dx[winner[o]] += dy.data[o];
    return dx;
  },
};

const avgPool2dGrad: OpDef = {
  name: "avgPool2dGrad",
  summary: "cotangent of avgPool2d's input: each dy element spread evenly over its window's non-padding pixels",
  kind: "other",
  operands: ["dy"],
  attrs: {
    ...POOL_ATTRS,
    inputShape: { kind: "ints", doc: "shape of avgPool2d's input x (N, H, W, C), the result's shape" },
  },
  tolerance: 1e-5,
  infer([dy], attrs) {
    const op = "avgPool2dGrad";
    requireRank(op, "dy", dy, 4, "N, OH, OW, C");
    requireFloat(op, "dy", dy);
    const shape = rank4ShapeAttr(op, attrs, "inputShape", "N, H, W, C");
    requirePoolOutput(op, dy, shape, attrs);
    return { dtype: dy.dtype, shape };
  },
  interpret([dy], attrs, out) {
    const win = poolWindow("avgPool2dGrad", out.shape, attrs);
    const share = new Float64Array(dy.data.length);
    forEachWindow(out.shape, win, () => {}, (o, count) => {
      share[o] = dy.data[o] / count;
    });
    const dx = new Float64Array(numel(out.shape));
    forEachWindow(out.shape, win, (o, i) => {
      dx[i] += share[o];
    }, () => {});
    return dx;
  },
  vjp: linearVjp(({ b, node, dy }) => {
    const poolAttrs: Record<string, AttrValue> = Object.fromEntries(Object.keys(POOL_ATTRS).map((k) => [k, node.attrs[k]]));
    return b.op("avgPool2d", [dy], poolAttrs);
  }),
};

export const POOL_GRAD_OPS: readonly OpDef[] = [maxPool2dGrad, avgPool2dGrad];
