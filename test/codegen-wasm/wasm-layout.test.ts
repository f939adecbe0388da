// WASM layout and source kernels against the reference interpreter: every op of the layout group
// the element-moving loop nest serves (reshape, copy, transpose, slice, concat, broadcastTo, pad,
// oneHot) and the source ops (const, iota), over ranks 0-4, size-1 and empty axes, rows above
// and below the bulk-copy threshold, and 1- and 4-byte dtypes. Layout kernels move bits, so the
// comparison is exact; the harness fills the arena with NaN first, so an element a kernel forgets
// to write cannot pass.

import { describe, expect, it } from "vitest";
import { emitWasm, WasmPlanError } from "../../compiler/codegen-wasm/emit.ts";
import { naivePlan } from "../../compiler/codegen-wasm/naive-plan.ts";
import { GraphBuilder } from "../../compiler/ir/builder.ts";
import type { Graph } from "../../compiler/ir/graph.ts";
import type { AttrValue } from "../../compiler/ir/op-def.ts";
import type { DType, TensorType } from "../../compiler/ir/types.ts";
import { expectMatchesInterpreter } from "../support/wasm-harness.ts";

const t = (dtype: DType, ...shape: number[]): TensorType => ({ dtype, shape });
const f32 = (...shape: number[]) => t("f32", ...shape);

/** One node per case, each on its own input, in one graph (so one module serves every case). */
function cases(op: string, list: readonly { x: TensorType | TensorType[]; attrs: Record<string, AttrValue> }[]): Graph {
  const b = new GraphBuilder(op);
  list.forEach(({ x, attrs }, k) => {
    const operands = (Array.isArray(x) ? x : [x]).map((type, i) => b.addInput({ name: `x${k}_${i}`, type }));
    b.output(`y${k}`, b.op(op, operands, attrs));
  });
  return b.build();
}

/** Distinct integers for integer inputs (the default random inputs only use 0 and 1). */
function distinct(g: Graph): Record<string, Float64Array> {
  const inputs: Record<string, Float64Array> = {};
  for (const input of g.inputs) {
    const n = input.type.shape.reduce((p, d) => p * d, 1);
    const span = input.type.dtype === "bool" ? 2 : 251;
    const low = input.type.dtype === "i8" || input.type.dtype === "i32" ? -123 : 0;
    inputs[input.name] = Float64Array.from({ length: n }, (_, i) => low + ((i * 37 + 11) % span));
  }
  return inputs;
}

async function matches(g: Graph): Promise<void> {
  const integer = g.inputs.some((i) => i.type.dtype !== "f32");
  await expectMatchesInterpreter(g, integer ? distinct(g) : undefined);
}

describe("reshape and copy", () => {
  it("move the bytes (or nothing, in place)", async () => {
    await matches(cases("reshape", [
      { x: f32(6, 4), attrs: { shape: [4, -1] } },
      { x: f32(), attrs: { shape: [1, 1] } },
      { x: t("i8", 2, 3, 5), attrs: { shape: [30] } },
    ]));
    await matches(cases("copy", [{ x: f32(33), attrs: {} }, { x: t("bool", 7), attrs: {} }]));
  });

  it("in place: a reshape over its operand's slot emits no copy and reads the same bytes", async () => {
    const b = new GraphBuilder("alias");
    const x = b.addInput({ name: "x", type: f32(4, 6) });
    const e = b.op("neg", [x]);
    const r = b.op("reshape", [e], { shape: [6, 4] });
    b.output("y", b.op("transpose", [r], { perm: [1, 0] }));
    const g = b.build();
    await expectMatchesInterpreter({ ...g, nodes: g.nodes.map((n) => (n.id === r ? { ...n, inplace: e } : n)) });
  });
});

