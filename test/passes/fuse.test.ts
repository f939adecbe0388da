// The fusion pass and the `fused` op: which elementwise chains become one node (positive and
// negative cases on hand-written IR), the body syntax, the reference kernel against hand-computed
// values, fused vs unfused interpreter results on every example's forward and training graph, the
// text round trip, and the WASM kernel against the interpreter.
import { describe, expect, it } from "vitest";
import { randomInputs } from "../../compiler/cli/random-inputs.ts";
import { wasmWorkspaceBytes } from "../../compiler/codegen-wasm/workspace.ts";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import type { Graph } from "../../compiler/ir/graph.ts";
import { interpret } from "../../compiler/ir/interpreter.ts";
import { parseBody } from "../../compiler/ir/ops/fused-body.ts";
import { parseGraph } from "../../compiler/ir/parser.ts";
import { printGraph } from "../../compiler/ir/printer.ts";
import { verifyGraph } from "../../compiler/ir/verifier.ts";
import { autodiff } from "../../compiler/passes/autodiff.ts";
import { fuse } from "../../compiler/passes/fuse.ts";
import { runPass } from "../../compiler/passes/pass.ts";
import { buildTrainingProgram, planMemory } from "../../compiler/driver/phases.ts";
import { trainingSpec } from "../../compiler/passes/train-options.ts";
import { expectMatchesInterpreter, graphTolerance, resultMismatches } from "../support/wasm-harness.ts";
import { EXAMPLES, graphsOf } from "../support/example-graphs.ts";
import { expectRoundTrip } from "../support/ir-roundtrip.ts";

const parse = (body: string): Graph => parseGraph(`graph t {\n${body}\n}`);

/** The pass's result (verified) on `body`, printed without the header and closing brace. */
function fused(body: string): { text: string; stats: Record<string, number> } {
  const { graph, stats } = runPass(fuse, parse(body));
  return { text: printGraph(graph).split("\n").slice(1, -2).join("\n"), stats };
}

const XWB = `  input %x: f32[4,8]
  input %w: f32[4,8]
  input %b: f32[8]`;

