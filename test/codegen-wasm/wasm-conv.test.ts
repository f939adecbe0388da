// The WASM convolution kernels (kernels/conv*.ts) against the reference interpreter: conv2d,
// conv2dBackpropInput and conv2dBackpropFilter over every strategy of conv-plan.ts (pointwise
// GEMM, im2col + GEMM, direct depthwise, direct forward for few input channels, padded direct for
// stride-1 convolutions with few channels, Winograd for the 3x3 ones of those with 4..32 channels) and the attributes the reference tests use: "valid",
// "same" (odd padding at the end) and explicit pads, strides, dilation, groups, depthwise with
// and without a channel multiplier, non-square kernels, and images big enough to need several
// column-buffer blocks.
//
// Inputs are N(0, 1), so every result is a sum of n products with spread sqrt(n); the comparison
// floor is that spread, which makes the tolerance absolute (1e-4 * sqrt(n)) where sums cancel.

import { describe, expect, it } from "vitest";
import { usesDirectConv } from "../../compiler/codegen-wasm/kernels/conv-direct.ts";
import { convPlan, type ConvPlan, type ConvStrategy } from "../../compiler/codegen-wasm/kernels/conv-plan.ts";
import { usesWinogradConv } from "../../compiler/codegen-wasm/kernels/conv-winograd.ts";
import { usesWinogradFilterGradient } from "../../compiler/codegen-wasm/kernels/conv-winograd-filter.ts";
import { registerEpilogue, usesPaddedConv, type PaddedConvOp } from "../../compiler/codegen-wasm/kernels/conv-padded.ts";
import { completeAttrs, type AttrValue } from "../../compiler/ir/op-def.ts";
import { getOp } from "../../compiler/ir/ops.ts";
import { expectKernelsMatch, runOnDirtyMemory } from "../support/wasm-contraction-harness.ts";
import { GraphBuilder } from "../../compiler/ir/builder.ts";
import { randomInputs } from "../../compiler/cli/random-inputs.ts";
import { f32, opGraph } from "../support/wasm-reduction-kit.ts";

interface ConvCase {
  readonly name: string;
  readonly x: number[];
  readonly w: number[];
  readonly attrs: Record<string, AttrValue>;
  readonly strategy: ConvStrategy;
}

