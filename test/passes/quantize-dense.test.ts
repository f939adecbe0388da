// The quantize-dense pass on hand-written IR: which matmuls become quantize → matmulInteger →
// add (folded i32 bias) → dequantize, which weights stay f32 and why, and the new params that
// replace the f32 weight and bias. The numbers (scales, folded biases) are int8-params.ts's,
// checked against their formulas here too.
import { describe, expect, it } from "vitest";
import type { Graph } from "../../compiler/ir/graph.ts";
import { interpret } from "../../compiler/ir/interpreter.ts";
import { parseGraph } from "../../compiler/ir/parser.ts";
import { printGraph } from "../../compiler/ir/printer.ts";
import { runPass } from "../../compiler/passes/pass.ts";
import { denseLayers, quantizeDense } from "../../compiler/passes/quantize-dense.ts";
import { activationParams, layerTensors, quantizeWeight } from "../../compiler/passes/quantize/int8-params.ts";
import { roundedQuotient } from "../../compiler/ir/ops/quant-kit.ts";

const parse = (body: string): Graph => parseGraph(`graph t {\n${body}\n}`);
const body = (g: Graph) => printGraph(g, { locations: false }).split("\n").slice(1, -2).join("\n");

const MLP = `  input %x: f32[4,8]
  param %a.w: f32[8,16] init=he_normal
  param %a.b: f32[16] init=zeros
  param %b.w: f32[16,3] init=he_normal
  %0:f32[4,16] = matmul %x, %a.w {transposeA=false, transposeB=false}
  %1:f32[4,16] = add %0, %a.b
  %2:f32[4,16] = relu %1
  %3:f32[4,3] = matmul %2, %b.w {transposeA=false, transposeB=false}
  output y = %3`;

