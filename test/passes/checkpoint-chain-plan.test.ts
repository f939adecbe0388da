// The chain schedules as the checkpoint pass uses them (compiler/passes/checkpoint/chain-plan.ts,
// rewrite.ts): the chain problem's step costs with the contractions kept, the per-step capacities
// of the capacity version, and the rewrite following a schedule — it recomputes a cut no more
// often than the schedule advances through it (a region's backward reading its input cut does not
// bounce between regions and recompute the region twice), and a snapshot the schedule holds only
// from some region on is not kept alive through the regions before.
import { describe, expect, it } from "vitest";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import { valueTypes } from "../../compiler/ir/graph.ts";
import { byteSize } from "../../compiler/ir/types.ts";
import { chainSlotsTable, scheduleActions, type ChainSchedule } from "../../compiler/passes/checkpoint/chain-dp.ts";
import { solveChainCapacity } from "../../compiler/passes/checkpoint/chain-dp-capacity.ts";
import { capacityModel, chainPlan, chainProblem } from "../../compiler/passes/checkpoint/chain-plan.ts";
import { analyseForward, dropSet, spillOrder, type ForwardAnalysis } from "../../compiler/passes/checkpoint/policies.ts";
import { recompute } from "../../compiler/passes/checkpoint/rewrite.ts";
import { buildTrainingProgram } from "../../compiler/driver/phases.ts";
import { trainingSpec } from "../../compiler/passes/train-options.ts";

function step(name: string, set: Record<string, string> = {}) {
  const model = compileModelFile(`examples/${name}/model.ts`, { set });
  const g = buildTrainingProgram(model.graph, trainingSpec(model.train)).trainStep;
  const forwardNodes = model.graph.nodes.length;
  return { g, forwardNodes, a: analyseForward(g, forwardNodes) };
}

const contractionsOf = (a: ForwardAnalysis) => new Set(a.droppable.filter((d) => d.flopsPerByte >= a.costliest).map((d) => d.id));

/** How often each cut is passed by the schedule's advances after the first reversal (its recomputations). */
function advancesThrough(a: ForwardAnalysis, schedule: ChainSchedule): Map<string, number> {
  const count = new Map<string, number>();
  let reversed = false;
  for (const action of scheduleActions(schedule, a.cuts.length + 1)) {
    if (action.kind === "reverse") reversed = true;
    if (action.kind !== "advance" || !reversed) continue;
    for (let k = action.from + 1; k <= action.to; k++) count.set(a.cuts[k - 1], (count.get(a.cuts[k - 1]) ?? 0) + 1);
  }
  return count;
}

describe("chain problem and capacities", () => {
  const { g, forwardNodes, a } = step("resnet", { depth: "4" });
  const contractions = contractionsOf(a);

  it("costs a residual block's advance at its cheap ops when its convolutions are kept", () => {
    const full = chainProblem(g, forwardNodes, a);
    const kept = chainProblem(g, forwardNodes, a, (id) => contractions.has(id));
    const withConv = new Set([...contractions].map((id) => a.segments.get(id)!));
    for (let k = 0; k < a.cuts.length; k++) {
      // the stem's convolution is the cut itself: advancing to it recomputes it either way
      if (withConv.has(k) && !contractions.has(a.cuts[k])) expect(kept.cost[k], `segment ${k}`).toBeLessThan(full.cost[k] / 20);
      else expect(kept.cost[k], `segment ${k}`).toBe(full.cost[k]);
    }
    expect(kept.size).toEqual(full.size);
  });

  it("grants earlier steps the kept convolutions the backward has freed, less their working set", () => {
    const types = valueTypes(g);
    const spine = Math.max(...a.cuts.map((c) => byteSize(types.get(c)!)));
    const none = capacityModel(g, forwardNodes, a, (id) => contractions.has(id)).capacities(new Set(), spine, 100 * spine);
    // the tail (last block) gets the base; each block's two kept convolutions free two snapshots
    // for the blocks before it; segments without a convolution need one spine-sized value less
    const blocks = [...new Set([...contractions].map((id) => a.segments.get(id)!))].sort((x, y) => x - y);
    const tail = blocks.at(-1)!;
    expect(none[tail]).toBe(spine);
    for (let i = 1; i < blocks.length - 1; i++) expect(none[blocks[i]] - none[blocks[i + 1]]).toBe(2 * spine);
    for (let r = tail + 1; r < none.length; r++) expect(none[r]).toBe(2 * spine);
    // spilling a block's first convolution: that block needs it and its input besides (two
    // spine-sized values) but keeps one value less; blocks after it are unchanged, blocks before
    // it lose the freed convolution
    const { order } = spillOrder(a, a.costliest);
    const spilled = order[0];
    const at = a.segments.get(spilled)!;
    const one = capacityModel(g, forwardNodes, a, (id) => contractions.has(id)).capacities(new Set([spilled]), spine, 100 * spine);
    expect(one[at]).toBe(none[at] - 2 * spine);
    for (let r = at + 1; r < none.length; r++) expect(one[r]).toBe(none[r]);
    for (let r = 0; r < at; r++) expect(one[r]).toBe(Math.max(0, none[r] - spine));
    // and the spare room is capped
    expect(Math.max(...capacityModel(g, forwardNodes, a, (id) => contractions.has(id)).capacities(new Set(), spine, 3 * spine))).toBe(4 * spine);
  });
});

