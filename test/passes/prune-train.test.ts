// Pruning while training (compiler/passes/prune.ts) against its PyTorch twin
// (test/oracle/prune_train_twin.py: torch.nn.utils.prune's masks and masked weight_orig, SGD with
// momentum) on test/fixtures/small-mlp/model.ts, step by step in float64: the loss, the masked
// gradients, the weights, the masks and the momentum buffers (to 1e-6: the step rounds its constants, the momentum and the loss gradient's 2/n, to f32 even when interpreted in float64); element and channel masks. And the
// schedule's counts, the pass's errors, and the training step on wasm-simd against the interpreter.
import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { wasmBackend } from "../../compiler/codegen-wasm/backend.ts";
import { compile } from "../../compiler/driver/compile.ts";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import { initParam } from "../../compiler/ir/init.ts";
import { Session } from "../../compiler/ir/session.ts";
import { maskName, PRUNE_STEP, scheduleCounts, type PruneOptions } from "../../compiler/passes/prune.ts";
import { trainingSpec } from "../../compiler/passes/train-options.ts";
import { rng } from "../support/seeded-random.ts";
import { expectMatchesInterpreter } from "../support/wasm-harness.ts";

const MODEL = "test/fixtures/small-mlp/model.ts";
const STEPS = 9;
const SCHEDULE = { start: 1, end: 7, every: 2 };
const PRUNED = ["l1.w", "l2.w"];

function trainStep(prune: Partial<PruneOptions>) {
  const model = compileModelFile(MODEL);
  const training = { ...trainingSpec(model.train), exposeGradients: true, prune };
  const program = compile(model.graph, { training });
  return { model, step: program.entries.find((e) => e.exportName === "train_step")!.graph };
}

function batches(seed: number) {
  const random = rng(seed);
  return Array.from({ length: STEPS }, () => ({
    x: Array.from({ length: 24 }, () => Math.fround(random() * 2 - 1)),
    y: Array.from({ length: 12 }, () => Math.fround(random() * 2 - 1)),
  }));
}

describe("pruning while training against PyTorch (torch.nn.utils.prune)", () => {
  for (const [structure, scope] of [["element", "layer"], ["channel", "layer"], ["element", "global"]] as const) {
    it(`${structure} masks, ${scope} scope: loss, masked gradients, weights, masks and momentum equal the twin's at every step`, () => {
      const options = { sparsity: 0.75, initialSparsity: 0.1, structure, norm: 1 as const, scope, ...SCHEDULE };
      const { step } = trainStep(options);
      const weights = Object.fromEntries(step.params.filter((p) => p.trainable).map((p) => [p.name, Array.from(initParam(p, 3))]));
      const data = batches(11);
      const counts = Object.fromEntries(PRUNED.map((name) => {
        const p = step.params.find((x) => x.name === name)!;
        return [name, scheduleCounts(options, structure === "element" ? p.type.shape.reduce((a, d) => a * d, 1) : p.type.shape[1])];
      }));
      counts.global = scheduleCounts(options, 6 * 8 + 8 * 3);
      const twin = JSON.parse(execFileSync("/usr/bin/python3", ["test/oracle/prune_train_twin.py"], {
        input: JSON.stringify({
          params: Object.fromEntries(Object.entries(weights).map(([n, d]) => [n, { shape: step.params.find((p) => p.name === n)!.type.shape, data: d }])),
          batches: data, lr: 0.1, momentum: Math.fround(0.9), structure, norm: 1, scope, schedule: SCHEDULE, counts, steps: STEPS,
        }),
        maxBuffer: 16 << 20,
      }).toString()) as Record<string, number | number[]>[];
      const session = new Session([step], { precision: "f64", params: weights });
      const close = (a: ArrayLike<number>, b: ArrayLike<number>, what: string) => {
        expect(a.length, what).toBe(b.length);
        for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i]), `${what}[${i}]: ${a[i]} vs ${b[i]}`).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(b[i])));
      };
      let sawPruned = false;
      for (let t = 0; t < STEPS; t++) {
        const out = session.run(step, data[t]);
        const expected = twin[t];
        close(out.loss.data, [expected.loss as number], `step ${t} loss`);
        for (const name of [...PRUNED, "l1.b", "l2.b"]) {
          close(out[`grad/${name}`].data, expected[`grad/${name}`] as number[], `step ${t} grad/${name}`);
          close(session.state.get(name)!, expected[name] as number[], `step ${t} ${name}`);
        }
        for (const name of PRUNED) {
          expect(Array.from(session.state.get(maskName(name))!), `step ${t} ${name} mask`).toEqual(expected[`${name}/mask`]);
          close(session.state.get(`opt/${name}/momentum`)!, expected[`opt/${name}/momentum`] as number[], `step ${t} momentum of ${name}`);
          sawPruned ||= (expected[`${name}/mask`] as number[]).includes(0);
        }
        expect(Array.from(session.state.get(PRUNE_STEP)!)).toEqual([t + 1]);
      }
      // The last recomputation reached the final sparsity.
      const last = scheduleCounts(options, 48);
      expect(sawPruned).toBe(true);
      const zeros = (name: string) => Array.from(session.state.get(maskName(name))!).filter((v) => v === 0).length;
      if (scope === "global") expect(zeros("l1.w") + zeros("l2.w")).toBe(scheduleCounts(options, 72).at(-1));
      else if (structure === "element") expect(zeros("l1.w")).toBe(last[last.length - 1]);
    }, 60_000);
  }
});

describe("the prune pass", () => {
  it("counts as torch.nn.utils.prune, along Zhu & Gupta's cubic schedule", () => {
    expect(scheduleCounts({ sparsity: 0.9, initialSparsity: 0, start: 0, end: 30, every: 10 }, 100)).toEqual([0, 63, 87, 90]);
    expect(scheduleCounts({ sparsity: 0.5, initialSparsity: 0.2, start: 5, end: 5, every: 3 }, 10)).toEqual([5]);
    // round half to even: 0.25 * 10 = 2.5 -> 2
    expect(scheduleCounts({ sparsity: 0.25, initialSparsity: 0, start: 0, end: 0, every: 1 }, 10)).toEqual([2]);
  });

  it("names what is wrong: a param it cannot prune, a sparsity or schedule out of range", () => {
    expect(() => trainStep({ params: ["nope.w"] })).toThrow(/no param 'nope.w'/);
    expect(() => trainStep({ sparsity: 1.5 })).toThrow(/sparsity 1.5 must be a fraction/);
    expect(() => trainStep({ start: 5, end: 2 })).toThrow(/START:END:EVERY/);
  });

  it("its training step on wasm-simd matches the interpreter (masks recomputed and kept)", async () => {
    const { step: _unused, model } = trainStep({ sparsity: 0.5 });
    const training = { ...trainingSpec(model.train), prune: { sparsity: 0.5, start: 0, end: 0, every: 1 } };
    const planned = compile(model.graph, { backend: wasmBackend, training, timeLimitMs: 100 }).entries.find((e) => e.exportName === "train_step")!.graph;
    for (const s of [0, 1]) await expectMatchesInterpreter(planned, undefined, { seed: s, params: { [PRUNE_STEP]: [s] } });
  }, 60_000);
});
