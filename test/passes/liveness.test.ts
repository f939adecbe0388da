// Liveness: live intervals of every value, pinning, byte sizes, alias classes as buffers, and the
// max-live peak, on hand-written graphs whose answers are worked out in the comments.
import { describe, expect, it } from "vitest";
import { parseGraph } from "../../compiler/ir/parser.ts";
import { bufferBytes, liveness, maxLiveBytes, memoryProblem, naiveBytes } from "../../compiler/passes/liveness.ts";

// Steps: node i runs at step i; T = 6.
const GRAPH = `
graph live {
  input %x: f32[3]
  param %w: f32[5] init=zeros
  %0:f32[3] = neg %x
  %1:f32[5] = exp %w
  %2:f32[] = sum %0 {axes=[0]}
  %3:f32[5] = mul %1, %2
  %4:bool[33] = const {value=1, dtype="bool", shape=[33]}
  %5:f32[5] = add %3, %1
  output y = %5
  update %w = %3
}`;

describe("liveness", () => {
  it("gives each value [def, last use + 1), and pins inputs, params, outputs and update values", () => {
    const { steps, values } = liveness(parseGraph(GRAPH));
    expect(steps).toBe(6);
    const interval = (v: string) => {
      const l = values.get(v)!;
      return [l.lower, l.upper, l.pinned ?? "-"];
    };
    expect(interval("x")).toEqual([0, 6, "input"]); // the whole program
    expect(interval("w")).toEqual([0, 6, "persistent"]);
    expect(interval("0")).toEqual([0, 3, "-"]); // last read by %2 at step 2
    expect(interval("1")).toEqual([1, 6, "-"]); // read by %3 and %5 (step 5)
    expect(interval("2")).toEqual([2, 4, "-"]);
    expect(interval("3")).toEqual([3, 6, "update"]); // read at the end of the step
    expect(interval("4")).toEqual([4, 5, "-"]); // never read: only its own step
    expect(interval("5")).toEqual([5, 6, "output"]);
  });

  it("sizes buffers as dtype x numel rounded up to 16 bytes", () => {
    expect(bufferBytes({ dtype: "f32", shape: [3] })).toBe(16); // 12
    expect(bufferBytes({ dtype: "f32", shape: [5] })).toBe(32); // 20
    expect(bufferBytes({ dtype: "f32", shape: [] })).toBe(16); // 4
    expect(bufferBytes({ dtype: "bool", shape: [33] })).toBe(48); // 33
    expect(bufferBytes({ dtype: "f16", shape: [8] })).toBe(16); // exactly one vector
    expect(bufferBytes({ dtype: "f32", shape: [0] })).toBe(0);
    expect(bufferBytes({ dtype: "i8", shape: [5] }, 4)).toBe(8);
  });

  it("computes the max-live peak: the largest sum of live buffers at one step", () => {
    // step 0: x16 w32 %0:16 = 64;  1: +%1:32 = 96;  2: +%2:16 = 112;
    // step 3: x w %1 %2 %3:32 = 128;  4: x w %1 %3 %4:48 = 160;  5: x w %1 %3 %5:32 = 144.
    const g = parseGraph(GRAPH);
    expect(maxLiveBytes(g)).toBe(160);
    expect(naiveBytes(g)).toBe(16 + 32 + 16 + 32 + 16 + 32 + 48 + 32);
  });

  it("makes one buffer of an alias class, live over the union of its members", () => {
    // %5 overwrites %1, whose last read it is.
    const g = parseGraph(GRAPH.replace("%5:f32[5] = add %3, %1", "%5:f32[5] = add %3, %1 inplace(%1)"));
    const { problem, classes, bufferOf } = memoryProblem(g);
    const b = bufferOf.get("5")!;
    expect(bufferOf.get("1")).toBe(b);
    expect(classes[b]).toEqual({ root: "1", members: ["1", "5"], pinned: "output" });
    expect(problem.buffers[b]).toEqual({ id: "1", lower: 1, upper: 6, size: 32 });
    expect(problem.buffers).toHaveLength(7);
    // step 5 now holds x w (%1=%5) %3 = 112; step 4 still peaks at 160.
    expect(maxLiveBytes(g)).toBe(160);

    const state = parseGraph(`
graph state {
  param %w: f32[4] init=zeros
  %0:f32[] = const {value=2, dtype="f32", shape=[]}
  %1:f32[4] = mul %w, %0 inplace(%w)
  %2:f32[4] = exp %1
  update %w = %1
  output e = %2
}`);
    const s = memoryProblem(state);
    // The new value lives where w lives, for the whole program; no buffer of its own.
    expect(s.classes.map((c) => c.members)).toEqual([["w", "1"], ["0"], ["2"]]);
    expect(s.problem.buffers[0]).toEqual({ id: "w", lower: 0, upper: 3, size: 16 });
  });

  it("gives a graph without nodes one step, so pinned values still take room", () => {
    const g = parseGraph("graph empty {\n  input %x: f32[2]\n  output x = %x\n}");
    expect(liveness(g).steps).toBe(1);
    expect(maxLiveBytes(g)).toBe(16);
  });
});
