// The in-place pass: which nodes write into an operand's buffer (positive and negative cases),
// optimizer updates written into the state they update, and the verifier's checks of in-place
// decisions, on hand-written IR.
import { describe, expect, it } from "vitest";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import type { Graph } from "../../compiler/ir/graph.ts";
import { parseGraph } from "../../compiler/ir/parser.ts";
import { printGraph } from "../../compiler/ir/printer.ts";
import { verifyGraph } from "../../compiler/ir/verifier.ts";
import { inplace } from "../../compiler/passes/inplace.ts";
import { runPass } from "../../compiler/passes/pass.ts";
import { buildTrainingProgram } from "../../compiler/driver/phases.ts";
import { trainingSpec } from "../../compiler/passes/train-options.ts";

/** Runs the pass (verified) on `body` and returns its decisions as { node: reused operand }. */
function decide(body: string): { decisions: Record<string, string>; stats: Record<string, number>; graph: Graph } {
  const { graph, stats } = runPass(inplace, parseGraph(`graph t {\n${body}\n}`));
  const decisions: Record<string, string> = {};
  for (const n of graph.nodes) if (n.inplace !== undefined) decisions[n.id] = n.inplace;
  return { decisions, stats, graph };
}

const X = "  input %x: f32[4,3]\n";

describe("in-place decisions", () => {
  it("reuses an operand that dies at the node, never an input", () => {
    const { decisions, stats } = decide(`${X}
  %0:f32[4,3] = exp %x
  %1:f32[4,3] = relu %0
  %2:f32[4,3] = sigmoid %1
  output y = %2`);
    expect(decisions).toEqual({ 1: "0", 2: "1" });
    expect(stats).toEqual({ "inplace-nodes": 2, "inplace-bytes": 96, "inplace-updates": 0 });
  });

  it("does not overwrite an operand that is read later", () => {
    const { decisions } = decide(`${X}
  %0:f32[4,3] = exp %x
  %1:f32[4,3] = relu %0
  %2:f32[4,3] = add %1, %0
  output y = %2`);
    // %1 may not reuse %0 (read by %2); %2 is the last reader of both and reuses the first.
    expect(decisions).toEqual({ 2: "1" });
  });

  it("does not overwrite an operand that is broadcast up to the result's shape", () => {
    const { decisions } = decide(`${X}
  %0:f32[3] = sum %x {axes=[0]}
  %1:f32[4,3] = exp %x
  %2:f32[4,3] = mul %0, %1
  %3:f32[4,3] = add %0, %x
  output y = %2
  output z = %3`);
    // %2: %0 is broadcast (and read later anyway), %1 dies: reuse %1. %3: %0 dies but is
    // broadcast and %x is an input, so %3 gets its own buffer.
    expect(decisions).toEqual({ 2: "1" });
  });

  it("does not overwrite outputs, params without an update, or through a width change", () => {
    const { decisions } = decide(`${X}
  param %w: f32[4,3] init=zeros
  %0:f32[4,3] = exp %x
  %1:f32[4,3] = relu %0
  %2:f32[4,3] = neg %w
  %3:f16[4,3] = cast %2 {dtype="f16"}
  %4:i32[4,3] = cast %1 {dtype="i32"}
  %5:bool[4,3] = greater %2, %2
  output h = %0
  output a = %3
  output b = %4
  output c = %5`);
    // %1: %0 is an output. %2: %w has no update. %3: f32 -> f16 changes the element width.
    // %4: f32 -> i32 keeps it, and %1 dies there. %5: a bool result is narrower than %2.
    expect(decisions).toEqual({ 4: "1" });
  });

  it("aliases reshape and copy to their operand, and then keeps the shared buffer alive for both", () => {
    const { decisions } = decide(`${X}
  %0:f32[4,3] = exp %x
  %1:f32[12] = reshape %0 {shape=[12]}
  %2:f32[4,3] = neg %0
  %3:f32[12] = sigmoid %1
  %4:f32[12] = copy %3
  output y = %2
  output z = %4`);
    // %2 is %0's last reader, but %1 shares %0's bytes and is read by %3: no reuse. %3 may
    // overwrite the shared buffer (the last reader of both %0 and %1).
    expect(decisions).toEqual({ 1: "0", 3: "1", 4: "3" });
  });
});

const SGD_MOMENTUM = `
  input %g: f32[4]
  param %p: f32[4] init=zeros
  state %m: f32[4] init=zeros
  %0:f32[] = const {value=0.9, dtype="f32", shape=[]}
  %1:f32[4] = mul %m, %0
  %2:f32[4] = add %1, %g
  %3:f32[] = const {value=0.1, dtype="f32", shape=[]}
  %4:f32[4] = mul %2, %3
  %5:f32[4] = sub %p, %4
  update %m = %2
  update %p = %5`;

