// The reference interpreter: a small MLP against a hand-written float64 computation, the two
// precision modes, integer paths, persistent-state updates and the errors a caller can meet.

import { describe, expect, it } from "vitest";
import { GraphBuilder } from "../../compiler/ir/builder.ts";
import type { Graph } from "../../compiler/ir/graph.ts";
import { initParam } from "../../compiler/ir/init.ts";
import { initParams, interpret, InterpreterError, type Precision } from "../../compiler/ir/interpreter.ts";
import type { DType } from "../../compiler/ir/types.ts";
import { VerifyError } from "../../compiler/ir/verifier.ts";

const BATCH = 4, IN = 3, HIDDEN = 5, CLASSES = 2;

/** Deterministic, irregular test data in (-0.8, 0.8). */
const data = (n: number, phase: number) => Float64Array.from({ length: n }, (_, i) => 0.8 * Math.sin(1.3 * i + phase));

/** x → relu(x @ fc1.w + fc1.b) → @ out.w + out.b = logits; loss = softmaxCrossEntropy(logits, y). */
function mlp(): Graph {
  const b = new GraphBuilder("mlp");
  const x = b.addInput({ name: "x", type: { dtype: "f32", shape: [BATCH, IN] } });
  const y = b.addInput({ name: "y", type: { dtype: "i32", shape: [BATCH] } });
  const param = (name: string, shape: number[], init: string) =>
    b.addParam({ name, type: { dtype: "f32", shape }, init, trainable: true });
  const w1 = param("fc1.w", [IN, HIDDEN], "he_normal");
  const b1 = param("fc1.b", [HIDDEN], "zeros");
  const w2 = param("out.w", [HIDDEN, CLASSES], "glorot_uniform");
  const b2 = param("out.b", [CLASSES], "zeros");
  const h = b.op("relu", [b.op("add", [b.op("matmul", [x, w1]), b1])]);
  const logits = b.op("add", [b.op("matmul", [h, w2]), b2]);
  b.output("logits", logits);
  b.output("loss", b.op("softmaxCrossEntropy", [logits, y]));
  return b.build();
}

const mlpInputs = { x: data(BATCH * IN, 0), y: [1, 0, 1, 1] };
const mlpParams = {
  "fc1.w": data(IN * HIDDEN, 1),
  "fc1.b": data(HIDDEN, 2),
  "out.w": data(HIDDEN * CLASSES, 3),
  "out.b": data(CLASSES, 4),
};

/** The MLP by hand; `store` is applied to every op result (identity for float64, fround for f32). */
function mlpByHand(store: (v: number) => number): { logits: number[]; loss: number } {
  const p = Object.fromEntries(Object.entries(mlpParams).map(([k, v]) => [k, Array.from(v, store)]));
  const x = Array.from(mlpInputs.x, store);
  const dense = (inp: number[], rows: number, k: number, n: number, w: number[], bias: number[], relu: boolean) => {
    const out: number[] = [];
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < n; j++) {
        let acc = 0;
        for (let i = 0; i < k; i++) acc += inp[r * k + i] * w[i * n + j];
        const z = store(store(acc) + bias[j]);
        out.push(relu ? Math.max(z, 0) : z);
      }
    }
    return out;
  };
  const h = dense(x, BATCH, IN, HIDDEN, p["fc1.w"], p["fc1.b"], true);
  const logits = dense(h, BATCH, HIDDEN, CLASSES, p["out.w"], p["out.b"], false);
  let loss = 0;
  for (let r = 0; r < BATCH; r++) {
    const row = logits.slice(r * CLASSES, (r + 1) * CLASSES);
    loss += Math.log(row.reduce((s, v) => s + Math.exp(v), 0)) - row[mlpInputs.y[r]];
  }
  return { logits, loss: store(loss / BATCH) };
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, relTol: number): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    expect(Math.abs(actual[i] - expected[i])).toBeLessThanOrEqual(relTol * Math.max(1, Math.abs(expected[i])));
  }
}