describe("transpose", () => {
  it("2-D to 4-D permutations, size-1 axes, 1-byte elements", async () => {
    await matches(cases("transpose", [
      { x: f32(5, 7), attrs: { perm: [1, 0] } },
      { x: f32(33, 64), attrs: { perm: [1, 0] } },
      { x: f32(2, 3, 4), attrs: { perm: [2, 0, 1] } },
      { x: f32(2, 3, 4), attrs: { perm: [0, 2, 1] } },
      { x: f32(2, 3, 4, 5), attrs: { perm: [3, 1, 0, 2] } },
      { x: f32(4, 1, 6), attrs: { perm: [1, 2, 0] } },
      { x: f32(3, 8, 16), attrs: { perm: [1, 0, 2] } },
      { x: f32(), attrs: { perm: [] } },
    ]));
    await matches(cases("transpose", [{ x: t("u8", 3, 5), attrs: { perm: [1, 0] } }, { x: t("i32", 2, 3, 4), attrs: { perm: [2, 1, 0] } }]));
  });

  it("the assembler refuses a plan that runs a transpose in place", () => {
    const b = new GraphBuilder("bad");
    const x = b.addInput({ name: "x", type: f32(4, 4) });
    const n = b.op("neg", [x]);
    b.output("y", b.op("transpose", [n], { perm: [1, 0] }));
    const g = b.build();
    const planned = naivePlan({ ...g, nodes: g.nodes.map((node, i) => (i === 1 ? { ...node, inplace: n } : node)) });
    expect(() => emitWasm(planned)).toThrow(WasmPlanError);
    expect(() => emitWasm(planned)).toThrow(/transpose %1 overwrites its operand %0/);
  });
});

describe("slice", () => {
  it("boxes, -1 sizes, rows below and above the bulk-copy threshold, empty results", async () => {
    await matches(cases("slice", [
      { x: f32(10), attrs: { begin: [3], size: [5] } },
      { x: f32(6, 40), attrs: { begin: [1, 2], size: [3, 30] } },
      { x: f32(6, 40), attrs: { begin: [2, 0], size: [-1, -1] } },
      { x: f32(4, 5, 6), attrs: { begin: [1, 1, 2], size: [2, 3, 3] } },
      { x: f32(2, 3, 4, 5), attrs: { begin: [0, 1, 0, 4], size: [2, 2, 4, 1] } },
      { x: f32(5, 3), attrs: { begin: [2, 0], size: [0, 3] } },
    ]));
    await matches(cases("slice", [{ x: t("i8", 9, 9), attrs: { begin: [2, 3], size: [4, 5] } }]));
  });
});

describe("concat", () => {
  it("along the first, a middle and the last axis, with empty and single operands", async () => {
    await matches(cases("concat", [
      { x: [f32(2, 3), f32(4, 3)], attrs: { axis: 0 } },
      { x: [f32(2, 3, 4), f32(2, 1, 4), f32(2, 5, 4)], attrs: { axis: 1 } },
      { x: [f32(3, 5), f32(3, 17)], attrs: { axis: -1 } },
      { x: [f32(3, 0), f32(3, 2)], attrs: { axis: 1 } },
      { x: [f32(7)], attrs: { axis: 0 } },
    ]));
    await matches(cases("concat", [{ x: [t("bool", 2, 3), t("bool", 2, 2)], attrs: { axis: 1 } }, { x: [t("i32", 3), t("i32", 2)], attrs: { axis: 0 } }]));
  });
});

describe("broadcastTo", () => {
  it("scalars, size-1 axes, new leading axes, 1-byte elements", async () => {
    await matches(cases("broadcastTo", [
      { x: f32(), attrs: { shape: [3, 5] } },
      { x: f32(3, 1), attrs: { shape: [3, 9] } },
      { x: f32(1, 5), attrs: { shape: [4, 5] } },
      { x: f32(6), attrs: { shape: [2, 3, 6] } },
      { x: f32(2, 1, 3), attrs: { shape: [2, 4, 3] } },
      { x: f32(1), attrs: { shape: [0, 4] } },
    ]));
    await matches(cases("broadcastTo", [{ x: t("u8", 3, 1), attrs: { shape: [3, 7] } }, { x: t("i32", 1), attrs: { shape: [9] } }]));
  });
});

