// The WGSL pruneMask kernel (codegen-wgsl/kernels/prune.ts) against the interpreter, exactly, on
// SwiftShader, over test/support/prune-cases.ts.
import { describe, it } from "vitest";
import { pruneMaskGraph } from "../support/prune-cases.ts";
import { expectWgslMatchesInterpreter } from "../support/wgsl-harness.ts";

describe("pruneMask on webgpu", () => {
  it("matches the interpreter on every case (k out of range, ties, totalOrder, kept masks)", async () => {
    const { graph, inputs } = pruneMaskGraph();
    await expectWgslMatchesInterpreter(graph, inputs, { tolerance: 0 });
  }, 120_000);
});
