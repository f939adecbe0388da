// VJP rules of the quantization ops: fakeQuant's straight-through estimator (dy where the
// unclamped quantized value lies in [qmin, qmax], 0 outside, as
// torch.fake_quantize_per_{tensor,channel}_affine) checked exactly at the range edges, rounding
// ties included, since finite differences of a step function see only zeros; dequantize's
// gradient for its scale (linear: central finite differences, test/support/gradcheck.ts);
// and that the integer-valued ops have no rule.

import { describe, expect, it } from "vitest";
import { GraphBuilder } from "../../compiler/ir/builder.ts";
import { interpret } from "../../compiler/ir/interpreter.ts";
import type { AttrValue } from "../../compiler/ir/op-def.ts";
import { getOp } from "../../compiler/ir/ops.ts";
import { autodiff } from "../../compiler/passes/autodiff.ts";
import { runPass } from "../../compiler/passes/pass.ts";
import { gradCheck, type Operand } from "../support/gradcheck.ts";

interface StepCase {
  x: number[];
  shape: number[];
  scale: number[];
  zeroPoint: number[];
  attrs: Record<string, AttrValue>;
}

/** Gradients of sum(fakeQuant(x) * r) for x and scale (both params), and r. */
function fakeQuantGradients(c: StepCase, seed = 3) {
  const b = new GraphBuilder("fq");
  const paramShape = c.attrs.axis === undefined || c.attrs.axis === null ? [] : [c.scale.length];
  const x = b.addParam({ name: "x", type: { dtype: "f32", shape: c.shape }, init: "zeros", trainable: true });
  const s = b.addParam({ name: "s", type: { dtype: "f32", shape: paramShape }, init: "zeros", trainable: true });
  const z = b.addInput({ name: "z", type: { dtype: "i32", shape: paramShape } });
  const r = b.addInput({ name: "r", type: { dtype: "f32", shape: c.shape } });
  const y = b.op("fakeQuant", [x, s, z], c.attrs);
  b.output("loss", b.op("sum", [b.op("mul", [y, r])], { axes: c.shape.map((_, i) => i), keepDims: false }));
  const { graph } = runPass(autodiff, b.build(), { loss: "loss", exposeGradients: true });
  const rv = c.x.map((_, i) => ((i * 7 + seed) % 11) - 5 + 0.25);
  const out = interpret(graph, { z: c.zeroPoint, r: rv }, { params: { x: c.x, s: c.scale } }).outputs;
  return { dx: Array.from(out["grad/x"].data), ds: out["grad/s"] && Array.from(out["grad/s"].data), r: rv, graph };
}

describe("fakeQuant: straight-through estimator", () => {
  it("passes the cotangent inside [qmin, qmax] and stops it outside, per tensor", () => {
    // scale 0.5, zero point 1, range [-3, 4]; rne(x / 0.5) + 1:
    //   -2.5 -> -4 out;  -2 -> -3 in (qmin);  -1.75 -> rne(-3.5) = -4 -> -3 in (tie, even);
    //   1.5 -> 4 in (qmax);  2 -> 5 out;  1.75 -> rne(3.5) = 4 -> 5 out (tie, even);
    //   1.25 -> rne(2.5) = 2 -> 3 in;  -0.5 -> 0 in.
    const c: StepCase = { x: [-2.5, -2, -1.75, 1.5, 2, 1.75, 1.25, -0.5], shape: [8], scale: [0.5], zeroPoint: [1], attrs: { qmin: -3, qmax: 4 } };
    const { dx, r } = fakeQuantGradients(c);
    const inside = [0, 1, 1, 1, 0, 0, 1, 1];
    expect(dx).toEqual(r.map((v, i) => (inside[i] ? v : 0)));
  });

  it("per channel: each channel's own scale, zero point and edges", () => {
    // x[2,3], axis 1: scales 1, 0.25, 2; zero points 0, -2, 3; range [0, 7].
    // column 0: 0 -> 0 in, -1 -> -1 out;  column 1: 2.25 -> 9-2 = 7 in, 2.5 -> 10-2 = 8 out;
    // column 2: -6 -> -3+3 = 0 in, 8 -> 4+3 = 7 in.
    const c: StepCase = { x: [0, 2.25, -6, -1, 2.5, 8], shape: [2, 3], scale: [1, 0.25, 2], zeroPoint: [0, -2, 3], attrs: { axis: 1, qmin: 0, qmax: 7 } };
    const { dx, r } = fakeQuantGradients(c);
    const inside = [1, 1, 1, 0, 0, 1];
    expect(dx).toEqual(r.map((v, i) => (inside[i] ? v : 0)));
  });

  it("gives the scale a zero gradient (no LSQ) and emits one fakeQuantGrad node", () => {
    const c: StepCase = { x: [0.3, -0.7, 5], shape: [3], scale: [0.1], zeroPoint: [0], attrs: { qmin: -8, qmax: 7 } };
    const { ds, graph } = fakeQuantGradients(c);
    expect(ds === undefined || ds.every((v) => v === 0)).toBe(true);
    expect(graph.nodes.filter((n) => n.op === "fakeQuantGrad")).toHaveLength(1);
  });
});

