// fold-batch-norm: eval-mode batch norm folded into the conv2d or matmul before it. The folded
// graph (rescaled weight, one bias add) must compute what the unfolded one computes when its
// batch norms normalize with the running statistics; mlc's batchNorm normalizes with the batch's
// statistics, so the check sets each running mean and variance to the batch's own (biased
// variance, what batchNorm divides by) on the test batch, where both modes agree.
import { describe, expect, it } from "vitest";
import { programForward } from "../../compiler/cli/training.ts";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import type { Graph } from "../../compiler/ir/graph.ts";
import { initParams, interpret } from "../../compiler/ir/interpreter.ts";
import { parseGraph } from "../../compiler/ir/parser.ts";
import { runPass } from "../../compiler/passes/pass.ts";
import { foldableBatchNorms, foldBatchNorm, foldedBatchNormParams } from "../../compiler/passes/fold-batch-norm.ts";

/** Per-channel (last axis) mean and biased variance of a tensor. */
function channelStats(data: ArrayLike<number>, channels: number): { mean: number[]; variance: number[] } {
  const rows = data.length / channels;
  const mean = new Array<number>(channels).fill(0);
  const variance = new Array<number>(channels).fill(0);
  for (let i = 0; i < data.length; i++) mean[i % channels] += data[i] / rows;
  for (let i = 0; i < data.length; i++) variance[i % channels] += (data[i] - mean[i % channels]) ** 2 / rows;
  return { mean, variance };
}

/** Runs both graphs on `inputs` and compares every output within f32 tolerance. */
function expectFoldMatches(g: Graph, inputs: Record<string, ArrayLike<number>>, seed: number): { folded: Graph } {
  const params: Record<string, ArrayLike<number>> = { ...initParams(g, seed) };
  // Non-trivial gamma and beta, so the fold's scale and shift both show.
  for (const p of g.params) {
    if (p.name.endsWith(".gamma")) params[p.name] = Array.from({ length: p.type.shape[0] }, (_, i) => 0.5 + ((i * 7) % 5) / 4);
    if (p.name.endsWith(".beta")) params[p.name] = Array.from({ length: p.type.shape[0] }, (_, i) => ((i * 3) % 7) / 10 - 0.3);
  }
  const folds = foldableBatchNorms(g);
  const unfolded = interpret(g, inputs, { params, keepValues: true });
  const byId = new Map(g.nodes.map((n) => [n.id, n]));
  for (const f of folds) {
    const h = byId.get(f.batchNorm)!.inputs[0];
    const { mean, variance } = channelStats(unfolded.values!.get(h)!.data, f.channels);
    params[f.mean] = mean;
    params[f.variance] = variance;
  }
  const { graph: folded, stats } = runPass(foldBatchNorm, g, {});
  expect(stats["batch-norms-folded"]).toBe(folds.length);
  const foldedParams: Record<string, ArrayLike<number>> = { ...params, ...foldedBatchNormParams(folds, params) };
  const after = interpret(folded, inputs, { params: Object.fromEntries(folded.params.map((p) => [p.name, foldedParams[p.name]])) });
  for (const o of g.outputs) {
    const want = unfolded.outputs[o.name].data;
    const got = after.outputs[o.name].data;
    const scale = Math.max(...Array.from(want, Math.abs));
    for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i]), `${o.name}[${i}]`).toBeLessThan(1e-4 * scale);
  }
  return { folded };
}

describe("fold-batch-norm", () => {
  it("folds every conv-BN pair of the ResNet example: no batchNorm, no running statistics, outputs unchanged", () => {
    const model = compileModelFile("examples/resnet/model.ts", { set: { batch: "4", size: "6", channels: "4", depth: "2" } });
    const { graph } = programForward(model, undefined);
    expect(foldableBatchNorms(graph)).toHaveLength(5);
    const images = Array.from({ length: 4 * 6 * 6 * 3 }, (_, i) => Math.sin(i * 0.37));
    const { folded } = expectFoldMatches(graph, { images }, 5);
    expect(folded.nodes.some((n) => n.op === "batchNorm" || n.op === "batchNormRunningStat")).toBe(false);
    expect(folded.updates).toEqual([]);
    expect(folded.params.some((p) => /gamma|running/.test(p.name))).toBe(false);
    expect(folded.params.filter((p) => p.name.endsWith(".beta"))).toHaveLength(5);
  });

  it("folds a matmul's own bias and a conv's too, and leaves a batch norm whose input is read elsewhere", () => {
    const g = parseGraph(`graph t {
  input %x: f32[6,5]
  input %img: f32[2,4,4,2]
  param %w: f32[5,3] init=he_normal
  param %b: f32[3] init=he_normal
  param %g: f32[3] init=ones
  param %be: f32[3] init=zeros
  state %m: f32[3] init=zeros
  state %v: f32[3] init=ones
  param %k: f32[3,3,2,4] init=he_normal
  param %kb: f32[4] init=he_normal
  param %g2: f32[4] init=ones
  param %be2: f32[4] init=zeros
  state %m2: f32[4] init=zeros
  state %v2: f32[4] init=ones
  param %k3: f32[1,1,2,2] init=he_normal
  param %g3: f32[2] init=ones
  param %be3: f32[2] init=zeros
  state %m3: f32[2] init=zeros
  state %v3: f32[2] init=ones
  %0:f32[6,3] = matmul %x, %w {transposeA=false, transposeB=false}
  %1:f32[6,3] = add %0, %b
  %2:f32[6,3] = batchNorm %1, %g, %be {eps=0.001}
  %3:f32[3] = batchNormRunningStat %1, %m {stat="mean", momentum=0.1}
  %4:f32[3] = batchNormRunningStat %1, %v {stat="var", momentum=0.1}
  %5:f32[2,4,4,4] = conv2d %img, %k {stride=[1,1], padding="same"}
  %6:f32[2,4,4,4] = add %5, %kb
  %7:f32[2,4,4,4] = batchNorm %6, %g2, %be2 {eps=0.00001}
  %8:f32[4] = batchNormRunningStat %6, %m2 {stat="mean", momentum=0.1}
  %9:f32[4] = batchNormRunningStat %6, %v2 {stat="var", momentum=0.1}
  %10:f32[2,4,4,2] = conv2d %img, %k3 {stride=[1,1], padding="valid"}
  %11:f32[2,4,4,2] = batchNorm %10, %g3, %be3 {eps=0.00001}
  %12:f32[2] = batchNormRunningStat %10, %m3 {stat="mean", momentum=0.1}
  %13:f32[2] = batchNormRunningStat %10, %v3 {stat="var", momentum=0.1}
  output y = %2
  output z = %7
  output u = %11
  output raw = %10
  update %m = %3
  update %v = %4
  update %m2 = %8
  update %v2 = %9
  update %m3 = %12
  update %v3 = %13
}`);
    expect(foldableBatchNorms(g).map((f) => [f.batchNorm, f.bias, f.eps])).toEqual([["2", "b", 0.001], ["7", "kb", 0.00001]]);
    const x = Array.from({ length: 30 }, (_, i) => Math.cos(i));
    const img = Array.from({ length: 64 }, (_, i) => Math.sin(i * 1.7));
    const { folded } = expectFoldMatches(g, { x, img }, 2);
    expect(folded.params.map((p) => p.name)).toEqual(["w", "be", "k", "be2", "k3", "g3", "be3", "m3", "v3"]);
    expect(folded.nodes.filter((n) => n.op === "batchNorm").map((n) => n.id)).toEqual(["11"]);
    expect(folded.updates.map((u) => u.param)).toEqual(["m3", "v3"]);
  });
});
