// WGSL kernels of conv2d, fusedConv2d, conv2dBackpropInput, conv2dBackpropFilter, maxPool2d,
// avgPool2d, maxPool2dGrad and avgPool2dGrad against the reference interpreter on a WebGPU
// device, over the attributes the WASM tests use: "valid", "same" (odd padding at the end) and
// explicit pads, strides, dilation, groups, depthwise with and without a channel multiplier,
// non-square kernels, overlapping pool windows. Inputs are N(0, 1), so each convolution result
// is a sum of n products with spread sqrt(n): that is its comparison floor (wasm-conv.test.ts).

import { describe, expect, it } from "vitest";
import { naivePlan } from "../../compiler/codegen-wasm/naive-plan.ts";
import { emitWgsl } from "../../compiler/codegen-wgsl/emit.ts";
import { DEFAULT_TARGET } from "../../compiler/codegen-wgsl/kernel.ts";
import { GraphBuilder } from "../../compiler/ir/builder.ts";
import type { AttrValue } from "../../compiler/ir/op-def.ts";
import { completeAttrs } from "../../compiler/ir/op-def.ts";
import { getOp } from "../../compiler/ir/ops.ts";
import type { TensorType } from "../../compiler/ir/types.ts";
import { expectWgslMatchesInterpreter } from "../support/wgsl-harness.ts";
import type { CompareOptions } from "../support/wasm-harness.ts";

const f32 = (...shape: number[]): TensorType => ({ dtype: "f32", shape });

interface ConvCase {
  readonly x: number[];
  readonly w: number[];
  readonly attrs: Record<string, AttrValue>;
}

const CASES: ConvCase[] = [
  { x: [2, 5, 6, 7], w: [1, 1, 7, 9], attrs: {} },
  { x: [1, 4, 4, 2], w: [3, 3, 2, 3], attrs: { padding: "same" } },
  { x: [2, 8, 6, 3], w: [3, 3, 3, 5], attrs: { stride: [2, 2], padding: "same" } },
  { x: [1, 5, 6, 3], w: [3, 2, 3, 4], attrs: { padding: "explicit", pads: [1, 2, 0, 1], stride: [2, 1] } },
  { x: [1, 7, 8, 3], w: [3, 3, 3, 4], attrs: { dilation: [2, 2], padding: "same" } },
  { x: [2, 6, 5, 4], w: [3, 3, 2, 6], attrs: { groups: 2, padding: "same" } },
  { x: [1, 9, 9, 5], w: [3, 3, 1, 5], attrs: { groups: 5, stride: [2, 2], dilation: [2, 1], padding: "same" } },
  { x: [1, 5, 5, 3], w: [3, 3, 1, 6], attrs: { groups: 3, padding: "same" } },
];

function convOut(c: ConvCase): number[] {
  const op = getOp("conv2d");
  return [...op.infer([f32(...c.x), f32(...c.w)], completeAttrs(op, c.attrs)).shape];
}

