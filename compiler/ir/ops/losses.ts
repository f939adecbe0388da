// Loss ops: each reduces to a scalar mean, the value a training step minimizes.

import type { OpDef } from "../op-def.ts";
import { formatType, numel, sameShape, ShapeError } from "../types.ts";
import { scalar } from "../vjp-kit.ts";
import { requireFloat, requireSameDtype } from "./operand-checks.ts";

const softmaxCrossEntropy: OpDef = {
  name: "softmaxCrossEntropy",
  summary: "mean over all leading positions of -log softmax(logits)[label]; labels are class indices",
  kind: "loss",
  operands: ["logits", "labels"],
  attrs: {},
  tolerance: 1e-5,
  infer([logits, labels]) {
    const op = "softmaxCrossEntropy";
    requireFloat(op, "logits", logits);
    if (logits.shape.length < 1) throw new ShapeError(`${op}: logits must be [..., C], got ${formatType(logits)}`);
    const classes = logits.shape[logits.shape.length - 1];
    if (classes < 1) throw new ShapeError(`${op}: logits ${formatType(logits)} have no classes`);
    if (labels.dtype !== "i32") throw new ShapeError(`${op}: labels must be i32 class indices, got ${formatType(labels)}`);
    if (!sameShape(labels.shape, logits.shape.slice(0, -1))) {
      throw new ShapeError(
        `${op}: labels must have the logits' leading shape [${logits.shape.slice(0, -1).join(",")}]: ` +
          `logits are ${formatType(logits)}, labels are ${formatType(labels)}`,
      );
    }
    return { dtype: "f32", shape: [] };
  },
  interpret([logits, labels]) {
    const shape = logits.type.shape;
    const classes = shape[shape.length - 1];
    const rows = labels.data.length;
    let total = 0;
    for (let r = 0; r < rows; r++) {
      const label = labels.data[r];
      if (!Number.isInteger(label) || label < 0 || label >= classes) {
        throw new Error(`softmaxCrossEntropy: label ${label} at position ${r} is out of range for C = ${classes} classes`);
      }
      const base = r * classes;
      let m = -Infinity;
      for (let c = 0; c < classes; c++) m = Math.max(m, logits.data[base + c]);
      let s = 0;
      for (let c = 0; c < classes; c++) s += Math.exp(logits.data[base + c] - m);
      // -log softmax(x)[label] = log Σ exp(x) - x[label], with the max factored out of the sum.
      total += m + Math.log(s) - logits.data[base + label];
    }
    return Float64Array.of(total / rows); // NaN when there are no positions, like a mean over nothing
  },
  indexOperands: (_node, [logits]) => {
    const classes = logits.shape[logits.shape.length - 1];
    return [{ operand: 1, size: classes, what: `class labels of softmaxCrossEntropy over ${classes} classes` }];
  },
  // d/dlogits = (softmax(logits) - oneHot(labels)) * dy / N over the N leading positions; class
  // indices take no cotangent.
  vjp({ b, node, dy, needs }) {
    if (!needs[0]) return [null, null];
    const [logits, labels] = node.inputs;
    const { dtype, shape } = b.typeOf(logits);
    const classes = shape[shape.length - 1];
    // The loss is f32 whatever the logits' dtype, and binary ops need equal dtypes.
    const dyAsLogits = b.typeOf(dy).dtype === dtype ? dy : b.op("cast", [dy], { dtype });
    const scale = b.op("mul", [dyAsLogits, scalar(b, 1 / numel(shape.slice(0, -1)), dtype)]);
    const probs = b.op("softmax", [logits], { axis: -1 });
    const target = b.op("oneHot", [labels], { depth: classes, dtype });
    return [b.op("mul", [b.op("sub", [probs, target]), scale]), null];
  },
};

const mse: OpDef = {
  name: "mse",
  summary: "mean of (a - b)^2 over all elements",
  kind: "loss",
  operands: ["a", "b"],
  attrs: {},
  tolerance: 1e-4,
  infer([a, b]) {
    requireFloat("mse", "a", a);
    requireSameDtype("mse", ["a", "b"], [a, b]);
    if (!sameShape(a.shape, b.shape)) {
      throw new ShapeError(`mse: operands must have the same shape: a is ${formatType(a)}, b is ${formatType(b)}`);
    }
    return { dtype: a.dtype, shape: [] };
  },
  interpret([a, b]) {
    let total = 0;
    for (let i = 0; i < a.data.length; i++) {
      const d = a.data[i] - b.data[i];
      total += d * d;
    }
    return Float64Array.of(total / a.data.length);
  },
  // d/da = 2 (a - b) dy / numel, and the negative of it for b.
  vjp({ b, node, dy, needs }) {
    const [x, y] = node.inputs;
    const { dtype, shape } = b.typeOf(x);
    const ga = b.op("mul", [b.op("sub", [x, y]), b.op("mul", [dy, scalar(b, 2 / numel(shape), dtype)])]);
    return [needs[0] ? ga : null, needs[1] ? b.op("neg", [ga]) : null];
  },
};

export const LOSS_OPS: readonly OpDef[] = [softmaxCrossEntropy, mse];
