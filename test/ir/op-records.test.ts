// The facts the op records declare for the passes (op-def.ts): FLOPs (checkpoint cost), buffer
// sharing (ir/aliasing.ts), fusion roles (fuse, fuseReductions, fuseEpilogues) and randomness.
// The sets are pinned so a change to one is a deliberate edit here, and the fields that other
// tables mirror (the fused body's element functions, the fused ops' names) are checked against them.

import { describe, expect, it } from "vitest";
import { mayReuseOperand } from "../../compiler/ir/aliasing.ts";
import { valueTypes } from "../../compiler/ir/graph.ts";
import { elementFlops, operandCount, type OpDef } from "../../compiler/ir/op-def.ts";
import { OPS } from "../../compiler/ir/ops.ts";
import { ELEMENTWISE_OPS, FLOAT_BINARY_FUNCTIONS, FLOAT_TERNARY_FUNCTIONS, FLOAT_UNARY_FUNCTIONS } from "../../compiler/ir/ops/elementwise.ts";
import { bodyOpArity } from "../../compiler/ir/ops/fused-body.ts";
import { EPILOGUE_OPS } from "../../compiler/ir/ops/fused-contraction.ts";
import { FUSED_REDUCTIONS } from "../../compiler/ir/ops/fused-reduce.ts";
import { parseGraph } from "../../compiler/ir/parser.ts";
import { nodeFlops } from "../../compiler/passes/checkpoint/cost.ts";

/** The names of the ops whose record passes `test`, sorted. */
const opsWhere = (test: (op: OpDef) => unknown) => [...OPS.values()].filter(test).map((op) => op.name).sort();

/** nodeFlops of every node of a one-line-per-node graph body, by node id. */
function flopsOf(body: string): Record<string, number> {
  const g = parseGraph(`graph t {\n${body}\n}`);
  const types = valueTypes(g);
  return Object.fromEntries(g.nodes.map((n) => [n.id, nodeFlops(n, (v) => types.get(v)!)]));
}

describe("flops", () => {
  it("counts 2 per multiply-add for contractions and their fused forms", () => {
    expect(flopsOf(`
  input %a: f32[2,3,5]
  input %b: f32[5,4]
  input %c: f32[4]
  input %at: f32[2,5,3]
  %0:f32[2,3,4] = matmul %a, %b
  %1:f32[2,3,4] = matmul %at, %b {transposeA=true}
  %2:f32[2,3,4] = fusedMatmul %a, %b, %c {epilogue="add(x0, x1); relu(t0)"}
  output y = %0
  output z = %1
  output e = %2`)).toEqual({ 0: 2 * 24 * 5, 1: 2 * 24 * 5, 2: 2 * 24 * 5 });
    expect(flopsOf(`
  input %a: i8[2,3,5]
  input %w: i8[5,4]
  %0:i32[2,3,4] = matmulInteger %a, %w
  output y = %0`)).toEqual({ 0: 2 * 24 * 5 });
    expect(flopsOf(`
  input %x: f32[1,6,6,4]
  input %w: f32[3,3,2,8]
  input %dy: f32[1,6,6,8]
  %0:f32[1,6,6,8] = conv2d %x, %w {padding="same", groups=2}
  %1:f32[1,6,6,8] = fusedConv2d %x, %w {padding="same", groups=2, epilogue="relu(x0)"}
  %2:f32[1,6,6,4] = conv2dBackpropInput %dy, %w {padding="same", groups=2, inputShape=[1,6,6,4]}
  %3:f32[3,3,2,8] = conv2dBackpropFilter %x, %dy {padding="same", groups=2, filterShape=[3,3,2,8]}
  output a = %0
  output b = %1
  output c = %2
  output d = %3`)).toEqual({ 0: 2 * 288 * 18, 1: 2 * 288 * 18, 2: 2 * 288 * 18, 3: 2 * 288 * 18 });
  });

  it("counts one per element read or written for everything else, fused bodies included", () => {
    expect(flopsOf(`
  input %x: f32[4,3]
  input %b: f32[3]
  %0:f32[4,3] = add %x, %b
  %1:f32[3] = sum %0 {axes=[0]}
  %2:f32[2,5] = const {value=1, dtype="f32", shape=[2,5]}
  %3:f32[12] = reshape %x {shape=[12]}
  %4:f32[4,3] = fused %x, %b {body="mul(x0, x1); exp(t0)"}
  %5:f32[3] = fusedReduce %x, %b {body="mul(x0, x1)", reduce="sum", axes=[0]}
  output a = %1
  output b = %2
  output c = %3
  output d = %4
  output e = %5`)).toEqual({ 0: 12, 1: 12, 2: 10, 3: 12, 4: 12, 5: 12 });
  });

  it("states the default rule only where a record gives its own reason", () => {
    expect(opsWhere((op) => op.flops !== undefined)).toEqual(
      ["blockSparseMatmul", "codebookConv2d", "codebookMatmul", "conv2d", "conv2dBackpropFilter", "conv2dBackpropInput", "convInteger", "fused", "fusedConv2d", "fusedMatmul", "fusedReduce", "matmul", "matmulInteger", "pruneMask", "sparse24Matmul"],
    );
    expect(OPS.get("fused")!.flops).toBe(elementFlops);
  });
});

