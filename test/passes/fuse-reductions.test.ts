// The fuseReductions pass and the `fusedReduce` op: which reductions absorb their operand's
// producer (positive and negative cases on hand-written IR), the reference kernel, the WASM kernel
// against the interpreter and bit for bit against the unfused pair it replaces, over every operand
// layout and both walks (along a contiguous axis, across panels), and the training steps of the
// examples with BatchNorm or LayerNorm, whose backward passes it is for.
import { describe, expect, it } from "vitest";
import { randomInputs } from "../../compiler/cli/random-inputs.ts";
import type { Graph } from "../../compiler/ir/graph.ts";
import { interpret } from "../../compiler/ir/interpreter.ts";
import { parseGraph } from "../../compiler/ir/parser.ts";
import { printGraph } from "../../compiler/ir/printer.ts";
import { fuse } from "../../compiler/passes/fuse.ts";
import { fuseReductions } from "../../compiler/passes/fuse-reductions.ts";
import { runPass } from "../../compiler/passes/pass.ts";
import { fuseGraph } from "../../compiler/driver/phases.ts";
import { expectMatchesInterpreter, graphTolerance, resultMismatches, runWasm } from "../support/wasm-harness.ts";
import { trainStepOf } from "../support/example-graphs.ts";
import { expectRoundTrip } from "../support/ir-roundtrip.ts";
import { uniform } from "../support/wasm-reduction-kit.ts";

const parse = (body: string): Graph => parseGraph(`graph t {\n${body}\n}`);

/** fuse then fuseReductions on `body`, printed without the header and closing brace. */
function fused(body: string): { text: string; stats: Record<string, number> } {
  const chains = runPass(fuse, parse(body)).graph;
  const { graph, stats } = runPass(fuseReductions, chains);
  return { text: printGraph(graph).split("\n").slice(1, -2).join("\n"), stats };
}

const BN = `  input %dy: f32[2,3,4,5]
  input %xhat: f32[2,3,4,5]
  input %s: f32[1,1,1,5]`;

describe("fuseReductions on hand-written IR", () => {
  it("folds a product into the sum that reads it (batch norm's Σ dy * xhat)", () => {
    const { text, stats } = fused(`${BN}
  %0:f32[2,3,4,5] = mul %dy, %xhat
  %1:f32[5] = sum %0 {axes=[0,1,2]}
  output y = %1`);
    expect(text).toBe(`${BN}
  %1:f32[5] = fusedReduce %dy, %xhat {body="mul(x0, x1)", reduce="sum", axes=[0,1,2], keepDims=false}
  output y = %1`);
    expect(stats).toEqual({ "fused-reductions": 1, "removed-buffers": 1, "removed-bytes": 480 });
  });

  it("folds a whole fused chain, per-channel operands and literals included, into a mean", () => {
    const { text } = fused(`${BN}
  %c:f32[] = const {value=2, dtype="f32", shape=[]}
  %0:f32[2,3,4,5] = sub %dy, %s
  %1:f32[2,3,4,5] = mul %0, %xhat
  %2:f32[2,3,4,5] = mul %1, %c
  %3:f32[1,1,1,5] = mean %2 {axes=[0,1,2], keepDims=true}
  output y = %3`);
    expect(text).toBe(`${BN}
  %3:f32[1,1,1,5] = fusedReduce %dy, %s, %xhat {body="sub(x0, x1); mul(t0, x2); mul(t1, 2)", reduce="mean", axes=[0,1,2], keepDims=true}
  output y = %3`);
  });

  it("leaves a producer with another use, reductions over separated axes, mixed broadcasts and pow bodies alone", () => {
    const cases = [
      `${BN}
  %0:f32[2,3,4,5] = mul %dy, %xhat
  %1:f32[5] = sum %0 {axes=[0,1,2]}
  output y = %1
  output z = %0`,
      `${BN}
  %0:f32[2,3,4,5] = mul %dy, %xhat
  %1:f32[3,5] = sum %0 {axes=[0,2]}
  output y = %1`,
      `  input %a: f32[3,4,6]
  input %b: f32[3,1,1]
  %0:f32[3,4,6] = mul %a, %b
  %1:f32[3,4] = sum %0 {axes=[2]}
  output y = %1`,
      `  input %a: f32[4,6]
  input %e: f32[4,6]
  %0:f32[4,6] = pow %a, %e
  %1:f32[4] = sum %0 {axes=[1]}
  output y = %1`,
      `  input %a: f32[4,1]
  input %e: f32[4,1]
  %0:f32[4,1] = mul %a, %e
  %1:f32[4] = sum %0 {axes=[1]}
  output y = %1`,
    ];
    for (const body of cases) expect(fused(body).stats["fused-reductions"], body).toBe(0);
  });
});

