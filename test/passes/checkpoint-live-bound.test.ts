// checkpoint/live-bound.ts: the live bytes at the end of the forward pass never exceed a rewritten
// step's quick peak estimate (unfused, and fused with the WebAssembly backend's workspaces, as the
// CLI estimates it), for every policy auto searches on every example; it is the same from the
// rewrite's report of what the backward reads as from the rewritten graph; and on the ResNet, whose
// peak is that moment, it is within a few percent of it (what lets the budget search skip most
// estimates on deep nets).
import { describe, expect, it } from "vitest";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import { wasmBackend } from "../../compiler/codegen-wasm/backend.ts";
import { backendPeak } from "../../compiler/driver/compile.ts";
import { buildTrainingProgram } from "../../compiler/driver/phases.ts";
import { autoCandidates, estimatedPeak } from "../../compiler/passes/checkpoint.ts";
import { boundaryLiveBytes } from "../../compiler/passes/checkpoint/live-bound.ts";
import { analyseForward, dropSet, sqrtDropSet } from "../../compiler/passes/checkpoint/policies.ts";
import { recompute } from "../../compiler/passes/checkpoint/rewrite.ts";
import { trainingSpec } from "../../compiler/passes/train-options.ts";
import { EXAMPLES } from "../support/example-graphs.ts";

function step(name: string) {
  const model = compileModelFile(`examples/${name}/model.ts`);
  const g = buildTrainingProgram(model.graph, trainingSpec(model.train)).trainStep;
  const forwardIds = new Set(model.graph.nodes.map((n) => n.id));
  return { g, forwardNodes: g.nodes.findIndex((n) => !forwardIds.has(n.id)) };
}

describe("boundaryLiveBytes", () => {
  it.each(EXAMPLES)("%s: at most every auto candidate's quick peak, fused or not", (name) => {
    const { g, forwardNodes } = step(name);
    const fused = backendPeak(wasmBackend);
    const candidates = autoCandidates(g, forwardNodes, undefined, fused);
    expect(candidates.length).toBeGreaterThan(10);
    for (const c of [{ graph: g, peakBytes: fused(g, false) }, ...candidates]) {
      const bound = boundaryLiveBytes(c.graph, forwardNodes);
      expect(bound).toBeGreaterThan(0);
      expect(bound).toBeLessThanOrEqual(c.peakBytes);
      expect(bound).toBeLessThanOrEqual(estimatedPeak(c.graph));
    }
  }, 60_000);

  it.each(EXAMPLES)("%s: from what a rewrite reports its backward reads, as from the rewritten graph", (name) => {
    const { g, forwardNodes } = step(name);
    const a = analyseForward(g, forwardNodes);
    for (const [dropped, regions] of [[sqrtDropSet(a), undefined], [dropSet(a, new Set(a.cuts), a.costliest), a.segments], [dropSet(a, new Set(), Infinity), a.segments]] as const) {
      const r = recompute(g, forwardNodes, dropped, regions);
      expect(boundaryLiveBytes(g, forwardNodes, r.readAfter)).toBe(boundaryLiveBytes(r.graph, forwardNodes));
    }
  });

  it("is within 5% of the ResNet's peak when nothing is recomputed (the end of its forward pass is the peak)", () => {
    const { g, forwardNodes } = step("resnet");
    expect(boundaryLiveBytes(g, forwardNodes)).toBeGreaterThan(0.95 * backendPeak(wasmBackend)(g, false));
  });
});
