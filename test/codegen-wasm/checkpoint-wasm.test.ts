// Checkpointed training steps on the WASM backend, built exactly as `mlc build --train
// --checkpoint ...` builds them (the driver: checkpoint, fusion, planning with workspaces):
// the updates after one step equal those of the un-checkpointed bundle (recompute nodes repeat the
// same kernels on the same values; where fusion groups a copy differently from its original, the
// f32 results may differ in the last bits, hence 1e-6 of each tensor's largest value), and the
// checkpointed arena is smaller (never larger).
import { describe, expect, it } from "vitest";
import { randomInputs } from "../../compiler/cli/random-inputs.ts";
import { compile } from "../../compiler/driver/compile.ts";
import { wasmBackend } from "../../compiler/codegen-wasm/backend.ts";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import { initParams } from "../../compiler/ir/interpreter.ts";
import { trainingSpec } from "../../compiler/passes/train-options.ts";
import { resultMismatches, runWasm } from "../support/wasm-harness.ts";

// The transformer's arena is mostly params, Adam state and the forward entry: checkpointing its
// one block need not make it smaller, only never larger.
// The cnn's auto gets a budget: without one auto drops only values cheap to recompute, which on
// the cnn does not lower the peak, so it recomputes nothing (docs/MEMORY.md "Checkpointing").
const CASES = [
  ["resnet", { mode: "sqrt" }, true],
  ["resnet", { mode: "auto" }, true],
  ["transformer", { mode: "sqrt" }, false],
  ["cnn", { mode: "auto", budgetBytes: 2_200_000 }, true],
] as const;

describe.each(CASES)("%s with --checkpoint %o on wasm-simd", (name, policy, smaller) => {
  it("updates as the un-checkpointed bundle does, in a smaller arena", async () => {
    const model = compileModelFile(`examples/${name}/model.ts`);
    const spec = trainingSpec(model.train);
    const step = (checkpoint?: { mode: "sqrt" | "auto"; budgetBytes?: number }) =>
      compile(model.graph, { backend: wasmBackend, training: { ...spec, ...(checkpoint ? { checkpoint } : {}) } }).entries.find((e) => e.exportName === "train_step")!.graph;
    const plain = step();
    const checkpointed = step(policy);
    expect(checkpointed.nodes.length).toBeGreaterThan(plain.nodes.length);
    if (smaller) expect(checkpointed.memory!.arena).toBeLessThan(plain.memory!.arena);
    else expect(checkpointed.memory!.arena).toBeLessThanOrEqual(plain.memory!.arena);
    const inputs = randomInputs(plain, 5);
    const params = initParams(plain, 5);
    const a = await runWasm(plain, inputs, params);
    const b = await runWasm(checkpointed, inputs, params);
    expect(resultMismatches(b, a, { tolerance: 1e-6, relativeToMax: true })).toEqual([]);
  }, 120_000);
});