describe("convolutions", () => {
  it("conv2d, conv2dBackpropInput and conv2dBackpropFilter over padding, stride, dilation and groups", async () => {
    const b = new GraphBuilder("convs");
    const perOutput: Record<string, CompareOptions> = {};
    CASES.forEach((c, k) => {
      const out = convOut(c);
      const depth = c.w[0] * c.w[1] * c.w[2];
      const x = b.addInput({ name: `x${k}`, type: f32(...c.x) });
      const w = b.addInput({ name: `w${k}`, type: f32(...c.w) });
      const dy = b.addInput({ name: `dy${k}`, type: f32(...out) });
      b.output(`conv${k}`, b.op("conv2d", [x, w], c.attrs));
      b.output(`dx${k}`, b.op("conv2dBackpropInput", [dy, w], { ...c.attrs, inputShape: c.x }));
      b.output(`dw${k}`, b.op("conv2dBackpropFilter", [x, dy], { ...c.attrs, filterShape: c.w }));
      perOutput[`conv${k}`] = { floor: Math.sqrt(depth) };
      perOutput[`dx${k}`] = { floor: Math.sqrt(depth * c.w[3]) };
      perOutput[`dw${k}`] = { floor: Math.sqrt(out[0] * out[1] * out[2]) };
    });
    await expectWgslMatchesInterpreter(b.build(), undefined, { perOutput });
  });

  it("the implicit-GEMM form GPUs run (forced here): conv2d, fusedConv2d and both backward ops", async () => {
    const b = new GraphBuilder("implicit");
    const perOutput: Record<string, CompareOptions> = {};
    // SwiftShader takes ~0.7 s to compile each of these, so two cases: explicit pads with a 3x2
    // kernel and stride [2, 1]; "same" padding with dilation 2.
    [CASES[3], CASES[4]].forEach((c, k) => {
      const out = convOut(c);
      const x = b.addInput({ name: `x${k}`, type: f32(...c.x) });
      const w = b.addInput({ name: `w${k}`, type: f32(...c.w) });
      const dy = b.addInput({ name: `dy${k}`, type: f32(...out) });
      b.output(`conv${k}`, b.op("conv2d", [x, w], c.attrs));
      b.output(`dw${k}`, b.op("conv2dBackpropFilter", [x, dy], { ...c.attrs, filterShape: c.w }));
      b.output(`dx${k}`, b.op("conv2dBackpropInput", [dy, w], { ...c.attrs, inputShape: c.x }));
      perOutput[`conv${k}`] = { floor: Math.sqrt(c.w[0] * c.w[1] * c.w[2]) };
      perOutput[`dw${k}`] = { floor: Math.sqrt(out[0] * out[1] * out[2]) };
      perOutput[`dx${k}`] = { floor: Math.sqrt(c.w[0] * c.w[1] * c.w[2] * c.w[3]) };
    });
    const x = b.addInput({ name: "fx", type: f32(2, 6, 5, 3) });
    const w = b.addInput({ name: "fw", type: f32(3, 3, 3, 8) });
    const bias = b.addInput({ name: "bias", type: f32(8) });
    b.output("fused", b.op("fusedConv2d", [x, w, bias], { padding: "same", epilogue: "add(x0, x1); relu(t0)" }));
    perOutput.fused = { floor: Math.sqrt(27) };
    const g = b.build();
    const passes = emitWgsl(naivePlan(g), { target: { ...DEFAULT_TARGET, workgroupTiles: true } }).passes.forward;
    expect(passes.every((p) => p.code.includes("var<workgroup> As"))).toBe(true);
    await expectWgslMatchesInterpreter(g, undefined, { perOutput, target: { workgroupTiles: true } });
  });

  it("fusedConv2d: bias and activation epilogues", async () => {
    const b = new GraphBuilder("fusedConv");
    const x = b.addInput({ name: "x", type: f32(2, 6, 5, 3) });
    const w = b.addInput({ name: "w", type: f32(3, 3, 3, 8) });
    const bias = b.addInput({ name: "bias", type: f32(8) });
    b.output("relu", b.op("fusedConv2d", [x, w, bias], { padding: "same", epilogue: "add(x0, x1); relu(t0)" }));
    b.output("tanh", b.op("fusedConv2d", [x, w, bias], { stride: [2, 2], epilogue: "add(x0, x1); tanh(t0)" }));
    await expectWgslMatchesInterpreter(b.build(), undefined, { floor: Math.sqrt(27) });
  });
});

describe("pooling", () => {
  it("maxPool2d, avgPool2d and their backward ops: valid, same, explicit pads, overlapping windows", async () => {
    const b = new GraphBuilder("pools");
    const cases: { x: number[]; attrs: Record<string, AttrValue> }[] = [
      { x: [2, 4, 4, 3], attrs: { size: [2, 2], stride: [2, 2] } },
      { x: [1, 5, 7, 2], attrs: { size: [3, 3], stride: [1, 1], padding: "same" } },
      { x: [1, 6, 5, 2], attrs: { size: [3, 2], stride: [2, 1], padding: "explicit", pads: [1, 1, 0, 1] } },
      { x: [2, 7, 7, 4], attrs: { size: [3, 3], stride: [2, 2], padding: "same" } },
    ];
    cases.forEach((c, k) => {
      const x = b.addInput({ name: `x${k}`, type: f32(...c.x) });
      const max = b.op("maxPool2d", [x], c.attrs);
      const avg = b.op("avgPool2d", [x], c.attrs);
      b.output(`max${k}`, max);
      b.output(`avg${k}`, avg);
      b.output(`maxGrad${k}`, b.op("maxPool2dGrad", [x, b.op("exp", [max])], c.attrs));
      b.output(`avgGrad${k}`, b.op("avgPool2dGrad", [avg], { ...c.attrs, inputShape: c.x }));
    });
    // Integer max pooling, and ties: every window of a constant image has its first pixel win.
    const ints = b.addInput({ name: "ints", type: { dtype: "i32", shape: [1, 4, 6, 2] } });
    b.output("maxInt", b.op("maxPool2d", [ints], { size: [2, 3], stride: [2, 3] }));
    const flat = b.addInput({ name: "flat", type: f32(1, 4, 4, 1) });
    const dy = b.addInput({ name: "dyFlat", type: f32(1, 3, 3, 1) });
    b.output("tieGrad", b.op("maxPool2dGrad", [flat, dy], { size: [2, 2], stride: [1, 1] }));
    const g = b.build();
    const { randomInputs } = await import("../../compiler/cli/random-inputs.ts");
    const inputs = { ...randomInputs(g, 0), ints: Array.from({ length: 48 }, (_, i) => (i * 37) % 23 - 11), flat: new Array(16).fill(1.5) };
    // avgPool2dGrad sums a few dy / count terms of size ~0.3 that may cancel: floor 0.1 there.
    const perOutput = Object.fromEntries(cases.map((_, k) => [`avgGrad${k}`, { floor: 0.1 }]));
    await expectWgslMatchesInterpreter(g, inputs, { floor: 1e-3, perOutput });
  });
});