describe("fuse pass on hand-written IR", () => {
  it("fuses relu(x*w + b) into one node with the bias broadcast as an operand", () => {
    const { text, stats } = fused(`${XWB}
  %0:f32[4,8] = mul %x, %w
  %1:f32[4,8] = add %0, %b
  %2:f32[4,8] = relu %1
  output y = %2`);
    expect(text).toBe(`${XWB}
  %2:f32[4,8] = fused %x, %w, %b {body="mul(x0, x1); add(t0, x2); relu(t1)"}
  output y = %2`);
    expect(stats).toEqual({ "fused-nodes": 1, "removed-buffers": 2, "removed-bytes": 256 });
  });

  it("inlines one-element f32 constants as literals (rounded to f32) and drops them", () => {
    const { text, stats } = fused(`  input %x: f32[6]
  %0:f32[] = const {value=0.1, dtype="f32", shape=[]}
  %1:f32[6] = mul %x, %0
  %2:f32[6] = gelu %1 {approximate="tanh"}
  %3:f32[6] = gelu %2 {approximate="none"}
  output y = %3`);
    expect(text).toBe(`  input %x: f32[6]
  %3:f32[6] = fused %x {body="mul(x0, 0.10000000149011612); gelu[tanh](t0); gelu(t1)"}
  output y = %3`);
    expect(stats["removed-buffers"]).toBe(3);
  });

  it("keeps an intermediate with two uses as a buffer (it roots its own group)", () => {
    const { text } = fused(`  input %x: f32[5]
  %0:f32[5] = exp %x
  %1:f32[5] = neg %0
  %2:f32[5] = add %0, %1
  %3:f32[5] = sqrt %2
  output y = %3`);
    expect(text).toBe(`  input %x: f32[5]
  %0:f32[5] = exp %x
  %3:f32[5] = fused %0 {body="neg(x0); add(x0, t0); sqrt(t1)"}
  output y = %3`);
  });

  it("keeps values read by an output or an update, and never fuses across an update", () => {
    const { text } = fused(`  input %x: f32[3]
  param %p: f32[3] init=zeros
  %0:f32[3] = tanh %x
  %1:f32[3] = sigmoid %0
  %2:f32[3] = mul %p, %1
  %3:f32[3] = sub %p, %2
  output t = %0
  update %p = %2`);
    expect(text).toBe(`  input %x: f32[3]
  param %p: f32[3] init=zeros
  %0:f32[3] = tanh %x
  %2:f32[3] = fused %p, %0 {body="sigmoid(x1); mul(x0, t0)"}
  %3:f32[3] = sub %p, %2
  output t = %0
  update %p = %2`);
  });

  it("does not fuse an intermediate that is broadcast up, nor integer or comparison chains", () => {
    const body = `  input %v: f32[8]
  input %m: f32[4,8]
  input %i: i32[8]
  %0:f32[8] = exp %v
  %1:f32[4,8] = mul %m, %0
  %2:i32[8] = neg %i
  %3:i32[8] = abs %2
  %4:bool[4,8] = greater %1, %m
  output y = %1
  output k = %3
  output c = %4`;
    const { text, stats } = fused(body);
    expect(text).toBe(body);
    expect(stats["fused-nodes"]).toBe(0);
  });

  it("takes where into a chain, its bool condition an operand of the fused node (relu's backward into a sum)", () => {
    const { text, stats } = fused(`  input %m: bool[4,8]
  input %dy: f32[4,8]
  input %r: f32[4,8]
  %0:f32[] = const {value=0, dtype="f32", shape=[]}
  %1:f32[4,8] = add %dy, %r
  %2:f32[4,8] = where %m, %1, %0
  %3:f32[4,8] = mul %2, %dy
  output y = %3`);
    expect(text).toBe(`  input %m: bool[4,8]
  input %dy: f32[4,8]
  input %r: f32[4,8]
  %3:f32[4,8] = fused %m, %dy, %r {body="add(x1, x2); where(x0, t0, 0); mul(t1, x1)"}
  output y = %3`);
    expect(stats["fused-nodes"]).toBe(1);
  });

  it("leaves a where with integer branches, and one whose branches are only literals, unfused", () => {
    const body = `  input %c: bool[6]
  input %i: i32[6]
  %0:f32[] = const {value=1, dtype="f32", shape=[]}
  %1:f32[] = const {value=2, dtype="f32", shape=[]}
  %2:i32[6] = where %c, %i, %i
  %3:i32[6] = neg %2
  %4:f32[6] = where %c, %0, %1
  %5:f32[6] = exp %4
  output k = %3
  output y = %5`;
    const { text } = fused(body);
    expect(text).toContain("%2:i32[6] = where %c, %i, %i");
    expect(text).toContain(`%5:f32[6] = fused %c, %0, %1 {body="where(x0, x1, x2); exp(t0)"}`);
  });

  it("a body reads bool operands only as where's condition, and where's condition only from a bool operand", () => {
    const check = (types: string, body: string) => () => verifyGraph(parse(`${types}
  %0:f32[6] = fused ${types.split("\n").map((l) => l.trim().split(" ")[1].replace(":", "")).join(", ")} {body="${body}"}
  output y = %0`));
    const types = `  input %c: bool[6]
  input %x: f32[6]`;
    expect(check(types, "where(x0, x1, 0)")).not.toThrow();
    expect(check(types, "where(x1, x0, 0)")).toThrow(/x1 is a condition and must be bool/);
    expect(check(types, "add(x0, x1)")).toThrow(/bool operand x0 is read as a number/);
    expect(check(types, "exp(x1); where(t0, x1, 0)")).toThrow(/condition from a bool operand, not t0/);
    expect(check(`  input %c: bool[6]
  input %d: bool[6]`, "where(x0, 1, 2)")).toThrow(/besides bool conditions/);
  });

  it("stops a group where it would read more than maxOperands values", () => {
    const body = `  input %a: f32[4]
  input %b: f32[4]
  input %c: f32[4]
  input %d: f32[4]
  input %e: f32[4]
  %0:f32[4] = mul %a, %b
  %1:f32[4] = mul %c, %d
  %2:f32[4] = add %0, %1
  %3:f32[4] = sub %2, %e
  output y = %3`;
    // Taking %1 too would make five operands (a, b, c, d, e), so it stays a buffer.
    const capped = runPass(fuse, parse(body)).graph;
    expect(capped.nodes.map((n) => [n.id, n.inputs, n.attrs.body])).toEqual([
      ["1", ["c", "d"], undefined],
      ["3", ["a", "b", "1", "e"], "mul(x0, x1); add(t0, x2); sub(t1, x3)"],
    ]);
    const wide = runPass(fuse, parse(body), { maxOperands: Infinity }).graph;
    expect(wide.nodes.map((n) => [n.inputs, n.attrs.body])).toEqual([[["a", "b", "c", "d", "e"], "mul(x0, x1); mul(x2, x3); add(t0, t1); sub(t2, x4)"]]);
  });

  it("stops a group where it would make more than maxDyingOperands temporaries live at once", () => {
    // A recomputed residual spine: each add reads a fresh batch-norm-like value nothing else reads.
    // Unfused, each dies as soon as the next add runs; one fused node would need all four at once.
    const body = `  input %x: f32[64]
  input %g: f32[64]
  %a:f32[64] = batchNorm %x, %g, %g
  %b:f32[64] = batchNorm %x, %g, %g
  %c:f32[64] = batchNorm %x, %g, %g
  %0:f32[64] = add %x, %a
  %1:f32[64] = relu %0
  %2:f32[64] = add %1, %b
  %3:f32[64] = relu %2
  %4:f32[64] = add %3, %c
  %5:f32[64] = relu %4
  output y = %5`;
    const roots = (opts: Record<string, number>) => runPass(fuse, parse(body.replace(/f32\[64\]/g, "f32[4,16]").replace(/%g: f32\[4,16\]/, "%g: f32[16]")), opts).graph.nodes.filter((n) => n.op === "fused").map((n) => n.inputs.length);
    expect(roots({})).toEqual([3, 2]);
    expect(roots({ maxDyingOperands: Infinity })).toEqual([4]);
  });

  it("fused nodes carry no VJP: autodiff names the op", () => {
    const { graph } = runPass(fuse, parse(`  input %x: f32[3]
  param %w: f32[3] init=ones
  %0:f32[3] = mul %x, %w
  %1:f32[3] = exp %0
  %2:f32[] = sum %1 {axes=[0], keepDims=false}
  output loss = %2`));
    expect(() => runPass(autodiff, graph, { loss: "loss" })).toThrow(/op 'fused' has no VJP rule/);
  });
});