describe("the rewrite follows chain schedules", () => {
  for (const [name, set] of [["resnet", { depth: "4" }], ["mnist-mlp", {}], ["transformer", {}]] as const) {
    it(`${name}: recomputes each cut at most as often as the schedule advances through it`, () => {
      const { g, forwardNodes, a } = step(name, set);
      if (a.cuts.length === 0) return;
      const contractions = contractionsOf(a);
      const l = a.cuts.length + 1;
      const table = chainSlotsTable(chainProblem(g, forwardNodes, a), 4);
      const types = valueTypes(g);
      const spine = Math.max(...a.cuts.map((c) => byteSize(types.get(c)!)));
      const kept = chainProblem(g, forwardNodes, a, (id) => contractions.has(id));
      const schedules: [string, ChainSchedule, number][] = [];
      for (let slots = 0; slots <= 4; slots++) {
        schedules.push([`slots ${slots}`, table.solution(0, l, slots).schedule, Infinity]);
        const capacity = capacityModel(g, forwardNodes, a, (id) => contractions.has(id)).capacities(new Set(), slots * spine, 8 * spine);
        schedules.push([`capacity ${slots}`, solveChainCapacity(kept, capacity, spine / 4).schedule, a.costliest]);
      }
      for (const [label, schedule, threshold] of schedules) {
        const plan = chainPlan(a, schedule, 0);
        const r = recompute(g, forwardNodes, dropSet(a, plan.kept, threshold), a.segments, (region) => plan.holds.get(region) ?? new Set());
        const expected = advancesThrough(a, schedule);
        const got = new Map<string, number>();
        for (const n of r.graph.nodes) if (n.recomputeOf !== undefined && a.cuts.includes(n.recomputeOf)) got.set(n.recomputeOf, (got.get(n.recomputeOf) ?? 0) + 1);
        for (const cut of a.cuts) expect(got.get(cut) ?? 0, `${label}: %${cut}`).toBeLessThanOrEqual(expected.get(cut) ?? 0);
      }
    });
  }

  it("recomputes a snapshot the schedule holds from some region on there, not keeping an older copy alive", () => {
    // resnet depth 4: reverse the steps l-1 … 5 each from x_0 (advancing through x_3 without
    // holding it), then hold x_3 for steps 4, 3 and reverse [0, 3) from x_0. The copies of x_3 made
    // for the later steps are not held there, so the one steps 4 and 3 use is recomputed after
    // them (as the schedule advances to x_3 again), not an older copy kept alive through them.
    const { g, forwardNodes, a } = step("resnet", { depth: "4" });
    const l = a.cuts.length + 1;
    let schedule: ChainSchedule = { kind: "split", at: 3, right: { kind: "advance-all" }, left: { kind: "advance-all" } };
    for (let j = 6; j <= l; j++) schedule = { kind: "peel", rest: schedule };
    const plan = chainPlan(a, schedule, 0);
    expect(plan.kept.size).toBe(0);
    expect(plan.holds.get(4)).toEqual(new Set([a.cuts[2]]));
    const r = recompute(g, forwardNodes, dropSet(a, plan.kept, Infinity), a.segments, (region) => plan.holds.get(region) ?? new Set());
    const index = new Map(r.graph.nodes.map((n, i) => [n.id, i] as const));
    const copiesOf = (k: number) => r.graph.nodes.filter((n) => n.recomputeOf === a.cuts[k - 1]);
    // the last copy of x_4 (steps 4 and 3 read it) is computed from a copy of x_3 made after
    // every copy of x_5 (steps 5 and later read those)
    const x4 = copiesOf(4).at(-1)!;
    const x3 = x4.inputs.find((v) => copiesOf(3).some((c) => c.id === v))!;
    expect(x3).toBeDefined();
    expect(copiesOf(5).length).toBeGreaterThan(0);
    for (const x5 of copiesOf(5)) expect(index.get(x3)!).toBeGreaterThan(index.get(x5.id)!);
  });
});
