// Node workspaces in the real memory planner: kernels that need scratch memory (GEMM packs panels)
// get a slot live only during their node's step; the plan prints and parses back, the verifier
// rejects a workspace placed over a buffer live at that step, and the planned graph runs in wasm
// exactly as the interpreter computes it.

import { describe, expect, it } from "vitest";
import { emitWasm, WasmPlanError } from "../../compiler/codegen-wasm/emit.ts";
import { wasmWorkspaceBytes } from "../../compiler/codegen-wasm/workspace.ts";
import type { Graph } from "../../compiler/ir/graph.ts";
import { parseGraph } from "../../compiler/ir/parser.ts";
import { printGraph } from "../../compiler/ir/printer.ts";
import { memoryProblem } from "../../compiler/passes/liveness.ts";
import { memoryProblems } from "../../compiler/passes/memory-verify.ts";
import { planMemory } from "../../compiler/driver/phases.ts";
import { expectMatchesInterpreter } from "../support/wasm-harness.ts";

/** Two chained products large enough that the GEMM packs panels (and so needs a workspace). */
function twoLayers(): Graph {
  return parseGraph(`graph two_layers {
  input %x: f32[37, 50]
  param %w1: f32[50, 33] init=glorot_uniform
  param %w2: f32[33, 21] init=glorot_uniform
  %0:f32[37, 33] = matmul %x, %w1
  %1:f32[37, 33] = relu %0
  %2:f32[37, 21] = matmul %1, %w2
  output y = %2
}`);
}

const planned = () => planMemory(twoLayers(), { workspaceBytes: wasmWorkspaceBytes }).graph;

describe("node workspaces", () => {
  it("are buffers live only during their node's step", () => {
    const g = twoLayers();
    const { problem, classes, workspaces } = memoryProblem(g, 16, (n) => (n.op === "matmul" ? 100 : 0));
    expect(workspaces.map((w) => w.node)).toEqual(["0", "2"]);
    expect(workspaces.map((w) => w.buffer)).toEqual([classes.length, classes.length + 1]);
    expect(problem.buffers.slice(classes.length).map((b) => [b.lower, b.upper, b.size])).toEqual([
      [0, 1, 112],
      [2, 3, 112],
    ]);
    expect(memoryProblem(g).workspaces).toEqual([]);
  });

  it("are planned for every packing GEMM, away from the node's operands and result", () => {
    const g = planned();
    const { slots, workspaces } = g.memory!;
    expect(Object.keys(workspaces!)).toEqual(["0", "2"]);
    for (const n of g.nodes.filter((x) => x.op === "matmul")) {
      const types = n.inputs.map((v) => (g.inputs.find((i) => i.name === v) ?? g.params.find((p) => p.name === v) ?? g.nodes.find((x) => x.id === v))!.type);
      const scratch = workspaces![n.id];
      expect(scratch.size).toBeGreaterThanOrEqual(wasmWorkspaceBytes(n, types));
      for (const v of [...n.inputs, n.id]) {
        const s = slots[v];
        expect(scratch.offset >= s.offset + s.size || s.offset >= scratch.offset + scratch.size, `workspace of %${n.id} vs %${v}`).toBe(true);
      }
    }
    expect(memoryProblems(g)).toEqual([]);
  });

  it("let the planned graph run in wasm like the interpreter", async () => {
    await expectMatchesInterpreter(planned(), undefined, { floor: 0.05 });
  });

  it("are required by the emitter when a kernel needs one", () => {
    const unplannedScratch = planMemory(twoLayers()).graph;
    expect(() => emitWasm(unplannedScratch)).toThrow(WasmPlanError);
    expect(() => emitWasm(unplannedScratch)).toThrow(/matmul %0 needs a \d+-byte workspace and the plan gives it none/);
  });

  it("print after inplace as scratch@arena[offset+size] and parse back", () => {
    const g = planned();
    const text = printGraph(g);
    const w = g.memory!.workspaces!["2"];
    expect(text).toContain(`= matmul %1, %w2 {transposeA=false, transposeB=false} scratch@arena[${w.offset}+${w.size}]`);
    const back = parseGraph(text);
    expect(back.memory).toEqual(g.memory);
    expect(printGraph(back)).toBe(text);
  });

  it("planted over an operand live at that step are rejected by the verifier", () => {
    const g = planned();
    const bad: Graph = { ...g, memory: { ...g.memory!, workspaces: { ...g.memory!.workspaces, "2": { offset: g.memory!.slots["1"].offset, size: g.memory!.workspaces!["2"].size } } } };
    const problems = memoryProblems(bad);
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.join("\n")).toMatch(/2#workspace/);
    // The same bytes are free at another step: the first product's workspace may sit there.
    const reused: Graph = { ...g, memory: { ...g.memory!, workspaces: { ...g.memory!.workspaces, "0": { offset: g.memory!.slots["2"].offset, size: 16 } } } };
    expect(memoryProblems(reused)).toEqual([]);
  });

  it("name nodes of the graph, in multiples of the alignment", () => {
    const g = planned();
    const at = (workspaces: Record<string, { offset: number; size: number }>): Graph => ({ ...g, memory: { ...g.memory!, workspaces } });
    expect(memoryProblems(at({ x: { offset: 0, size: 16 } }))).toEqual(["memory: a workspace is given for %x, which is not a node"]);
    expect(memoryProblems(at({ "0": { offset: 0, size: 10 } }))).toEqual(["memory: the workspace of %0 must be a positive multiple of 16 bytes, got 10"]);
  });
});
