// Block (block:RxC) and N:M masks while training (compiler/passes/prune.ts, prune-units.ts) on
// test/fixtures/small-mlp/model.ts: at every scheduled recomputation the compiled step's mask
// equals mlc prune's (ir/prune-masks.ts pruneMasks) of the same updated weight, in the
// interpreter against the PyTorch twin (test/oracle/prune_train_twin.py, whose block and N:M
// masks are written in torch from mlc prune's definition) step by step in float64 — loss, masked
// gradients, weights, masks, momentum — and on wasm-simd against mlc prune of its own weights;
// masked weights, their gradients and momentum stay 0 between recomputations.
import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { wasmBackend } from "../../compiler/codegen-wasm/backend.ts";
import { compile } from "../../compiler/driver/compile.ts";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import type { Graph } from "../../compiler/ir/graph.ts";
import { initParam } from "../../compiler/ir/init.ts";
import { parseStructure, pruneMasks } from "../../compiler/ir/prune-masks.ts";
import { Session } from "../../compiler/ir/session.ts";
import { maskName, PRUNE_STEP, scheduleCounts, type PruneOptions } from "../../compiler/passes/prune.ts";
import { trainingSpec } from "../../compiler/passes/train-options.ts";
import { rng } from "../support/seeded-random.ts";
import { interpret } from "../../compiler/ir/interpreter.ts";
import { loadWasm, runWasm } from "../support/wasm-harness.ts";

const MODEL = "test/fixtures/small-mlp/model.ts";
const STEPS = 9;
const SCHEDULE = { start: 1, end: 7, every: 2 };
const SHAPES: Record<string, [number, number]> = { "l1.w": [6, 8], "l2.w": [8, 3] };

function trainStep(prune: Partial<PruneOptions>, backend?: typeof wasmBackend): Graph {
  const model = compileModelFile(MODEL);
  const training = { ...trainingSpec(model.train), exposeGradients: true, prune };
  const program = compile(model.graph, { training, ...(backend ? { backend, timeLimitMs: 100 } : {}) });
  return program.entries.find((e) => e.exportName === "train_step")!.graph;
}

function batches(seed: number) {
  const random = rng(seed);
  return Array.from({ length: STEPS }, () => ({
    x: Array.from({ length: 24 }, () => Math.fround(random() * 2 - 1)),
    y: Array.from({ length: 12 }, () => Math.fround(random() * 2 - 1)),
  }));
}

/** A stored mask at its weight's shape: block masks ([ceil(rows/R), ceil(cols/C)]) expanded. */
function fullMask(mask: ArrayLike<number>, name: string, structure: string): number[] {
  const s = parseStructure(structure);
  const [rows, cols] = SHAPES[name];
  if (s.kind !== "block") return Array.from(mask);
  const bc = Math.ceil(cols / s.cols);
  return Array.from({ length: rows * cols }, (_, e) => mask[Math.floor(Math.floor(e / cols) / s.rows) * bc + Math.floor((e % cols) / s.cols)]);
}

/** Units a mask ranks (blocks, elements) per pruned weight, for the schedule's counts. */
function unitCount(name: string, structure: string): number {
  const s = parseStructure(structure);
  const [rows, cols] = SHAPES[name];
  return s.kind === "block" ? Math.ceil(rows / s.rows) * Math.ceil(cols / s.cols) : rows * cols;
}

/** mlc prune's masks of these weights with k_j units pruned (per weight, or over all with global scope). */
function mlcPrune(weights: Record<string, ArrayLike<number>>, names: readonly string[], options: PruneOptions, j: number): number[][] {
  const structure = parseStructure(options.structure, options.norm);
  const targets = names.map((name) => ({ name, shape: SHAPES[name], data: weights[name] }));
  if (structure.kind === "nm") return pruneMasks(targets, options.sparsity, structure).map((m) => Array.from(m));
  if (options.scope === "global") {
    const total = names.reduce((n, name) => n + unitCount(name, options.structure), 0);
    return pruneMasks(targets, scheduleCounts(options, total)[j] / total, structure, "global").map((m) => Array.from(m));
  }
  return targets.map((t) => {
    const count = unitCount(t.name, options.structure);
    return Array.from(pruneMasks([t], scheduleCounts(options, count)[j] / count, structure)[0]);
  });
}

const CASES: { structure: PruneOptions["structure"]; norm: 1 | 2; scope: "layer" | "global"; sparsity: number; initialSparsity: number; pruned: string[] }[] = [
  // l1.w [6, 8] in 4x3 blocks is partial at both edges (2 x 3 blocks); l2.w [8, 3] whole (2 x 1).
  { structure: "block:4x3", norm: 1, scope: "layer", sparsity: 0.5, initialSparsity: 0, pruned: ["l1.w", "l2.w"] },
  { structure: "block:2x2", norm: 2, scope: "layer", sparsity: 0.75, initialSparsity: 0.1, pruned: ["l1.w", "l2.w"] },
  { structure: "block:2x2", norm: 1, scope: "global", sparsity: 0.6, initialSparsity: 0, pruned: ["l1.w", "l2.w"] },
  { structure: "1:2", norm: 1, scope: "layer", sparsity: 0.5, initialSparsity: 0, pruned: ["l1.w", "l2.w"] },
  { structure: "2:4", norm: 1, scope: "layer", sparsity: 0.5, initialSparsity: 0, pruned: ["l2.w"] },
];