/** A one-input graph `op(x, const value)` of the given dtypes. */
function withConst(op: string, dtype: DType, n: number, value: number): Graph {
  const b = new GraphBuilder(op);
  const x = b.addInput({ name: "x", type: { dtype, shape: [n] } });
  b.output("y", b.op(op, [x, b.op("const", [], { value, dtype, shape: [] })]));
  return b.build();
}

const run = (g: Graph, inputs: Record<string, ArrayLike<number>>, precision: Precision) =>
  Array.from(interpret(g, inputs, { precision }).outputs.y.data);

describe("interpreter: an MLP", () => {
  it("matches a float64 computation by hand in f64 precision", () => {
    const { outputs } = interpret(mlp(), mlpInputs, { precision: "f64", params: mlpParams });
    const want = mlpByHand((v) => v);
    expect(outputs.logits.type).toEqual({ dtype: "f32", shape: [BATCH, CLASSES] });
    expectClose(outputs.logits.data, want.logits, 1e-14);
    expectClose(outputs.loss.data, [want.loss], 1e-14);
    expect(outputs.loss.data[0]).toBeGreaterThan(0.1); // a real loss, not a degenerate zero
  });

  it("rounds every op result to f32 in native precision", () => {
    const native = interpret(mlp(), mlpInputs, { params: mlpParams }).outputs;
    const f32 = mlpByHand(Math.fround);
    expectClose(native.logits.data, f32.logits, 1e-12);
    expectClose(native.loss.data, [f32.loss], 1e-12);
    for (const v of [...native.logits.data, ...native.loss.data]) expect(Math.fround(v)).toBe(v);
    // ...which visibly differs from float64.
    const f64 = mlpByHand((v) => v);
    expect(native.logits.data.some((v, i) => v !== f64.logits[i])).toBe(true);
  });

  it("initialises params that are not given from their seeded initializers", () => {
    const g = mlp();
    const seeded = interpret(g, mlpInputs, { seed: 3, keepValues: true });
    const explicit = interpret(g, mlpInputs, { params: initParams(g, 3) });
    expect(seeded.outputs.loss.data).toEqual(explicit.outputs.loss.data);
    // On entry they are rounded to their dtype like any other value.
    const w = g.params[0];
    expect(seeded.values!.get("fc1.w")!.data).toEqual(initParam(w, 3).map(Math.fround));
    const otherSeed = interpret(g, mlpInputs, { seed: 4 });
    expect(otherSeed.outputs.loss.data[0]).not.toBe(seeded.outputs.loss.data[0]);
    // initParams covers every param.
    expect(Object.keys(initParams(g))).toEqual(["fc1.w", "fc1.b", "out.w", "out.b"]);
  });

  it("returns every value with keepValues, and none without", () => {
    const g = mlp();
    const kept = interpret(g, mlpInputs, { params: mlpParams, keepValues: true });
    expect([...kept.values!.keys()]).toEqual(["x", "y", "fc1.w", "fc1.b", "out.w", "out.b", ...g.nodes.map((n) => n.id)]);
    expect(interpret(g, mlpInputs, { params: mlpParams }).values).toBeUndefined();
  });

  it("does not modify the caller's arrays", () => {
    const x = Float64Array.from(mlpInputs.x);
    const w = Float64Array.from(mlpParams["fc1.w"]);
    interpret(mlp(), { ...mlpInputs, x }, { params: { ...mlpParams, "fc1.w": w } });
    expect(x).toEqual(Float64Array.from(mlpInputs.x));
    expect(w).toEqual(Float64Array.from(mlpParams["fc1.w"]));
  });
});

