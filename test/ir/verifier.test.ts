// The verifier must catch every broken invariant in graphs built by hand (not through
// GraphBuilder, which would refuse most of them).

import { describe, expect, it } from "vitest";
import type { Graph, Node } from "../../compiler/ir/graph.ts";
import { OPS } from "../../compiler/ir/ops.ts";
import { graphProblems, verifyGraph, verifyGraphs, VerifyError } from "../../compiler/ir/verifier.ts";
import { sampleGraph } from "../support/op-samples.ts";

const f32 = (...shape: number[]) => ({ dtype: "f32" as const, shape });
const MM_ATTRS = { transposeA: false, transposeB: false };

/** x:[2,3] @ w:[3,4] + b:[4] → relu, with a step counter updated by +1. */
function goodGraph(): Graph {
  return {
    name: "good",
    inputs: [{ name: "x", type: f32(2, 3) }],
    params: [
      { name: "w", type: f32(3, 4), init: "he_normal", trainable: true },
      { name: "b", type: f32(4), init: "zeros", trainable: true },
      { name: "step", type: { dtype: "i32", shape: [] }, init: "zeros", trainable: false },
    ],
    nodes: [
      { id: "0", op: "matmul", inputs: ["x", "w"], attrs: MM_ATTRS, type: f32(2, 4) },
      { id: "1", op: "add", inputs: ["0", "b"], attrs: {}, type: f32(2, 4) },
      { id: "2", op: "relu", inputs: ["1"], attrs: {}, type: f32(2, 4), loc: { file: "m.ts", line: 4, col: 9 } },
      { id: "3", op: "const", inputs: [], attrs: { value: 1, dtype: "i32", shape: [] }, type: { dtype: "i32", shape: [] } },
      { id: "4", op: "add", inputs: ["step", "3"], attrs: {}, type: { dtype: "i32", shape: [] } },
    ],
    outputs: [{ name: "y", value: "2" }],
    updates: [{ param: "step", value: "4" }],
  };
}

/** `goodGraph` with node `id` replaced by `patch` applied to it. */
function withNode(id: string, patch: Partial<Node>): Graph {
  const g = goodGraph();
  return { ...g, nodes: g.nodes.map((n) => (n.id === id ? { ...n, ...patch } : n)) };
}

function problemsOf(g: Graph): string[] {
  return graphProblems(g);
}

