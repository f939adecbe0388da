// checkpointComparison (compiler/cli/memory-report.ts) with the caller's own program: `mlc mem`
// compiles the report's program with the policy asked for, and the comparison reads that policy's
// row from it instead of compiling it again (the rows' figures are the same either way).
import { describe, expect, it } from "vitest";
import { checkpointComparison } from "../../compiler/cli/memory-report.ts";
import { wasmBackend } from "../../compiler/codegen-wasm/backend.ts";
import { compile, compileFront } from "../../compiler/driver/compile.ts";
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

  it("continues the caller's front (training and clean-up phases) for every row instead of compiling its own", () => {
    const plain = checkpointComparison(model.graph, { training, backend: wasmBackend });
    const front = compileFront(model.graph, { backend: wasmBackend, training });
    expect(checkpointComparison(model.graph, { training, backend: wasmBackend, front })).toEqual(plain);
    // A front of another batch size: every row is that program's (the forward graph is not recompiled).
    const small = compileModelFile("examples/cnn/model.ts", { set: { batch: "2" } });
    const smallFront = compileFront(small.graph, { backend: wasmBackend, training });
    const fromFront = checkpointComparison(model.graph, { training, backend: wasmBackend, front: smallFront });
    expect(fromFront).toEqual(checkpointComparison(small.graph, { training, backend: wasmBackend }));
    expect(fromFront.stepFlops).toBeLessThan(plain.stepFlops);
  }, 120_000);
});