describe("interpreter: precision", () => {
  it("keeps float64 in f64 precision and rounds to f32 in native precision", () => {
    const g = withConst("add", "f32", 2, 1e-8);
    expect(run(g, { x: [1, 0.1] }, "native")).toEqual([1, Math.fround(Math.fround(0.1) + Math.fround(1e-8))]);
    expect(run(g, { x: [1, 0.1] }, "f64")).toEqual([1 + 1e-8, 0.1 + 1e-8]);
  });

  it("rounds inputs to f16 and bf16 on entry in native precision", () => {
    const f16 = withConst("mul", "f16", 1, 1);
    expect(run(f16, { x: [0.1] }, "native")).toEqual([0.0999755859375]); // nearest binary16 to 0.1
    expect(run(f16, { x: [0.1] }, "f64")).toEqual([0.1]);
    const bf16 = withConst("mul", "bf16", 1, 1);
    expect(run(bf16, { x: [1 + 2 ** -9] }, "native")).toEqual([1]); // bf16 keeps 8 significand bits
  });

  it("keeps integer semantics in both precisions", () => {
    for (const precision of ["native", "f64"] as const) {
      expect(run(withConst("div", "i32", 4, 2), { x: [7, -7, 9, -9] }, precision)).toEqual([3, -3, 4, -4]);
      expect(run(withConst("add", "i32", 1, 1), { x: [2147483647] }, precision)).toEqual([-2147483648]);
      expect(run(withConst("add", "i8", 1, 1), { x: [127] }, precision)).toEqual([-128]);
      const b = new GraphBuilder("cast");
      b.output("y", b.op("cast", [b.addInput({ name: "x", type: { dtype: "f32", shape: [3] } })], { dtype: "i32" }));
      expect(run(b.build(), { x: [-1.7, 2.9, 3] }, precision)).toEqual([-1, 2, 3]);
    }
  });
});

describe("interpreter: persistent state", () => {
  function counterGraph(): Graph {
    const b = new GraphBuilder("counter");
    const x = b.addInput({ name: "x", type: { dtype: "f32", shape: [2, 2] } });
    const step = b.addParam({ name: "rng.step", type: { dtype: "i32", shape: [] }, init: "zeros", trainable: false });
    const mean = b.addParam({ name: "bn.mean", type: { dtype: "f32", shape: [2] }, init: "zeros", trainable: false });
    b.update(step, b.op("add", [step, b.op("const", [], { value: 1, dtype: "i32", shape: [] })]));
    b.update(mean, b.op("batchNormRunningStat", [x, mean], { stat: "mean", momentum: 0.5 }));
    b.output("x2", b.op("mul", [x, x]));
    return b.build();
  }
  const x = [1, 2, 3, 6];

  it("returns the new values of updated state", () => {
    const { outputs, updates } = interpret(counterGraph(), { x }, { precision: "f64" });
    expect(Array.from(outputs.x2.data)).toEqual([1, 4, 9, 36]);
    expect(Object.keys(updates)).toEqual(["rng.step", "bn.mean"]);
    expect(updates["rng.step"].type).toEqual({ dtype: "i32", shape: [] });
    expect(Array.from(updates["rng.step"].data)).toEqual([1]);
    expect(Array.from(updates["bn.mean"].data)).toEqual([1, 2]); // 0.5 * 0 + 0.5 * [2, 4]
  });

  it("starts from given state values", () => {
    const { updates } = interpret(counterGraph(), { x }, { params: { "rng.step": [41], "bn.mean": [4, 0] } });
    expect(Array.from(updates["rng.step"].data)).toEqual([42]);
    expect(Array.from(updates["bn.mean"].data)).toEqual([3, 2]);
  });
});

describe("interpreter: values shared by several later nodes", () => {
  it("keeps a value alive until its last use", () => {
    const b = new GraphBuilder("diamond");
    const x = b.addInput({ name: "x", type: { dtype: "f32", shape: [3] } });
    const a = b.op("relu", [x]);
    const n = b.op("neg", [a]);
    const s = b.op("add", [a, n]);
    const sq = b.op("mul", [a, a]);
    b.output("s", s);
    b.output("y", b.op("add", [sq, s]));
    b.output("a", a);
    const out = interpret(b.build(), { x: [-1, 2, 3] }).outputs;
    expect(Array.from(out.s.data)).toEqual([0, 0, 0]);
    expect(Array.from(out.y.data)).toEqual([0, 4, 9]);
    expect(Array.from(out.a.data)).toEqual([0, 2, 3]);
  });
});

