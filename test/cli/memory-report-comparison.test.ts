// checkpointComparison (compiler/cli/memory-report.ts) with the caller's own program: `mlc mem`
// compiles the report's program with the policy asked for, and the comparison reads that policy's
// row from it instead of compiling it again (the rows' figures are the same either way).
import { describe, expect, it } from "vitest";
import { checkpointComparison } from "../../compiler/cli/memory-report.ts";
import { wasmBackend } from "../../compiler/codegen-wasm/backend.ts";
import { compile } from "../../compiler/driver/compile.ts";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import { trainingSpec } from "../../compiler/passes/train-options.ts";

describe("checkpointComparison with the caller's program", () => {
  const model = compileModelFile("examples/cnn/model.ts");
  const training = trainingSpec(model.train);
  const own = (mode: "none" | "sqrt") => compile(model.graph, { backend: wasmBackend, training: { ...training, checkpoint: { mode } } });

  it("gives the rows it gives without it", () => {
    const plain = checkpointComparison(model.graph, { training, backend: wasmBackend });
    for (const mode of ["none", "sqrt"] as const) {
      expect(checkpointComparison(model.graph, { training, backend: wasmBackend, compiled: { checkpoint: { mode }, program: own(mode) } })).toEqual(plain);
    }
  }, 120_000);

  it("reads its policy's row from that program (it does not compile it again)", () => {
    const program = own("sqrt");
    const marked = { ...program, arena: program.arena! + 16 };
    const rows = checkpointComparison(model.graph, { training, backend: wasmBackend, compiled: { checkpoint: { mode: "sqrt" }, program: marked } }).modes;
    expect(rows.find((r) => r.mode === "sqrt")!.arena).toBe(program.arena! + 16);
    expect(rows.find((r) => r.mode === "none")!.arena).toBe(own("none").arena);
  }, 120_000);
});
