// The --fit check on real examples (test/cli/fit-batch*.test.ts): for three budgets between the
// arena at batch 1 and at twice the example's default batch, the batch fitBatch picks has a built
// arena within the budget and the next batch's is over it, both compiled again from scratch.
import { describe, expect, it } from "vitest";
import { loadBackend } from "../../compiler/driver/index.ts";
import { compile } from "../../compiler/driver/compile.ts";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import { trainingSpec } from "../../compiler/passes/train-options.ts";
import { fitBatch } from "../../compiler/cli/fit-batch.ts";

export function fitExamples(names: readonly string[]): void {
  describe("fitBatch on examples' training steps", async () => {
    const backend = await loadBackend("wasm-simd");
    /** The built arena at a batch, compiled from scratch (not the search's cache). */
    const arenaAt = (name: string, batch: number) => {
      const model = compileModelFile(`examples/${name}/model.ts`, { set: { batch: String(batch) } });
      return compile(model.graph, { backend, training: { ...trainingSpec(model.train), checkpoint: { mode: "none" } } }).arena!;
    };
    // Budgets between the arena at batch 1 and at twice the example's default batch.
    it.each(names)("%s: over three budgets", (name) => {
      const model = compileModelFile(`examples/${name}/model.ts`);
      const opts = { model: `examples/${name}/model.ts`, set: {}, backend, training: trainingSpec(model.train) };
      const start = Number(model.config.batch);
      const memo = new Map<number, number>();
      const cached = (b: number) => memo.get(b) ?? memo.set(b, arenaAt(name, b)).get(b)!;
      const low = cached(1);
      const high = cached(2 * start);
      for (const fraction of [0.1, 0.45, 0.9]) {
        const budget = Math.round(low + fraction * (high - low));
        const r = fitBatch({ ...opts, budget }, "none", cached);
        expect(r.batch, `budget ${budget}`).toBeGreaterThanOrEqual(1);
        expect(arenaAt(name, r.batch), `${name} batch ${r.batch}`).toBeLessThanOrEqual(budget);
        expect(arenaAt(name, r.batch + 1), `${name} batch ${r.batch + 1}`).toBeGreaterThan(budget);
      }
    }, 120_000);
  });
}

