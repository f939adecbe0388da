// The sparsify pass on hand-written IR (docs/COMPRESSION.md "Structured sparsity"): removed
// channels leave the producer's weight columns, its bias, a batch norm's params and running
// statistics, pooling and a flatten, and the consumer's weight rows (every row q*C + c of a flat
// view, in the flattened order) or input channels; channel groups join through a residual add and
// stop at what they cannot shrink (a graph output, a concat, a shared weight).
import { describe, expect, it } from "vitest";
import type { Graph } from "../../compiler/ir/graph.ts";
import { parseGraph } from "../../compiler/ir/parser.ts";
import { printGraph } from "../../compiler/ir/printer.ts";
import { runPass } from "../../compiler/passes/pass.ts";
import { sparseParamSlices, sparsify } from "../../compiler/passes/sparsify.ts";
import { channelGroups } from "../../compiler/passes/sparsify/channel-groups.ts";

const parse = (body: string): Graph => parseGraph(`graph t {\n${body}\n}`);
const body = (g: Graph) => printGraph(g, { locations: false }).split("\n").slice(1, -2).join("\n");

const CNN = `  input %x: f32[2,4,4,1]
  param %c.w: f32[3,3,1,4] init=he_normal
  param %c.b: f32[4] init=zeros
  param %f.w: f32[16,3] init=he_normal
  param %f.b: f32[3] init=zeros
  %0:f32[2,4,4,4] = conv2d %x, %c.w {stride=[1,1], padding="same", pads=[0,0,0,0], dilation=[1,1], groups=1}
  %1:f32[2,4,4,4] = add %0, %c.b
  %2:f32[2,4,4,4] = relu %1
  %3:f32[2,2,2,4] = maxPool2d %2 {size=[2,2], stride=[2,2], padding="valid", pads=[0,0,0,0]}
  %4:f32[2,16] = reshape %3 {shape=[2,16]}
  %5:f32[2,3] = matmul %4, %f.w {transposeA=false, transposeB=false}
  %6:f32[2,3] = add %5, %f.b
  output y = %6`;