describe("buffer sharing", () => {
  it("lets reshape and copy alias their operand, and elementwise ops (and pruneMask) overwrite one", () => {
    expect(opsWhere((op) => op.inplace === "alias")).toEqual(["copy", "reshape"]);
    // pruneMask reads every score before it writes, and element i of its result from score i and
    // old mask element i only: the elementwise rule holds for it too.
    expect(opsWhere((op) => op.inplace === "overwrite")).toEqual([...opsWhere((op) => op.kind === "elementwise"), "pruneMask"].sort());
  });

  it("combines the record with the element count and width in mayReuseOperand", () => {
    const g = parseGraph(`graph t {
  input %x: f32[4,3]
  input %b: f32[3]
  input %h: f16[4,3]
  %0:f32[4,3] = add %x, %b
  %1:f32[4,3] = cast %h {dtype="f32"}
  %2:bool[4,3] = less %x, %b
  %3:f32[12] = reshape %x {shape=[12]}
  %4:f32[3] = sum %x {axes=[0]}
  output a = %0
  output b = %1
  output c = %2
  output d = %3
  output e = %4
}`);
    const types = valueTypes(g);
    const may = (id: string, index: number) => {
      const n = g.nodes.find((m) => m.id === id)!;
      return mayReuseOperand(n, index, types.get(n.inputs[index])!);
    };
    expect([may("0", 0), may("0", 1)]).toEqual([true, false]); // b is broadcast up
    expect(may("1", 0)).toBe(false); // a widening cast
    expect(may("2", 0)).toBe(false); // bool is narrower
    expect(may("3", 0)).toBe(true); // a pure alias
    expect(may("4", 0)).toBe(false); // no record rule
  });
});

describe("fusion roles", () => {
  it("chains exactly the ops the fused body can evaluate, with their arity", () => {
    const chain = opsWhere((op) => op.fusion?.chain);
    expect(chain).toEqual([...Object.keys(FLOAT_UNARY_FUNCTIONS), ...Object.keys(FLOAT_BINARY_FUNCTIONS), ...Object.keys(FLOAT_TERNARY_FUNCTIONS), "gelu"].sort());
    for (const name of chain) {
      const op = OPS.get(name)!;
      expect(ELEMENTWISE_OPS, name).toContain(op);
      expect(bodyOpArity(name), name).toBe(operandCount(op).min);
    }
    expect(bodyOpArity("select")).toBeUndefined();
    // where's condition is its bool operand 0; no other chain op reads a bool.
    expect(opsWhere((op) => op.fusion?.condition !== undefined)).toEqual(["where"]);
    expect(OPS.get("where")!.fusion?.condition).toBe(0);
    expect(opsWhere((op) => op.fusion?.scalarOnly)).toEqual(["pow"]);
  });

  it("names the reductions that absorb producers and the contractions that take epilogues", () => {
    expect(opsWhere((op) => op.fusion?.reduceHead)).toEqual(["max", "mean", "sum"]);
    expect(FUSED_REDUCTIONS).toEqual(["sum", "mean", "max"]);
    expect(EPILOGUE_OPS).toEqual({ matmul: "fusedMatmul", conv2d: "fusedConv2d" });
    for (const fused of Object.values(EPILOGUE_OPS)) expect(OPS.has(fused), fused).toBe(true);
  });
});

describe("randomness", () => {
  it("marks dropout, the one op that draws random numbers", () => {
    expect(opsWhere((op) => op.random)).toEqual(["dropout"]);
  });
});