describe("interpreter: errors", () => {
  const g = mlp();
  const fails = (inputs: Record<string, ArrayLike<number>>, params: Record<string, ArrayLike<number>> = mlpParams) => {
    try {
      interpret(g, inputs, { params });
    } catch (e) {
      expect(e).toBeInstanceOf(InterpreterError);
      return (e as Error).message;
    }
    throw new Error("expected an InterpreterError");
  };

  it("names missing, unknown and wrongly sized inputs", () => {
    expect(fails({ y: mlpInputs.y })).toBe("missing input 'x': f32[4,3] (12 elements)");
    const b = new GraphBuilder("odd");
    b.output("y", b.addInput({ name: "constructor", type: { dtype: "f32", shape: [1] } }));
    expect(() => interpret(b.build(), {})).toThrow("missing input 'constructor': f32[1] (1 element)");
    expect(fails({ ...mlpInputs, x: [1, 2, 3] })).toBe("input 'x' expects f32[4,3] (12 elements), got 3 elements");
    expect(fails({ ...mlpInputs, z: [1], w: [2] })).toBe("unknown inputs 'z', 'w' (the graph's inputs: 'x', 'y')");
    expect(fails({ ...mlpInputs, x: 5 as unknown as number[] })).toBe("input 'x' expects f32[4,3] (12 elements), got number");
  });

  it("requires integers in integer inputs", () => {
    expect(fails({ ...mlpInputs, y: [1, 0.5, 0, 0] })).toBe(
      "input 'y' is i32[4] and must hold integers in [-2147483648, 2147483647], but element 1 is 0.5",
    );
    expect(fails({ ...mlpInputs, y: [1, 0, NaN, 0] })).toMatch(/element 2 is NaN/);
    const small = (dtype: DType, values: number[]) => () => interpret(withConst("add", dtype, 2, 1), { x: values });
    expect(small("i8", [1, 200])).toThrow("input 'x' is i8[2] and must hold integers in [-128, 127], but element 1 is 200");
    expect(small("u8", [-1, 2])).toThrow("must hold integers in [0, 255], but element 0 is -1");
  });

  it("requires 0 or 1 in bool inputs", () => {
    const b = new GraphBuilder("sel");
    const c = b.addInput({ name: "c", type: { dtype: "bool", shape: [2] } });
    const x = b.addInput({ name: "x", type: { dtype: "f32", shape: [2] } });
    b.output("y", b.op("where", [c, x, b.op("neg", [x])]));
    const sel = b.build();
    expect(Array.from(interpret(sel, { c: [1, 0], x: [3, 4] }).outputs.y.data)).toEqual([3, -4]);
    expect(() => interpret(sel, { c: [2, 0], x: [3, 4] })).toThrow("input 'c' is bool[2] and must hold 0 or 1, but element 0 is 2");
  });

  it("names unknown and wrongly sized params", () => {
    expect(fails(mlpInputs, { ...mlpParams, "fc2.w": [1] })).toBe(
      "unknown param 'fc2.w' (the graph's params: 'fc1.w', 'fc1.b', 'out.w', 'out.b')",
    );
    expect(fails(mlpInputs, { ...mlpParams, "fc1.w": [1, 2, 3] })).toBe("param 'fc1.w' expects f32[3,5] (15 elements), got 3 elements");
  });

  it("reports a failing kernel with its node and location", () => {
    const b = new GraphBuilder("lookup");
    const table = b.addInput({ name: "table", type: { dtype: "f32", shape: [3, 2] } });
    const idx = b.addInput({ name: "idx", type: { dtype: "i32", shape: [2] } });
    b.output("y", b.op("gather", [table, idx], {}, { file: "m.ts", line: 7, col: 5 }));
    const lookup = b.build();
    expect(Array.from(interpret(lookup, { table: [1, 2, 3, 4, 5, 6], idx: [2, 0] }).outputs.y.data)).toEqual([5, 6, 1, 2]);
    expect(() => interpret(lookup, { table: [1, 2, 3, 4, 5, 6], idx: [3, 0] })).toThrow(/^gather node %0 \(m\.ts:7:5\): /);
  });

  it("verifies the graph first", () => {
    const bad: Graph = { ...mlp(), outputs: [{ name: "logits", value: "42" }] };
    expect(() => interpret(bad, mlpInputs, { params: mlpParams })).toThrow(VerifyError);
  });
});
