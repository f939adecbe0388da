// The plan pass and the whole memory pipeline (schedule -> inplace -> plan) on every example's
// forward and training graph: the plan verifies, running the graph inside its one planned arena
// gives exactly the reference interpreter's results, the arena is within 2% of the max-live lower
// bound of its schedule, and planned IR prints and parses back identically. Then the verifier and
// the arena run are shown to catch planted plan errors.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { randomInputs } from "../../compiler/cli/random-inputs.ts";
import { interpret } from "../../compiler/ir/interpreter.ts";
import { parseGraph } from "../../compiler/ir/parser.ts";
import { printGraph } from "../../compiler/ir/printer.ts";
import { verifyGraph } from "../../compiler/ir/verifier.ts";
import { maxLiveBytes, naiveBytes } from "../../compiler/passes/liveness.ts";
import { runInArena } from "../../compiler/passes/memory-arena-run.ts";
import { runPass } from "../../compiler/passes/pass.ts";
import { planMemory } from "../../compiler/driver/phases.ts";
import { plan } from "../../compiler/passes/plan.ts";
import { EXAMPLES, graphsOf } from "../support/example-graphs.ts";
import { expectRoundTrip } from "../support/ir-roundtrip.ts";

describe.each(EXAMPLES)("%s", (name) => {
  it.each(graphsOf(name))("%s: plans within 2% of the lower bound, and runs in its arena exactly as the interpreter", (_kind, g) => {
    const { graph, stats } = planMemory(g, {});
    const { arena } = graph.memory!;
    const bound = maxLiveBytes(graph);
    expect(stats.plan["lower-bound-bytes"]).toBe(bound);
    expect(stats.plan["arena-bytes"]).toBe(arena);
    expect(arena).toBeGreaterThanOrEqual(bound);
    expect(arena / bound).toBeLessThanOrEqual(1.02); // the acceptance criterion
    expect(stats.plan["naive-bytes"]).toBe(naiveBytes(g));
    expect(arena).toBeLessThan(naiveBytes(g));

    const inputs = randomInputs(g, 7);
    const reference = interpret(g, inputs, { seed: 3 });
    const inArena = runInArena(graph, inputs, { seed: 3 });
    expect(inArena.outputs).toEqual(reference.outputs);
    expect(inArena.updates).toEqual(reference.updates);

    verifyGraph(expectRoundTrip(graph).parsed);
  }, 60_000);
});

// Two values live at the same time (%0 until %2 reads it; %1 from its step) and a scalar.
const PLANNED = `graph small {
  memory arena=80 align=16
  input %x: f32[4] @arena[0+16]
  %0:f32[4] @arena[16+16] = exp %x
  %1:f32[4] @arena[32+16] = neg %x
  %2:f32[4] @arena[16+16] = add %0, %1 inplace(%0)
  %3:f32[] @arena[48+16] = sum %2 {axes=[0], keepDims=false}
  %4:f32[4] @arena[64+16] = mul %2, %3
  output y = %4
}`;

