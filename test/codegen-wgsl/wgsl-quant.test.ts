// The WGSL kernels of the quantization ops (codegen-wgsl/kernels/quant.ts) on Dawn + SwiftShader
// against the interpreter, exactly: integer results bit for bit and float results to tolerance
// 0, over test/support/quant-cases.ts (the cases of test/codegen-wasm/wasm-quant.test.ts).

import { describe, expect, it } from "vitest";
import { randomInputs } from "../../compiler/cli/random-inputs.ts";
import { wgslBackend } from "../../compiler/codegen-wgsl/backend.ts";
import { compile } from "../../compiler/driver/compile.ts";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import { initParams, interpret } from "../../compiler/ir/interpreter.ts";
import { trainingSpec } from "../../compiler/passes/train-options.ts";
import { allQuantGraphs } from "../support/quant-cases.ts";
import { graphTolerance, resultMismatches } from "../support/wasm-harness.ts";
import { expectWgslMatchesInterpreter, runWgsl, SUBNORMAL_FLOOR } from "../support/wgsl-harness.ts";

describe("quantization kernels on webgpu", () => {
  for (const { label, g } of allQuantGraphs()) {
    it(`${label} matches the interpreter exactly`, async () => {
      await expectWgslMatchesInterpreter(g.graph, g.inputs, { tolerance: 0 });
    });
  }
});

describe("a quantization-aware model through the webgpu pipeline (fusion, in-place, plan)", () => {
  const model = compileModelFile("test/fixtures/quant/model.ts");
  const training = { ...trainingSpec(model.train), exposeGradients: true };
  const entries = compile(model.graph, { backend: wgslBackend(), training, timeLimitMs: 100 }).entries;
  it.each(entries.map((e) => [e.exportName, e.graph] as const))("%s matches the interpreter", async (_entry, graph) => {
    const { memory: _plan, ...unplanned } = graph;
    const [inputs, params] = [randomInputs(graph, 1), initParams(graph, 1)];
    const gpu = await runWgsl(graph, inputs, params);
    const reference = interpret(unplanned, inputs, { params });
    const compare = { tolerance: graphTolerance(graph), relativeToMax: true, floor: SUBNORMAL_FLOOR };
    expect(resultMismatches(gpu, reference, compare).join("\n")).toBe("");
  }, 60_000);
});
