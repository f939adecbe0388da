// The module assembler (compiler/codegen-wasm/emit.ts): one memory exactly the page-rounded
// arena that cannot grow, errors that name what is wrong, end-of-step updates (including their
// ordering and in-place updates that need no copy), several entries over one arena, and whole
// models (an MLP's training step, a recommender planned by the real memory planner) run step after
// step against the interpreter.

import { describe, expect, it } from "vitest";
import { emitWasm, emitWasmEntries, WasmPlanError } from "../../compiler/codegen-wasm/emit.ts";
import { UnsupportedKernelError } from "../../compiler/codegen-wasm/kernel.ts";
import { naivePlan, naivePlanAll } from "../../compiler/codegen-wasm/naive-plan.ts";
import { PAGE_BYTES } from "../../compiler/codegen-wasm/module.ts";
import { randomInputs } from "../../compiler/cli/random-inputs.ts";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import { GraphBuilder } from "../../compiler/ir/builder.ts";
import type { Graph } from "../../compiler/ir/graph.ts";
import { initParams, interpret } from "../../compiler/ir/interpreter.ts";
import { parseGraph } from "../../compiler/ir/parser.ts";
import { buildTrainingProgram, planMemory } from "../../compiler/driver/phases.ts";
import { trainingSpec } from "../../compiler/passes/train-options.ts";
import { compareTensors, expectMatchesInterpreter, loadWasm, loadWasmEntries } from "../support/wasm-harness.ts";

function elementwiseChain(n: number): Graph {
  return parseGraph(`graph chain {
  input %x: f32[${n}]
  %0:f32[${n}] = exp %x
  %1:f32[${n}] = add %0, %x
  output y = %1
}`);
}

describe("the module's memory", () => {
  for (const n of [1, 4000, 20000]) {
    it(`is the arena rounded up to 64 KiB pages and cannot grow (${n} elements)`, async () => {
      const planned = naivePlan(elementwiseChain(n));
      const program = await loadWasm(planned);
      const pages = Math.ceil(planned.memory!.arena / PAGE_BYTES);
      expect(program.layout.arena).toBe(planned.memory!.arena);
      expect(program.layout.memoryBytes).toBe(pages * PAGE_BYTES);
      expect(program.memory.buffer.byteLength).toBe(pages * PAGE_BYTES);
      expect(() => program.memory.grow(1)).toThrow(RangeError);
      program.call();
      expect(program.memory.buffer.byteLength).toBe(pages * PAGE_BYTES);
    });
  }

  it("lays out inputs, params and outputs at their planned slots", () => {
    const g = naivePlan(parseGraph(`graph g {
  input %x: f32[3]
  param %w: f32[3] init=ones
  %0:f32[3] = mul %x, %w
  output y = %0
}`));
    const { layout } = emitWasm(g, { entry: "run" });
    const slots = g.memory!.slots;
    expect(layout.entries.run.inputs).toEqual([{ name: "x", offset: slots.x.offset, bytes: 12, dtype: "f32", shape: [3] }]);
    expect(layout.params).toEqual([{ name: "w", offset: slots.w.offset, bytes: 12, dtype: "f32", shape: [3], init: "ones", trainable: true }]);
    expect(layout.entries.run.outputs).toEqual([{ name: "y", value: "0", offset: slots["0"].offset, bytes: 12, dtype: "f32", shape: [3] }]);
  });
});

describe("errors", () => {
  it("an op without a kernel names the op and the node", () => {
    const g = naivePlan(elementwiseChain(4));
    expect(() => emitWasm(g, { kernels: new Map() })).toThrow(UnsupportedKernelError);
    expect(() => emitWasm(g, { kernels: new Map() })).toThrow("wasm-simd has no kernel for op 'exp' (node %0)");
  });

  it("an op with no kernel for its dtypes (i8 pooling) is refused by op and dtypes", () => {
    const g = naivePlan(parseGraph(`graph h {
  input %x: i8[1,2,2,1]
  %0:i8[1,1,1,1] = maxPool2d %x {size=[2,2], stride=[2,2], padding="valid", pads=[0,0,0,0]}
  output y = %0
}`));
    expect(() => emitWasm(g)).toThrow(/wasm-simd has no kernel for maxPool2d\(i8\) -> i8/);
  });

  it("plans that are missing, incomplete or overlapping are refused", () => {
    const g = elementwiseChain(8);
    expect(() => emitWasm(g)).toThrow(/has no memory plan/);
    const planned = naivePlan(g);
    const slots = planned.memory!.slots;
    const without: Graph = { ...planned, memory: { ...planned.memory!, slots: { x: slots.x, 0: slots["0"] } } };
    expect(() => emitWasm(without)).toThrow(/value %1 has no arena slot/);
    const skewed: Graph = { ...planned, memory: { ...planned.memory!, slots: { ...slots, 1: { offset: slots["0"].offset + 16, size: 32 } } } };
    expect(() => emitWasm(skewed)).toThrow(WasmPlanError);
    expect(() => emitWasm(skewed)).toThrow(/add %1 partly overlaps its operand %0/);
    const outside: Graph = { ...planned, memory: { ...planned.memory!, slots: { ...slots, 1: { offset: planned.memory!.arena, size: 32 } } } };
    expect(() => emitWasm(outside)).toThrow(/slot of %1/);
  });
});

