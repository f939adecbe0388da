// The two transposes of conv2d that its VJP emits (TensorFlow's Conv2DBackpropInput and
// Conv2DBackpropFilter). conv2d is bilinear in (x, w), so for fixed w it is a linear map
// x -> y whose adjoint takes dy back to dx, and likewise for fixed x and w. Both ops carry
// conv2d's attributes unchanged plus the shape of the operand they produce, because the forward
// geometry ("same" padding in particular) depends on the input size, which dy alone does not
// determine when the stride is above 1.
//
// The kernels walk exactly the (output pixel, kernel tap) pairs conv2d's kernel walks
// (forEachConvTap), scattering where the forward gathers.
//
// Both are bilinear too, so they have VJPs (for second-order uses such as gradient penalties):
// from <g, dx> = <conv2d(g, w), dy> and <g, dw> = <conv2d(x, g), dy>, each cotangent is conv2d or
// the other backward op.

import type { Attrs } from "../graph.ts";
import { attr, type AttrValue, type OpDef } from "../op-def.ts";
import { formatType, numel, sameShape, ShapeError, type TensorType } from "../types.ts";
import { bilinearVjp } from "../vjp-kit.ts";
import { CONV_ATTRS, convGeometry, filterTaps, forEachConvTap, rank4ShapeAttr } from "./nn.ts";
import { requireFloat, requireRank, requireSameDtype } from "./operand-checks.ts";

/** dy must be exactly conv2d's result for the reconstructed (x, w) pair. */
function requireConvOutput(op: string, dy: TensorType, x: TensorType, w: TensorType, attrs: Attrs): void {
  const { out } = convGeometry(op, x, w, attrs);
  if (!sameShape(dy.shape, out.shape)) {
    throw new ShapeError(
      `${op}: dy must have conv2d's output shape [${out.shape.join(",")}] for x ${formatType(x)} and w ${formatType(w)}, got ${formatType(dy)}`,
    );
  }
}

/** conv2d's own attributes out of a backward op's (which adds a shape attribute). */
function convAttrsOf(attrs: Attrs): Record<string, AttrValue> {
  return Object.fromEntries(Object.keys(CONV_ATTRS).map((k) => [k, attrs[k]]));
}

/** The per-group channel counts the inner loops need. */
function channelSplit(w: readonly number[], attrs: Attrs) {
  const [, , groupChannels, outChannels] = w;
  const groups = attr.num(attrs, "groups");
  return { groups, groupChannels, outChannels, groupOut: outChannels / groups };
}

const conv2dBackpropInput: OpDef = {
  name: "conv2dBackpropInput",
  summary: "cotangent of conv2d's input: the transposed convolution of dy with w, of shape inputShape",
  kind: "contraction",
  operands: ["dy", "w"],
  attrs: {
    ...CONV_ATTRS,
    inputShape: { kind: "ints", doc: "shape of conv2d's input x (N, H, W, C), the result's shape" },
  },
  tolerance: 1e-4,
  infer([dy, w], attrs) {
    const op = "conv2dBackpropInput";
    requireRank(op, "dy", dy, 4, "N, OH, OW, O");
    requireFloat(op, "dy", dy);
    requireSameDtype(op, ["dy", "w"], [dy, w]);
    const x: TensorType = { dtype: dy.dtype, shape: rank4ShapeAttr(op, attrs, "inputShape", "N, H, W, C") };
    requireConvOutput(op, dy, x, w, attrs);
    return x;
  },
  interpret([dy, w], attrs, out) {
    const { win } = convGeometry("conv2dBackpropInput", out, w.type, attrs);
    const { groups, groupChannels, outChannels, groupOut } = channelSplit(w.type.shape, attrs);
    const dys = dy.data;
    const ws = w.data;
    const dx = new Float64Array(numel(out.shape));
    forEachConvTap(out.shape, w.type.shape, win, (xBase, wBase, oBase) => {
      for (let g = 0; g < groups; g++) {
        for (let ci = 0; ci < groupChannels; ci++) {
          const wRow = wBase + ci * outChannels + g * groupOut;
          const oRow = oBase + g * groupOut;
          let s = 0;
          for (let o = 0; o < groupOut; o++) s += dys[oRow + o] * ws[wRow + o];
          dx[xBase + g * groupChannels + ci] += s;
        }
      }
    });
    return dx;
  },
  vjp: bilinearVjp(
    ({ b, node, dy }) => b.op("conv2d", [dy, node.inputs[1]], convAttrsOf(node.attrs)),
    ({ b, node, dy }) =>
      b.op("conv2dBackpropFilter", [dy, node.inputs[0]], { ...convAttrsOf(node.attrs), filterShape: [...b.typeOf(node.inputs[1]).shape] }),
  ),
  // As large as the forward convolution: kh*kw*C/groups multiply-adds per element of dy.
  flops: (_node, [dy, w]) => 2 * numel(dy.shape) * filterTaps(w.shape),
};

const conv2dBackpropFilter: OpDef = {
  name: "conv2dBackpropFilter",
  summary: "cotangent of conv2d's filter: the correlation of x with dy, of shape filterShape",
  kind: "contraction",
  operands: ["x", "dy"],
  attrs: {
    ...CONV_ATTRS,
    filterShape: { kind: "ints", doc: "shape of conv2d's filter w (kh, kw, C/groups, O), the result's shape" },
  },
  tolerance: 1e-4,
  infer([x, dy], attrs) {
    const op = "conv2dBackpropFilter";
    requireRank(op, "dy", dy, 4, "N, OH, OW, O");
    requireFloat(op, "x", x);
    requireSameDtype(op, ["x", "dy"], [x, dy]);
    const w: TensorType = { dtype: x.dtype, shape: rank4ShapeAttr(op, attrs, "filterShape", "kh, kw, C/groups, O") };
    requireConvOutput(op, dy, x, w, attrs);
    return w;
  },
  interpret([x, dy], attrs, out) {
    const { win } = convGeometry("conv2dBackpropFilter", x.type, out, attrs);
    const { groups, groupChannels, outChannels, groupOut } = channelSplit(out.shape, attrs);
    const xs = x.data;
    const dys = dy.data;
    const dw = new Float64Array(numel(out.shape));
    forEachConvTap(x.type.shape, out.shape, win, (xBase, wBase, oBase) => {
      for (let g = 0; g < groups; g++) {
        for (let ci = 0; ci < groupChannels; ci++) {
          const xv = xs[xBase + g * groupChannels + ci];
          const wRow = wBase + ci * outChannels + g * groupOut;
          const oRow = oBase + g * groupOut;
          for (let o = 0; o < groupOut; o++) dw[wRow + o] += xv * dys[oRow + o];
        }
      }
    });
    return dw;
  },
  vjp: bilinearVjp(
    ({ b, node, dy }) =>
      b.op("conv2dBackpropInput", [node.inputs[1], dy], { ...convAttrsOf(node.attrs), inputShape: [...b.typeOf(node.inputs[0]).shape] }),
    ({ b, node, dy }) => b.op("conv2d", [node.inputs[0], dy], convAttrsOf(node.attrs)),
  ),
  // As large as the forward convolution; the result is the filter [kh, kw, C/groups, O].
  flops: (node, [, dy]) => 2 * numel(dy.shape) * filterTaps(node.type.shape),
};

export const CONV_GRAD_OPS: readonly OpDef[] = [conv2dBackpropInput, conv2dBackpropFilter];
