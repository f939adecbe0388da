// Both backends' kernel tables against the op table: every op has a kernel in each backend for
// its natural signature, taken from its sample graph (test/support/op-samples.ts: f32 operands
// except where the op needs integers, e.g. gather's i32 indices, dropout's step, cast to i32),
// every registration names an op that exists, and a missing (op, dtypes) combination is an
// UnsupportedKernelError naming the op and the dtypes, through the lookup and through emission.

import { describe, expect, it } from "vitest";
import { emitWasm } from "../../compiler/codegen-wasm/emit.ts";
import { UnsupportedKernelError as WasmUnsupported } from "../../compiler/codegen-wasm/kernel.ts";
import { findKernel as findWasmKernel, kernelFor as wasmKernelFor, WASM_KERNELS } from "../../compiler/codegen-wasm/kernels/index.ts";
import { naivePlan } from "../../compiler/codegen-wasm/naive-plan.ts";
import { emitWgsl } from "../../compiler/codegen-wgsl/emit.ts";
import { UnsupportedKernelError as WgslUnsupported } from "../../compiler/codegen-wgsl/kernel.ts";
import { findKernel as findWgslKernel, kernelFor as wgslKernelFor, WGSL_KERNELS } from "../../compiler/codegen-wgsl/kernels/index.ts";
import { GraphBuilder } from "../../compiler/ir/builder.ts";
import { formatApplication, signedTable } from "../../compiler/ir/dtypes.ts";
import { valueTypes, type Graph, type Node } from "../../compiler/ir/graph.ts";
import { OPS } from "../../compiler/ir/ops.ts";
import type { TensorType } from "../../compiler/ir/types.ts";
import { sampleGraph } from "../support/op-samples.ts";

/** The node of `op` in its sample graph and its operand types. */
function sample(op: string): { node: Node; operands: TensorType[] } {
  const g = sampleGraph(op);
  const node = g.nodes.findLast((n) => n.op === op)!;
  const types = valueTypes(g);
  return { node, operands: node.inputs.map((v) => types.get(v)!) };
}

const BACKENDS = [
  { name: "wasm-simd", find: findWasmKernel, table: WASM_KERNELS },
  { name: "webgpu", find: findWgslKernel, table: WGSL_KERNELS },
] as const;

describe("kernel coverage", () => {
  for (const backend of BACKENDS) {
    it(`${backend.name} has a kernel for every op of the op table at its sample signature`, () => {
      const missing = [...OPS.keys()].flatMap((op) => {
        const { node, operands } = sample(op);
        return backend.find(node, operands) ? [] : [formatApplication(op, operands.map((t) => t.dtype), node.type.dtype)];
      });
      expect(missing).toEqual([]);
    });

    it(`${backend.name} registers kernels for ops of the op table only`, () => {
      expect([...backend.table.keys()].filter((op) => !OPS.has(op))).toEqual([]);
    });
  }

});

function graphOf(op: string, inputs: readonly TensorType[], attrs: Record<string, number | string | boolean | number[]> = {}): Graph {
  const b = new GraphBuilder(op);
  const names = inputs.map((type, i) => b.addInput({ name: `x${i}`, type }));
  b.output("y", b.op(op, names, attrs));
  return b.build();
}

describe("a missing (op, dtypes) combination", () => {
  const f16 = (shape: number[]): TensorType => ({ dtype: "f16", shape });
  // Tables with matmul for f32 only, so the miss does not depend on which dtypes the backends have.
  const wasmF32Only = signedTable("test", { matmul: [{ op: "matmul", dtypes: "f32", kernel: WASM_KERNELS.get("matmul")![0].kernel }] });
  const wgslF32Only = signedTable("test", { matmul: [{ op: "matmul", dtypes: "f32", kernel: WGSL_KERNELS.get("matmul")![0].kernel }] });

  it("is an UnsupportedKernelError naming the op and the dtypes, in both backends' lookups", () => {
    const g = graphOf("matmul", [f16([2, 3]), f16([3, 4])]);
    const types = valueTypes(g);
    const operands = g.nodes[0].inputs.map((v) => types.get(v)!);
    expect(() => wasmKernelFor(g.nodes[0], operands, wasmF32Only)).toThrow(WasmUnsupported);
    expect(() => wasmKernelFor(g.nodes[0], operands, wasmF32Only)).toThrow(/^wasm-simd has no kernel for matmul\(f16, f16\) -> f16 \(node %0; it has matmul\(f32\.\.\.\) -> f32\)$/);
    expect(() => wgslKernelFor(g.nodes[0], operands, wgslF32Only)).toThrow(WgslUnsupported);
    expect(() => wgslKernelFor(g.nodes[0], operands, wgslF32Only)).toThrow(/^webgpu has no kernel for matmul\(f16, f16\) -> f16 /);
  });

  it("stops emission with that error (wasm-simd's maxPool2d has no i8 kernel; a table without f16 matmul)", () => {
    const pool = naivePlan(graphOf("maxPool2d", [{ dtype: "i8", shape: [1, 4, 4, 2] }], { size: [2, 2], stride: [2, 2] }));
    expect(() => emitWasm(pool)).toThrow(/wasm-simd has no kernel for maxPool2d\(i8\) -> i8 \(node %0; it has maxPool2d\(f32\.\.\.\) -> f32, maxPool2d\(f16\.\.\.\) -> f16, maxPool2d\(bf16\.\.\.\) -> bf16, maxPool2d\(i32\.\.\.\) -> i32\)/);
    expect(() => emitWgsl(pool)).not.toThrow();
    const product = naivePlan(graphOf("matmul", [f16([2, 3]), f16([3, 4])]));
    expect(() => emitWgsl(product, { kernels: wgslF32Only })).toThrow(WgslUnsupported);
    expect(() => emitWgsl(product, { kernels: wgslF32Only })).toThrow(/webgpu has no kernel for matmul\(f16, f16\) -> f16/);
  });
});