describe("sparsify", () => {
  it("shrinks a conv, its bias, ReLU, pooling and flatten, and the dense layer's rows", () => {
    const { graph, stats } = runPass(sparsify, parse(CNN), { remove: { "c.w": [1, 3] } });
    expect(body(graph)).toBe(`  input %x: f32[2,4,4,1]
  param %c.w: f32[3,3,1,2] init=he_normal
  param %c.b: f32[2] init=zeros
  param %f.w: f32[8,3] init=he_normal
  param %f.b: f32[3] init=zeros
  %0:f32[2,4,4,2] = conv2d %x, %c.w {stride=[1,1], padding="same", pads=[0,0,0,0], dilation=[1,1], groups=1}
  %1:f32[2,4,4,2] = add %0, %c.b
  %2:f32[2,4,4,2] = relu %1
  %3:f32[2,2,2,2] = maxPool2d %2 {size=[2,2], stride=[2,2], padding="valid", pads=[0,0,0,0]}
  %4:f32[2,8] = reshape %3 {shape=[2,8]}
  %5:f32[2,3] = matmul %4, %f.w {transposeA=false, transposeB=false}
  %6:f32[2,3] = add %5, %f.b
  output y = %6`);
    expect(stats).toEqual({ "channels-removed": 2, "layers-shrunk": 1, "params-shrunk": 3, "param-bytes-before": 4 * (36 + 4 + 48 + 3), "param-bytes-after": 4 * (18 + 2 + 24 + 3) });
    // The dense rows kept are q*4 + c for the kept channels 0 and 2, position-major (the flatten's order).
    const slices = sparseParamSlices(parse(CNN), { "c.w": [1, 3] });
    expect(slices.get("f.w")).toEqual([{ axis: 0, keep: [0, 2, 4, 6, 8, 10, 12, 14] }]);
    expect(slices.get("c.w")).toEqual([{ axis: 3, keep: [0, 2] }]);
    expect(slices.get("c.b")).toEqual([{ axis: 0, keep: [0, 2] }]);
  });

  it("shrinks batch norm's gamma, beta and running statistics, and the next conv's input channels", () => {
    const g = parse(`  input %x: f32[2,4,4,2]
  param %a.w: f32[3,3,2,4] init=he_normal
  param %bn.gamma: f32[4] init=ones
  param %bn.beta: f32[4] init=zeros
  state %bn.mean: f32[4] init=zeros
  param %b.w: f32[1,1,4,2] init=he_normal
  %0:f32[2,4,4,4] = conv2d %x, %a.w {stride=[1,1], padding="same", pads=[0,0,0,0], dilation=[1,1], groups=1}
  %1:f32[2,4,4,4] = batchNorm %0, %bn.gamma, %bn.beta {eps=0.00001}
  %2:f32[4] = batchNormRunningStat %0, %bn.mean {stat="mean", momentum=0.1}
  %3:f32[2,4,4,4] = relu %1
  %4:f32[2,4,4,2] = conv2d %3, %b.w {stride=[1,1], padding="same", pads=[0,0,0,0], dilation=[1,1], groups=1}
  output y = %4
  update %bn.mean = %2`);
    const { graph } = runPass(sparsify, g, { remove: { "a.w": [0] } });
    const text = body(graph);
    expect(text).toContain("param %a.w: f32[3,3,2,3]");
    expect(text).toContain("param %bn.gamma: f32[3]");
    expect(text).toContain("param %bn.beta: f32[3]");
    expect(text).toContain("state %bn.mean: f32[3]");
    expect(text).toContain("param %b.w: f32[1,1,3,2]");
    expect(text).toContain("%2:f32[3] = batchNormRunningStat %0, %bn.mean");
    // A 1x1 convolution has no padding to see: a constant channel folds into a bias there.
    expect(channelGroups(g).groups[0].consumers[0]).toMatchObject({ kind: "conv2d", weight: "b.w", axis: 2, unpadded: true });
  });

  it("joins the two sides of a residual add: a channel leaves both producers or neither", () => {
    const g = parse(`  input %x: f32[2,8]
  param %a.w: f32[8,4] init=he_normal
  param %b.w: f32[4,4] init=he_normal
  param %c.w: f32[4,3] init=he_normal
  %0:f32[2,4] = matmul %x, %a.w {transposeA=false, transposeB=false}
  %1:f32[2,4] = matmul %0, %b.w {transposeA=false, transposeB=false}
  %2:f32[2,4] = add %0, %1
  %3:f32[2,3] = matmul %2, %c.w {transposeA=false, transposeB=false}
  output y = %3`);
    // %0 is read by b.w's matmul and by the add: its group (a.w, b.w joined) ends in b.w's rows and c.w's rows.
    const { groups } = channelGroups(g);
    const joined = groups.find((grp) => grp.producers.length === 2)!;
    expect(joined.producers.map((p) => p.weight)).toEqual(["a.w", "b.w"]);
    expect(() => runPass(sparsify, g, { remove: { "a.w": [1] } })).toThrow(/a\.w, b\.w share their channels \(a residual add\) and must lose the same ones/);
    const { graph } = runPass(sparsify, g, { remove: { "a.w": [1], "b.w": [1] } });
    expect(body(graph)).toContain("param %b.w: f32[3,3]");
    expect(body(graph)).toContain("param %c.w: f32[3,3]");
    expect(body(graph)).toContain("param %a.w: f32[8,3]");
  });

  it("keeps every channel of a group that reaches a graph output, an op reading a concat, or a shared weight", () => {
    const out = parse(`  input %x: f32[2,8]
  param %a.w: f32[8,4] init=he_normal
  %0:f32[2,4] = matmul %x, %a.w {transposeA=false, transposeB=false}
  %1:f32[2,4] = relu %0
  output y = %1`);
    expect(channelGroups(out).groups[0].blocked).toBe("output 'y'");
    expect(() => runPass(sparsify, out, { remove: { "a.w": [0] } })).toThrow(/cannot be removed \(output 'y'\)/);
    // A concat is read by its consumers only: a ReLU after it keeps every channel of what it joins.
    const concat = parse(`  input %x: f32[2,8]
  param %a.w: f32[8,4] init=he_normal
  param %c.w: f32[8,3] init=he_normal
  %0:f32[2,4] = matmul %x, %a.w {transposeA=false, transposeB=false}
  %1:f32[2,8] = concat %0, %0 {axis=1}
  %2:f32[2,8] = relu %1
  %3:f32[2,3] = matmul %2, %c.w {transposeA=false, transposeB=false}
  output y = %3`);
    expect(channelGroups(concat).groups.find((grp) => grp.producers[0]?.weight === "a.w")!.blocked).toMatch(/read by relu/);
    // A weight read by two layers is sliced by neither: no group starts there, and nothing changes.
    const shared = parse(`  input %x: f32[2,4]
  param %a.w: f32[4,4] init=he_normal
  %0:f32[2,4] = matmul %x, %a.w {transposeA=false, transposeB=false}
  %1:f32[2,4] = matmul %0, %a.w {transposeA=false, transposeB=false}
  %2:f32[2] = sum %1 {axes=[1], keepDims=false}
  output y = %2`);
    expect(channelGroups(shared).groups).toEqual([]);
    expect(runPass(sparsify, shared, { remove: {} }).stats["channels-removed"]).toBe(0);
  });

  it("a concat of two groups along the channels: the consumer loses each group's rows at its offset", () => {
    const g = parse(`  input %x: f32[2,4,4,1]
  param %a.w: f32[3,3,1,4] init=he_normal
  param %b.w: f32[3,3,1,2] init=he_normal
  param %c.w: f32[1,1,7,3] init=he_normal
  %0:f32[2,4,4,4] = conv2d %x, %a.w {stride=[1,1], padding="same", pads=[0,0,0,0], dilation=[1,1], groups=1}
  %1:f32[2,4,4,2] = conv2d %x, %b.w {stride=[1,1], padding="same", pads=[0,0,0,0], dilation=[1,1], groups=1}
  %2:f32[2,4,4,7] = concat %0, %x, %1 {axis=3}
  %3:f32[2,4,4,3] = conv2d %2, %c.w {stride=[1,1], padding="valid", pads=[0,0,0,0], dilation=[1,1], groups=1}
  output y = %3`);
    const { groups } = channelGroups(g);
    expect(groups.map((grp) => grp.consumers.map((c) => [c.weight, c.offset, c.stride]))).toEqual([[["c.w", 0, 7]], [["c.w", 5, 7]], []]);
    // a.w loses channels 1 and 2 (inputs 1, 2 of c.w), b.w channel 0 (input 5); the image's input 4 stays.
    const { graph } = runPass(sparsify, g, { remove: { "a.w": [1, 2], "b.w": [0] } });
    expect(body(graph)).toContain("%2:f32[2,4,4,4] = concat %0, %x, %1 {axis=3}");
    expect(sparseParamSlices(g, { "a.w": [1, 2], "b.w": [0] }).get("c.w")).toEqual([{ axis: 2, keep: [0, 3, 4, 6] }]);
  });
});