describe("fused op", () => {
  it("evaluates its body in float64 and rounds once", () => {
    const g = parse(`  input %a: f32[3]
  input %s: f32[]
  %0:f32[3] = fused %a, %s {body="mul(x0, x1); add(t0, 1); pow(t1, 2); maximum(t2, x0)"}
  output y = %0`);
    const { outputs } = interpret(g, { a: [1, -3, 0.5], s: [2] });
    // (2a + 1)^2, then the larger of that and a: 9, 25, 4.
    expect([...outputs.y.data]).toEqual([9, 25, 4]);
  });

  it("keeps intermediates in float64 where the unfused graph rounds them to f32", () => {
    const ops = `  input %a: f32[]
  input %b: f32[]
  %0:f32[] = add %a, %b
  %1:f32[] = sub %0, %a
  output y = %1`;
    const unfused = parse(ops);
    const { graph } = runPass(fuse, unfused);
    expect(graph.nodes.map((n) => n.attrs.body)).toEqual(["add(x0, x1); sub(t0, x0)"]);
    // 1e8 + 1 is not an f32 (the spacing there is 8): rounded after the add, the 1 is lost.
    const inputs = { a: [1e8], b: [1] };
    expect(interpret(unfused, inputs).outputs.y.data[0]).toBe(0);
    expect(interpret(graph, inputs).outputs.y.data[0]).toBe(1);
  });

  it.each([
    ["frob(x0)", /'frob' is not a fusable elementwise op/],
    ["add(x0, x3)", /x3 is out of range \(2 operands\)/],
    ["neg(t0)", /t0 is not defined before this step/],
    ["add(x0)", /add takes 2 argument\(s\), got 1/],
    ["relu[tanh](x0)", /unknown variant \[tanh\]/],
    ["exp(x0);", /empty step/],
    ["exp(x0 + 1)", /is not an operand/],
  ])("rejects the body %s", (body, message) => {
    expect(() => parseBody(body, 2)).toThrow(message);
    expect(() => parse(`  input %a: f32[3]\n  input %b: f32[3]\n  %0:f32[3] = fused %a, %b {body=${JSON.stringify(body)}}\n  output y = %0`)).toThrow(message);
  });

  it("round-trips literals through the text format", () => {
    const steps = parseBody("add(x0, -0); mul(t0, 1e-7); add(t1, inf); maximum(t2, nan); add(t3, -inf)", 1);
    expect(steps.map((s) => s.args[1])).toEqual([
      { kind: "literal", value: -0 }, { kind: "literal", value: 1e-7 }, { kind: "literal", value: Infinity },
      { kind: "literal", value: NaN }, { kind: "literal", value: -Infinity },
    ]);
  });
});

