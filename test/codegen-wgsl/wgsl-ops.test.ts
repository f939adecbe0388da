// The WGSL backend as a whole over the op table: a kernel for every op (the table is gathered
// from group files, test/support/op-samples.ts gives each op a small valid use), each sample graph run
// on a WebGPU device against the reference interpreter, a missing kernel named in its error, the
// emitter's plan checks, and the runner's reads, writes, params and update copies.

import { describe, expect, it } from "vitest";
import { naivePlan } from "../../compiler/codegen-wasm/naive-plan.ts";
import { emitWgsl, WgslPlanError } from "../../compiler/codegen-wgsl/emit.ts";
import { arenaLimits, WgslDeviceError } from "../../compiler/codegen-wgsl/device.ts";
import { findKernel } from "../../compiler/codegen-wgsl/kernels/index.ts";
import { DEFAULT_TARGET, UnsupportedKernelError } from "../../compiler/codegen-wgsl/kernel.ts";
import { GraphBuilder } from "../../compiler/ir/builder.ts";
import { valueTypes } from "../../compiler/ir/graph.ts";
import { OPS } from "../../compiler/ir/ops.ts";
import { sampleGraph } from "../support/op-samples.ts";
import { expectWgslMatchesInterpreter, loadWgslEntries } from "../support/wgsl-harness.ts";

describe("the WGSL kernel table", () => {
  it("has a kernel for every op of the op table, at the dtypes of its sample graph", () => {
    // test/codegen-wasm/kernel-coverage.test.ts checks both backends' tables the same way.
    const missing = [...OPS.keys()].filter((op) => {
      const g = sampleGraph(op);
      const node = g.nodes.findLast((n) => n.op === op)!;
      const types = valueTypes(g);
      return !findKernel(node, node.inputs.map((v) => types.get(v)!));
    });
    expect(missing).toEqual([]);
  });

  it("runs every op's sample graph like the interpreter", async () => {
    const failures: string[] = [];
    for (const op of OPS.keys()) {
      const graph = sampleGraph(op);
      // dropout's sample step input must be an integer; the random inputs give one.
      await expectWgslMatchesInterpreter(graph).catch((e: Error) => failures.push(`${op}: ${e.message}`));
    }
    expect(failures.join("\n")).toBe("");
  });

  it("names the op of a node it has no kernel for", () => {
    const g = naivePlan(sampleGraph("exp"));
    expect(() => emitWgsl(g, { kernels: new Map() })).toThrow(UnsupportedKernelError);
    expect(() => emitWgsl(g, { kernels: new Map() })).toThrow(/no kernel for op 'exp' \(node %\d+ at samples\.ts:10:3\)/);
  });
});

describe("the emitter's plan checks", () => {
  it("rejects a graph without a plan, and a result that partly overlaps its operand", () => {
    const b = new GraphBuilder("overlap");
    const x = b.addInput({ name: "x", type: { dtype: "f32", shape: [8] } });
    b.output("y", b.op("exp", [x]));
    const g = b.build();
    expect(() => emitWgsl(g)).toThrow(/has no memory plan/);
    const planned = naivePlan(g);
    const y = planned.nodes[0].id;
    const slots = { ...planned.memory!.slots, [y]: { offset: planned.memory!.slots.x.offset + 16, size: 32 } };
    expect(() => emitWgsl({ ...planned, memory: { ...planned.memory!, slots, arena: planned.memory!.arena + 16 } })).toThrow(WgslPlanError);
  });

  it("rejects an arena larger than the adapter can bind, naming both sizes", () => {
    const limits = { maxStorageBufferBindingSize: 2 ** 30, maxBufferSize: 2 ** 31 } as GPUSupportedLimits;
    expect(() => arenaLimits(limits, 2 ** 30 + 4)).toThrow(WgslDeviceError);
    expect(() => arenaLimits(limits, 2 ** 30 + 4)).toThrow(/1073741828 bytes .* at most 1073741824 bytes/);
    expect(arenaLimits(limits, 1000)).toEqual({});
    expect(arenaLimits(limits, 300 * 2 ** 20)).toEqual({ maxStorageBufferBindingSize: 2 ** 29, maxBufferSize: 2 ** 29 });
  });
});

describe("large launches", () => {
  it("splits grids past the per-dimension workgroup limit over y (elementwise, byte results, rows, GEMM)", async () => {
    // A target that allows only 1000 workgroups per dimension makes modest tensors need the split.
    const b = new GraphBuilder("large");
    const x = b.addInput({ name: "x", type: { dtype: "f32", shape: [300_001] } });
    const y = b.addInput({ name: "y", type: { dtype: "f32", shape: [300_001] } });
    const rows = b.addInput({ name: "rows", type: { dtype: "f32", shape: [2_500, 33] } });
    const p = b.addInput({ name: "p", type: { dtype: "f32", shape: [1200, 8] } });
    const q = b.addInput({ name: "q", type: { dtype: "f32", shape: [8, 900] } });
    b.output("sum", b.op("add", [x, y]));
    b.output("less", b.op("less", [x, y]));
    b.output("rowSums", b.op("sum", [rows], { axes: [1] }));
    b.output("product", b.op("matmul", [p, q]));
    const target = { ...DEFAULT_TARGET, maxWorkgroupsPerDimension: 1000, workgroupTiles: false };
    const passes = emitWgsl(naivePlan(b.build()), { target }).passes.forward;
    expect(passes.map((p) => p.workgroups[1] > 1)).toEqual([true, true, true, true]);
    await expectWgslMatchesInterpreter(b.build(), undefined, { floor: Math.sqrt(8), target });
  });
});

describe("the runner", () => {
  it("keeps params across calls and applies updates at the end of each call", async () => {
    // A counter and an accumulator updated in place: after three calls they hold 3 and 3 * x.
    const b = new GraphBuilder("state");
    const x = b.addInput({ name: "x", type: { dtype: "f32", shape: [5] } });
    b.addParam({ name: "acc", type: { dtype: "f32", shape: [5] }, init: "zeros", trainable: false });
    b.addParam({ name: "count", type: { dtype: "i32", shape: [] }, init: "zeros", trainable: false });
    b.addParam({ name: "flags", type: { dtype: "u8", shape: [3] }, init: "zeros", trainable: false });
    const sum = b.op("add", ["acc", x]);
    const one = b.op("const", [], { value: 1, dtype: "i32", shape: [] });
    const next = b.op("add", ["count", one]);
    const flip = b.op("sub", [b.op("const", [], { value: 1, dtype: "u8", shape: [3] }), "flags"]);
    b.output("sum", sum);
    b.update("acc", sum);
    b.update("count", next);
    b.update("flags", flip);
    const runner = await loadWgslEntries([{ graph: b.build(), exportName: "step" }]);
    runner.writeParam("acc", [0, 0, 0, 0, 0]);
    runner.writeParam("count", [0]);
    runner.writeParam("flags", [0, 0, 0]);
    runner.write("x", [1, 2, 3, 4, 5]);
    for (let k = 0; k < 3; k++) runner.run("step");
    expect([...(await runner.readParam("acc")).data]).toEqual([3, 6, 9, 12, 15]);
    expect([...(await runner.readParam("count")).data]).toEqual([3]);
    expect([...(await runner.readParam("flags")).data]).toEqual([1, 1, 1]);
    expect([...(await runner.read("sum", "step")).data]).toEqual([3, 6, 9, 12, 15]);
    expect([...(await runner.read("x", "step")).data]).toEqual([1, 2, 3, 4, 5]);
    expect(() => runner.run("nope")).toThrow(/no entry 'nope'/);
  });
});
