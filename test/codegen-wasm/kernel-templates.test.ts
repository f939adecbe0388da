// Kernel templates (codegen-wasm/module.ts WasmModule.template, emit.ts): a kernel that several
// nodes call with the same code up to their buffers' offsets is emitted once with the offsets as
// parameters. Every op's sample kernel emitted as a template computes exactly what its
// specialised function computes (the whole memory after the call, byte for byte); nodes at
// different offsets share one template and match the interpreter; and a kernel whose code depends
// on where its buffers sit is refused as a template.

import { describe, expect, it } from "vitest";
import { emitWasmEntries, type EmittedWasm } from "../../compiler/codegen-wasm/emit.ts";
import { findKernel } from "../../compiler/codegen-wasm/kernels/index.ts";
import { WasmModule } from "../../compiler/codegen-wasm/module.ts";
import { naivePlan } from "../../compiler/codegen-wasm/naive-plan.ts";
import { randomInputs } from "../../compiler/cli/random-inputs.ts";
import { GraphBuilder } from "../../compiler/ir/builder.ts";
import { DTYPE_INFO } from "../../compiler/ir/dtypes.ts";
import { valueTypes, type Graph } from "../../compiler/ir/graph.ts";
import { OPS } from "../../compiler/ir/ops.ts";
import { numel } from "../../compiler/ir/types.ts";
import { sampleGraph } from "../support/op-samples.ts";
import { expectMatchesInterpreter } from "../support/wasm-harness.ts";

interface WasmMemory { readonly buffer: ArrayBuffer }
const WebAssemblyApi = (globalThis as unknown as { WebAssembly: { instantiate(b: Uint8Array): Promise<{ instance: { exports: Record<string, unknown> } }> } }).WebAssembly;

/** Runs `forward` of an emitted single-entry module on the graph's random inputs and params; the whole memory after. */
async function memoryAfter(graph: Graph, emitted: EmittedWasm): Promise<Uint8Array> {
  const { instance } = await WebAssemblyApi.instantiate(emitted.wasm);
  const memory = instance.exports.memory as WasmMemory;
  const words = new Uint32Array(memory.buffer);
  for (let i = 0; i < words.length; i++) words[i] = Math.imul(i + 1, 0x9e3779b1) >>> 0; // the same garbage everywhere
  const values = randomInputs(graph, 3);
  const entry = emitted.layout.entries.forward;
  const write = (b: { offset: number; dtype: keyof typeof DTYPE_INFO; shape: readonly number[] }, data: ArrayLike<number>) => {
    const { array, toStored } = DTYPE_INFO[b.dtype];
    new array(memory.buffer, b.offset, numel(b.shape)).set(Array.from(data, (x) => toStored(x)));
  };
  for (const b of entry.inputs) write(b, values[b.name]);
  for (const p of emitted.layout.params) {
    const n = numel(p.shape);
    write(p, Array.from({ length: n }, (_, i) => (p.dtype === "f32" ? Math.sin(i + 1) : i % 2)));
  }
  (instance.exports.forward as () => void)();
  return new Uint8Array(memory.buffer).slice();
}

function hasKernel(op: string): boolean {
  const g = sampleGraph(op);
  const node = g.nodes.findLast((n) => n.op === op)!;
  const types = valueTypes(g);
  return findKernel(node, node.inputs.map((v) => types.get(v)!)) !== undefined && g.nodes.every((n) => numel(n.type.shape) > 0 || n.op === op);
}

describe("kernel templates", () => {
  const ops = [...OPS.keys()].filter(hasKernel);

  it.each(ops)("%s: the template computes what the specialised kernel computes, byte for byte", async (op) => {
    const graph = naivePlan(sampleGraph(op));
    const specialised = emitWasmEntries([{ graph, exportName: "forward" }], { templates: "never" });
    const template = emitWasmEntries([{ graph, exportName: "forward" }], { templates: "always" });
    expect(specialised.kernels.templates).toBe(0);
    // every kernel of the sample became a template (none was refused)
    expect(template.kernels.specialised).toBe(0);
    expect(Buffer.from(await memoryAfter(graph, template)).equals(Buffer.from(await memoryAfter(graph, specialised)))).toBe(true);
  });

  it("nodes with the same kernel at different offsets share one template, and match the interpreter", async () => {
    const b = new GraphBuilder("repeat");
    let x = b.addInput({ name: "x", type: { dtype: "f32", shape: [4, 8] } });
    const w = b.addParam({ name: "w", type: { dtype: "f32", shape: [8, 8] }, init: "he_normal", trainable: true });
    const outs: string[] = [];
    for (let i = 0; i < 4; i++) {
      x = b.op("tanh", [b.op("matmul", [x, w])]);
      outs.push(x);
    }
    outs.forEach((v, i) => b.output(`y${i}`, v));
    const graph = naivePlan(b.build());
    const emitted = emitWasmEntries([{ graph, exportName: "forward" }]);
    expect(emitted.kernels).toEqual({ templates: 2, templateCalls: 8, specialised: 0 });
    await expectMatchesInterpreter(graph);
  });

  it("refuses a kernel whose code depends on where its buffers sit", () => {
    const module = new WasmModule(1 << 16);
    try {
      // linear in the offsets: accepted
      expect(module.template("linear", [16, 16], (f, [x, y]) => [f.storeF32(f.i32.const(y + 4), f.loadF32(f.i32.const(x + 8)))])).toBe(true);
      // branches on an offset's alignment, order or value, or scales it: refused
      expect(module.template("aligned", [16, 16], (f, [x, y]) => [f.storeF32(f.i32.const(y), f.f32.const(x % 64 === 0 ? 1 : 2))])).toBe(false);
      expect(module.template("ordered", [16, 16], (f, [x, y]) => (x < y ? [f.copy(y, x, 16)] : [f.copy(x, y, 16)]))).toBe(false);
      expect(module.template("scaled", [16, 16], (f, [x, y]) => [f.storeI32(f.i32.const(y), f.i32.const(x / 4))])).toBe(false);
      expect(module.validate()).toBe(true);
    } finally {
      module.dispose();
    }
  });
});
