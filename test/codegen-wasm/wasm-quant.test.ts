// The WASM kernels of the quantization ops (codegen-wasm/kernels/quant.ts) against the
// interpreter, exactly: integer results bit for bit and float results (dequantize, fakeQuant,
// fakeQuantGrad) to tolerance 0, over test/support/quant-cases.ts (SIMD tails, per tensor and
// per channel along every kind of axis, i8/u8, f32/f16/bf16, clamps, ties, NaN, zero points).

import { describe, expect, it } from "vitest";
import { randomInputs } from "../../compiler/cli/random-inputs.ts";
import { wasmBackend } from "../../compiler/codegen-wasm/backend.ts";
import { compile } from "../../compiler/driver/compile.ts";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import { initParams, interpret } from "../../compiler/ir/interpreter.ts";
import { trainingSpec } from "../../compiler/passes/train-options.ts";
import { allQuantGraphs } from "../support/quant-cases.ts";
import { expectMatchesInterpreter, graphTolerance, resultMismatches, runWasm } from "../support/wasm-harness.ts";

describe("quantization kernels on wasm-simd", () => {
  for (const { label, g } of allQuantGraphs()) {
    it(`${label} matches the interpreter exactly`, async () => {
      await expectMatchesInterpreter(g.graph, g.inputs, { tolerance: 0 });
    });
  }
});

describe("a quantization-aware model through the wasm-simd pipeline (fusion, in-place, plan)", () => {
  const model = compileModelFile("test/fixtures/quant/model.ts");
  const training = { ...trainingSpec(model.train), exposeGradients: true };
  const entries = compile(model.graph, { backend: wasmBackend, training, timeLimitMs: 100 }).entries;
  it.each(entries.map((e) => [e.exportName, e.graph] as const))("%s matches the interpreter", async (entry, graph) => {
    const { memory: _plan, ...unplanned } = graph;
    const [inputs, params] = [randomInputs(graph, 1), initParams(graph, 1)];
    const wasm = await runWasm(graph, inputs, params);
    const reference = interpret(unplanned, inputs, { params });
    expect(resultMismatches(wasm, reference, { tolerance: graphTolerance(graph), relativeToMax: true }).join("\n")).toBe("");
    // The training step's weight gradient came through fakeQuant's straight-through mask.
    if (entry === "train_step") {
      expect(graph.nodes.some((n) => n.op === "fakeQuantGrad")).toBe(true);
      expect(reference.outputs["grad/w"].data.some((v) => v !== 0)).toBe(true);
    }
  }, 60_000);
});
