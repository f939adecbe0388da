// Every example with 16-bit storage, as `mlc build` compiles it for wasm-simd (fused, planned in
// one arena with the kernels' workspaces), against the reference interpreter in native precision:
//
//   inference --precision f16|bf16   the forward pass end to end: 16-bit weights and activations,
//                                    f32 inputs and outputs. A difference of one 16-bit ulp in an
//                                    early value travels through the layers after it, so outputs
//                                    are compared relative to their largest magnitude, within a
//                                    few ulps of the format.
//   --train --mixed bf16|f16         forward and train step node by node: every node's kernel runs
//                                    on the interpreter's values of its operands (one module with
//                                    each node's operands as inputs) and must give the
//                                    interpreter's result within one ulp of its dtype (plus the
//                                    op's f32 budget). End to end, a training step's relu masks
//                                    and Adam's sign-like first step turn one-ulp differences into
//                                    large ones, which says nothing about the kernels.

import { describe, expect, it } from "vitest";
import { wasmBackend } from "../../compiler/codegen-wasm/backend.ts";
import { randomInputs } from "../../compiler/cli/random-inputs.ts";
import { compile } from "../../compiler/driver/compile.ts";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import { GraphBuilder } from "../../compiler/ir/builder.ts";
import { valueTypes, type Graph } from "../../compiler/ir/graph.ts";
import { initParams, interpret } from "../../compiler/ir/interpreter.ts";
import type { Tensor } from "../../compiler/ir/op-def.ts";
import { getOp } from "../../compiler/ir/ops.ts";
import { trainingSpec } from "../../compiler/passes/train-options.ts";
import { EXAMPLES } from "../support/example-graphs.ts";
import { compareTensors, graphTolerance, resultMismatches, runWasm } from "../support/wasm-harness.ts";
import { HALF_MIN_NORMAL, HALF_ULP, HALVES } from "../support/half.ts";

/**
 * A graph of `g`'s nodes, each reading its operands as inputs of their own (`in/<value>`) and
 * giving its result as output `node/<id>`, with the inputs' values from `values`.
 */
function nodeByNode(g: Graph, values: ReadonlyMap<string, Tensor>): { graph: Graph; inputs: Record<string, ArrayLike<number>> } {
  const b = new GraphBuilder(`${g.name}-nodes`);
  const types = valueTypes(g);
  const inputs: Record<string, ArrayLike<number>> = {};
  for (const n of g.nodes) {
    const operands = n.inputs.map((v) => {
      const name = `in/${v}`;
      if (!b.has(name)) {
        b.addInput({ name, type: types.get(v)! });
        inputs[name] = values.get(v)!.data;
      }
      return name;
    });
    b.output(`node/${n.id}`, b.op(n.op, operands, n.attrs));
  }
  return { graph: b.build(), inputs };
}

/**
 * A 16-bit result: one ulp of its dtype on top of the op's budget, relative to the value itself
 * for elementwise ops and to the tensor's largest magnitude for the others (sums, whose error
 * scales with their terms). An f32 result (the optimizer's update, the loss, loss scaling's
 * check): the op's budget, with an absolute floor at the scale of its largest operand, since
 * these sums and differences can cancel far below their operands.
 */
function nodeCompare(op: string, dtype: string, operands: readonly Tensor[]) {
  const own = getOp(op).tolerance ?? 0;
  if (dtype === "f16" || dtype === "bf16") return { tolerance: own + HALF_ULP[dtype], floor: HALF_MIN_NORMAL[dtype], relativeToMax: getOp(op).kind !== "elementwise" };
  let scale = 2 ** -126;
  for (const t of operands) for (const x of t.data) if (Number.isFinite(x)) scale = Math.max(scale, Math.abs(x));
  return { tolerance: Math.max(own, 1e-5), floor: scale, relativeToMax: true };
}

describe.each(EXAMPLES)("%s with 16-bit storage on wasm-simd", (name) => {
  const model = compileModelFile(`examples/${name}/model.ts`);

  it.each(HALVES)("inference --precision %s: the forward pass matches the interpreter end to end", async (dtype) => {
    const program = compile(model.graph, { backend: wasmBackend, precision: { dtype }, timeLimitMs: 100 });
    const graph = program.entries[0].graph;
    const { memory: _plan, ...unplanned } = graph;
    expect(graph.params.every((p) => p.type.dtype !== "f32")).toBe(true);
    const inputs = randomInputs(graph, 1);
    const params = initParams(graph, 1);
    const wasm = await runWasm(graph, inputs, params);
    const reference = interpret(unplanned, inputs, { params, seed: 1 });
    const failures = resultMismatches(wasm, reference, { tolerance: graphTolerance(graph) + 8 * HALF_ULP[dtype], relativeToMax: true });
    expect(failures.join("\n")).toBe("");
  }, 120_000);

  it.each(HALVES)("--train --mixed %s: every node of the forward pass and the train step matches the interpreter", async (dtype) => {
    const training = { ...trainingSpec(model.train), mixed: { dtype } };
    const program = compile(model.graph, { backend: wasmBackend, training, timeLimitMs: 100 });
    const failures: string[] = [];
    for (const entry of program.entries) {
      const { memory: _plan, ...unplanned } = entry.graph;
      const inputs = randomInputs(unplanned, 1);
      const params = initParams(unplanned, 1);
      const run = interpret(unplanned, inputs, { params, seed: 1, keepValues: true });
      const { graph, inputs: operands } = nodeByNode(unplanned, run.values!);
      const wasm = await runWasm(graph, operands);
      for (const n of unplanned.nodes) {
        const compare = nodeCompare(n.op, n.type.dtype, n.inputs.map((v) => run.values!.get(v)!));
        const problem = compareTensors(wasm.outputs[`node/${n.id}`], run.values!.get(n.id)!, compare);
        if (problem) failures.push(`${entry.exportName} %${n.id} (${n.op} -> ${n.type.dtype}): ${problem}`);
      }
    }
    expect(failures.join("\n")).toBe("");
  }, 120_000);
});
