// The epilogue fusion pass and the fused contraction ops: which consumers fold into a matmul or
// conv2d (positive and negative cases on hand-written IR), fused vs unfused interpreter results on
// every example's forward and training graph with the text round trip, and the WASM kernels
// against the interpreter on shapes that exercise SIMD tails, batches, transposes and every conv
// strategy.
import { describe, expect, it } from "vitest";
import { randomInputs } from "../../compiler/cli/random-inputs.ts";
import type { Graph } from "../../compiler/ir/graph.ts";
import { interpret } from "../../compiler/ir/interpreter.ts";
import { parseGraph } from "../../compiler/ir/parser.ts";
import { printGraph } from "../../compiler/ir/printer.ts";
import { verifyGraph } from "../../compiler/ir/verifier.ts";
import { fuse } from "../../compiler/passes/fuse.ts";
import { fuseEpilogues } from "../../compiler/passes/fuse-epilogues.ts";
import { runPass } from "../../compiler/passes/pass.ts";
import { fuseGraph } from "../../compiler/driver/phases.ts";
import { EXAMPLES, graphsOf } from "../support/example-graphs.ts";
import { expectMatchesInterpreter, graphTolerance, resultMismatches } from "../support/wasm-harness.ts";
import { expectRoundTrip } from "../support/ir-roundtrip.ts";

const parse = (body: string): Graph => parseGraph(`graph t {\n${body}\n}`);

/** fuse → fuseEpilogues on `body`, printed without the header and closing brace. */
function fused(body: string): { text: string; stats: Record<string, number> } {
  const chains = runPass(fuse, parse(body)).graph;
  const { graph, stats } = runPass(fuseEpilogues, chains);
  return { text: printGraph(graph).split("\n").slice(1, -2).join("\n"), stats };
}

const XWB = `  input %x: f32[4,8]
  input %w: f32[8,16]
  input %b: f32[16]`;

describe("fuseEpilogues on hand-written IR", () => {
  it("folds relu(x @ w + b) into one fusedMatmul whose epilogue is the fused chain", () => {
    const { text, stats } = fused(`${XWB}
  %0:f32[4,16] = matmul %x, %w
  %1:f32[4,16] = add %0, %b
  %2:f32[4,16] = relu %1
  output y = %2`);
    expect(text).toBe(`${XWB}
  %2:f32[4,16] = fusedMatmul %x, %w, %b {transposeA=false, transposeB=false, epilogue="add(x0, x1); relu(t0)"}
  output y = %2`);
    expect(stats).toEqual({ "fused-epilogues": 1, "removed-buffers": 1, "removed-bytes": 256 });
  });

  it("folds a single elementwise consumer, its scalar constant becoming a literal", () => {
    const { text, stats } = fused(`  input %q: f32[2,3,5]
  input %k: f32[2,4,5]
  %s:f32[] = const {value=0.25, dtype="f32", shape=[]}
  %0:f32[2,3,4] = matmul %q, %k {transposeB=true}
  %1:f32[2,3,4] = mul %0, %s
  output y = %1`);
    expect(text).toBe(`  input %q: f32[2,3,5]
  input %k: f32[2,4,5]
  %1:f32[2,3,4] = fusedMatmul %q, %k {transposeA=false, transposeB=true, epilogue="mul(x0, 0.25)"}
  output y = %1`);
    expect(stats["removed-buffers"]).toBe(2);
  });

  it("folds bias and activation into conv2d, keeping the conv attributes", () => {
    const { text } = fused(`  input %x: f32[1,6,6,2]
  input %w: f32[3,3,2,4]
  input %b: f32[4]
  %0:f32[1,3,3,4] = conv2d %x, %w {stride=[2,2], padding="same"}
  %1:f32[1,3,3,4] = add %b, %0
  %2:f32[1,3,3,4] = tanh %1
  output y = %2`);
    expect(text).toContain(`%2:f32[1,3,3,4] = fusedConv2d %x, %w, %b {stride=[2,2], padding="same"`);
    expect(text).toContain(`epilogue="add(x1, x0); tanh(t0)"}`);
  });

  it("folds a chain that reads the product twice (the chain is its one use)", () => {
    const { text } = fused(`${XWB}
  %0:f32[4,16] = matmul %x, %w
  %1:f32[4,16] = add %0, %b
  %2:f32[4,16] = mul %0, %1
  output y = %2`);
    expect(text).toContain(`%2:f32[4,16] = fusedMatmul %x, %w, %b {transposeA=false, transposeB=false, epilogue="add(x0, x1); mul(x0, t0)"}`);
  });

  it("leaves a product with a second use, a product that is an output, and a product the consumer broadcasts up", () => {
    const twoUses = `${XWB}
  %0:f32[4,16] = matmul %x, %w
  %1:f32[4,16] = add %0, %b
  %2:f32[4,16] = relu %0
  output y = %1
  output z = %2`;
    expect(fused(twoUses).stats["fused-epilogues"]).toBe(0);
    const isOutput = `${XWB}
  %0:f32[4,16] = matmul %x, %w
  %1:f32[4,16] = add %0, %b
  output p = %0
  output y = %1`;
    expect(fused(isOutput).stats["fused-epilogues"]).toBe(0);
    const broadcastUp = `  input %x: f32[1,8]
  input %w: f32[8,16]
  input %r: f32[4,16]
  %0:f32[1,16] = matmul %x, %w
  %1:f32[4,16] = add %0, %r
  output y = %1`;
    expect(fused(broadcastUp).stats["fused-epilogues"]).toBe(0);
  });

  it("rejects epilogue operands that do not broadcast to the product", () => {
    expect(() => parse(`  input %x: f32[4,8]
  input %w: f32[8,16]
  input %b: f32[8]
  %0:f32[4,16] = fusedMatmul %x, %w, %b {epilogue="add(x0, x1)"}
  output y = %0`)).toThrow(/fusedMatmul: epilogue operand x1 is f32\[8\]; expected f32 broadcasting to the product f32\[4,16\]/);
    expect(() => parse(`  input %x: f32[4,8]
  input %w: f32[8,16]
  %0:f32[4,16] = fusedMatmul %x, %w {epilogue="add(x0, x1)"}
  output y = %0`)).toThrow(/x1 is out of range/);
  });
});

