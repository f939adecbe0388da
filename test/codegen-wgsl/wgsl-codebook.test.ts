// codebookMatmul's WGSL kernel (codegen-wgsl/kernels/codebook.ts) on Dawn + SwiftShader against
// the interpreter: bit for bit on the exact cases of test/support/codebook-cases.ts (every bit
// width, N odd, index bytes past the table), within the op's tolerance on random f32 values; and
// codebookConv2d over the convolution cases there.

import { describe, it } from "vitest";
import { codebookConvGraph, CODEBOOK_CONVS, codebookGraph, CODEBOOK_SHAPES } from "../support/codebook-cases.ts";
import { expectWgslMatchesInterpreter } from "../support/wgsl-harness.ts";

describe("codebookMatmul on webgpu", () => {
  for (const bits of [4, 3, 1, 5, 8]) {
    it(`${bits}-bit indices match the interpreter exactly`, async () => {
      const { graph, inputs } = codebookGraph(CODEBOOK_SHAPES.map(([x, n]) => [x, n, bits] as const), "exact");
      await expectWgslMatchesInterpreter(graph, inputs, { tolerance: 0 });
    }, 60_000);
  }

  it("random f32 values within the op's tolerance", async () => {
    const { graph, inputs } = codebookGraph([[[17, 200], 33, 4], [[9, 77], 19, 3], [[3, 129], 65, 8]], "random");
    await expectWgslMatchesInterpreter(graph, inputs, { floor: 1 });
  }, 60_000);

  for (const bits of [4, 5]) {
    it(`codebookConv2d with ${bits}-bit indices matches the interpreter exactly`, async () => {
      const { graph, inputs } = codebookConvGraph(CODEBOOK_CONVS(bits), "exact");
      await expectWgslMatchesInterpreter(graph, inputs, { tolerance: 0 });
    }, 60_000);
  }
});
