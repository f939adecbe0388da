// The memory-aware scheduler: it lowers the peak where the order matters, never raises it, keeps
// results bit-identical (interpreter before/after on every example's training step), and keeps
// the in-place state updates possible.
import { describe, expect, it } from "vitest";
import { randomInputs } from "../../compiler/cli/random-inputs.ts";
import { interpret } from "../../compiler/ir/interpreter.ts";
import { parseGraph } from "../../compiler/ir/parser.ts";
import { printGraph } from "../../compiler/ir/printer.ts";
import { inplace } from "../../compiler/passes/inplace.ts";
import { runPass } from "../../compiler/passes/pass.ts";
import { schedule, scheduledPeak } from "../../compiler/passes/schedule.ts";
import { refineOrder } from "../../compiler/passes/schedule-refine.ts";
import { stableAliases } from "../../compiler/passes/inplace.ts";
import { EXAMPLES, trainStepOf as trainStep } from "../support/example-graphs.ts";

describe("schedule", () => {
  it("finishes one branch before starting the next when the branches only meet at the end", () => {
    // The frontend's order computes three 1 KiB maps of x before reducing any of them.
    const g = parseGraph(`graph fan {
  input %x: f32[256]
  %0:f32[256] = exp %x
  %1:f32[256] = tanh %x
  %2:f32[256] = sigmoid %x
  %3:f32[] = sum %0 {axes=[0]}
  %4:f32[] = sum %1 {axes=[0]}
  %5:f32[] = sum %2 {axes=[0]}
  %6:f32[] = add %3, %4
  %7:f32[] = add %6, %5
  output y = %7
}`);
    const { graph, stats } = runPass(schedule, g);
    // Before: at %3 (step 3) x, %0, %1, %2 and %3 are live: 4 x 1024 + 16.
    // After: at most x, one map, one running sum and one new sum: 2 x 1024 + 2 x 16.
    expect(stats).toEqual({ "peak-before-bytes": 4112, "peak-after-bytes": 2080, "nodes-moved": 6 });
    expect(graph.nodes.map((n) => n.id)).toEqual(["0", "3", "1", "4", "6", "2", "5", "7"]);
    const x = Float64Array.from({ length: 256 }, (_, i) => Math.sin(i));
    expect(interpret(graph, { x }).outputs.y.data).toEqual(interpret(g, { x }).outputs.y.data);
  });

  it("keeps the original order when no other order is better", () => {
    const g = parseGraph(`graph chain {
  input %x: f32[8]
  %0:f32[8] = exp %x
  %1:f32[8] = neg %0
  output y = %1
}`);
    const { graph, stats } = runPass(schedule, g);
    expect(graph.nodes).toEqual(g.nodes);
    expect(stats["nodes-moved"]).toBe(0);
  });

  it("drops in-place decisions made for the old order", () => {
    const g = runPass(inplace, trainStep("recsys")).graph;
    expect(g.nodes.some((n) => n.inplace !== undefined)).toBe(true);
    const { graph } = runPass(schedule, g);
    expect(graph.nodes.some((n) => n.inplace !== undefined)).toBe(false);
    expect(printGraph(graph)).not.toContain("inplace(");
  });

  it.each(EXAMPLES)("%s: the training step gives identical results, a peak no higher, and keeps its updates in place", (name) => {
    const g = trainStep(name);
    const { graph, stats } = runPass(schedule, g);
    expect(stats["peak-after-bytes"]).toBeLessThanOrEqual(stats["peak-before-bytes"]);
    expect(stats["peak-before-bytes"]).toBe(scheduledPeak(g));
    expect(stats["peak-after-bytes"]).toBe(scheduledPeak(graph));
    // Same nodes, reordered.
    expect(graph.nodes.map((n) => n.id).sort()).toEqual(g.nodes.map((n) => n.id).sort());

    const inputs = randomInputs(g, 5);
    const before = interpret(g, inputs, { seed: 1 });
    const after = interpret(graph, inputs, { seed: 1 });
    expect(after.outputs).toEqual(before.outputs);
    expect(after.updates).toEqual(before.updates);

    const updatesInPlace = (x: typeof g) => runPass(inplace, x).stats["inplace-updates"];
    expect(updatesInPlace(graph)).toBe(updatesInPlace(g));
  }, 30_000);

  it("lowers the peak of training steps by consuming gradients as they are produced", () => {
    // The optimizer pass appends every update after the whole backward pass, so every gradient
    // is live at once; interleaving each update with the backward frees them one by one.
    for (const name of ["mnist-mlp", "resnet", "recsys"]) {
      const { stats } = runPass(schedule, trainStep(name));
      expect(stats["peak-after-bytes"], name).toBeLessThan(stats["peak-before-bytes"]);
    }
  });

  it("sinks a result that waits across other work down to the last reader of its operands", () => {
    // %1 (an input gradient) is computed before the chain %2..%4 that %4 (a filter gradient)
    // needs, and waits for its consumer %5: moved right after %4, the last other reader of %0.
    // %0 then waits for %4 alone, and follows it down to just before it.
    const g = parseGraph(`graph sink {
  input %x: f32[256]
  input %w: f32[256]
  %0:f32[256] = exp %x
  %1:f32[256] = mul %0, %w
  %2:f32[256] = tanh %x
  %3:f32[256] = sigmoid %2
  %4:f32[256] = mul %3, %0
  %5:f32[256] = add %1, %4
  output y = %5
}`);
    const refined = refineOrder(g, g.nodes, stableAliases(g));
    expect(refined.map((n) => n.id)).toEqual(["2", "3", "0", "4", "1", "5"]);
    expect(scheduledPeak({ ...g, nodes: refined })).toBeLessThan(scheduledPeak(g));
  });

  it("runs a value's consumers so that the last one can overwrite it in place", () => {
    // relu could reuse %0's buffer, but the mask read after it kept %0 alive next to relu's result.
    const g = parseGraph(`graph mask {
  input %x: f32[256]
  %0:f32[256] = exp %x
  %1:f32[256] = relu %0
  %2:f32[256] = tanh %1
  %c:f32[] = const {value=0, dtype="f32", shape=[]}
  %3:bool[256] = greater %0, %c
  %4:f32[256] = where %3, %2, %x
  output y = %4
}`);
    const refined = refineOrder(g, g.nodes, stableAliases(g));
    expect(refined.map((n) => n.id)).toEqual(["0", "c", "3", "1", "2", "4"]);
    expect(scheduledPeak({ ...g, nodes: refined })).toBeLessThan(scheduledPeak(g));
    const inputs = { x: Float64Array.from({ length: 256 }, (_, i) => Math.sin(i)) };
    expect(interpret({ ...g, nodes: refined }, inputs).outputs.y.data).toEqual(interpret(g, inputs).outputs.y.data);
  });

  it("counts the kernels' workspaces when given them, at the step of their node", () => {
    const g = trainStep("cnn");
    const workspaceBytes = (n: { op: string }) => (n.op === "conv2dBackpropFilter" ? 1 << 26 : 0);
    const { graph, stats } = runPass(schedule, g, { workspaceBytes });
    expect(stats["peak-before-bytes"]).toBe(scheduledPeak(g, workspaceBytes));
    expect(stats["peak-after-bytes"]).toBe(scheduledPeak(graph, workspaceBytes));
    expect(stats["peak-after-bytes"]).toBeGreaterThan(1 << 26);
    expect(scheduledPeak(graph)).toBeLessThan(1 << 26);
  });
});

