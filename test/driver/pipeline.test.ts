// The pass registry: kebab-case unique names with a summary; every statistic a pass reports is
// one it declares; the driver runs every registered pass (given the flags that enable it) in the
// registry's order; and without a backend it stops after the clean-up phase.
import { describe, expect, it } from "vitest";
import { wasmBackend } from "../../compiler/codegen-wasm/backend.ts";
import { compile } from "../../compiler/driver/compile.ts";
import { inferenceGraph } from "../../compiler/driver/inference.ts";
import { PASS_NAMES, PIPELINE } from "../../compiler/driver/pipeline.ts";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import { trainingSpec } from "../../compiler/passes/train-options.ts";

describe("the pass registry", () => {
  it("names every pass once, in kebab-case, with a summary and declared statistics", () => {
    expect(new Set(PASS_NAMES).size).toBe(PASS_NAMES.length);
    for (const { pass } of PIPELINE) {
      expect(pass.name).toMatch(/^[a-z]+(-[a-z]+)*$/);
      expect(pass.summary.length).toBeGreaterThan(10);
      expect(Object.keys(pass.statistics).length).toBeGreaterThan(0);
    }
  });

  it("runs every registered pass in order, each reporting only statistics it declares", () => {
    const model = compileModelFile("examples/mnist-mlp/model.ts", { set: { batch: "8" } });
    const spec = trainingSpec(model.train);
    const plain = compile(model.graph, { backend: wasmBackend, training: { ...spec, prune: { sparsity: 0.5 }, quantize: "int8" }, timeLimitMs: 100 });
    const other = compile(model.graph, { backend: wasmBackend, training: { ...spec, accumulate: 2, checkpoint: { mode: "sqrt" } }, timeLimitMs: 100 });
    const mixed = compile(model.graph, { backend: wasmBackend, training: { ...spec, mixed: { dtype: "f16" } }, timeLimitMs: 100 });
    const calibration = { x: new Float64Array(8 * 784).fill(0.5) };
    const quantized = compile(inferenceGraph(model.graph, { loss: "loss" }).graph, { backend: wasmBackend, quantize: { observer: "minmax", calibration, samples: 8, perLayerErrors: false }, timeLimitMs: 100 });
    const sparse = compile(inferenceGraph(model.graph, { loss: "loss" }).graph, { backend: wasmBackend, sparse: { seed: 0 }, timeLimitMs: 100 });
    const codebook = compile(inferenceGraph(model.graph, { loss: "loss" }).graph, { backend: wasmBackend, codebook: { bits: 4 }, timeLimitMs: 100 });
    const declared = new Map(PIPELINE.map(({ pass }) => [pass.name, new Set(Object.keys(pass.statistics))]));
    const ran = new Set<string>();
    for (const program of [plain, other, mixed, quantized, sparse, codebook]) {
      const order = program.records.map((r) => PASS_NAMES.indexOf(r.pass));
      expect(order.every((k, i) => k >= 0 && (i === 0 || k >= order[i - 1])), program.records.map((r) => r.pass).join(" ")).toBe(true);
      for (const r of program.records) {
        ran.add(r.pass);
        for (const key of Object.keys(r.stats)) expect(declared.get(r.pass)!.has(key), `${r.pass} reports undeclared '${key}'`).toBe(true);
      }
    }
    expect([...ran].sort()).toEqual([...PASS_NAMES].sort());
  });

  it("stops after the clean-up phase without a backend", () => {
    const model = compileModelFile("examples/mnist-mlp/model.ts", { set: { batch: "8" } });
    const program = compile(model.graph, { training: trainingSpec(model.train) });
    expect(program.arena).toBeUndefined();
    expect([...new Set(program.records.map((r) => r.pass))]).toEqual(["autodiff", "optimizer", "nonfinite-guard", "dce", "cse", "fold-constants"]);
    expect(program.entries.map((e) => e.exportName)).toEqual(["forward", "train_step"]);
  });
});