describe("dequantize: gradient of the scale (finite differences)", () => {
  const i8 = (shape: number[], values: number[]): Operand => ({ type: { dtype: "i8", shape }, values, differentiable: false });
  const i32 = (shape: number[], values: number[]): Operand => ({ type: { dtype: "i32", shape }, values, differentiable: false });
  const scale = (shape: number[], range: [number, number] = [0.05, 0.5]): Operand => ({ type: { dtype: "f32", shape }, range });
  const cases: { label: string; operands: Operand[]; attrs?: Record<string, AttrValue> }[] = [
    { label: "per tensor, scale []", operands: [i8([2, 3], [-128, -5, 0, 3, 90, 127]), scale([]), i32([], [2])] },
    { label: "per tensor, scale [1]", operands: [i8([4], [1, 2, 3, -4]), scale([1]), i32([1], [-1])] },
    { label: "per channel, axis 1", operands: [i8([2, 3], [-128, -5, 0, 3, 90, 127]), scale([3]), i32([3], [0, 1, -2])], attrs: { axis: 1 } },
    { label: "per channel, axis 0 of rank 3", operands: [i8([2, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8]), scale([2]), i32([2], [3, -3])], attrs: { axis: 0 } },
    { label: "per channel, rank 1", operands: [i8([3], [5, -6, 7]), scale([3]), i32([3], [0, 0, 1])], attrs: { axis: -1 } },
    { label: "i32 accumulator", operands: [{ ...i8([3], [100000, -7, 2]), type: { dtype: "i32", shape: [3] } }, scale([]), i32([], [0])] },
  ];
  for (const c of cases) {
    it(c.label, () => {
      const { worst, details } = gradCheck("dequantize", c.operands, c.attrs ?? {});
      expect(worst, details.join("\n")).toBeLessThan(1e-6);
    });
  }
});

describe("fakeQuantGrad: linear in dy (finite differences)", () => {
  // x sits between rounding boundaries, so the mask does not change under the perturbation.
  const fixed = (dtype: "f32" | "i32", shape: number[], values: number[]): Operand => ({ type: { dtype, shape }, values, differentiable: false });
  it("masks dy's cotangent like dy", () => {
    const operands: Operand[] = [{ type: { dtype: "f32", shape: [6] } }, fixed("f32", [6], [-3.2, -1.1, 0.2, 1.4, 2.9, 5.3]), fixed("f32", [], [1]), fixed("i32", [], [0])];
    const { worst, details } = gradCheck("fakeQuantGrad", operands, { qmin: -2, qmax: 2 });
    expect(worst, details.join("\n")).toBeLessThan(1e-6);
  });
});

describe("rules of the integer-valued ops", () => {
  it("pass nothing back (autodiff carries no cotangent through integers, as for cast)", () => {
    for (const name of ["quantize", "requantize", "matmulInteger"]) expect(getOp(name).vjp, name).toBeDefined();
    const b = new GraphBuilder("q");
    const x = b.addParam({ name: "x", type: { dtype: "f32", shape: [1, 2] }, init: "zeros", trainable: true });
    const s = b.op("const", [], { value: 0.5, dtype: "f32", shape: [] });
    const z = b.op("const", [], { value: 0, dtype: "i32", shape: [] });
    const w = b.op("const", [], { value: 1, dtype: "i8", shape: [2, 1] });
    const acc = b.op("matmulInteger", [b.op("quantize", [x, s, z], { dtype: "i8" }), w]);
    const y = b.op("dequantize", [b.op("requantize", [acc, s, z]), s, z]);
    const c = b.op("const", [], { value: 3, dtype: "f32", shape: [1, 2] });
    const direct = b.op("sum", [b.op("mul", [x, c])], { axes: [0, 1] });
    b.output("loss", b.op("add", [b.op("sum", [y], { axes: [0, 1] }), direct]));
    const { graph } = runPass(autodiff, b.build(), { loss: "loss", exposeGradients: true });
    const out = interpret(graph, {}, { params: { x: [0.7, -1.2] } });
    expect(Array.from(out.outputs["grad/x"].data)).toEqual([3, 3]); // only the direct path
  });
});
