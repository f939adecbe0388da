// compile() in stages (compileFront → fuseFront → planFused), each stage's result continued more
// than once as `mlc mem` does (one front for every checkpoint policy, one fused program for the
// scheduled and unscheduled plans): every program is the one compile() returns on its own —
// the same planned IR, arena and pass statistics.
import { describe, expect, it } from "vitest";
import { wasmBackend } from "../../compiler/codegen-wasm/backend.ts";
import { compile, compileFront, fuseFront, planFused, type CompiledProgram, type CompileOptions } from "../../compiler/driver/compile.ts";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import { printGraph } from "../../compiler/ir/printer.ts";
import { trainingSpec } from "../../compiler/passes/train-options.ts";

function summary(p: CompiledProgram) {
  return {
    arena: p.arena,
    entries: p.entries.map((e) => `${e.exportName}\n${printGraph(e.graph)}`),
    records: p.records.map((r) => ({ pass: r.pass, entry: r.entry, stats: r.stats })),
    trainingStats: p.trainingStats,
  };
}

describe("compile in stages", () => {
  it("one front and one fused program, continued per policy and schedule, give compile()'s programs", () => {
    const model = compileModelFile("examples/resnet/model.ts");
    const training = trainingSpec(model.train);
    const base = { backend: wasmBackend, training } as const;
    const front = compileFront(model.graph, base);
    for (const checkpoint of [{ mode: "none" as const }, { mode: "sqrt" as const }, { mode: "auto" as const, budgetBytes: 4_000_000 }]) {
      const opts: CompileOptions & { backend: typeof wasmBackend } = { ...base, training: { ...training, checkpoint } };
      const fused = fuseFront(front, opts);
      for (const schedule of [true, false]) {
        const staged = planFused(fused, { ...opts, schedule });
        expect(summary(staged), `${checkpoint.mode}, schedule ${schedule}`).toEqual(summary(compile(model.graph, { ...opts, schedule })));
      }
    }
    // The front is left as it was: nothing continued from it adds to its records.
    expect(front.records.map((r) => r.pass)).toEqual(["autodiff", "optimizer", "nonfinite-guard", "dce", "dce", "cse", "cse", "fold-constants", "fold-constants"]);
  }, 120_000);

  it("without a backend, compile stops after the checkpoint pass, as before", () => {
    const model = compileModelFile("examples/mnist-mlp/model.ts");
    const opts = { training: { ...trainingSpec(model.train), checkpoint: { mode: "sqrt" as const } } };
    const program = compile(model.graph, opts);
    expect(program.arena).toBeUndefined();
    expect(Object.keys(program).sort()).toEqual(["entries", "records", "trainingStats"]);
    expect(program.records.at(-1)!.pass).toBe("checkpoint");
  });
});
