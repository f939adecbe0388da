// Block (block:RxC) and N:M pruning while training (compiler/passes/prune.ts, prune-units.ts)
// through the webgpu pipeline on Dawn + SwiftShader: the training step of
// test/fixtures/small-mlp/model.ts, on a step that recomputes the masks and on one that keeps
// them, matches the interpreter — the masks exactly.
import { describe, expect, it } from "vitest";
import { wgslBackend } from "../../compiler/codegen-wgsl/backend.ts";
import { compile } from "../../compiler/driver/compile.ts";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import { maskName, PRUNE_STEP } from "../../compiler/passes/prune.ts";
import { trainingSpec } from "../../compiler/passes/train-options.ts";
import { expectWgslMatchesInterpreter } from "../support/wgsl-harness.ts";

describe("block and N:M masks while training on webgpu", () => {
  const model = compileModelFile("test/fixtures/small-mlp/model.ts");
  for (const prune of [
    { sparsity: 0.5, structure: "block:4x3" as const, params: ["l1.w", "l2.w"] },
    { sparsity: 0.5, structure: "2:4" as const, params: ["l2.w"] },
  ]) {
    it(`${prune.structure}: the step that recomputes the masks and the one that keeps them match the interpreter`, async () => {
      const training = { ...trainingSpec(model.train), prune: { ...prune, start: 1, end: 1, every: 1 } };
      const step = compile(model.graph, { backend: wgslBackend(), training, timeLimitMs: 100 }).entries.find((e) => e.exportName === "train_step")!.graph;
      for (const t of [0, 1]) {
        const { gpu } = await expectWgslMatchesInterpreter(step, undefined, { seed: 3, params: { [PRUNE_STEP]: [t] }, relativeToMax: true });
        const zeros = Array.from(gpu.updates[maskName(prune.params[0])].data).filter((v) => v === 0).length;
        expect(zeros > 0, `step ${t}: a mask prunes`).toBe(t === 1);
      }
    }, 120_000);
  }
});
