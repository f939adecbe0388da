// planEntries: forward and train step planned as one problem on one timeline. Shared params,
// state and inputs sit at one offset in both entries; everything else may reuse the other entry's
// bytes, so the arena is smaller than the two plans side by side; each entry's plan verifies.

import { describe, expect, it } from "vitest";
import { wasmWorkspaceBytes } from "../../compiler/codegen-wasm/workspace.ts";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import type { Graph } from "../../compiler/ir/graph.ts";
import { parseGraph } from "../../compiler/ir/parser.ts";
import { memoryProblems } from "../../compiler/passes/memory-verify.ts";
import { planEntries, PlanEntriesError } from "../../compiler/passes/plan-entries.ts";
import { buildTrainingProgram, planMemory } from "../../compiler/driver/phases.ts";
import { trainingSpec } from "../../compiler/passes/train-options.ts";

function program() {
  const model = compileModelFile("examples/mnist-mlp/model.ts");
  return buildTrainingProgram(model.graph, trainingSpec(model.train));
}

describe("planEntries", () => {
  const { forward, trainStep } = program();
  const planned = planEntries([forward, trainStep], { workspaceBytes: wasmWorkspaceBytes, timeLimitMs: 200 });
  const [f, t] = planned.graphs;

  it("puts every shared input, param and state at one offset in both entries", () => {
    for (const name of [...forward.inputs.map((i) => i.name), ...forward.params.map((p) => p.name)]) {
      expect(f.memory!.slots[name], name).toEqual(t.memory!.slots[name]);
    }
  });

  it("gives each entry a plan that verifies on its own, workspaces included", () => {
    expect(memoryProblems(f)).toEqual([]);
    expect(memoryProblems(t)).toEqual([]);
    expect(Object.keys(f.memory!.workspaces ?? {}).length).toBeGreaterThan(0);
    expect(planned.arena).toBe(Math.max(f.memory!.arena, t.memory!.arena));
  });

  it("lets the forward pass reuse the train step's scratch bytes", () => {
    const separate = planMemory(trainStep, { workspaceBytes: wasmWorkspaceBytes, timeLimitMs: 200 }).graph.memory!.arena;
    const forwardAlone = planMemory(forward, { workspaceBytes: wasmWorkspaceBytes, timeLimitMs: 200 }).graph.memory!.arena;
    const paramBytes = forward.params.reduce((n, p) => n + f.memory!.slots[p.name].size, 0);
    // Side by side would need the train step plus the forward's non-shared buffers.
    expect(planned.arena).toBeLessThan(separate + forwardAlone - paramBytes);
  });

  it("refuses entries that disagree on a shared name's type", () => {
    const a: Graph = parseGraph("graph a {\n  input %x: f32[4]\n  %0:f32[4] = exp %x\n  output y = %0\n}");
    const b: Graph = parseGraph("graph b {\n  input %x: f32[5]\n  %0:f32[5] = exp %x\n  output y = %0\n}");
    expect(() => planEntries([a, b])).toThrow(PlanEntriesError);
    expect(() => planEntries([a, b])).toThrow("'x' is f32[4] in graph 'a' but f32[5] in graph 'b'; entries share it by name");
  });
});