describe("fusedReduce op", () => {
  it("reduces the body's float64 values and rounds once", () => {
    const g = parse(`  input %a: f32[2,3]
  input %b: f32[2,1]
  %0:f32[2] = fusedReduce %a, %b {body="mul(x0, x1); add(t0, 0.5)", reduce="mean", axes=[1]}
  output y = %0`);
    const out = interpret(g, { a: [1, 2, 3, 4, 5, 6], b: [10, -1] }).outputs.y.data;
    expect([...out]).toEqual([Math.fround((10 + 20 + 30) / 3 + 0.5), Math.fround((-4 - 5 - 6) / 3 + 0.5)]);
    expectRoundTrip(g);
  });

  it("rejects an unknown reduction and axes out of range", () => {
    expect(() => parse(`  input %a: f32[2,3]
  %0:f32[2] = fusedReduce %a {body="neg(x0)", reduce="min", axes=[1]}
  output y = %0`)).toThrow(/reduce/);
    expect(() => parse(`  input %a: f32[2,3]
  %0:f32[2] = fusedReduce %a {body="neg(x0)", reduce="sum", axes=[2]}
  output y = %0`)).toThrow(/axis/);
  });
});

describe("wasm fusedReduce kernel", () => {
  // [shape, axes, second operand's shape]: along a contiguous row (inner 1) with a per-row or
  // per-position operand, across panels (inner > 1, full and partial panels) with a per-column one.
  const CASES: [number[], number[], number[]][] = [
    [[3, 37], [1], [3, 1]],
    [[3, 37], [1], [37]],
    [[5, 8], [1], [5, 8]],
    [[2, 3, 4, 5], [0, 1, 2], [1, 1, 1, 5]],
    [[8, 4, 4, 16], [0, 1, 2], [16]],
    [[7, 33], [0], [1, 33]],
    [[7, 33], [0], [7, 1]],
    [[4, 9, 21], [1], [4, 1, 21]],
  ];
  for (const [shape, axes, other] of CASES) {
    for (const reduce of ["sum", "mean", "max"]) {
      it(`${reduce} of (a - b)^2 * a over [${axes}] of f32[${shape}], b: f32[${other}]`, async () => {
        const kept = shape.map((d, i) => (axes.includes(i) ? 1 : d));
        const result = kept.filter((_, i) => !axes.includes(i));
        const header = `  input %a: f32[${shape}]\n  input %b: f32[${other}]`;
        const body = `sub(x0, x1); mul(t0, t0); mul(t1, x0)`;
        const g = parse(`${header}
  %0:f32[${result}] = fusedReduce %a, %b {body="${body}", reduce="${reduce}", axes=[${axes}]}
  output y = %0`);
        const unfused = parse(`${header}
  %1:f32[${shape}] = sub %a, %b
  %2:f32[${shape}] = mul %1, %1
  %3:f32[${shape}] = mul %2, %a
  %0:f32[${result}] = ${reduce} %3 {axes=[${axes}]}
  output y = %0`);
        const size = (s: number[]) => s.reduce((n, d) => n * d, 1);
        const inputs = { a: uniform(shape, 0.25, 1.25, 3), b: uniform(other, -0.5, 0.5, 4) };
        expect(size(other)).toBeGreaterThan(0);
        const { wasm } = await expectMatchesInterpreter(g, inputs);
        // The same f32 steps in the same fold order as the unfused kernels: equal bits.
        const reference = await runWasm(unfused, inputs);
        expect([...wasm.outputs.y.data]).toEqual([...reference.outputs.y.data]);
      });
    }
  }
});

describe("training steps", () => {
  it.each(["resnet", "transformer"])("%s: the backward's normalization reductions fuse, and the step computes what it did", (name) => {
    const g = trainStepOf(name);
    const { graph, stats } = fuseGraph(g);
    expect(stats["fuse-reductions"]["fused-reductions"]).toBeGreaterThan(0);
    expect(graph.nodes.filter((n) => n.op === "fusedReduce").length).toBe(stats["fuse-reductions"]["fused-reductions"]);
    const inputs = randomInputs(g, 11);
    const compare = { tolerance: 10 * graphTolerance(g), floor: 1e-3 };
    expect(resultMismatches(interpret(graph, inputs, { seed: 5 }), interpret(g, inputs, { seed: 5 }), compare)).toEqual([]);
  }, 60_000);
});
