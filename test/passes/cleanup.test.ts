// The clean-up passes dce, cse and fold-constants: positive and negative cases on hand-written IR
// (outputs, updates, random ops, checkpoint recompute nodes, planned graphs), and on every
// example's forward graph and training step (plain and checkpointed) that dce → cse →
// fold-constants leaves the interpreter's results bit for bit the same and the graph valid.
import { describe, expect, it } from "vitest";
import { randomInputs } from "../../compiler/cli/random-inputs.ts";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import type { Graph } from "../../compiler/ir/graph.ts";
import { interpret, type RunResult } from "../../compiler/ir/interpreter.ts";
import { parseGraph } from "../../compiler/ir/parser.ts";
import { printGraph } from "../../compiler/ir/printer.ts";
import { verifyGraph } from "../../compiler/ir/verifier.ts";
import { autodiff } from "../../compiler/passes/autodiff.ts";
import { checkpoint } from "../../compiler/passes/checkpoint.ts";
import { cse } from "../../compiler/passes/cse.ts";
import { dce } from "../../compiler/passes/dce.ts";
import { foldConstants } from "../../compiler/passes/fold-constants.ts";
import { optimizer } from "../../compiler/passes/optimizer.ts";
import { runPass, type Pass } from "../../compiler/passes/pass.ts";
import { trainingSpec } from "../../compiler/passes/train-options.ts";
import { EXAMPLES } from "../support/example-graphs.ts";
import { expectRoundTrip } from "../support/ir-roundtrip.ts";

const parse = (body: string): Graph => parseGraph(`graph t {\n${body}\n}`);

/**
 * The pass's result (verified by runPass) on `body`, printed without the header and closing brace,
 * with the padding before `# recompute of` comments shortened to three spaces.
 */