describe("state updates in place", () => {
  it("computes momentum and param updates in the buffers they update", () => {
    const { decisions, stats } = decide(SGD_MOMENTUM);
    // m*0.9 + g overwrites m; p - lr*buf overwrites p. %4 = buf*lr reads the NEW momentum (which
    // must survive), so it gets a buffer of its own.
    expect(decisions).toEqual({ 1: "m", 2: "1", 5: "p" });
    expect(stats["inplace-updates"]).toBe(2);
  });

  it("leaves a param alone when its old value is read after the update starts", () => {
    const { decisions } = decide(`${SGD_MOMENTUM}
  %6:f32[4] = mul %p, %3
  output old = %6`);
    // %6 reads p after %5 would have overwritten it: %5 reuses %4 (dying) instead.
    expect(decisions).toEqual({ 1: "m", 2: "1", 5: "4" });
  });

  it("leaves a param alone when an output reads it, or when it has no update", () => {
    expect(decide(`${SGD_MOMENTUM}\n  output before = %p`).decisions).toEqual({ 1: "m", 2: "1", 5: "4" });
    // Without its update, m must keep its value: m*0.9 gets a buffer, and the temporaries chain.
    expect(decide(SGD_MOMENTUM.replace("  update %m = %2", "")).decisions).toEqual({ 2: "1", 4: "2", 5: "p" });
  });

  it("follows a chain of single-use temporaries (Adam's m and AdamW's decayed param)", () => {
    const { decisions } = decide(`
  input %g: f32[4]
  param %p: f32[4] init=zeros
  state %m: f32[4] init=zeros
  %0:f32[] = const {value=0.9, dtype="f32", shape=[]}
  %1:f32[] = const {value=0.1, dtype="f32", shape=[]}
  %2:f32[4] = mul %m, %0
  %3:f32[4] = mul %g, %1
  %4:f32[4] = add %2, %3
  %5:f32[4] = mul %p, %0
  %6:f32[4] = mul %4, %1
  %7:f32[4] = sub %5, %6
  update %m = %4
  update %p = %7`);
    // m_new = m*b1 + g*(1-b1) in m; p_new = (p*decay) - m_new*lr in p, through %5.
    expect(decisions).toEqual({ 2: "m", 4: "2", 5: "p", 7: "5" });
  });

  it("makes every update of the documented two-layer MLP free", () => {
    const model = compileModelFile("docs/examples/two-layer-mlp.ts");
    const program = buildTrainingProgram(model.graph, trainingSpec(model.train));
    const { graph, stats } = runPass(inplace, program.trainStep);
    expect(stats["inplace-updates"]).toBe(9); // 4 momentum buffers, 4 params, the non-finite guard's opt/skipped_steps
    const text = printGraph(graph, { locations: false });
    // The non-finite guard gates what enters the update (%28: the gradient, or 0 on a skipped step).
    expect(text).toContain("%28:f32[3,5] = where %25, %grad/w1, %17 inplace(%grad/w1)");
    expect(text).toContain("%32:f32[3,5] = mul %opt/w1/momentum, %31 inplace(%opt/w1/momentum)");
    expect(text).toContain("%33:f32[3,5] = add %32, %28 inplace(%32)");
    expect(text).toContain("%35:f32[3,5] = sub %w1, %34 inplace(%w1)"); // %34 = buf * %opt/lr
    expect(text).toContain("%71:f32[] = add %opt/skipped_steps, %step/skipped inplace(%opt/skipped_steps)");
    expect(text).toContain("%2:f32[4,5] = relu %1\n"); // %1 is read again by the backward pass
  });
});

describe("the verifier checks in-place decisions", () => {
  const bad = (body: string) => () => verifyGraph(parseGraph(`graph t {\n${body}\n}`));

  it("rejects reading a value after it was overwritten", () => {
    expect(bad(`${X}
  %0:f32[4,3] = exp %x
  %1:f32[4,3] = relu %0 inplace(%0)
  %2:f32[4,3] = add %1, %0
  output y = %2`)).toThrow("node %2 (add) reads %0, but node %1 overwrote its buffer in place before");
  });

  it("rejects writing into an input, and a param left without its update", () => {
    expect(bad(`${X}
  %0:f32[4,3] = exp %x inplace(%x)
  output y = %0`)).toThrow("node %0 writes into the buffer of input %x");
    expect(bad(`${X}
  param %w: f32[4,3] init=zeros
  %0:f32[4,3] = exp %w inplace(%w)
  output y = %0`)).toThrow("node %0 overwrites %w in place, but %w's buffer does not end the step holding its update");
  });

  it("rejects ops and operands that cannot be reused", () => {
    expect(bad(`${X}
  %0:f32[4,3] = exp %x
  %1:f32[4,4] = matmul %0, %0 {transposeB=true} inplace(%0)
  output y = %1`)).toThrow("matmul cannot write its f32[4,4] result into %0: f32[4,3]");
    expect(bad(`${X}
  %0:f32[3] = sum %x {axes=[0]}
  %1:f32[4,3] = add %x, %0 inplace(%0)
  output y = %1`)).toThrow("add cannot write its f32[4,3] result into %0: f32[3]");
  });

  it("refuses to parse inplace() of a value that is not an operand", () => {
    expect(() => parseGraph(`graph t {\n${X}  %0:f32[4,3] = exp %x\n  %1:f32[4,3] = neg %0 inplace(%x)\n}`)).toThrow(
      "inplace(%x): %x is not an operand of %1",
    );
  });
});
