// The checkpoint pass: gradients, loss and updates with sqrt and auto equal those without
// checkpointing, bit for bit (recompute nodes repeat the same ops on the same values), for every
// example; recompute nodes print as `# recompute of %x` and round-trip; the verifier rejects a
// recompute that differs from its original; sqrt and auto lower the peak; auto meets a budget
// with fewer recomputed FLOPs than sqrt where it can, and names the least feasible peak when it
// cannot.
import { describe, expect, it } from "vitest";
import { randomInputs } from "../../compiler/cli/random-inputs.ts";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import { initParams, interpret } from "../../compiler/ir/interpreter.ts";
import { printGraph } from "../../compiler/ir/printer.ts";
import { verifyGraph } from "../../compiler/ir/verifier.ts";
import type { Graph } from "../../compiler/ir/graph.ts";
import { autoCandidates, checkpoint, estimatedPeak } from "../../compiler/passes/checkpoint.ts";
import { runPass } from "../../compiler/passes/pass.ts";
import { analyseForward } from "../../compiler/passes/checkpoint/policies.ts";
import { buildTrainingProgram } from "../../compiler/driver/phases.ts";
import { trainingSpec } from "../../compiler/passes/train-options.ts";
import { EXAMPLES } from "../support/example-graphs.ts";
import { expectRoundTrip } from "../support/ir-roundtrip.ts";

function program(name: string, checkpoint?: { mode: "none" | "sqrt" | "auto"; budgetBytes?: number; leastPeak?: boolean }, set: Record<string, string> = {}) {
  const model = compileModelFile(`examples/${name}/model.ts`, { set });
  return buildTrainingProgram(model.graph, { ...trainingSpec(model.train), exposeGradients: true, ...(checkpoint ? { checkpoint } : {}) });
}

describe.each(EXAMPLES)("%s", (name) => {
  const plain = program(name).trainStep;
  const inputs = randomInputs(plain, 3);
  const params = initParams(plain, 3);
  const reference = interpret(plain, inputs, { params });

  it.each(["sqrt", "auto"] as const)("with --checkpoint %s: loss, gradients and updates are bitwise those without", (mode) => {
    const { trainStep: g, stats } = program(name, { mode });
    const result = interpret(g, inputs, { params });
    for (const [k, t] of Object.entries(reference.outputs)) expect(Array.from(result.outputs[k].data), k).toEqual(Array.from(t.data));
    for (const [k, t] of Object.entries(reference.updates)) expect(Array.from(result.updates[k].data), k).toEqual(Array.from(t.data));
    expect(stats.checkpoint).toBeDefined();
    // Printed recompute markers parse back to the same graph.
    expectRoundTrip(g);
  }, 60_000);
});

