// The quantize-codebook pass on hand-written IR: which matmuls become codebookMatmul (same id, the
// bias add and everything after unchanged), conv2d to codebookConv2d, the new u8 index and f32
// table params in the weight's place, what stays f32 and why (a skipped weight, a transposed one,
// a weight read twice, a grouped convolution); and through the driver, the codebook graph computes x · decode(W) as the f32 graph
// with the decoded weights does.
import { describe, expect, it } from "vitest";
import { codebookModel } from "../../compiler/driver/codebook.ts";
import type { Graph } from "../../compiler/ir/graph.ts";
import { interpret } from "../../compiler/ir/interpreter.ts";
import { decodeCodebook } from "../../compiler/ir/ops/codebook.ts";
import { parseGraph } from "../../compiler/ir/parser.ts";
import { printGraph } from "../../compiler/ir/printer.ts";
import { runPass } from "../../compiler/passes/pass.ts";
import { codebookLayers, quantizeCodebook } from "../../compiler/passes/quantize-codebook.ts";

const parse = (body: string): Graph => parseGraph(`graph t {\n${body}\n}`);
const body = (g: Graph) => printGraph(g, { locations: false }).split("\n").slice(1, -2).join("\n");

const MLP = `  input %x: f32[4,8]
  param %a.w: f32[8,15] init=he_normal
  param %a.b: f32[15] init=zeros
  param %b.w: f32[15,3] init=he_normal
  %0:f32[4,15] = matmul %x, %a.w {transposeA=false, transposeB=false}
  %1:f32[4,15] = add %0, %a.b
  %2:f32[4,15] = relu %1
  %3:f32[4,3] = matmul %2, %b.w {transposeA=false, transposeB=false}
  output y = %3`;

describe("quantize-codebook", () => {
  it("rewrites each chosen matmul to codebookMatmul in place, its weight to indices and a table", () => {
    const { graph, stats } = runPass(quantizeCodebook, parse(MLP), { layers: { "a.w": 4, "b.w": 6 } });
    expect(body(graph)).toBe(`  input %x: f32[4,8]
  state %a.w/indices: u8[8,8] init=zeros
  state %a.w/codebook: f32[16] init=zeros
  param %a.b: f32[15] init=zeros
  state %b.w/indices: u8[15,3] init=zeros
  state %b.w/codebook: f32[64] init=zeros
  %0:f32[4,15] = codebookMatmul %x, %a.w/indices, %a.w/codebook {bits=4, n=15}
  %1:f32[4,15] = add %0, %a.b
  %2:f32[4,15] = relu %1
  %3:f32[4,3] = codebookMatmul %2, %b.w/indices, %b.w/codebook {bits=6, n=3}
  output y = %3`);
    expect(stats).toEqual({ "layers-codebooked": 2, "param-bytes-saved": (8 * 15 * 4 - 64 - 64) + (15 * 3 * 4 - 45 - 256) });
  });

  it("rewrites a convolution to codebookConv2d with its attributes, window and output channels", () => {
    const g = parse(`  input %img: f32[1,6,6,2]
  param %c.w: f32[3,3,2,5] init=he_normal
  %0:f32[1,3,3,5] = conv2d %img, %c.w {stride=[2,2], padding="same", pads=[0,0,0,0], dilation=[1,1], groups=1}
  output y = %0`);
    const { graph } = runPass(quantizeCodebook, g, { layers: { "c.w": 4 } });
    expect(body(graph)).toBe(`  input %img: f32[1,6,6,2]
  state %c.w/indices: u8[18,3] init=zeros
  state %c.w/codebook: f32[16] init=zeros
  %0:f32[1,3,3,5] = codebookConv2d %img, %c.w/indices, %c.w/codebook {stride=[2,2], padding="same", pads=[0,0,0,0], dilation=[1,1], groups=1, bits=4, kernel=[3,3], n=5}
  output y = %0`);
  });

  it("leaves skipped, transposed and shared weights and grouped convolutions f32, saying why", () => {
    const g = parse(`  input %x: f32[4,8]
  input %img: f32[1,4,4,2]
  param %a.w: f32[8,8] init=he_normal
  param %t.w: f32[8,8] init=he_normal
  param %s.w: f32[8,8] init=he_normal
  param %c.w: f32[3,3,1,4] init=he_normal
  %0:f32[4,8] = matmul %x, %a.w {transposeA=false, transposeB=false}
  %1:f32[4,8] = matmul %0, %t.w {transposeA=false, transposeB=true}
  %2:f32[4,8] = matmul %1, %s.w {transposeA=false, transposeB=false}
  %3:f32[4,8] = matmul %2, %s.w {transposeA=false, transposeB=false}
  %4:f32[1,4,4,4] = conv2d %img, %c.w {padding="same", groups=2}
  output y = %3
  output z = %4`);
    const { layers, kept } = codebookLayers(g, ["a.w"]);
    expect(layers).toEqual([]);
    expect(kept).toEqual([
      { param: "a.w", reason: "--quantize-skip" },
      { param: "t.w", reason: "not a [K, N] weight of an untransposed matmul" },
      { param: "s.w", reason: "read by more than one node" },
      { param: "c.w", reason: "grouped convolution: only groups = 1 is quantized" },
    ]);
  });

  it("through the driver: the codebook graph computes what the f32 graph does with the decoded weights", () => {
    const g = parse(MLP);
    const cb = codebookModel(g, { bits: 4, seed: 5 });
    expect(cb.removed).toEqual(["a.w", "b.w"]);
    const { graph } = runPass(quantizeCodebook, g, { layers: cb.layers });
    const x = Float64Array.from({ length: 32 }, (_, i) => Math.fround(Math.sin(i)));
    const bias = Float64Array.from({ length: 15 }, (_, i) => Math.fround(i / 100));
    const params: Record<string, ArrayLike<number>> = { "a.b": bias };
    for (const [n, t] of Object.entries(cb.tensors)) params[n] = t.data;
    const got = interpret(graph, { x }, { params }).outputs.y.data;
    const decoded = (w: string, k: number, n: number) => decodeCodebook(cb.tensors[`${w}/indices`].data, cb.tensors[`${w}/codebook`].data, k, n, 4);
    const want = interpret(g, { x }, { params: { "a.b": bias, "a.w": decoded("a.w", 8, 15), "b.w": decoded("b.w", 15, 3) } }).outputs.y.data;
    expect(Array.from(got)).toEqual(Array.from(want));
    expect(cb.report.quantized.map((q) => [q.weight, q.bits, q.converged])).toEqual([["a.w", 4, true], ["b.w", 4, true]]);
  });
});
