// The WGSL blockSparseMatmul and sparse24Matmul kernels (codegen-wgsl/kernels/block-sparse.ts,
// sparse24.ts) against the interpreter on SwiftShader, over test/support/block-sparse-cases.ts.
import { describe, expect, it } from "vitest";
import { compile } from "../../compiler/driver/index.ts";
import { parseGraph } from "../../compiler/ir/parser.ts";
import { blockPatternWeight, blockSparseGraph, sparse24Graph, twoFourWeight } from "../support/block-sparse-cases.ts";
import { expectWgslMatchesInterpreter } from "../support/wgsl-harness.ts";

describe("blockSparseMatmul on webgpu", () => {
  it("matches the interpreter on every case (lane and row tails, random block patterns, empty block columns)", async () => {
    const { graph, inputs } = blockSparseGraph();
    await expectWgslMatchesInterpreter(graph, inputs);
  }, 120_000);
});

describe("sparse24Matmul on webgpu", () => {
  it("matches the interpreter on every case (row and channel tails, groups keeping 0, 1 or 2)", async () => {
    const { graph, inputs } = sparse24Graph();
    // An output's rounding error scales with its partial sums, not its (possibly cancelled) value.
    await expectWgslMatchesInterpreter(graph, inputs, { relativeToMax: true });
  }, 120_000);
});

describe("a --sparse program on webgpu", () => {
  it("runs a block-sparse layer and a 2:4 layer that --sparse chose, matching the interpreter", async () => {
    const g = parseGraph(`graph mixed {
  input %x: f32[8,40]
  param %a.w: f32[40,20] init=zeros
  param %b.w: f32[20,12] init=zeros
  %0:f32[8,20] = matmul %x, %a.w {transposeA=false, transposeB=false}
  %1:f32[8,20] = relu %0
  %2:f32[8,12] = matmul %1, %b.w {transposeA=false, transposeB=false}
  output y = %2
}`);
    const params = { "a.w": blockPatternWeight(40, 20, 0.2, 31), "b.w": twoFourWeight(20, 12, 32) };
    const program = compile(g, { sparse: { params } });
    const compiled = program.entries[0].graph;
    expect(compiled.nodes.map((n) => n.op)).toEqual(["blockSparseMatmul", "relu", "sparse24Matmul"]);
    const packed = Object.fromEntries(Object.entries(program.sparsification!.blocks!.tensors).map(([n, t]) => [n, Array.from(t.data)]));
    const x = Array.from({ length: 8 * 40 }, (_, i) => Math.fround(Math.sin(0.3 * i)));
    await expectWgslMatchesInterpreter(compiled, { x }, { params: packed, relativeToMax: true });
  }, 120_000);
});