describe("verifier", () => {
  it("accepts a well-formed graph and the sample use of every op", () => {
    expect(problemsOf(goodGraph())).toEqual([]);
    verifyGraphs([...OPS.keys()].map(sampleGraph));
  });

  it("throws a VerifyError that lists every problem", () => {
    const g = withNode("1", { op: "nope" });
    const bad: Graph = { ...g, outputs: [...g.outputs, { name: "z", value: "99" }] };
    let error: unknown;
    try {
      verifyGraph(bad);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(VerifyError);
    const v = error as VerifyError;
    expect(v.graph).toBe("good");
    expect(v.problems).toEqual(["node %1 (nope): unknown op 'nope'", "output 'z': unknown value %99"]);
    expect(v.message).toBe(
      "graph 'good' failed verification (2 problems):\n  - node %1 (nope): unknown op 'nope'\n  - output 'z': unknown value %99",
    );
  });

  describe("SSA", () => {
    it("detects duplicate definitions", () => {
      expect(problemsOf(withNode("1", { id: "x" }))).toContain("node %x (add): value %x is defined twice");
      expect(problemsOf(withNode("1", { id: "0" }))).toContain("node %0 (add): value %0 is defined twice");
      const g = goodGraph();
      expect(problemsOf({ ...g, params: [...g.params, { name: "x", type: f32(1), init: "zeros", trainable: true }] })).toContain(
        "param %x: value %x is defined twice",
      );
    });

    it("detects a use before the definition in schedule order", () => {
      const g = goodGraph();
      const swapped = { ...g, nodes: [g.nodes[1], g.nodes[0], ...g.nodes.slice(2)] };
      expect(problemsOf(swapped)).toEqual(["node %1 (add): uses %0 before its definition"]);
    });

    it("detects undefined values and self-use", () => {
      expect(problemsOf(withNode("2", { inputs: ["ghost"] }))).toEqual(["node %2 (relu at m.ts:4:9): uses undefined value %ghost"]);
      expect(problemsOf(withNode("2", { inputs: ["2"] }))).toEqual(["node %2 (relu at m.ts:4:9): uses its own result %2"]);
    });

    it("checks names", () => {
      const g = goodGraph();
      const bad: Graph = {
        ...g,
        name: "",
        inputs: [{ name: "x", type: f32(2, 3) }, { name: "a b", type: f32(1) }],
        outputs: [{ name: "y#1", value: "2" }],
      };
      const renamed = { ...bad, nodes: bad.nodes.map((n) => (n.id === "3" ? { ...n, id: "%3" } : n.id === "4" ? { ...n, inputs: ["step", "%3"] } : n)) };
      expect(problemsOf(renamed)).toEqual([
        "the graph has no name",
        'input %a b: invalid name "a b" (letters, digits and _ . / - only)',
        'node %%3 (const): invalid name "%3" (letters, digits and _ . / - only)',
        "output 'y#1': invalid name (letters, digits and _ . / - only)",
      ]);
    });
  });

  describe("nodes", () => {
    it("detects unknown ops", () => {
      expect(problemsOf(withNode("2", { op: "relu6" }))).toEqual(["node %2 (relu6 at m.ts:4:9): unknown op 'relu6'"]);
    });

    it("detects wrong operand counts", () => {
      expect(problemsOf(withNode("1", { inputs: ["0"] }))).toEqual(["node %1 (add): add takes 2 operands, got 1"]);
      expect(problemsOf(withNode("2", { inputs: ["1", "1"] }))).toEqual(["node %2 (relu at m.ts:4:9): relu takes 1 operand, got 2"]);
    });

    it("detects unknown, missing and ill-kinded attributes", () => {
      expect(problemsOf(withNode("2", { attrs: { alpha: 0.1 } }))).toEqual(["node %2 (relu at m.ts:4:9): unknown attribute 'alpha'"]);
      expect(problemsOf(withNode("2", { attrs: { toString: 1 } }))).toEqual(["node %2 (relu at m.ts:4:9): unknown attribute 'toString'"]);
      // A default that was not filled in is missing too: nodes carry complete attributes.
      expect(problemsOf(withNode("0", { attrs: { transposeA: false } }))).toEqual(["node %0 (matmul): attribute 'transposeB' is missing"]);
      expect(problemsOf(withNode("0", { attrs: { transposeA: 0, transposeB: false } }))).toEqual([
        "node %0 (matmul): matmul attribute 'transposeA' must be a boolean, got 0",
      ]);
      expect(problemsOf(withNode("3", { attrs: { value: 1, dtype: "f64", shape: [] } }))).toEqual([
        'node %3 (const): const attribute \'dtype\' must be a dtype, got "f64"',
      ]);
    });

    it("checks each node's type against its op's shape rule", () => {
      expect(problemsOf(withNode("2", { type: f32(4, 2) }))).toContain(
        "node %2 (relu at m.ts:4:9): its type is f32[4,2] but relu infers f32[2,4]",
      );
      expect(problemsOf(withNode("0", { attrs: { transposeA: true, transposeB: false } }))[0]).toMatch(
        /^node %0 \(matmul\): the shape rule rejects the node: /,
      );
    });

    it("rejects malformed types", () => {
      expect(problemsOf(withNode("2", { type: { dtype: "f64" as never, shape: [2, 4] } }))).toContain(
        'node %2 (relu at m.ts:4:9): unknown dtype "f64"',
      );
      expect(problemsOf(withNode("2", { type: f32(2, -4) }))).toContain(
        "node %2 (relu at m.ts:4:9): bad shape [2,-4] (dimensions must be non-negative integers)",
      );
    });
  });

  describe("outputs and updates", () => {
    it("detects unknown and duplicate outputs", () => {
      const g = goodGraph();
      expect(problemsOf({ ...g, outputs: [{ name: "y", value: "2" }, { name: "y", value: "1" }, { name: "z", value: "7" }] })).toEqual([
        "output 'y' is defined twice",
        "output 'z': unknown value %7",
      ]);
    });

    it("detects updates of non-params, of unknown params, twice, with unknown values or the wrong type", () => {
      const g = goodGraph();
      const upd = (...updates: { param: string; value: string }[]) => problemsOf({ ...g, updates });
      expect(upd({ param: "x", value: "4" })).toEqual(["update %x: %x is not a param or state"]);
      expect(upd({ param: "2", value: "4" })).toEqual(["update %2: %2 is not a param or state"]);
      expect(upd({ param: "moment", value: "4" })).toEqual(["update %moment: unknown param %moment"]);
      expect(upd({ param: "step", value: "4" }, { param: "step", value: "4" })).toEqual([
        "update %step: the param is updated more than once",
      ]);
      expect(upd({ param: "step", value: "nope" })).toEqual(["update %step: unknown value %nope"]);
      expect(upd({ param: "b", value: "2" })).toEqual(["update %b: the param is f32[4] but %2 is f32[2,4]"]);
      expect(upd({ param: "step", value: "2" })).toEqual(["update %step: the param is i32[] but %2 is f32[2,4]"]);
    });

    it("detects missing, unknown and ill-typed initializers", () => {
      const g = goodGraph();
      const withInit = (i: number, init: string) => problemsOf({ ...g, params: g.params.map((p, j) => (j === i ? { ...p, init } : p)) });
      expect(withInit(0, "")).toEqual(["param %w: has no initializer"]);
      expect(withInit(0, "xavier")[0]).toMatch(/^param %w: unknown initializer 'xavier'/);
      expect(withInit(0, "normal(-1)")[0]).toMatch(/^param %w: invalid initializer 'normal\(-1\)'/);
      expect(withInit(2, "he_normal")).toEqual(["state %step: i32 params take only zeros or ones, got 'he_normal'"]);
      expect(withInit(2, "ones")).toEqual([]);
    });
  });
});
