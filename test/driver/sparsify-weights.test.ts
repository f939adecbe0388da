// The rule of driver/sparsify-weights.ts on hand-written graphs: which zero channels go, which
// constants fold into which bias, and the shrunk graph with the shrunk params computing what the
// unshrunk one did (interpreter against interpreter).
import { describe, expect, it } from "vitest";
import { compile } from "../../compiler/driver/index.ts";
import type { Graph } from "../../compiler/ir/graph.ts";
import { interpret } from "../../compiler/ir/interpreter.ts";
import { parseGraph } from "../../compiler/ir/parser.ts";
import { programForward } from "../../compiler/cli/training.ts";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import { initParams } from "../../compiler/ir/interpreter.ts";

const parse = (body: string): Graph => parseGraph(`graph t {\n${body}\n}`);

/** Seeded values for every param, with the listed output columns of the listed weights zeroed. */
function values(g: Graph, zero: Record<string, number[]>): Record<string, Float64Array> {
  const out: Record<string, Float64Array> = Object.create(null);
  for (const p of g.params) {
    const n = p.type.shape[p.type.shape.length - 1];
    out[p.name] = Float64Array.from({ length: p.type.shape.reduce((a, d) => a * d, 1) }, (_, i) => (zero[p.name]?.includes(i % n) ? 0 : Math.fround(0.5 * Math.sin(3.1 * i + p.name.length))));
  }
  return out;
}

function sameOutputs(g: Graph, params: Record<string, Float64Array>) {
  const program = compile(g, { sparse: { params } });
  const shrunk = program.entries[0].graph;
  const sp = program.sparsification!;
  const p2: Record<string, ArrayLike<number>> = { ...params };
  for (const [name, t] of Object.entries(sp.tensors)) p2[name] = t.data;
  // Weights that went block-sparse (an all-zero one among them) are their packed blocks now.
  for (const name of sp.blocks?.removed ?? []) delete p2[name];
  for (const [name, t] of Object.entries(sp.blocks?.tensors ?? {})) p2[name] = t.data;
  const inputs = Object.fromEntries(g.inputs.map((i) => [i.name, Float64Array.from({ length: i.type.shape.reduce((a, d) => a * d, 1) }, (_, k) => Math.fround(Math.cos(0.7 * k)))]));
  const a = interpret(g, inputs, { params }).outputs.y.data;
  const b = interpret(shrunk, inputs, { params: p2 }).outputs.y.data;
  for (let k = 0; k < a.length; k++) expect(Math.abs(a[k] - b[k])).toBeLessThanOrEqual(1e-6 * (1 + Math.abs(a[k])));
  return { shrunk, sp, shapes: Object.fromEntries(shrunk.params.map((p) => [p.name, p.type.shape])) };
}