describe("block and N:M masks while training against mlc prune and the PyTorch twin", () => {
  for (const c of CASES) {
    it(`${c.structure} (norm ${c.norm}, ${c.scope} scope): masks are mlc prune's of the updated weights at each recomputation; steps equal the twin's`, () => {
      const options: PruneOptions = { ...c, ...SCHEDULE, params: c.pruned };
      const step = trainStep(options);
      const weights = Object.fromEntries(step.params.filter((p) => p.trainable).map((p) => [p.name, Array.from(initParam(p, 5))]));
      const data = batches(13);
      const counts: Record<string, number[]> = Object.fromEntries(c.pruned.map((name) => [name, scheduleCounts(options, unitCount(name, c.structure))]));
      counts.global = scheduleCounts(options, c.pruned.reduce((n, name) => n + unitCount(name, c.structure), 0));
      const s = parseStructure(c.structure);
      const twin = JSON.parse(execFileSync("/usr/bin/python3", ["test/oracle/prune_train_twin.py"], {
        input: JSON.stringify({
          params: Object.fromEntries(Object.entries(weights).map(([n, d]) => [n, { shape: step.params.find((p) => p.name === n)!.type.shape, data: d }])),
          batches: data, lr: 0.1, momentum: Math.fround(0.9), structure: s.kind, norm: c.norm, scope: c.scope, schedule: SCHEDULE, counts, steps: STEPS,
          pruned: c.pruned, ...(s.kind === "block" ? { block: [s.rows, s.cols] } : {}), ...(s.kind === "nm" ? { nm: [s.n, s.m] } : {}),
        }),
        maxBuffer: 16 << 20,
      }).toString()) as Record<string, number | number[]>[];
      const session = new Session([step], { precision: "f64", params: weights });
      const close = (a: ArrayLike<number>, b: ArrayLike<number>, what: string) => {
        expect(a.length, what).toBe(b.length);
        for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i]), `${what}[${i}]: ${a[i]} vs ${b[i]}`).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(b[i])));
      };
      let recomputations = 0;
      let sawPruned = false;
      for (let t = 0; t < STEPS; t++) {
        const before = Object.fromEntries(c.pruned.map((name) => [name, fullMask(session.state.get(maskName(name))!, name, c.structure)]));
        const out = session.run(step, data[t]);
        const expected = twin[t];
        close(out.loss.data, [expected.loss as number], `step ${t} loss`);
        const masks = Object.fromEntries(c.pruned.map((name) => [name, fullMask(session.state.get(maskName(name))!, name, c.structure)]));
        for (const name of ["l1.w", "l2.w", "l1.b", "l2.b"]) {
          close(out[`grad/${name}`].data, expected[`grad/${name}`] as number[], `step ${t} grad/${name}`);
          close(session.state.get(name)!, expected[name] as number[], `step ${t} ${name}`);
        }
        for (const name of c.pruned) {
          expect(masks[name], `step ${t} ${name} mask`).toEqual(expected[`${name}/mask`]);
          close(session.state.get(`opt/${name}/momentum`)!, expected[`opt/${name}/momentum`] as number[], `step ${t} momentum of ${name}`);
          // Pruned weights and their momentum are 0; the gradient is masked by the mask the step began with.
          const w = session.state.get(name)!;
          const g = out[`grad/${name}`].data;
          const v = session.state.get(`opt/${name}/momentum`)!;
          masks[name].forEach((keep, e) => {
            if (keep === 0) expect([w[e], v[e]].map(Math.abs), `step ${t} ${name}[${e}] pruned`).toEqual([0, 0]);
          });
          before[name].forEach((keep, e) => {
            if (keep === 0) expect(Math.abs(g[e]), `step ${t} grad/${name}[${e}] of a pruned weight`).toBe(0);
          });
          sawPruned ||= masks[name].includes(0);
        }
        const j = (t - SCHEDULE.start) / SCHEDULE.every;
        if (t >= SCHEDULE.start && t <= SCHEDULE.end && Number.isInteger(j)) {
          recomputations++;
          const unmasked = Object.fromEntries(c.pruned.map((name) => [name, expected[`${name}/unmasked`] as number[]]));
          const reference = mlcPrune(unmasked, c.pruned, options, j);
          c.pruned.forEach((name, i) => expect(masks[name], `step ${t}: ${name}'s mask is mlc prune's`).toEqual(reference[i]));
        }
      }
      expect(recomputations).toBe(4);
      expect(sawPruned).toBe(true);
      if (s.kind === "nm") for (const name of c.pruned) expect(masks(session, name, c.structure).filter((v) => v === 0).length).toBe((SHAPES[name][0] * SHAPES[name][1] * (s.m - s.n)) / s.m);
    }, 60_000);
  }

  for (const c of [CASES[0], CASES[2], CASES[4]]) {
    it(`${c.structure} (${c.scope} scope) on wasm-simd: the masks of its own weights are mlc prune's at each recomputation, kept between`, async () => {
      const options: PruneOptions = { ...c, ...SCHEDULE, params: c.pruned };
      const step = trainStep(options, wasmBackend);
      const program = await loadWasm(step, "train_step");
      const init = Object.fromEntries(step.params.map((p) => [p.name, initParam(p, 7)]));
      for (const p of step.params) program.writeParam(p.name, init[p.name]);
      const data = batches(17);
      let previous = c.pruned.map((name) => Array.from(program.readParam(maskName(name)).data));
      for (let t = 0; t < STEPS; t++) {
        for (const [name, values] of Object.entries(data[t])) program.write(name, values);
        program.call();
        const stored = c.pruned.map((name) => Array.from(program.readParam(maskName(name)).data));
        const weights = Object.fromEntries(c.pruned.map((name) => [name, program.readParam(name).data]));
        const j = (t - SCHEDULE.start) / SCHEDULE.every;
        if (t >= SCHEDULE.start && t <= SCHEDULE.end && Number.isInteger(j)) {
          // The updated weights after masking: pruned units are 0, below every kept one, so mlc
          // prune with the same count picks the same units.
          const reference = mlcPrune(weights, c.pruned, options, j);
          c.pruned.forEach((name, i) => expect(fullMask(stored[i], name, c.structure), `step ${t}: ${name}`).toEqual(reference[i]));
        } else {
          expect(stored, `step ${t}: masks kept`).toEqual(previous);
        }
        c.pruned.forEach((name, i) => fullMask(stored[i], name, c.structure).forEach((keep, e) => {
          if (keep === 0) expect(Math.abs(weights[name][e]), `step ${t} ${name}[${e}]`).toBe(0);
        }));
        previous = stored;
      }
      expect(Array.from(program.readParam(PRUNE_STEP).data)).toEqual([STEPS]);
      expect(previous.flat()).toContain(0);
    }, 60_000);
  }
});