const CASES: ConvCase[] = [
  { name: "1x1 pointwise", x: [2, 5, 6, 7], w: [1, 1, 7, 9], attrs: {}, strategy: "pointwise" },
  { name: "1x1 pointwise, 2 groups", x: [1, 4, 5, 6], w: [1, 1, 3, 10], attrs: { groups: 2 }, strategy: "pointwise" },
  { name: "1x1 stride 2 (subsampling im2col)", x: [1, 7, 6, 5], w: [1, 1, 5, 3], attrs: { stride: [2, 2] }, strategy: "im2col" },
  { name: "3x3 same", x: [1, 4, 4, 2], w: [3, 3, 2, 3], attrs: { padding: "same" }, strategy: "im2col" },
  { name: "3x3 valid, 16 channels (whole kernel rows copied at once)", x: [2, 6, 7, 16], w: [3, 3, 16, 12], attrs: {}, strategy: "im2col" },
  { name: "3x3 stride 2 same on an even size (padding at the end)", x: [2, 8, 6, 3], w: [3, 3, 3, 5], attrs: { stride: [2, 2], padding: "same" }, strategy: "im2col" },
  { name: "5x5 stride 2 same on an odd size", x: [1, 9, 7, 4], w: [5, 5, 4, 6], attrs: { stride: [2, 2], padding: "same" }, strategy: "im2col" },
  { name: "explicit pads", x: [1, 5, 6, 3], w: [3, 2, 3, 4], attrs: { padding: "explicit", pads: [1, 2, 0, 1], stride: [2, 1] }, strategy: "im2col" },
  { name: "dilation 2", x: [1, 7, 8, 3], w: [3, 3, 3, 4], attrs: { dilation: [2, 2], padding: "same" }, strategy: "im2col" },
  { name: "dilation 1x3, 1x3 kernel", x: [1, 3, 9, 2], w: [1, 3, 2, 5], attrs: { dilation: [1, 3] }, strategy: "im2col" },
  { name: "2 groups, 3x3 same", x: [2, 6, 5, 4], w: [3, 3, 2, 6], attrs: { groups: 2, padding: "same" }, strategy: "im2col" },
  { name: "4 groups of 5 channels", x: [1, 5, 5, 20], w: [3, 3, 5, 8], attrs: { groups: 4, padding: "same" }, strategy: "im2col" },
  { name: "depthwise 3x3 same", x: [2, 5, 6, 21], w: [3, 3, 1, 21], attrs: { groups: 21, padding: "same" }, strategy: "depthwise" },
  { name: "depthwise 3x3 stride 2 dilated", x: [1, 9, 9, 5], w: [3, 3, 1, 5], attrs: { groups: 5, stride: [2, 2], dilation: [2, 1], padding: "same" }, strategy: "depthwise" },
  { name: "depthwise 5x5 explicit pads, 36 channels", x: [1, 6, 7, 36], w: [5, 5, 1, 36], attrs: { groups: 36, padding: "explicit", pads: [2, 2, 1, 3] }, strategy: "depthwise" },
  { name: "depthwise with a channel multiplier of 2", x: [1, 5, 5, 3], w: [3, 3, 1, 6], attrs: { groups: 3, padding: "same" }, strategy: "im2col" },
  { name: "several column blocks (64 channels)", x: [2, 10, 10, 64], w: [3, 3, 64, 8], attrs: { padding: "same" }, strategy: "im2col" },
  { name: "several column blocks (one channel)", x: [2, 64, 64, 1], w: [3, 3, 1, 4], attrs: { padding: "same" }, strategy: "im2col" },
  { name: "a 1x1 output", x: [3, 3, 3, 2], w: [3, 3, 2, 5], attrs: {}, strategy: "im2col" },
  // Forward conv2d direct (conv-direct.ts): <= 4 input channels, output channels a multiple of 4.
  { name: "direct: 1 -> 8 channels, 3x3 same (the CNN's first layer)", x: [3, 9, 7, 1], w: [3, 3, 1, 8], attrs: { padding: "same" }, strategy: "im2col" },
  { name: "direct: 3 -> 16 channels, stride 2 same on an even size", x: [2, 8, 10, 3], w: [3, 3, 3, 16], attrs: { stride: [2, 2], padding: "same" }, strategy: "im2col" },
  { name: "direct: 4 -> 32 channels, dilated 5x3 valid", x: [1, 11, 9, 4], w: [5, 3, 4, 32], attrs: { dilation: [2, 1] }, strategy: "im2col" },
  { name: "direct: 2 -> 4 channels, explicit pads", x: [2, 5, 6, 2], w: [2, 3, 2, 4], attrs: { padding: "explicit", pads: [1, 0, 2, 1] }, strategy: "im2col" },
  // Padded direct kernels (conv-padded.ts): stride 1, undilated, one group, few channels.
  { name: "padded: 8 -> 16 channels, 3x3 same (the CNN's second layer)", x: [2, 14, 14, 8], w: [3, 3, 8, 16], attrs: { padding: "same" }, strategy: "im2col" },
  { name: "padded: 4 -> 20 channels, 3x3 same (two channel chunks, a 5-pixel row)", x: [1, 5, 5, 4], w: [3, 3, 4, 20], attrs: { padding: "same" }, strategy: "im2col" },
  { name: "padded: 12 -> 32 channels, 5x3 explicit pads", x: [2, 6, 9, 12], w: [5, 3, 12, 32], attrs: { padding: "explicit", pads: [2, 1, 0, 2] }, strategy: "im2col" },
  { name: "padded: 3 -> 8 channels, 2x2 valid (read in place)", x: [1, 5, 6, 3], w: [2, 2, 3, 8], attrs: {}, strategy: "im2col" },
  { name: "padded: 16 -> 4 channels, 3x3 same (8-pixel blocks and a tail)", x: [1, 4, 11, 16], w: [3, 3, 16, 4], attrs: { padding: "same" }, strategy: "im2col" },
  // Winograd F(2x2, 3x3) and F(3x3, 2x2) (conv-winograd*.ts): 3x3 padded-kernel convolutions with 4..32 channels (multiples of 4) and even outputs.
  { name: "winograd: 4 -> 8 channels, 3x3 same (the channel-pruned CNN's second layer)", x: [2, 14, 14, 4], w: [3, 3, 4, 8], attrs: { padding: "same" }, strategy: "im2col" },
  { name: "winograd: 8 -> 4 channels, 3x3 same (one f32x4 of output channels)", x: [1, 6, 10, 8], w: [3, 3, 8, 4], attrs: { padding: "same" }, strategy: "im2col" },
  { name: "winograd: 16 -> 8 channels, 3x3 valid (read in place; 3 tiles a row and a tail block)", x: [2, 10, 8, 16], w: [3, 3, 16, 8], attrs: {}, strategy: "im2col" },
  { name: "winograd: 8 -> 16 channels on 28x28 (filter gradient in groups of tile rows)", x: [1, 28, 28, 8], w: [3, 3, 8, 16], attrs: { padding: "same" }, strategy: "im2col" },
  { name: "winograd: 12 -> 32 channels, explicit pads (two output chunks)", x: [1, 6, 8, 12], w: [3, 3, 12, 32], attrs: { padding: "explicit", pads: [1, 1, 2, 0] }, strategy: "im2col" },
  { name: "winograd not taken: an odd output (8 -> 8 channels, 7x9 same)", x: [1, 7, 9, 8], w: [3, 3, 8, 8], attrs: { padding: "same" }, strategy: "im2col" },
];