function after<O extends object>(pass: Pass<O>, body: string, options: Partial<O> = {}): { text: string; stats: Record<string, number> } {
  const { graph, stats } = runPass(pass, parse(body), options);
  return { text: printGraph(graph).split("\n").slice(1, -2).join("\n").replace(/ +#/g, "   #"), stats };
}

/** Every output and update of two runs, compared bit for bit (NaN equal to NaN, -0 unequal to 0). */
function bitDifferences(a: RunResult, b: RunResult): string[] {
  const problems: string[] = [];
  for (const [what, x, y] of [["output", a.outputs, b.outputs], ["update", a.updates, b.updates]] as const) {
    expect(Object.keys(y).sort()).toEqual(Object.keys(x).sort());
    for (const name of Object.keys(x)) {
      const [p, q] = [x[name].data, y[name].data];
      const i = p.findIndex((v, k) => !Object.is(v, q[k]));
      if (p.length !== q.length || i >= 0) problems.push(`${what} ${name}: element ${i}: ${p[i]} vs ${q[i]}`);
    }
  }
  return problems;
}

describe("dce", () => {
  it("removes nodes nothing reads, keeps inputs and params, and keeps ids", () => {
    const { text, stats } = after(dce, `  input %x: f32[3]
  input %unused: f32[3]
  param %p: f32[3] init=zeros
  %0:f32[3] = exp %x
  %1:f32[3] = neg %0
  %2:f32[3] = log %1
  %3:f32[3] = mul %0, %p
  output y = %3`);
    expect(text).toBe(`  input %x: f32[3]
  input %unused: f32[3]
  param %p: f32[3] init=zeros
  %0:f32[3] = exp %x
  %3:f32[3] = mul %0, %p
  output y = %3`);
    expect(stats).toEqual({ "nodes-removed": 2, "recompute-marks-dropped": 0, "skipped-planned": 0 });
  });

  it("keeps what updates read even when no output does", () => {
    const body = `  input %x: f32[3]
  state %s: f32[3] init=zeros
  %0:f32[3] = add %s, %x
  %1:f32[3] = sqrt %0
  output y = %x
  update %s = %1`;
    expect(after(dce, body)).toEqual({ text: body, stats: { "nodes-removed": 0, "recompute-marks-dropped": 0, "skipped-planned": 0 } });
  });

  it("keeps a dead dropout (and what it reads) unless keepRandom is off", () => {
    const body = `  input %x: f32[8]
  state %rng.step: i32[] init=zeros
  %0:f32[8] = exp %x
  %1:f32[8] = dropout %0, %rng.step {rate=0.5, seed=1}
  output y = %x`;
    expect(after(dce, body).text).toBe(body);
    expect(after(dce, body, { keepRandom: false })).toEqual({
      text: `  input %x: f32[8]
  state %rng.step: i32[] init=zeros
  output y = %x`,
      stats: { "nodes-removed": 2, "recompute-marks-dropped": 0, "skipped-planned": 0 },
    });
  });

  it("drops the recompute mark of a copy whose original is dead", () => {
    const { text, stats } = after(dce, `  input %x: f32[4]
  %0:f32[4] = relu %x
  %1:f32[4] = exp %x
  %0.r:f32[4] = relu %x   # recompute of %0
  %2:f32[4] = mul %1, %0.r
  output y = %2`);
    expect(text).toBe(`  input %x: f32[4]
  %1:f32[4] = exp %x
  %0.r:f32[4] = relu %x
  %2:f32[4] = mul %1, %0.r
  output y = %2`);
    expect(stats["recompute-marks-dropped"]).toBe(1);
  });
});

describe("cse", () => {
  it("merges repeats, and repeats of repeats, rewriting node operands, outputs and updates", () => {
    const { text, stats } = after(cse, `  input %x: f32[2,3]
  state %s: f32[2,3] init=zeros
  %0:f32[2,3] = exp %x
  %1:f32[2,3] = exp %x
  %2:f32[2,3] = add %0, %s
  %3:f32[2,3] = add %1, %s
  %4:f32[3] = sum %2 {axes=[0], keepDims=false}
  %5:f32[3] = sum %3 {axes=[0], keepDims=false}
  %6:f32[3] = mul %4, %5
  output a = %6
  output b = %5
  update %s = %3`);
    expect(text).toBe(`  input %x: f32[2,3]
  state %s: f32[2,3] init=zeros
  %0:f32[2,3] = exp %x
  %2:f32[2,3] = add %0, %s
  %4:f32[3] = sum %2 {axes=[0], keepDims=false}
  %6:f32[3] = mul %4, %4
  output a = %6
  output b = %4
  update %s = %2`);
    expect(stats).toEqual({ "nodes-merged": 3, "skipped-planned": 0 });
  });

  it("merges constants of equal value, dtype and shape only (-0 apart from 0, NaN with NaN)", () => {
    const { text, stats } = after(cse, `  %0:f32[] = const {value=0, dtype="f32", shape=[]}
  %1:f32[] = const {value=-0, dtype="f32", shape=[]}
  %2:f32[] = const {value=0, dtype="f32", shape=[]}
  %3:i32[] = const {value=0, dtype="i32", shape=[]}
  %4:f32[2] = const {value=0, dtype="f32", shape=[2]}
  %5:f32[] = const {value=nan, dtype="f32", shape=[]}
  %6:f32[] = const {value=nan, dtype="f32", shape=[]}
  output a = %0
  output b = %1
  output c = %2
  output d = %3
  output e = %4
  output f = %5
  output g = %6`);
    expect(stats["nodes-merged"]).toBe(2);
    expect(text).toContain("output c = %0");
    expect(text).toContain("output g = %5");
    expect(text).toContain("output b = %1");
  });

  it("keeps nodes that differ in attributes, operand order or result type", () => {
    const body = `  input %a: f32[4,4]
  input %b: f32[4,4]
  %0:f32[4,4] = sub %a, %b
  %1:f32[4,4] = sub %b, %a
  %2:f32[4,4] = add %a, %b
  %3:f32[4,4] = add %b, %a
  %4:f32[4] = sum %0 {axes=[0], keepDims=false}
  %5:f32[4] = sum %0 {axes=[1], keepDims=false}
  %6:f32[1,4] = sum %0 {axes=[0], keepDims=true}
  %7:f16[4,4] = cast %a {dtype="f16"}
  %8:bf16[4,4] = cast %a {dtype="bf16"}
  output y = %1
  output z = %2
  output w = %3
  output u = %4
  output v = %5
  output t = %6
  output r = %7
  output q = %8`;
    expect(after(cse, body)).toEqual({ text: body, stats: { "nodes-merged": 0, "skipped-planned": 0 } });
  });

  it("never merges two dropouts, even of the same operands and attributes", () => {
    const body = `  input %x: f32[8]
  state %rng.step: i32[] init=zeros
  %0:f32[8] = dropout %x, %rng.step {rate=0.5, seed=1}
  %1:f32[8] = dropout %x, %rng.step {rate=0.5, seed=1}
  %2:f32[8] = add %0, %1
  output y = %2`;
    expect(after(cse, body).text).toBe(body);
  });

  it("never merges a recompute node with its original or another copy (that would undo checkpointing)", () => {
    const body = `  input %x: f32[4]
  %0:f32[4] = relu %x
  %1:f32[4] = exp %0
  %0.r:f32[4] = relu %x   # recompute of %0
  %2:f32[4] = mul %1, %0.r
  %0.r2:f32[4] = relu %x   # recompute of %0
  %3:f32[4] = mul %2, %0.r2
  output y = %3`;
    expect(after(cse, body).text).toBe(body);
  });

  it("marks a copy of a merged node as a copy of the node it merged into", () => {
    const { text } = after(cse, `  input %x: f32[4]
  %0:f32[4] = tanh %x
  %1:f32[4] = tanh %x
  %2:f32[4] = add %0, %1
  %1.r:f32[4] = tanh %x   # recompute of %1
  %3:f32[4] = mul %2, %1.r
  output y = %3`);
    expect(text).toBe(`  input %x: f32[4]
  %0:f32[4] = tanh %x
  %2:f32[4] = add %0, %0
  %1.r:f32[4] = tanh %x   # recompute of %0
  %3:f32[4] = mul %2, %1.r
  output y = %3`);
  });
});

describe("fold-constants", () => {
  it("folds const 1 * const 0.25 (the loss seed) and what follows, removing the unread constants", () => {
    const { text, stats } = after(foldConstants, `  input %x: f32[4]
  %0:f32[] = const {value=1, dtype="f32", shape=[]}
  %1:f32[] = const {value=0.25, dtype="f32", shape=[]}
  %2:f32[] = mul %0, %1
  %3:f32[] = neg %2
  %4:f32[4] = mul %x, %3
  output y = %4`);
    expect(text).toBe(`  input %x: f32[4]
  %3:f32[] = const {value=-0.25, dtype="f32", shape=[]}
  %4:f32[4] = mul %x, %3
  output y = %4`);
    expect(stats).toEqual({
      "nodes-folded": 2, "consts-created": 1, "consts-removed": 3, "identities-removed": 0, "recompute-marks-dropped": 0, "skipped-planned": 0,
    });
  });

  it("rounds to the result dtype as the interpreter does (f32, i32 truncation and wrap, bool, f16 overflow)", () => {
    const body = `  %0:f32[] = const {value=0.1, dtype="f32", shape=[]}
  %1:f32[] = const {value=3, dtype="f32", shape=[]}
  %2:f32[] = mul %0, %1
  %3:i32[] = const {value=-7, dtype="i32", shape=[]}
  %4:i32[] = const {value=2, dtype="i32", shape=[]}
  %5:i32[] = div %3, %4
  %6:i32[] = const {value=2147483647, dtype="i32", shape=[]}
  %7:i32[] = add %6, %4
  %8:bool[] = less %3, %4
  %9:f16[] = const {value=60000, dtype="f16", shape=[]}
  %10:f16[] = add %9, %9
  %11:i32[] = cast %2 {dtype="i32"}
  output a = %2
  output b = %5
  output c = %7
  output d = %8
  output e = %10
  output f = %11`;
    const g = parse(body);
    const { graph, stats } = runPass(foldConstants, g);
    expect(stats["nodes-folded"]).toBe(6);
    expect(graph.nodes.every((n) => n.op === "const")).toBe(true);
    const value = (id: string) => graph.nodes.find((n) => n.id === id)!.attrs.value;
    expect([value("2"), value("5"), value("7"), value("8"), value("10"), value("11")]).toEqual([Math.fround(Math.fround(0.1) * 3), -3, -2147483647, 1, Infinity, 0]);
    expect(bitDifferences(interpret(graph, {}), interpret(g, {}))).toEqual([]);
  });

  it("folds into a fill of the broadcast shape", () => {
    const { text } = after(foldConstants, `  %0:f32[2,3] = const {value=2, dtype="f32", shape=[2,3]}
  %1:f32[] = const {value=0.5, dtype="f32", shape=[]}
  %2:f32[2,3] = pow %0, %1
  output y = %2`);
    expect(text).toBe(`  %2:f32[2,3] = const {value=${Math.fround(Math.SQRT2)}, dtype="f32", shape=[2,3]}
  output y = %2`);
  });

  it("does not fold dropout of a constant (its mask depends on the element index) nor non-elementwise ops", () => {
    const body = `  %0:f32[8] = const {value=1, dtype="f32", shape=[8]}
  %1:i32[] = const {value=0, dtype="i32", shape=[]}
  %2:f32[8] = dropout %0, %1 {rate=0.5, seed=3}
  %3:f32[] = sum %0 {axes=[0], keepDims=false}
  output y = %2
  output s = %3`;
    expect(after(foldConstants, body).stats["nodes-folded"]).toBe(0);
    expect(after(foldConstants, body).text).toBe(body);
  });

  it("keeps constants that were dead before (dce's job) and a folded node an output reads", () => {
    const body = `  %0:f32[] = const {value=2, dtype="f32", shape=[]}
  %1:f32[] = const {value=5, dtype="f32", shape=[]}
  %2:f32[] = exp %0
  output y = %2`;
    expect(after(foldConstants, body).text).toBe(`  %1:f32[] = const {value=5, dtype="f32", shape=[]}
  %2:f32[] = const {value=${Math.fround(Math.exp(2))}, dtype="f32", shape=[]}
  output y = %2`);
  });

  it("removes x * 1, 1 * x, x / 1, x - 0 and x + (-0), and integer x + 0", () => {
    const { text, stats } = after(foldConstants, `  input %x: f32[3]
  input %i: i32[3]
  %one:f32[] = const {value=1, dtype="f32", shape=[]}
  %zero:f32[] = const {value=0, dtype="f32", shape=[]}
  %nzero:f32[] = const {value=-0, dtype="f32", shape=[]}
  %izero:i32[] = const {value=0, dtype="i32", shape=[]}
  %0:f32[3] = mul %x, %one
  %1:f32[3] = mul %one, %0
  %2:f32[3] = div %1, %one
  %3:f32[3] = sub %2, %zero
  %4:f32[3] = add %nzero, %3
  %5:f32[3] = exp %4
  %6:i32[3] = add %i, %izero
  %7:i32[3] = neg %6
  output y = %5
  output k = %7`);
    expect(text).toBe(`  input %x: f32[3]
  input %i: i32[3]
  %5:f32[3] = exp %x
  %7:i32[3] = neg %i
  output y = %5
  output k = %7`);
    expect(stats).toMatchObject({ "identities-removed": 6, "consts-removed": 4, "nodes-folded": 0 });
  });

  it("keeps float x + 0 (-0 + 0 is +0), x - (-0), identities that broadcast, and identities an output or update reads", () => {
    const body = `  input %x: f32[3]
  state %s: f32[3] init=zeros
  %zero:f32[] = const {value=0, dtype="f32", shape=[]}
  %nzero:f32[] = const {value=-0, dtype="f32", shape=[]}
  %ones:f32[2,3] = const {value=1, dtype="f32", shape=[2,3]}
  %one:f32[] = const {value=1, dtype="f32", shape=[]}
  %0:f32[3] = add %x, %zero
  %1:f32[3] = sub %0, %nzero
  %2:f32[2,3] = mul %x, %ones
  %3:f32[3] = mul %1, %one
  %4:f32[3] = div %s, %one
  output y = %2
  output z = %3
  update %s = %4`;
    expect(after(foldConstants, body)).toMatchObject({ text: body, stats: { "identities-removed": 0 } });
  });

  it("drops the mark of a folded recompute node and of a copy whose original was an identity", () => {
    const e2 = Math.fround(Math.exp(2));
    const { text, stats } = after(foldConstants, `  input %x: f32[4]
  %c:f32[] = const {value=2, dtype="f32", shape=[]}
  %one:f32[] = const {value=1, dtype="f32", shape=[]}
  %0:f32[] = exp %c
  %h:f32[4] = relu %x
  %1:f32[4] = mul %h, %one
  %2:f32[4] = mul %1, %0
  %0.r:f32[] = exp %c   # recompute of %0
  %h.r:f32[4] = relu %x   # recompute of %h
  %1.r:f32[4] = mul %h.r, %one   # recompute of %1
  %3:f32[4] = mul %2, %0.r
  output y = %3
  output z = %1.r`);
    expect(text).toBe(`  input %x: f32[4]
  %one:f32[] = const {value=1, dtype="f32", shape=[]}
  %0:f32[] = const {value=${e2}, dtype="f32", shape=[]}
  %h:f32[4] = relu %x
  %2:f32[4] = mul %h, %0
  %0.r:f32[] = const {value=${e2}, dtype="f32", shape=[]}
  %h.r:f32[4] = relu %x   # recompute of %h
  %1.r:f32[4] = mul %h.r, %one
  %3:f32[4] = mul %2, %0.r
  output y = %3
  output z = %1.r`);
    expect(stats).toMatchObject({ "nodes-folded": 2, "identities-removed": 1, "consts-removed": 1, "recompute-marks-dropped": 2 });
  });
});

describe("planned graphs", () => {
  const planned = `  memory arena=64 align=16
  input %x: f32[4] @arena[0+16]
  %0:f32[4] @arena[16+16] = exp %x
  %1:f32[4] @arena[32+16] = exp %x
  %2:f32[4] @arena[16+16] = add %0, %1 inplace(%0)
  %3:f32[4] @arena[48+16] = neg %x
  output y = %2`;

  it.each([["dce", dce], ["cse", cse], ["fold-constants", foldConstants]] as Array<[string, Pass<object>]>)("%s leaves a graph with in-place decisions or a plan as it is", (_name, pass) => {
    const g = parse(planned);
    const { graph, stats } = runPass(pass, g);
    expect(graph).toBe(g);
    expect(stats["skipped-planned"]).toBe(1);
  });
});

/** The training step as autodiff and the optimizer leave it (the driver cleans it up next). */
function rawTrainStep(forward: Graph, spec: ReturnType<typeof trainingSpec>): Graph {
  const withGrads = runPass(autodiff, forward, { loss: spec.loss }).graph;
  return runPass(optimizer, withGrads, spec.optimizer).graph;
}

/** dce → cse → fold-constants, each verified; the graph and each pass's statistics. */
function cleanup(g: Graph) {
  const a = runPass(dce, g);
  const b = runPass(cse, a.graph);
  const c = runPass(foldConstants, b.graph);
  return { graph: c.graph, stats: { dce: a.stats, cse: b.stats, fold: c.stats } };
}

describe.each(EXAMPLES)("%s", (name) => {
  const model = compileModelFile(`examples/${name}/model.ts`);
  const spec = trainingSpec(model.train);
  const graphs: Array<[string, () => Graph]> = [
    ["forward", () => model.graph],
    ["train step", () => rawTrainStep(model.graph, spec)],
    ["checkpointed train step", () => runPass(checkpoint, rawTrainStep(model.graph, spec), { mode: "sqrt", forwardNodes: model.graph.nodes.length }).graph],
  ];

  it.each(graphs)("%s: dce → cse → fold-constants keeps every result bit for bit", (_kind, build) => {
    const g = build();
    const { graph, stats } = cleanup(g);
    verifyGraph(expectRoundTrip(graph).parsed);
    const removed = stats.dce["nodes-removed"] + stats.cse["nodes-merged"] + stats.fold["consts-removed"] + stats.fold["identities-removed"];
    expect(graph.nodes.length).toBe(g.nodes.length - removed);
    // Every training step seeds its backward pass with const 1 times the loss's 1/N scale: folded.
    if (g !== model.graph) expect(stats.fold["nodes-folded"]).toBeGreaterThan(0);
    // Recompute nodes stay: none merged into its original or folded away on these models.
    expect(graph.nodes.filter((n) => n.recomputeOf).length).toBe(g.nodes.filter((n) => n.recomputeOf).length);
    expect(graph.nodes.filter((n) => n.op === "dropout").length).toBe(g.nodes.filter((n) => n.op === "dropout").length);
    // Again on the result: nothing left to do.
    expect(cleanup(graph).graph.nodes.length).toBe(graph.nodes.length);

    const inputs = randomInputs(g, 7);
    expect(bitDifferences(interpret(graph, inputs, { seed: 3 }), interpret(g, inputs, { seed: 3 }))).toEqual([]);
  }, 120_000);
});