describe("quantize-dense", () => {
  it("rewrites matmul + bias into quantize, matmulInteger, the folded i32 bias and dequantize, keeping the readers' ids", () => {
    const act = activationParams(0, 2.55);
    const { graph, stats } = runPass(quantizeDense, parse(MLP), { layers: { "a.w": act, "b.w": activationParams(-1, 1) } });
    expect(body(graph)).toBe(`  input %x: f32[4,8]
  state %a.w/q: i8[8,16] init=zeros
  state %a.w/scale: f32[16] init=zeros
  state %a.w/bias: i32[16] init=zeros
  state %b.w/q: i8[16,3] init=zeros
  state %b.w/scale: f32[3] init=zeros
  state %b.w/bias: i32[3] init=zeros
  %a.w/x_scale:f32[] = const {value=0.009999999776482582, dtype="f32", shape=[]}
  %a.w/x_zero_point:i32[] = const {value=0, dtype="i32", shape=[]}
  %a.w/xq:u8[4,8] = quantize %x, %a.w/x_scale, %a.w/x_zero_point {axis=null, dtype="u8"}
  %a.w/acc:i32[4,16] = matmulInteger %a.w/xq, %a.w/q
  %a.w/acc_bias:i32[4,16] = add %a.w/acc, %a.w/bias
  %a.w/zero:i32[16] = const {value=0, dtype="i32", shape=[16]}
  %1:f32[4,16] = dequantize %a.w/acc_bias, %a.w/scale, %a.w/zero {axis=1}
  %2:f32[4,16] = relu %1
  %b.w/x_scale:f32[] = const {value=0.007843137718737125, dtype="f32", shape=[]}
  %b.w/x_zero_point:i32[] = const {value=127, dtype="i32", shape=[]}
  %b.w/xq:u8[4,16] = quantize %2, %b.w/x_scale, %b.w/x_zero_point {axis=null, dtype="u8"}
  %b.w/acc:i32[4,3] = matmulInteger %b.w/xq, %b.w/q
  %b.w/acc_bias:i32[4,3] = add %b.w/acc, %b.w/bias
  %b.w/zero:i32[3] = const {value=0, dtype="i32", shape=[3]}
  %3:f32[4,3] = dequantize %b.w/acc_bias, %b.w/scale, %b.w/zero {axis=1}
  output y = %3`);
    // f32 [8,16] + [16] + [16,3] out; i8 [8,16], [16,3] and 8 bytes per column in.
    // b.w's input has zero point 127: the ReLU stays, between a dequantize and a quantize.
    expect(stats).toEqual({ "layers-quantized": 2, "layers-requantized": 0, "param-bytes-saved": 4 * (128 + 16 + 48) - (128 + 48 + 8 * 19) });
  });

  it("requantizes a layer straight into the next one through a ReLU when that input's zero point is 0", () => {
    const { graph, stats } = runPass(quantizeDense, parse(MLP), { layers: { "a.w": activationParams(0, 2.55), "b.w": activationParams(0, 1) } });
    expect(body(graph).split("\n").slice(7, 15).join("\n")).toBe(`  %a.w/x_scale:f32[] = const {value=0.009999999776482582, dtype="f32", shape=[]}
  %a.w/x_zero_point:i32[] = const {value=0, dtype="i32", shape=[]}
  %a.w/xq:u8[4,8] = quantize %x, %a.w/x_scale, %a.w/x_zero_point {axis=null, dtype="u8"}
  %a.w/acc:i32[4,16] = matmulInteger %a.w/xq, %a.w/q
  %a.w/acc_bias:i32[4,16] = add %a.w/acc, %a.w/bias
  %a.w/out_zero_point:i32[16] = const {value=0, dtype="i32", shape=[16]}
  %b.w/xq:u8[4,16] = requantize %a.w/acc_bias, %a.w/scale, %a.w/out_zero_point {axis=1, dtype="u8"}
  %b.w/acc:i32[4,3] = matmulInteger %b.w/xq, %b.w/q`);
    expect(graph.nodes.some((n) => n.op === "relu")).toBe(false);
    expect(stats["layers-requantized"]).toBe(1);
  });

  it("quantizes only the layers it is given, and leaves a graph without any as it is", () => {
    const g = parse(MLP);
    const only = runPass(quantizeDense, g, { layers: { "b.w": activationParams(0, 1) } }).graph;
    expect(only.params.map((p) => p.name)).toEqual(["a.w", "a.b", "b.w/q", "b.w/scale", "b.w/bias"]);
    expect(only.nodes.filter((n) => n.op === "matmul").map((n) => n.id)).toEqual(["0"]);
    expect(runPass(quantizeDense, g, { layers: {} }).graph).toBe(g);
  });

  it("keeps f32, with why: skipped, shared, transposed weights and grouped convolutions; a bias read twice is not folded", () => {
    const g = parse(`  input %x: f32[4,8]
  input %img: f32[1,6,6,2]
  param %s.w: f32[8,8] init=he_normal
  param %t.w: f32[8,8] init=he_normal
  param %u.w: f32[8,8] init=he_normal
  param %u.b: f32[8] init=zeros
  param %k: f32[3,3,2,4] init=he_normal
  param %dw: f32[3,3,1,2] init=he_normal
  %0:f32[4,8] = matmul %x, %s.w {transposeA=false, transposeB=false}
  %1:f32[4,8] = matmul %0, %s.w {transposeA=false, transposeB=false}
  %2:f32[4,8] = matmul %1, %t.w {transposeA=false, transposeB=true}
  %3:f32[4,8] = matmul %2, %u.w {transposeA=false, transposeB=false}
  %4:f32[4,8] = add %3, %u.b
  %5:f32[4,8] = add %4, %u.b
  %6:f32[1,4,4,4] = conv2d %img, %k {stride=[1,1], padding="valid"}
  %7:f32[1,4,4,2] = conv2d %img, %dw {stride=[1,1], padding="valid", groups=2}
  output y = %5
  output z = %6
  output v = %7`);
    expect(denseLayers(g, []).kept).toEqual([
      { param: "s.w", reason: "read by more than one node" },
      { param: "t.w", reason: "not a [K, N] weight of an untransposed matmul" },
      { param: "dw", reason: "grouped convolution: only groups = 1 is quantized" },
    ]);
    expect(denseLayers(g, []).layers.map((l) => ({ ...l, conv: l.conv ? "…" : undefined }))).toEqual([
      { op: "matmul", node: "3", x: "2", weight: "u.w", k: 8, n: 8, shape: [8, 8], conv: undefined },
      { op: "conv2d", node: "6", x: "img", weight: "k", k: 18, n: 4, shape: [3, 3, 2, 4], conv: "…" },
    ]);
    expect(denseLayers(g, ["u.w"]).kept.find((k) => k.param === "u.w")).toEqual({ param: "u.w", reason: "--quantize-skip" });
  });
});

