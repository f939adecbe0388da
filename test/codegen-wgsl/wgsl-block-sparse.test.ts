// The WGSL blockSparseMatmul and sparse24Matmul kernels (codegen-wgsl/kernels/block-sparse.ts,
// sparse24.ts) against the interpreter on SwiftShader, over test/support/block-sparse-cases.ts.
import { describe, it } from "vitest";
import { blockSparseGraph, sparse24Graph } from "../support/block-sparse-cases.ts";
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