describe("sparsify-weights", () => {
  it("folds relu(b) of removed dense units into the next bias, through a concat at the right offsets", () => {
    const g = parse(`  input %x: f32[3,4]
  param %a.w: f32[4,8] init=zeros
  param %a.b: f32[8] init=zeros
  param %b.w: f32[4,4] init=zeros
  param %b.b: f32[4] init=zeros
  param %c.w: f32[12,2] init=zeros
  param %c.b: f32[2] init=zeros
  %0:f32[3,8] = matmul %x, %a.w {transposeA=false, transposeB=false}
  %1:f32[3,8] = add %0, %a.b
  %2:f32[3,8] = relu %1
  %3:f32[3,4] = matmul %x, %b.w {transposeA=false, transposeB=false}
  %4:f32[3,4] = add %3, %b.b
  %5:f32[3,4] = sigmoid %4
  %6:f32[3,12] = concat %2, %5 {axis=1}
  %7:f32[3,2] = matmul %6, %c.w {transposeA=false, transposeB=false}
  %8:f32[3,2] = add %7, %c.b
  output y = %8`);
    const params = values(g, { "a.w": [0, 1, 2, 5], "b.w": [0, 1, 2, 3] });
    const { shapes, sp } = sameOutputs(g, params);
    // a.w: 4 of 8 go (8 - 4 is a multiple of 4); b.w: 4 of 4 zero, but one channel stays, and then
    // a multiple of 4: none of them goes. All zero, b.w then runs block-sparse (one zero block).
    expect(shapes).toMatchObject({ "a.w": [4, 4], "a.b": [4], "b.w/values": [1, 4], "c.w": [8, 2], "c.b": [2] });
    expect(sp.report.layers.find((l) => l.weight === "b.w")).toMatchObject({ zero: 4, removed: 0, kept: "kept so that a multiple of 4 channels stay (SIMD lanes)" });
    expect(Array.from(sp.tensors["c.b"].data)).not.toEqual(Array.from(params["c.b"]));
  });

  it("keeps a constant channel before a zero-padded convolution, folds it before an unpadded one", () => {
    const conv = (padding: string) =>
      parse(`  input %x: f32[1,5,5,2]
  param %a.w: f32[3,3,2,8] init=zeros
  param %a.b: f32[8] init=zeros
  param %c.w: f32[3,3,8,4] init=zeros
  param %c.b: f32[4] init=zeros
  %0:f32[1,5,5,8] = conv2d %x, %a.w {stride=[1,1], padding="same", pads=[0,0,0,0], dilation=[1,1], groups=1}
  %1:f32[1,5,5,8] = add %0, %a.b
  %2:f32[1,5,5,8] = relu %1
  %3:f32[1,${padding === "same" ? 5 : 3},${padding === "same" ? 5 : 3},4] = conv2d %2, %c.w {stride=[1,1], padding="${padding}", pads=[0,0,0,0], dilation=[1,1], groups=1}
  %4:f32[1,${padding === "same" ? 5 : 3},${padding === "same" ? 5 : 3},4] = add %3, %c.b
  output y = %4`);
    const zero = { "a.w": [0, 2, 3, 6] };
    const padded = conv("same");
    const params = values(padded, zero);
    // relu(b) of the zeroed channels: b[0], b[2], b[3], b[6] have both signs here.
    const positive = zero["a.w"].filter((c) => params["a.b"][c] > 0);
    expect(positive.length).toBeGreaterThan(0);
    expect(positive.length).toBeLessThan(4);
    const kept = sameOutputs(padded, params);
    expect(kept.shapes["a.w"]).toEqual([3, 3, 2, 8]);
    expect(kept.sp.report.layers[0].kept).toMatch(/^nonzero constant into conv2d %3 with padding/);
    const valid = conv("valid");
    const { shapes, sp } = sameOutputs(valid, values(valid, zero));
    expect(shapes).toMatchObject({ "a.w": [3, 3, 2, 4], "c.w": [3, 3, 4, 4] });
    expect(sp.tensors["c.b"]).toBeDefined();
  });

  // Every example (dense, conv, residual, recurrent, attention, embedding layers): a third of each
  // weight's output columns zeroed, every other param nonzero; whatever the rule removes, the
  // shrunk graph computes the unshrunk one's outputs.
  for (const example of ["mnist-mlp", "cnn", "resnet", "lstm", "transformer", "recsys"]) {
    it(`${example}: the shrunk graph computes what the unshrunk one did`, () => {
      const { graph } = programForward(compileModelFile(`examples/${example}/model.ts`, { set: { batch: "2" } }), undefined);
      const params = initParams(graph, 4);
      for (const p of graph.params) {
        const shape = p.type.shape;
        const n = shape[shape.length - 1];
        if (p.type.dtype !== "f32") continue;
        params[p.name] = params[p.name].map((v, i) => (shape.length >= 2 ? ((i % n) % 3 === 1 ? 0 : v) : v + Math.fround(0.1 * Math.sin(i + 1))));
      }
      const program = compile(graph, { sparse: { params } });
      const shrunk: Record<string, ArrayLike<number>> = { ...params };
      for (const [name, t] of Object.entries(program.sparsification!.tensors)) shrunk[name] = t.data;
      const inputs = Object.fromEntries(graph.inputs.map((i) => [i.name, Float64Array.from({ length: i.type.shape.reduce((a, d) => a * d, 1) }, (_, k) => (i.type.dtype === "f32" ? Math.fround(Math.cos(0.3 * k)) : k % 2))]));
      const a = interpret(graph, inputs, { params }).outputs;
      const b = interpret(program.entries[0].graph, inputs, { params: shrunk }).outputs;
      for (const o of graph.outputs) {
        const scale = Math.max(1e-6, ...Array.from(a[o.name].data, Math.abs));
        a[o.name].data.forEach((v, k) => expect(Math.abs(b[o.name].data[k] - v), `${o.name}[${k}]`).toBeLessThanOrEqual(1e-5 * scale));
      }
      if (example === "mnist-mlp" || example === "cnn") expect(program.sparsification!.report.paramBytes.after).toBeLessThan(program.sparsification!.report.paramBytes.before);
    }, 60_000);
  }
});