describe("int8-params", () => {
  it("scales weights per output column to ±127 and folds the bias and the activation zero point into i32", () => {
    // Column 0 spans ±1.27 (scale 0.01), column 1 is zero (scale f32 epsilon).
    const w = [1.27, 0, -0.635, 0, 0.004, 0];
    const q = quantizeWeight(w, 3, 2);
    expect([...q.scales]).toEqual([Math.fround(0.01), 2 ** -23]);
    expect([...q.q]).toEqual([127, 0, -64, 0, 0, 0]); // -63.5 rounds half to even
    const act = activationParams(-0.5, 2.05);
    expect(act).toEqual({ dtype: "u8", scale: Math.fround(Math.fround(2.55) / 255), zeroPoint: 50, lo: -0.5, hi: Math.fround(2.05) });
    const t = layerTensors(q, 3, act, [0.1, 1]);
    expect([...t.scale]).toEqual([Math.fround(act.scale * Math.fround(0.01)), Math.fround(act.scale * 2 ** -23)]);
    // bias / (sx * sw) rounded, minus zx * (127 - 64 + 0).
    expect(t.bias[0]).toBe(Math.round(0.1 / t.scale[0]) - 50 * 63);
  });

  it("a quantized layer computes x @ W + b within one activation and one weight step", () => {
    const g = parse(MLP);
    const params = { "a.w": Array.from({ length: 128 }, (_, i) => Math.sin(i) / 4), "a.b": Array.from({ length: 16 }, (_, i) => i / 20), "b.w": Array.from({ length: 48 }, (_, i) => Math.cos(i)) };
    const x = Array.from({ length: 32 }, (_, i) => (i % 9) / 4);
    const act = activationParams(0, 2);
    const quantized = runPass(quantizeDense, g, { layers: { "a.w": act } }).graph;
    const w = quantizeWeight(params["a.w"], 8, 16);
    const t = layerTensors(w, 8, act, params["a.b"]);
    const f32 = interpret(g, { x }, { params, keepValues: true }).values!.get("1")!.data;
    const int8 = interpret(quantized, { x }, { params: { "b.w": params["b.w"], "a.w/q": w.q, "a.w/scale": t.scale, "a.w/bias": t.bias }, keepValues: true }).values!.get("1")!.data;
    for (let i = 0; i < f32.length; i++) expect(Math.abs(int8[i] - f32[i])).toBeLessThan(8 * (act.scale * 0.25 + Math.max(...w.scales) * 2));
  });
});

const CNN = `  input %x: f32[2,5,5,3]
  param %c.w: f32[3,3,3,4] init=he_normal
  param %c.b: f32[4] init=zeros
  param %d.w: f32[2,2,4,6] init=he_normal
  %0:f32[2,5,5,4] = conv2d %x, %c.w {stride=[1,1], padding="same"}
  %1:f32[2,5,5,4] = add %0, %c.b
  %2:f32[2,5,5,4] = relu %1
  %3:f32[2,2,2,6] = conv2d %2, %d.w {stride=[2,2], padding="valid"}
  output y = %3`;