describe("pad", () => {
  it("zeros around boxes of every rank, zero widths, 1-byte elements", async () => {
    await matches(cases("pad", [
      { x: f32(5), attrs: { before: [2], after: [3] } },
      { x: f32(3, 4), attrs: { before: [1, 0], after: [0, 2] } },
      { x: f32(2, 3, 4), attrs: { before: [0, 0, 0], after: [0, 0, 0] } },
      { x: f32(2, 2, 2, 2), attrs: { before: [1, 0, 1, 0], after: [0, 1, 0, 1] } },
      { x: f32(0, 2), attrs: { before: [1, 1], after: [1, 0] } },
    ]));
    await matches(cases("pad", [{ x: t("u8", 3, 3), attrs: { before: [1, 2], after: [2, 1] } }]));
  });
});

describe("oneHot", () => {
  it("in-range indices, out-of-range and negative ones (zero rows), every output dtype", async () => {
    const g = cases("oneHot", [
      { x: t("i32", 9), attrs: { depth: 4 } },
      { x: t("i32", 2, 3), attrs: { depth: 5, dtype: "i32" } },
      { x: t("i32", 5), attrs: { depth: 3, dtype: "u8" } },
      { x: t("i32"), attrs: { depth: 1 } },
    ]);
    await expectMatchesInterpreter(g, {
      x0_0: [0, 3, 1, 4, -1, 2, 2, 100, 0],
      x1_0: [4, 0, 5, 1, -7, 3],
      x2_0: [2, 1, 0, 3, -2147483648],
      x3_0: [0],
    });
  });
});

describe("source ops", () => {
  function sources(list: { op: string; attrs: Record<string, AttrValue> }[]): Graph {
    const b = new GraphBuilder("sources");
    list.forEach(({ op, attrs }, k) => b.output(`y${k}`, b.op(op, [], attrs)));
    return b.build();
  }

  it("const: zero and non-zero fills of every dtype, -0, NaN and infinities", async () => {
    await expectMatchesInterpreter(sources([
      { op: "const", attrs: { value: 0, dtype: "f32", shape: [33] } },
      { op: "const", attrs: { value: 1.5, dtype: "f32", shape: [7, 3] } },
      { op: "const", attrs: { value: -0, dtype: "f32", shape: [5] } },
      { op: "const", attrs: { value: NaN, dtype: "f32", shape: [3] } },
      { op: "const", attrs: { value: -Infinity, dtype: "f32", shape: [] } },
      { op: "const", attrs: { value: 0.1, dtype: "f32", shape: [1000] } },
      { op: "const", attrs: { value: -2147483648, dtype: "i32", shape: [6] } },
      { op: "const", attrs: { value: -1, dtype: "i8", shape: [5] } },
      { op: "const", attrs: { value: 255, dtype: "u8", shape: [2, 2] } },
      { op: "const", attrs: { value: 1, dtype: "bool", shape: [3] } },
    ]));
  });

  it("iota: along first, middle and last axes, every dtype it allows", async () => {
    await expectMatchesInterpreter(sources([
      { op: "iota", attrs: { shape: [5], axis: 0 } },
      { op: "iota", attrs: { shape: [3, 4], axis: 0 } },
      { op: "iota", attrs: { shape: [3, 4], axis: 1, dtype: "f32" } },
      { op: "iota", attrs: { shape: [2, 3, 7], axis: 1 } },
      { op: "iota", attrs: { shape: [2, 3, 7], axis: -1, dtype: "i8" } },
      { op: "iota", attrs: { shape: [300], axis: 0, dtype: "u8" } },
      { op: "iota", attrs: { shape: [2, 0, 3], axis: 2 } },
    ]));
  });
});