describe("block and N:M masks on ties (equal magnitudes and equal block means)", () => {
  // x = 0, y = 0 (and zero biases): every gradient is 0, the updated weight is the initial one,
  // so the first step's mask is mlc prune's of it.
  const model = compileModelFile(MODEL);
  const still = trainingSpec(model.train);
  const inputs = { x: new Array(24).fill(0), y: new Array(12).fill(0) };
  const random = rng(23);
  const values = [0, 0.5, -0.5, 1, -1, -0];
  const weights: Record<string, number[]> = { "l1.b": new Array(8).fill(0), "l2.b": new Array(3).fill(0) };
  for (const [name, [r, c]] of Object.entries(SHAPES)) weights[name] = Array.from({ length: r * c }, () => values[Math.floor(random() * values.length)]);
  const cases: Partial<PruneOptions>[] = [
    { structure: "block:2x2", sparsity: 0.5 },
    { structure: "block:4x3", norm: 2, sparsity: 0.5 },
    { structure: "block:1x2", scope: "global", sparsity: 0.7 },
    { structure: "1:2", sparsity: 0.5 },
    { structure: "2:4", sparsity: 0.5, params: ["l2.w"] },
    { structure: "1:4", sparsity: 0.75, params: ["l2.w"] },
  ];
  for (const prune of cases) {
    it(`${prune.structure}${prune.scope === "global" ? " global" : ""}${prune.norm === 2 ? " norm 2" : ""}: interpreter and wasm-simd masks are mlc prune's`, async () => {
      const options = { sparsity: 0.5, initialSparsity: 0, structure: "element" as const, norm: 1 as const, scope: "layer" as const, start: 0, end: 0, every: 1, ...prune } as PruneOptions;
      const names = options.params ?? ["l1.w", "l2.w"];
      const expected = mlcPrune(weights, names, options, 0);
      const graph = compile(model.graph, { training: { ...still, prune: options } }).entries.find((e) => e.exportName === "train_step")!.graph;
      const reference = interpret(graph, inputs, { precision: "native", params: weights });
      const planned = compile(model.graph, { backend: wasmBackend, training: { ...still, prune: options }, timeLimitMs: 100 }).entries.find((e) => e.exportName === "train_step")!.graph;
      const wasm = await runWasm(planned, inputs, weights);
      names.forEach((name, i) => {
        expect(fullMask(reference.updates[maskName(name)].data, name, options.structure), `interpreter ${name}`).toEqual(expected[i]);
        expect(fullMask(wasm.updates[maskName(name)].data, name, options.structure), `wasm ${name}`).toEqual(expected[i]);
      });
      expect(expected.flat()).toContain(0);
    }, 60_000);
  }
});

function masks(session: Session, name: string, structure: string): number[] {
  return fullMask(session.state.get(maskName(name))!, name, structure);
}