/** Which ops of a case run the padded direct kernel (the rest: the strategies above). */
const PADDED: Record<string, readonly PaddedConvOp[]> = {
  "3x3 valid, 16 channels (whole kernel rows copied at once)": ["conv2d", "conv2dBackpropInput", "conv2dBackpropFilter"],
  "several column blocks (one channel)": ["conv2d", "conv2dBackpropFilter"],
  "direct: 1 -> 8 channels, 3x3 same (the CNN's first layer)": ["conv2d", "conv2dBackpropFilter"],
  "direct: 2 -> 4 channels, explicit pads": ["conv2d", "conv2dBackpropFilter"],
  "padded: 8 -> 16 channels, 3x3 same (the CNN's second layer)": ["conv2d", "conv2dBackpropInput", "conv2dBackpropFilter"],
  "padded: 4 -> 20 channels, 3x3 same (two channel chunks, a 5-pixel row)": ["conv2d", "conv2dBackpropInput", "conv2dBackpropFilter"],
  "padded: 12 -> 32 channels, 5x3 explicit pads": ["conv2d", "conv2dBackpropInput", "conv2dBackpropFilter"],
  "padded: 3 -> 8 channels, 2x2 valid (read in place)": ["conv2d", "conv2dBackpropFilter"],
  "padded: 16 -> 4 channels, 3x3 same (8-pixel blocks and a tail)": ["conv2d", "conv2dBackpropInput", "conv2dBackpropFilter"],
  "winograd: 4 -> 8 channels, 3x3 same (the channel-pruned CNN's second layer)": ["conv2d", "conv2dBackpropInput", "conv2dBackpropFilter"],
  "winograd: 8 -> 4 channels, 3x3 same (one f32x4 of output channels)": ["conv2d", "conv2dBackpropInput", "conv2dBackpropFilter"],
  "winograd: 16 -> 8 channels, 3x3 valid (read in place; 3 tiles a row and a tail block)": ["conv2d", "conv2dBackpropInput", "conv2dBackpropFilter"],
  "winograd: 8 -> 16 channels on 28x28 (filter gradient in groups of tile rows)": ["conv2d", "conv2dBackpropInput", "conv2dBackpropFilter"],
  "winograd: 12 -> 32 channels, explicit pads (two output chunks)": ["conv2d", "conv2dBackpropInput", "conv2dBackpropFilter"],
  "winograd not taken: an odd output (8 -> 8 channels, 7x9 same)": ["conv2d", "conv2dBackpropInput", "conv2dBackpropFilter"],
};