describe.each(EXAMPLES)("%s", (name) => {
  it.each(graphsOf(name))("%s: the fused graph computes what the unfused one does and round-trips as text", (_kind, g) => {
    const { graph, stats } = runPass(fuse, g);
    expect(stats["fused-nodes"]).toBeGreaterThan(0);
    expect(graph.nodes.length).toBe(g.nodes.length - stats["removed-buffers"]);
    expect(graph.nodes.some((n) => n.op === "fused")).toBe(true);

    // Fused chains round once instead of after every op; the network downstream carries those
    // f32-rounding differences along, so the budget is ten times the largest op tolerance, with
    // an absolute floor for values near zero (where a relative budget means nothing).
    const inputs = randomInputs(g, 7);
    const reference = interpret(g, inputs, { seed: 3 });
    const result = interpret(graph, inputs, { seed: 3 });
    const compare = { tolerance: 10 * graphTolerance(g), floor: 1e-3 };
    expect(resultMismatches(result, reference, compare)).toEqual([]);

    verifyGraph(expectRoundTrip(graph).parsed);
  }, 60_000);
});

describe("wasm fused kernel", () => {
  // Fused bodies round every step in f32 on the backend and once in the reference; near zero the
  // difference is absolute (a rounding of an intermediate), hence the floor.
  const compare = { floor: 1e-5, tolerance: 2e-5 };

  it.each([[[13, 7]], [[4, 8]], [[3]], [[2, 3, 5]]])("relu(x*w + b) with a bias broadcast over rows, shape %j", async (shape) => {
    const g = runPass(fuse, parse(`  input %x: f32[${shape}]
  input %w: f32[${shape}]
  input %b: f32[${shape[shape.length - 1]}]
  %0:f32[${shape}] = mul %x, %w
  %1:f32[${shape}] = add %0, %b
  %2:f32[${shape}] = relu %1
  output y = %2`)).graph;
    expect(g.nodes.map((n) => n.op)).toEqual(["fused"]);
    await expectMatchesInterpreter(g, undefined, compare);
  });

  it.each(["none", "tanh"])("gelu (%s) chains with constants and a scalar operand", async (approximate) => {
    const g = runPass(fuse, parse(`  input %x: f32[37]
  input %s: f32[]
  %0:f32[] = const {value=0.5, dtype="f32", shape=[]}
  %1:f32[37] = mul %x, %s
  %2:f32[37] = add %1, %0
  %3:f32[37] = gelu %2 {approximate="${approximate}"}
  %4:f32[37] = mul %3, %x
  %5:f32[37] = gelu %4 {approximate="${approximate}"}
  output y = %5`)).graph;
    expect(g.nodes.map((n) => n.op)).toEqual(["fused"]);
    await expectMatchesInterpreter(g, undefined, compare);
  });

  it("covers every fusable op, including pow (scalar loop) and the math library", async () => {
    const g = runPass(fuse, parse(`  input %x: f32[2,9]
  input %y: f32[9]
  %c:f32[] = const {value=1, dtype="f32", shape=[]}
  %0:f32[2,9] = abs %x
  %1:f32[2,9] = add %0, %c
  %2:f32[2,9] = sqrt %1
  %3:f32[2,9] = rsqrt %2
  %4:f32[2,9] = log %3
  %5:f32[2,9] = exp %4
  %6:f32[2,9] = tanh %5
  %7:f32[2,9] = sigmoid %6
  %8:f32[2,9] = sub %7, %y
  %9:f32[2,9] = div %8, %x
  %10:f32[2,9] = maximum %9, %y
  %11:f32[2,9] = minimum %10, %x
  %12:f32[2,9] = neg %11
  %13:f32[2,9] = abs %12
  %14:f32[2,9] = pow %13, %y
  output z = %14`)).graph;
    expect(g.nodes.filter((n) => n.op === "fused").length).toBe(1);
    await expectMatchesInterpreter(g, undefined, { floor: 1e-4, tolerance: 1e-4 });
  });

  it("runs the MLP's fused training step under the real planner, fused nodes in place", async () => {
    const model = compileModelFile("examples/mnist-mlp/model.ts");
    const step = buildTrainingProgram(model.graph, trainingSpec(model.train)).trainStep;
    const planned = planMemory(runPass(fuse, step).graph, { workspaceBytes: wasmWorkspaceBytes }).graph;
    expect(planned.nodes.filter((n) => n.op === "fused" && n.inplace !== undefined).length).toBeGreaterThan(0);
    // The floor is the unfused MLP's (wasm-emit.test.ts): f32 GEMM sums over 784 products.
    await expectMatchesInterpreter(planned, undefined, { floor: 0.05, tolerance: 1e-4 });
  }, 60_000);
});