describe("planned IR", () => {
  it("reads back slots, the arena line and in-place operands", () => {
    const g = parseGraph(PLANNED);
    expect(g.memory).toEqual({
      arena: 80,
      alignment: 16,
      slots: {
        x: { offset: 0, size: 16 }, 0: { offset: 16, size: 16 }, 1: { offset: 32, size: 16 },
        2: { offset: 16, size: 16 }, 3: { offset: 48, size: 16 }, 4: { offset: 64, size: 16 },
      },
    });
    expect(g.nodes[2].inplace).toBe("0");
    expect(printGraph(g)).toBe(PLANNED + "\n");
    verifyGraph(g);
    expect(runInArena(g, { x: [1, 2, 3, 4] }).outputs.y.data).toEqual(interpret(g, { x: [1, 2, 3, 4] }).outputs.y.data);
  });

  it("verifies slots: overlaps of live values, sizes, missing slots, aliases", () => {
    const problems = (text: string) => () => verifyGraph(parseGraph(text));
    // %1 moved onto %0 while both are live.
    expect(problems(PLANNED.replace("%1:f32[4] @arena[32+16]", "%1:f32[4] @arena[16+16]"))).toThrow(
      "buffers '0' (live [0,5), bytes [16,32)) and '1' (live [1,3), bytes [16,32)) are live at the same time and overlap",
    );
    expect(problems(PLANNED.replace("%3:f32[] @arena[48+16]", "%3:f32[] @arena[48+4]"))).toThrow("%3: f32[] needs a 16-byte slot, got 4");
    expect(problems(PLANNED.replace(" @arena[48+16]", ""))).toThrow("%3 has no arena slot");
    expect(problems(PLANNED.replace("%2:f32[4] @arena[16+16]", "%2:f32[4] @arena[32+16]"))).toThrow(
      "%2 shares %0's buffer (in place) but its slot is at 32, not 16",
    );
    expect(problems(PLANNED.replace("%4:f32[4] @arena[64+16]", "%4:f32[4] @arena[8+16]"))).toThrow("which is not a multiple of the alignment 16");
    expect(problems(PLANNED.replace("arena=80", "arena=96"))).toThrow("the plan says the arena is 96 bytes, but its buffers end at 80");
    // Reusing dead bytes is fine: %4 may take %1's slot (dead after step 2).
    verifyGraph(parseGraph(PLANNED.replace("%4:f32[4] @arena[64+16]", "%4:f32[4] @arena[32+16]").replace("arena=80", "arena=64")));
  });

  it("docs/IR.md's planned example parses, verifies, prints back identically and runs in its arena", () => {
    const doc = readFileSync("docs/IR.md", "utf8");
    const section = doc.slice(doc.indexOf("## Planned IR"));
    const listing = section.slice(section.indexOf("```\n") + 4, section.indexOf("```\n", section.indexOf("```\n") + 4));
    const g = parseGraph(listing);
    verifyGraph(g);
    expect(printGraph(g)).toBe(listing);
    expect(g.memory!.arena).toBe(64);
    const x = [0.5, -1, 2, 3];
    expect(runInArena(g, { x }).outputs.y.data).toEqual(interpret(g, { x }).outputs.y.data);
  });

  it("refuses slots without the memory line, and the memory line anywhere but first", () => {
    expect(() => parseGraph(PLANNED.replace("  memory arena=80 align=16\n", ""))).toThrow(
      "an arena slot needs the line 'memory arena=N align=A' first in the graph body",
    );
    expect(() => parseGraph("graph t {\n  input %x: f32[4]\n  memory arena=16 align=16\n}")).toThrow(
      "'memory arena=N align=A' must be the first line of the graph body",
    );
  });

  it("an arena run tells a wrong plan from a right one (the check has teeth)", () => {
    // Put %1 on %0's bytes: the verifier refuses it, and running it anyway gives wrong numbers.
    const wrong = parseGraph(PLANNED.replace("%1:f32[4] @arena[32+16]", "%1:f32[4] @arena[16+16]"));
    expect(() => verifyGraph(wrong)).toThrow("overlap");
    const { memory: _plan, ...unplanned } = wrong;
    const x = [1, 2, 3, 4];
    expect(runInArena(wrong, { x }).outputs.y.data).not.toEqual(interpret(unplanned, { x }).outputs.y.data);
    expect(runInArena(parseGraph(PLANNED), { x }).outputs.y.data).toEqual(interpret(unplanned, { x }).outputs.y.data);
  });
});

describe("the plan pass", () => {
  it("reports arena, lower bound, naive and greedy bytes, and keeps the node order", () => {
    const g = parseGraph(PLANNED.replace(/ @arena\[\d+\+\d+\]/g, "").replace("  memory arena=80 align=16\n", ""));
    const { graph, stats } = runPass(plan, g);
    expect(graph.nodes).toEqual(g.nodes);
    // Peak: at step 2, x, %0=%2 and %1 (48 bytes); at step 4, x, %2, %3 and %4 (64 bytes).
    expect(stats["lower-bound-bytes"]).toBe(64);
    expect(stats["arena-bytes"]).toBe(64);
    expect(stats["naive-bytes"]).toBe(6 * 16);
    expect(stats["greedy-bytes"]).toBeGreaterThanOrEqual(64);
    expect(Object.keys(graph.memory!.slots).sort()).toEqual(["0", "1", "2", "3", "4", "x"]);
  });

  it("honours a larger alignment", () => {
    const g = parseGraph(PLANNED.replace(/ @arena\[\d+\+\d+\]/g, "").replace("  memory arena=80 align=16\n", ""));
    const { graph } = runPass(plan, g, { alignment: 64 });
    expect(graph.memory!.alignment).toBe(64);
    for (const slot of Object.values(graph.memory!.slots)) {
      expect(slot.offset % 64).toBe(0);
      expect(slot.size).toBe(64);
    }
  });
});
