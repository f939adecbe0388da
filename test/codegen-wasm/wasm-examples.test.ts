// Every example as the bundle runs it: forward and training step fused and planned in one arena
// with the kernels' workspaces (bundleEntries, the same path as `mlc build --train`), emitted to
// WASM and run against the reference interpreter in native f32 precision on random inputs.
//
// Two discontinuities make a whole training step compare badly for reasons that are not errors:
// - relu's derivative is a comparison (`greater x, 0`): an activation within f32 rounding of 0
//   (the two sides sum in different orders) flips its mask and changes the gradient flowing
//   through it. The inputs are therefore drawn from the first seed whose every comparison has a
//   margin of at least 1e-6 (f32 rounding of values near 1 is 6e-8) in the interpreter; the search is part of the test.
// - Adam's first step moves each param by about lr * sign(gradient), so a gradient element near 0
//   whose rounding differs moves by up to 2 lr. The gradients are exposed as outputs and compared
//   tightly; the updated params and optimizer state get a tolerance of 1e-2 of their largest
//   magnitude.
import { describe, expect, it } from "vitest";
import { randomInputs } from "../../compiler/cli/random-inputs.ts";
import { compile } from "../../compiler/driver/compile.ts";
import { wasmBackend } from "../../compiler/codegen-wasm/backend.ts";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import type { Graph } from "../../compiler/ir/graph.ts";
import { initParams, interpret } from "../../compiler/ir/interpreter.ts";
import { trainingSpec } from "../../compiler/passes/train-options.ts";
import { EXAMPLES } from "../support/example-graphs.ts";
import { graphTolerance, resultMismatches, runWasm } from "../support/wasm-harness.ts";

const COMPARISONS = new Set(["greater", "less", "greaterEqual", "lessEqual"]);
const MARGIN = 1e-6;

/** Whether every f32 comparison in `g` on these inputs decides each element by at least MARGIN. */
function awayFromKinks(g: Graph, seed: number): boolean {
  const run = interpret(g, randomInputs(g, seed), { params: initParams(g, seed), keepValues: true, seed });
  for (const n of g.nodes.filter((n) => COMPARISONS.has(n.op))) {
    const [a, b] = n.inputs.map((v) => run.values!.get(v)!);
    if (a.type.dtype !== "f32") continue; // integer comparisons (the causal mask's iotas) are exact
    const [x, y] = [a.data, b.data];
    for (let i = 0; i < x.length; i++) if (Math.abs(x[i] - y[y.length === 1 ? 0 : i]) < MARGIN) return false;
  }
  return true;
}

describe.each(EXAMPLES)("%s on wasm-simd", (name) => {
  const model = compileModelFile(`examples/${name}/model.ts`);
  const training = { ...trainingSpec(model.train), exposeGradients: true };
  const entries = compile(model.graph, { backend: wasmBackend, training, timeLimitMs: 100 }).entries;
  it.each(entries.map((e) => [e.exportName, e.graph] as const))("%s matches the interpreter", async (_entry, graph) => {
    const { memory: _plan, ...unplanned } = graph;
    const seed = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].find((s) => awayFromKinks(unplanned, s));
    expect(seed, "a seed whose comparisons all have a margin").toBeDefined();
    const inputs = randomInputs(graph, seed!);
    const params = initParams(graph, seed!);
    const wasm = await runWasm(graph, inputs, params);
    const reference = interpret(unplanned, inputs, { params, seed: seed! });
    const tight = { tolerance: graphTolerance(graph), relativeToMax: true };
    const adam = training.optimizer.kind !== "sgd";
    const failures = resultMismatches(wasm, reference, tight, adam ? { tolerance: 1e-2, relativeToMax: true } : tight);
    expect(failures.join("\n")).toBe("");
  }, 60_000);
});