describe("updates", () => {
  const counter = () => parseGraph(`graph count {
  input %x: f32[5]
  state %total: f32[5] init=zeros
  state %calls: i32[] init=zeros
  %0:f32[5] = add %total, %x
  %1:i32[] = const {value=1, dtype="i32", shape=[]}
  %2:i32[] = add %calls, %1
  output y = %0
  update %total = %0
  update %calls = %2
}`);

  it("persist across calls, like the interpreter's state", async () => {
    const program = await loadWasm(naivePlan(counter()));
    program.writeParam("total", [0, 0, 0, 0, 0]);
    program.writeParam("calls", [0]);
    for (let i = 0; i < 3; i++) {
      program.write("x", [1, 2, 3, 4, 5]);
      program.call();
    }
    expect(Array.from(program.readParam("total").data)).toEqual([3, 6, 9, 12, 15]);
    expect(Array.from(program.readParam("calls").data)).toEqual([3]);
  });

  it("are computed straight into the param's slot when planned in place (no copy)", async () => {
    const g = counter();
    const inplace: Graph = { ...g, nodes: g.nodes.map((n) => (n.id === "0" ? { ...n, inplace: "total" } : n.id === "2" ? { ...n, inplace: "calls" } : n)) };
    const planned = naivePlan(inplace);
    expect(planned.memory!.slots["0"]).toEqual(planned.memory!.slots.total);
    expect(planned.memory!.slots["2"]).toEqual(planned.memory!.slots.calls);
    await expectMatchesInterpreter(inplace);
  });

  it("copy in an order that never overwrites a value still to be copied", async () => {
    // %1 lives in p's old slot (p is dead by then), so q <- %1 must happen before p <- %0.
    const g = parseGraph(`graph order {
  input %x: f32[4]
  state %p: f32[4] init=zeros
  state %q: f32[4] init=zeros
  %0:f32[4] = add %x, %p
  %1:f32[4] = neg %x
  output y = %0
  update %p = %0
  update %q = %1
}`);
    const naive = naivePlan(g).memory!;
    const planned: Graph = { ...g, memory: { ...naive, slots: { ...naive.slots, 1: naive.slots.p } } };
    await expectMatchesInterpreter(planned, { x: [1, 2, 3, 4] }, { params: { p: [10, 20, 30, 40], q: [0, 0, 0, 0] } });
  });

  it("refuses updates that would overwrite each other's values (a swap needs a temporary)", () => {
    const g = parseGraph(`graph swap {
  input %x: f32[2]
  state %a: f32[2] init=zeros
  state %b: f32[2] init=zeros
  output y = %x
  update %a = %b
  update %b = %a
}`);
    expect(() => emitWasm(naivePlan(g))).toThrow(/updates of 'a', 'b' overwrite each other's new values/);
  });
});

describe("several entries over one arena", () => {
  /** accumulate: acc += g; apply: w -= lr * acc, acc = 0 (a gradient-accumulation pair). */
  const accumulateGraph = () => parseGraph(`graph accumulate {
  input %g: f32[6]
  state %acc: f32[6] init=zeros
  %0:f32[6] = add %acc, %g
  output acc = %0
  update %acc = %0
}`);
  const applyGraph = () => parseGraph(`graph apply {
  param %w: f32[6] init=ones
  state %acc: f32[6] init=zeros
  %0:f32[] = const {value=0.5, dtype="f32", shape=[]}
  %1:f32[6] = mul %acc, %0
  %2:f32[6] = sub %w, %1
  %3:f32[6] = const {value=0, dtype="f32", shape=[6]}
  output w = %2
  update %w = %2
  update %acc = %3
}`);

  it("share params and state between entry points", async () => {
    const program = await loadWasmEntries([{ graph: accumulateGraph(), exportName: "accumulate" }, { graph: applyGraph(), exportName: "apply" }]);
    expect(program.layout.params.map((p) => p.name).sort()).toEqual(["acc", "w"]);
    program.writeParam("w", [1, 1, 1, 1, 1, 1]);
    program.writeParam("acc", [0, 0, 0, 0, 0, 0]);
    for (const g of [[1, 2, 3, 4, 5, 6], [1, 1, 1, 1, 1, 1]]) {
      program.write("g", g, "accumulate");
      program.call("accumulate");
    }
    program.call("apply");
    expect(Array.from(program.readParam("w").data)).toEqual([0, -0.5, -1, -1.5, -2, -2.5]);
    expect(Array.from(program.read("w", "apply").data)).toEqual([0, -0.5, -1, -1.5, -2, -2.5]);
    expect(Array.from(program.readParam("acc").data)).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it("refuses plans that put one param in two places", () => {
    const [a] = naivePlanAll([accumulateGraph()]);
    const [b] = naivePlanAll([applyGraph()]);
    expect(() => emitWasmEntries([{ graph: a, exportName: "accumulate" }, { graph: b, exportName: "apply" }])).toThrow(/entries disagree on param 'acc'/);
    expect(() => emitWasmEntries([{ graph: a, exportName: "x" }, { graph: a, exportName: "x" }])).toThrow(/two entries are exported as 'x'/);
  });
});

describe("whole models", () => {
  /** Runs `steps` training steps on the WASM backend and the interpreter and compares everything. */
  async function trainLikeInterpreter(graph: Graph, planned: Graph, steps: number, floor: number): Promise<void> {
    const program = await loadWasm(planned);
    let params: Record<string, ArrayLike<number>> = initParams(graph, 0);
    for (const p of graph.params) program.writeParam(p.name, params[p.name]);
    for (let step = 0; step < steps; step++) {
      const inputs = randomInputs(graph, step);
      for (const i of graph.inputs) program.write(i.name, inputs[i.name]);
      program.call();
      const reference = interpret(graph, inputs, { params });
      params = { ...params, ...Object.fromEntries(Object.entries(reference.updates).map(([k, v]) => [k, v.data])) };
      for (const o of graph.outputs) expect(compareTensors(program.read(o.name), reference.outputs[o.name], { tolerance: 1e-4, floor }), `step ${step}, output ${o.name}`).toBeNull();
      for (const [name, value] of Object.entries(reference.updates)) {
        expect(compareTensors(program.readParam(name), value, { tolerance: 1e-4, floor }), `step ${step}, ${name}`).toBeNull();
      }
    }
  }

  it("the two-layer MLP of docs/AUTODIFF.md trains (SGD with momentum) like the interpreter", async () => {
    const model = compileModelFile("docs/examples/two-layer-mlp.ts");
    const step = buildTrainingProgram(model.graph, trainingSpec(model.train)).trainStep;
    await trainLikeInterpreter(step, naivePlan(step), 4, 1e-3);
  });

  it("the MNIST MLP's forward pass and loss (784-256-128-10, batch 64) match the interpreter", async () => {
    const model = compileModelFile("examples/mnist-mlp/model.ts");
    // f32 accumulation over 784 products: absolute error ~1e-6 on logits of order 1.
    await expectMatchesInterpreter(model.graph, undefined, { tolerance: 1e-4, floor: 0.05 });
  });

  it("the recommender trains like the interpreter under the real memory planner (shared and in-place slots)", async () => {
    const model = compileModelFile("examples/recsys/model.ts");
    const step = buildTrainingProgram(model.graph, trainingSpec(model.train)).trainStep;
    const planned = planMemory(step).graph;
    expect(planned.nodes.some((n) => n.inplace !== undefined)).toBe(true);
    expect(planned.memory!.arena).toBeLessThan(naivePlan(step).memory!.arena);
    await trainLikeInterpreter(step, planned, 3, 1e-3);
  });

  it("a graph built node by node runs in place end to end", async () => {
    const b = new GraphBuilder("residual");
    const x = b.addInput({ name: "x", type: { dtype: "f32", shape: [8, 33] } });
    const h = b.op("gelu", [x], { approximate: "tanh" });
    const s = b.op("add", [h, x]);
    b.output("y", b.op("tanh", [s]));
    await expectMatchesInterpreter(b.build());
  });
});