describe.each(EXAMPLES)("%s", (name) => {
  it.each(graphsOf(name))("%s: the fused graph computes what the unfused one does and round-trips as text", (_kind, g) => {
    const { graph, stats } = fuseGraph(g);
    // recsys has no matmul or conv; every other example has a bias-add after each one.
    const hasContraction = g.nodes.some((n) => n.op === "matmul" || n.op === "conv2d");
    expect(stats["fuse-epilogues"]["fused-epilogues"] > 0).toBe(hasContraction);
    const inputs = randomInputs(g, 11);
    const reference = interpret(g, inputs, { seed: 5 });
    const result = interpret(graph, inputs, { seed: 5 });
    // As in fuse.test.ts: fused nodes round once, the unfused graph after every op.
    const compare = { tolerance: 10 * graphTolerance(g), floor: 1e-3 };
    expect(resultMismatches(result, reference, compare)).toEqual([]);
    verifyGraph(expectRoundTrip(graph).parsed);
  }, 60_000);
});

describe("wasm fused contraction kernels", () => {
  // The backend rounds the product to f32 before the epilogue; the reference rounds once.
  const compare = { floor: 1e-4, tolerance: 1e-4 };

  it.each([
    [1, 7, 9, false, false], [3, 13, 5, false, false], [5, 8, 16, false, true], [64, 33, 40, true, false], [17, 4, 1, true, true],
  ])("fusedMatmul m=%i n=%i k=%i (transposeA %s, transposeB %s) with bias, residual and gelu", async (m, n, k, ta, tb) => {
    const a = ta ? `${k},${m}` : `${m},${k}`;
    const b = tb ? `${n},${k}` : `${k},${n}`;
    const g = parse(`  input %a: f32[${a}]
  input %b: f32[${b}]
  input %bias: f32[${n}]
  input %r: f32[${m},${n}]
  %0:f32[${m},${n}] = fusedMatmul %a, %b, %bias, %r {transposeA=${ta}, transposeB=${tb}, epilogue="add(x0, x1); gelu[tanh](t0); add(t1, x2)"}
  output y = %0`);
    await expectMatchesInterpreter(g, undefined, compare);
  });

  it("fusedMatmul over a broadcast batch (one GEMM per matrix) with a scalar operand", async () => {
    const g = parse(`  input %a: f32[2,3,5,6]
  input %b: f32[3,6,7]
  input %s: f32[]
  %0:f32[2,3,5,7] = fusedMatmul %a, %b, %s {epilogue="mul(x0, x1); maximum(t0, 0)"}
  output y = %0`);
    await expectMatchesInterpreter(g, undefined, compare);
  });

  it.each([
    ["im2col", "[1,7,7,3]", "[3,3,3,5]", `stride=[1,1], padding="same"`, "[1,7,7,5]"],
    ["pointwise", "[2,4,4,6]", "[1,1,6,9]", `padding="valid"`, "[2,4,4,9]"],
    ["depthwise", "[1,6,6,4]", "[3,3,1,4]", `stride=[2,2], padding="same", groups=4`, "[1,3,3,4]"],
    ["one input channel", "[3,9,9,1]", "[3,3,1,8]", `padding="same"`, "[3,9,9,8]"],
  ])("fusedConv2d (%s) with bias and relu", async (_label, x, w, attrs, out) => {
    const channels = JSON.parse(out)[3];
    const g = parse(`  input %x: f32${x}
  input %w: f32${w}
  input %bias: f32[${channels}]
  %0:f32${out} = fusedConv2d %x, %w, %bias {${attrs}, epilogue="add(x0, x1); relu(t0)"}
  output y = %0`);
    await expectMatchesInterpreter(g, undefined, compare);
  });
});