/** Which of those run the Winograd kernels instead (conv-winograd.ts, conv-winograd-filter.ts). */
const WINOGRAD: Record<string, readonly PaddedConvOp[]> = {
  "padded: 8 -> 16 channels, 3x3 same (the CNN's second layer)": ["conv2d", "conv2dBackpropInput", "conv2dBackpropFilter"],
  "winograd: 4 -> 8 channels, 3x3 same (the channel-pruned CNN's second layer)": ["conv2d", "conv2dBackpropInput", "conv2dBackpropFilter"],
  "winograd: 8 -> 4 channels, 3x3 same (one f32x4 of output channels)": ["conv2d", "conv2dBackpropInput", "conv2dBackpropFilter"],
  "winograd: 16 -> 8 channels, 3x3 valid (read in place; 3 tiles a row and a tail block)": ["conv2d", "conv2dBackpropInput", "conv2dBackpropFilter"],
  "winograd: 8 -> 16 channels on 28x28 (filter gradient in groups of tile rows)": ["conv2d", "conv2dBackpropInput", "conv2dBackpropFilter"],
  "winograd: 12 -> 32 channels, explicit pads (two output chunks)": ["conv2d", "conv2dBackpropInput", "conv2dBackpropFilter"],
};

const usesWinograd = (op: PaddedConvOp, plan: ConvPlan) => (op === "conv2dBackpropFilter" ? usesWinogradFilterGradient(plan) : usesWinogradConv(op, plan));

/** The cases whose forward conv2d fits the direct kernel (checked below against usesDirectConv; the padded kernel goes first where it applies). */
const DIRECT = new Set(["explicit pads", "dilation 2", "several column blocks (one channel)",
  "padded: 4 -> 20 channels, 3x3 same (two channel chunks, a 5-pixel row)", "padded: 3 -> 8 channels, 2x2 valid (read in place)",
  "winograd: 4 -> 8 channels, 3x3 same (the channel-pruned CNN's second layer)", ...CASES.filter((c) => c.name.startsWith("direct:")).map((c) => c.name)]);

function convOutShape(c: ConvCase): number[] {
  const op = getOp("conv2d");
  return [...op.infer([f32(...c.x), f32(...c.w)], completeAttrs(op, c.attrs)).shape];
}

