// The WGSL kernels of the quantization ops (codegen-wgsl/kernels/quant.ts) on Dawn + SwiftShader
// against the interpreter, exactly: integer results bit for bit and float results to tolerance
// 0, over test/support/quant-cases.ts (the cases of test/codegen-wasm/wasm-quant.test.ts).

import { describe, it } from "vitest";
import { allQuantGraphs } from "../support/quant-cases.ts";
import { expectWgslMatchesInterpreter } from "../support/wgsl-harness.ts";

describe("quantization kernels on webgpu", () => {
  for (const { label, g } of allQuantGraphs()) {
    it(`${label} matches the interpreter exactly`, async () => {
      await expectWgslMatchesInterpreter(g.graph, g.inputs, { tolerance: 0 });
    });
  }
});