describe("checkpoint pass", () => {
  it("finds the MLP's layer outputs as cuts", () => {
    const model = compileModelFile("examples/mnist-mlp/model.ts");
    const step = buildTrainingProgram(model.graph, trainingSpec(model.train)).trainStep;
    const { cuts } = analyseForward(step, model.graph.nodes.length);
    const byId = new Map(step.nodes.map((n) => [n.id, n.op]));
    expect(cuts.map((c) => byId.get(c))).toEqual(["matmul", "add", "relu", "matmul", "add", "relu", "matmul"]);
  });

  it("marks recompute nodes in the IR and the verifier checks them", () => {
    const g = program("resnet", { mode: "sqrt" }).trainStep;
    const copies = g.nodes.filter((n) => n.recomputeOf !== undefined);
    expect(copies.length).toBeGreaterThan(0);
    const text = printGraph(g, { locations: false });
    expect(text).toContain(`# recompute of %${copies[0].recomputeOf}`);
    const other = g.nodes.find((n) => n.op !== copies[0].op)!;
    const bad = { ...g, nodes: g.nodes.map((n) => (n === copies[0] ? { ...n, recomputeOf: other.id } : n)) };
    expect(() => verifyGraph(bad)).toThrow(/\(recompute of %.*\): differs from the node it recomputes/);
    const dangling = { ...g, nodes: g.nodes.map((n) => (n === copies[0] ? { ...n, recomputeOf: "nowhere" } : n)) };
    expect(() => verifyGraph(dangling)).toThrow(/%nowhere is not another node of the graph/);
  });

  it("sqrt lowers resnet's peak; auto meets a budget with fewer recomputed FLOPs than sqrt", () => {
    const none = estimatedPeak(program("resnet").trainStep);
    const sqrt = program("resnet", { mode: "sqrt" });
    const sqrtPeak = sqrt.stats.checkpoint["estimated-peak"];
    expect(sqrtPeak).toBeLessThan(0.5 * none);
    const budget = Math.round(0.75 * none);
    const auto = program("resnet", { mode: "auto", budgetBytes: budget });
    expect(auto.stats.checkpoint["estimated-peak"]).toBeLessThanOrEqual(budget);
    expect(auto.stats.checkpoint["recomputed-flops"]).toBeLessThan(0.05 * sqrt.stats.checkpoint["recomputed-flops"]);
  }, 60_000);

  it("auto estimates the peak of each distinct rewritten step once (policies that rewrite alike share it)", () => {
    const model = compileModelFile("examples/resnet/model.ts");
    const plain = program("resnet");
    const forwardIds = new Set(model.graph.nodes.map((n) => n.id));
    const forwardNodes = plain.trainStep.nodes.findIndex((n) => !forwardIds.has(n.id));
    const measured: string[] = [];
    const peakOf = (g: Graph, scheduled: boolean) => {
      measured.push(`${scheduled}\n${printGraph(g, { locations: false })}`);
      return estimatedPeak(g, scheduled);
    };
    // leastPeak: the search that estimates every candidate (--tradeoff's lower end)
    const { stats } = runPass(checkpoint, plain.trainStep, { mode: "auto", leastPeak: true, forwardNodes, peakOf });
    // the same choice as with the pass's own estimator
    expect(stats).toEqual(program("resnet", { mode: "auto", leastPeak: true }).stats.checkpoint);
    expect(measured.length).toBeGreaterThan(10);
    expect(new Set(measured).size).toBe(measured.length);
  }, 60_000);

  it("auto with a budget estimates few candidates, and recomputes no more than any candidate of the family that fits", () => {
    const model = compileModelFile("examples/resnet/model.ts");
    const plain = program("resnet").trainStep;
    const forwardIds = new Set(model.graph.nodes.map((n) => n.id));
    const forwardNodes = plain.nodes.findIndex((n) => !forwardIds.has(n.id));
    const candidates = autoCandidates(plain, forwardNodes);
    const budget = Math.round(0.5 * estimatedPeak(plain));
    let estimates = 0;
    const peakOf = (g: Graph, scheduled: boolean) => {
      estimates++;
      return estimatedPeak(g, scheduled);
    };
    const { stats } = runPass(checkpoint, plain, { mode: "auto", budgetBytes: budget, forwardNodes, peakOf });
    expect(stats["estimated-peak"]).toBeLessThanOrEqual(budget);
    // candidates recomputing more than a known fit, or whose lower bound misses the budget, are not estimated
    expect(estimates).toBeLessThan(candidates.length / 2);
    const fitting = candidates.filter((c) => estimatedPeak(c.graph, true) <= budget);
    expect(fitting.length).toBeGreaterThan(0);
    expect(stats["recomputed-flops"]).toBeLessThanOrEqual(Math.min(...fitting.map((c) => c.recomputeFlops)));
  }, 60_000);

  it("auto without a budget recomputes only cheap ops: no contraction, every cut kept, a lower peak for a tiny share of the FLOPs", () => {
    const plain = program("resnet").trainStep;
    const model = compileModelFile("examples/resnet/model.ts");
    const forwardIds = new Set(model.graph.nodes.map((n) => n.id));
    const forwardNodes = plain.nodes.findIndex((n) => !forwardIds.has(n.id));
    const cuts = new Set(analyseForward(plain, forwardNodes).cuts);
    const auto = program("resnet", { mode: "auto" });
    const copies = auto.trainStep.nodes.filter((n) => n.recomputeOf !== undefined);
    expect(copies.length).toBeGreaterThan(0);
    for (const n of copies) {
      expect(["conv2d", "matmul"]).not.toContain(n.op);
      expect(cuts.has(n.recomputeOf!)).toBe(false);
    }
    expect(auto.stats.checkpoint["estimated-peak"]).toBeLessThan(0.9 * estimatedPeak(plain, true));
    const sqrt = program("resnet", { mode: "sqrt" });
    expect(auto.stats.checkpoint["recomputed-flops"]).toBeLessThan(0.01 * sqrt.stats.checkpoint["recomputed-flops"]);
    // The least-peak search recomputes the convolutions too (many times the step's FLOPs).
    const least = program("resnet", { mode: "auto", leastPeak: true });
    expect(least.stats.checkpoint["estimated-peak"]).toBeLessThan(auto.stats.checkpoint["estimated-peak"]);
    expect(least.trainStep.nodes.some((n) => n.recomputeOf !== undefined && n.op === "conv2d")).toBe(true);
  }, 60_000);

  it("reports an infeasible budget with the least peak it can reach", () => {
    expect(() => program("resnet", { mode: "auto", budgetBytes: 1000 })).toThrow(/memory budget 1000 bytes is infeasible for 'resnet': the least peak checkpointing reaches is \d+ bytes/);
  }, 60_000);
});