describe("convolutions on the WASM backend", () => {
  for (const c of CASES) {
    const out = convOutShape(c);
    const depth = c.w[0] * c.w[1] * c.w[2];
    const pixels = out[0] * out[1] * out[2];
    it(`plans ${c.name} as ${c.strategy}${DIRECT.has(c.name) ? " (forward direct)" : ""}`, () => {
      const plan = convPlan(c.x, c.w, completeAttrs(getOp("conv2d"), c.attrs));
      expect(plan.strategy).toBe(c.strategy);
      expect(usesDirectConv(plan)).toBe(DIRECT.has(c.name));
      const ops: PaddedConvOp[] = ["conv2d", "conv2dBackpropInput", "conv2dBackpropFilter"];
      expect(ops.filter((op) => usesPaddedConv(op, plan))).toEqual(PADDED[c.name] ?? []);
      expect(ops.filter((op) => usesWinograd(op, plan))).toEqual(WINOGRAD[c.name] ?? []);
    });
    it(`conv2d: ${c.name}`, async () => {
      await expectKernelsMatch(opGraph("conv2d", { x: f32(...c.x), w: f32(...c.w) }, c.attrs), undefined, { floor: Math.sqrt(depth) });
    });
    it(`conv2dBackpropInput: ${c.name}`, async () => {
      const g = opGraph("conv2dBackpropInput", { dy: f32(...out), w: f32(...c.w) }, { ...c.attrs, inputShape: c.x });
      await expectKernelsMatch(g, undefined, { floor: Math.sqrt(depth * c.w[3]) });
    });
    it(`conv2dBackpropFilter: ${c.name}`, async () => {
      const g = opGraph("conv2dBackpropFilter", { x: f32(...c.x), dy: f32(...out) }, { ...c.attrs, filterShape: c.w });
      await expectKernelsMatch(g, undefined, { floor: Math.sqrt(pixels) });
    });
  }

  it("splits big images into several column blocks", () => {
    const c = CASES.find((k) => k.name.startsWith("several column blocks (64"))!;
    const plan = convPlan(c.x, c.w, completeAttrs(getOp("conv2d"), c.attrs));
    expect(plan.pixels).toBeGreaterThan(plan.blockRows);
  });

  it("gives a filter gradient of zeros for an empty batch", async () => {
    const g = opGraph("conv2dBackpropFilter", { x: f32(0, 4, 4, 2), dy: f32(0, 4, 4, 3) }, { padding: "same", filterShape: [3, 3, 2, 3] });
    const { actual } = await expectKernelsMatch(g, { x: [], dy: [] });
    expect([...actual.y.data]).toEqual(new Array(54).fill(0));
  });

  // A fusedConv2d that the padded kernel runs applies a bias-like epilogue to its registers before
  // storing (conv-padded.ts): the same f32 operations as conv2d, then the epilogue's ops, each
  // rounded as the unfused kernels round. An epilogue operand of another shape (a residual) runs
  // as its own pass over the output, and so does a conv the padded kernel does not take.
  for (const c of [
    { name: "a bias and relu (in registers)", x: [2, 9, 7, 8], w: [3, 3, 8, 16], extra: [16], body: "add(x0, x1); relu(t0)" },
    { name: "a bias and relu on the Winograd kernel (in registers)", x: [2, 8, 6, 8], w: [3, 3, 8, 16], extra: [16], body: "add(x0, x1); relu(t0)" },
    { name: "a [1,1,1,O] scale and a scalar shift (in registers)", x: [1, 6, 5, 3], w: [3, 3, 3, 8], extra: [1, 1, 1, 8], body: "mul(x0, x1); add(t0, 0.5)" },
    { name: "a residual of the output's shape (its own pass)", x: [2, 5, 6, 4], w: [3, 3, 4, 4], extra: [2, 5, 6, 4], body: "add(x0, x1); relu(t0)" },
    { name: "a bias on a strided conv (im2col, its own pass)", x: [1, 8, 8, 4], w: [3, 3, 4, 8], extra: [8], body: "add(x0, x1)", stride: [2, 2] },
  ]) {
    it(`fusedConv2d with ${c.name}: the unfused kernels' result, bit for bit`, async () => {
      const attrs = { padding: "same", ...(c.stride ? { stride: c.stride } : {}) };
      const operands = { x: f32(...c.x), w: f32(...c.w), e: f32(...c.extra) };
      const fused = opGraph("fusedConv2d", operands, { ...attrs, epilogue: c.body });
      const b = new GraphBuilder("unfused");
      for (const [name, type] of Object.entries(operands)) b.addInput({ name, type });
      const conv = b.op("conv2d", ["x", "w"], attrs);
      const [first, second] = c.body.split("; ");
      const t0 = first.startsWith("add") ? b.op("add", [conv, "e"]) : b.op("mul", [conv, "e"]);
      const half = () => b.op("const", [], { value: 0.5, dtype: "f32", shape: [] });
      b.output("y", second === undefined ? t0 : second.startsWith("relu") ? b.op("relu", [t0]) : b.op("add", [t0, half()]));
      const unfused = b.build();
      const plan = convPlan(c.x, c.w, completeAttrs(getOp("conv2d"), attrs));
      const out = { dtype: "f32" as const, shape: convOutShape({ name: c.name, x: c.x, w: c.w, attrs, strategy: "im2col" }) };
      const inRegisters = usesPaddedConv("conv2d", plan) && registerEpilogue({ fn: () => 0, vector: true, extras: [{ offset: 0, type: operands.e }] }, out) !== undefined;
      expect(inRegisters).toBe(c.name.endsWith("(in registers)"));
      expect(usesWinogradConv("conv2d", plan)).toBe(c.name.includes("Winograd"));
      const inputs = randomInputs(fused, 3);
      const a = await runOnDirtyMemory(fused, inputs, {});
      const u = await runOnDirtyMemory(unfused, inputs, {});
      expect(Array.from(a.y.data)).toEqual(Array.from(u.y.data));
      await expectKernelsMatch(fused, inputs, { floor: Math.sqrt(c.w[0] * c.w[1] * c.w[2]) });
    });
  }
});
