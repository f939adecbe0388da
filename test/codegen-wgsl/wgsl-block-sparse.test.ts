// The WGSL blockSparseMatmul kernel (codegen-wgsl/kernels/block-sparse.ts) against the
// interpreter on SwiftShader, over test/support/block-sparse-cases.ts.
import { describe, it } from "vitest";
import { blockSparseGraph } from "../support/block-sparse-cases.ts";
import { expectWgslMatchesInterpreter } from "../support/wgsl-harness.ts";

describe("blockSparseMatmul on webgpu", () => {
  it("matches the interpreter on every case (lane and row tails, random block patterns, empty block columns)", async () => {
    const { graph, inputs } = blockSparseGraph();
    await expectWgslMatchesInterpreter(graph, inputs);
  }, 120_000);
});
