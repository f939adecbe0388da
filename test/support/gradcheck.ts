// Gradient checking in the spirit of JAX's check_grads: the reverse-mode gradient that autodiff
// builds from an op's VJP rule, projected on random directions, against float64 central finite
// differences of the same graph run by the reference interpreter.

import { GraphBuilder } from "../../compiler/ir/builder.ts";
import type { AttrValue } from "../../compiler/ir/op-def.ts";
import { interpret } from "../../compiler/ir/interpreter.ts";
import { numel, type TensorType } from "../../compiler/ir/types.ts";
import { autodiff } from "../../compiler/passes/autodiff.ts";
import { runPass } from "../../compiler/passes/pass.ts";

export interface Operand {
  type: TensorType;
  /** Fixed values; random N(0,1) (or `range`) when absent. */
  values?: number[];
  /** Draw random values uniformly from [lo, hi) instead (e.g. keep log/sqrt positive, avoid kinks). */
  range?: [number, number];
  /** Operands that take no gradient (labels, indices, masks) are graph inputs, not params. */
  differentiable?: boolean;
}

export interface GradCheckResult {
  /** Worst relative error |fd - ad| / max(|fd|, |ad|, floor) over operands and directions. */
  worst: number;
  details: string[];
}

function rng(seed: number) {
  let s = seed >>> 0 || 1;
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  return {
    uniform: (lo: number, hi: number) => lo + (hi - lo) * next(),
    normal: () => Math.sqrt(-2 * Math.log(next() + 1e-12)) * Math.cos(2 * Math.PI * next()),
  };
}

/**
 * Builds `loss = sum(op(operands) * r)` for a fixed random `r`, differentiates it with autodiff
 * and compares <grad, d> with (L(p + eps d) - L(p - eps d)) / (2 eps) for random directions d.
 */
export function gradCheck(
  op: string,
  operands: Operand[],
  attrs: Record<string, AttrValue> = {},
  { eps = 1e-5, directions = 3, seed = 1, floor = 1e-7 }: { eps?: number; directions?: number; seed?: number; floor?: number } = {},
): GradCheckResult {
  const r = rng(seed);
  const b = new GraphBuilder(`gradcheck_${op}`);
  const names = operands.map((o, i) => {
    const name = `x${i}`;
    if (o.differentiable === false) b.addInput({ name, type: o.type });
    else b.addParam({ name, type: o.type, init: "zeros", trainable: true });
    return name;
  });
  const y = b.op(op, names, attrs);
  const yType = b.typeOf(y);
  b.addInput({ name: "r", type: yType });
  const weighted = b.op("mul", [y, "r"]);
  const loss = b.op("sum", [weighted], { axes: yType.shape.map((_, i) => i), keepDims: false });
  b.output("loss", loss);
  const forward = b.build();
  const { graph } = runPass(autodiff, forward, { loss: "loss", exposeGradients: true });

  const values = operands.map((o) =>
    o.values ? Float64Array.from(o.values) : Float64Array.from({ length: numel(o.type.shape) }, () => (o.range ? r.uniform(...o.range) : r.normal())),
  );
  const inputs: Record<string, Float64Array> = { r: Float64Array.from({ length: numel(yType.shape) }, () => r.normal()) };
  const params: Record<string, Float64Array> = {};
  operands.forEach((o, i) => (o.differentiable === false ? (inputs[names[i]] = values[i]) : (params[names[i]] = values[i])));

  const run = (ps: Record<string, Float64Array>) => interpret(graph, inputs, { precision: "f64", params: ps });
  const base = run(params);
  const lossAt = (ps: Record<string, Float64Array>) => interpret(forward, inputs, { precision: "f64", params: ps }).outputs.loss.data[0];

  let worst = 0;
  const details: string[] = [];
  operands.forEach((o, i) => {
    if (o.differentiable === false) return;
    const grad = base.outputs[`grad/${names[i]}`].data;
    for (let k = 0; k < directions; k++) {
      const d = Float64Array.from({ length: grad.length }, () => r.normal());
      const shifted = (sign: number) => ({ ...params, [names[i]]: values[i].map((v, j) => v + sign * eps * d[j]) });
      const fd = (lossAt(shifted(1)) - lossAt(shifted(-1))) / (2 * eps);
      const ad = grad.reduce((acc, g, j) => acc + g * d[j], 0);
      const err = Math.abs(fd - ad) / Math.max(Math.abs(fd), Math.abs(ad), floor);
      worst = Math.max(worst, err);
      details.push(`${names[i]} dir ${k}: fd=${fd} ad=${ad} rel=${err.toExponential(2)}`);
    }
  });
  return { worst, details };
}
