// The WASM kernels of the quantization ops (codegen-wasm/kernels/quant.ts) against the
// interpreter, exactly: integer results bit for bit and float results (dequantize, fakeQuant,
// fakeQuantGrad) to tolerance 0, over test/support/quant-cases.ts (SIMD tails, per tensor and
// per channel along every kind of axis, i8/u8, f32/f16/bf16, clamps, ties, NaN, zero points).

import { describe, it } from "vitest";
import { allQuantGraphs } from "../support/quant-cases.ts";
import { expectMatchesInterpreter } from "../support/wasm-harness.ts";

describe("quantization kernels on wasm-simd", () => {
  for (const { label, g } of allQuantGraphs()) {
    it(`${label} matches the interpreter exactly`, async () => {
      await expectMatchesInterpreter(g.graph, g.inputs, { tolerance: 0 });
    });
  }
});