describe("quantize-dense on convolutions", () => {
  const params = {
    "c.w": Array.from({ length: 108 }, (_, i) => Math.sin(i * 1.3) / 3),
    "c.b": [0.1, -0.2, 0.3, 0.05],
    "d.w": Array.from({ length: 96 }, (_, i) => Math.cos(i * 0.7) / 2),
  };
  // Inputs in [-1, 1.5]: a zero point far from 0, so padding at 0 instead would show.
  const x = Array.from({ length: 150 }, (_, i) => ((i * 37) % 101) / 40 - 1);

  it("rewrites conv2d + bias into quantize, convInteger (zero point as attribute), the i32 bias and dequantize; ReLU merges into a requantize", () => {
    const a = activationParams(-1, 1.5);
    const { graph, stats } = runPass(quantizeDense, parse(CNN), { layers: { "c.w": a, "d.w": activationParams(0, 3) } });
    expect(stats["layers-quantized"]).toBe(2);
    expect(stats["layers-requantized"]).toBe(1);
    const conv = graph.nodes.filter((n) => n.op === "convInteger");
    expect(conv.map((n) => [n.id, n.attrs.inputZeroPoint, n.attrs.padding])).toEqual([["c.w/acc", a.zeroPoint, "same"], ["d.w/acc", 0, "valid"]]);
    expect(a.zeroPoint).toBeGreaterThan(0);
    expect(graph.params.find((p) => p.name === "c.w/q")!.type).toEqual({ dtype: "i8", shape: [3, 3, 3, 4] });
    expect(graph.nodes.map((n) => n.op)).not.toContain("relu");
  });

  it("requantizes through ReLU, max pool and reshape: the pool on the i32 accumulator, the reshape on the u8 result", () => {
    const g = parse(`  input %x: f32[2,4,4,3]
  param %c.w: f32[3,3,3,4] init=he_normal
  param %c.b: f32[4] init=zeros
  param %f.w: f32[16,5] init=he_normal
  %0:f32[2,4,4,4] = conv2d %x, %c.w {stride=[1,1], padding="same"}
  %1:f32[2,4,4,4] = add %0, %c.b
  %2:f32[2,4,4,4] = relu %1
  %3:f32[2,2,2,4] = maxPool2d %2 {size=[2,2], stride=[2,2], padding="valid"}
  %4:f32[2,16] = reshape %3 {shape=[2,16]}
  %5:f32[2,5] = matmul %4, %f.w {transposeA=false, transposeB=false}
  output y = %5`);
    const layers = { "c.w": activationParams(-1, 1), "f.w": activationParams(0, 4) };
    const { graph, stats } = runPass(quantizeDense, g, { layers });
    expect(stats["layers-requantized"]).toBe(1);
    expect(body(graph).split("\n").filter((l) => / = (maxPool2d|add|requantize|reshape|relu|quantize|dequantize) /.test(l)).map((l) => l.replace(/ \{.*/, ""))).toEqual([
      "  %c.w/xq:u8[2,4,4,3] = quantize %x, %c.w/x_scale, %c.w/x_zero_point",
      "  %c.w/acc_pool:i32[2,2,2,4] = maxPool2d %c.w/acc",
      "  %c.w/acc_bias:i32[2,2,2,4] = add %c.w/acc_pool, %c.w/bias",
      "  %c.w/out_q:u8[2,2,2,4] = requantize %c.w/acc_bias, %c.w/scale, %c.w/out_zero_point",
      "  %f.w/xq:u8[2,16] = reshape %c.w/out_q",
      "  %f.w/acc_bias:i32[2,5] = add %f.w/acc, %f.w/bias",
      "  %5:f32[2,5] = dequantize %f.w/acc_bias, %f.w/scale, %f.w/zero",
    ]);
    // A ReLU before a consumer whose zero point is not 0 keeps the layers apart.
    expect(runPass(quantizeDense, g, { layers: { ...layers, "f.w": activationParams(-1, 4) } }).stats["layers-requantized"]).toBe(0);
  });

  it("equals the f32 convolution of the quantized input and weights (padding included) up to f32 rounding", () => {
    const a = activationParams(-1, 1.5);
    const g = parse(CNN);
    const quantized = runPass(quantizeDense, g, { layers: { "c.w": a } }).graph;
    const w = quantizeWeight(params["c.w"], 27, 4);
    const t = layerTensors(w, 27, a, params["c.b"], true);
    const int8 = interpret(quantized, { x }, { params: { "d.w": params["d.w"], "c.w/q": w.q, "c.w/scale": t.scale, "c.w/bias": t.bias }, keepValues: true }).values!.get("1")!.data;
    // The same layer in f32 on the dequantized input and weights, with the rounded bias: the
    // padding is 0 there, the zero point in the integer one.
    const xdq = x.map((v) => (Math.min(255, Math.max(0, roundedQuotient(v, a.scale) + a.zeroPoint)) - a.zeroPoint) * a.scale);
    const wdq = Array.from(w.q, (q, i) => q * w.scales[i % 4]);
    const bias = Array.from(t.bias, (b, j) => b * t.scale[j]);
    const want = interpret(g, { x: xdq }, { params: { ...params, "c.w": wdq, "c.b": bias }, keepValues: true }).values!.get("1")!.data;
    for (let i = 0; i < want.length; i++) expect(Math.abs(int8[i] - want[i])).toBeLessThan(1e-5 * Math.max(1, Math.abs(want[i])));
    // and the f32 layer itself within a few steps.
    const f32 = interpret(g, { x }, { params, keepValues: true }).values!.get("1")!.data;
    for (let i = 0; i < f32.length; i++) expect(Math.abs(int8[i] - f32[i])).toBeLessThan(27 * (a.scale * 0.5 + Math.max(...w.scales) * 1.5));
  });
});

