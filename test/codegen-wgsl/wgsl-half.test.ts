// WGSL kernels with 16-bit storage (f16, bf16: two to an arena word, widened exactly to f32 and
// rounded to nearest even by integer code, wgsl.ts) against the reference interpreter in native
// precision, within one 16-bit ulp (test/support/half.ts): every op of the op table at its sample,
// retyped by the precision pass, then shapes that reach each kernel's paths: odd element counts
// (a last word half used, the other half left as it was), broadcasts, GEMMs whose rows split a
// word, rows folded by a whole workgroup and by one invocation, and the kernels that stage a
// 16-bit result in f32 (stage.ts: GEMMs, softmax, normalizations, mse). Then every example with
// 16-bit storage as `mlc build --target webgpu` plans it: the inference forward pass end to end,
// and every node of the --mixed forward pass and train step on the interpreter's operands.
// SwiftShader (no GPU) flushes f32 subnormals, so values below 2^-100 get an absolute floor as in
// the other WGSL tests; f16's own subnormals are exact integer codes and are not affected.

import { describe, expect, it } from "vitest";
import { randomInputs } from "../../compiler/cli/random-inputs.ts";
import { wgslBackend } from "../../compiler/codegen-wgsl/backend.ts";
import { compile } from "../../compiler/driver/compile.ts";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import { GraphBuilder } from "../../compiler/ir/builder.ts";
import { valueTypes, type Graph } from "../../compiler/ir/graph.ts";
import { initParams, interpret } from "../../compiler/ir/interpreter.ts";
import type { AttrValue, Tensor } from "../../compiler/ir/op-def.ts";
import { getOp, OPS } from "../../compiler/ir/ops.ts";
import type { DType, TensorType } from "../../compiler/ir/types.ts";
import { precision, type HalfDType } from "../../compiler/passes/precision.ts";
import { trainingSpec } from "../../compiler/passes/train-options.ts";
import { EXAMPLES } from "../support/example-graphs.ts";
import { HALF_MIN_NORMAL, HALF_ULP, halfCompare, HALVES } from "../support/half.ts";
import { sampleGraph } from "../support/op-samples.ts";
import { compareTensors, graphTolerance, resultMismatches } from "../support/wasm-harness.ts";
import { expectWgslMatchesInterpreter, runWgsl, SUBNORMAL_FLOOR, wgslDevice } from "../support/wgsl-harness.ts";

function retyped(g: Graph, dtype: HalfDType): Graph {
  return precision.run(g, { ...precision.defaults, dtype, io: dtype, keepF32: [] }).graph;
}

function cases(name: string, list: readonly { op: string; types: readonly TensorType[]; attrs?: Record<string, AttrValue> }[]): Graph {
  const b = new GraphBuilder(name);
  list.forEach((c, k) => {
    const operands = c.types.map((type, i) => b.addInput({ name: `x${k}_${i}`, type }));
    b.output(`y${k}`, b.op(c.op, operands, c.attrs ?? {}));
  });
  return b.build();
}

const t = (dtype: DType, ...shape: number[]): TensorType => ({ dtype, shape });

const compare = (g: Graph, dtype: HalfDType, floor = 0) => halfCompare(g, dtype, Math.max(floor, SUBNORMAL_FLOOR));

describe("every op with 16-bit storage on webgpu", () => {
  it.each(HALVES)("matches the interpreter on every op's sample in %s", async (dtype) => {
    await wgslDevice();
    const failures: string[] = [];
    for (const op of OPS.keys()) {
      const g = retyped(sampleGraph(op), dtype);
      await expectWgslMatchesInterpreter(g, undefined, compare(g, dtype)).catch((e: Error) => failures.push(`${op}: ${e.message}`));
    }
    expect(failures.join("\n")).toBe("");
  });
});

describe.each(HALVES)("%s kernel paths on webgpu", (dtype) => {
  const h = (...shape: number[]) => t(dtype, ...shape);

  it("elementwise, casts, layout and sources with odd element counts", async () => {
    const other: DType = dtype === "f16" ? "bf16" : "f16";
    const g = cases("elementwise", [
      ...["exp", "tanh", "gelu", "sqrt", "relu"].map((op) => ({ op, types: [h(3, 13)] })),
      ...["add", "mul", "div", "maximum"].map((op) => ({ op, types: [h(5, 1, 7), h(7)] })),
      { op: "where", types: [t("bool", 3, 13), h(3, 13), h(13)] },
      { op: "cast", types: [t("f32", 37)], attrs: { dtype } },
      { op: "cast", types: [h(37)], attrs: { dtype: "f32" } },
      { op: "cast", types: [h(37)], attrs: { dtype: other } },
      { op: "cast", types: [h(37)], attrs: { dtype: "i8" } },
      { op: "transpose", types: [h(3, 5, 7)], attrs: { perm: [2, 0, 1] } },
      { op: "slice", types: [h(6, 21)], attrs: { begin: [1, 3], size: [4, 17] } },
      { op: "concat", types: [h(3, 5), h(3, 11)], attrs: { axis: 1 } },
      { op: "pad", types: [h(3, 5)], attrs: { before: [1, 2], after: [2, 3] } },
      { op: "gather", types: [h(7, 9), t("i32", 5)] },
      { op: "const", types: [], attrs: { value: 1 + 2 ** -11 + 2 ** -30, dtype, shape: [3] } },
      { op: "iota", types: [], attrs: { shape: [3, 9], axis: 1, dtype } },
      { op: "dropout", types: [h(3, 37), t("i32")], attrs: { rate: 0.3, seed: 5 } },
      { op: "scatterAdd", types: [t("i32", 40), h(40, 9)], attrs: { size: 6 } },
    ]);
    await expectWgslMatchesInterpreter(g, undefined, compare(g, dtype));
  });

  it("GEMMs (staged): odd n, transposes, batches, epilogues", async () => {
    const mm = (a: number[], b: number[], transposeA = false, transposeB = false) => ({ op: "matmul", types: [h(...a), h(...b)], attrs: { transposeA, transposeB } });
    const g = cases("gemm", [
      mm([5, 7], [7, 9]), mm([9, 33], [5, 33], false, true), mm([40, 17], [40, 3], true, false), mm([2, 3, 6, 5], [5, 7]),
      { op: "fusedMatmul", types: [h(7, 9), h(9, 5), h(5)], attrs: { epilogue: "add(x0, x1); relu(t0)" } },
    ]);
    await expectWgslMatchesInterpreter(g, undefined, { ...compare(g, dtype, 3), relativeToMax: true });
  });

  it("the workgroup-tiled GEMM and implicit-GEMM convolutions of GPUs (staged), forced on", async () => {
    const g = cases("tiled", [
      { op: "matmul", types: [h(9, 33), h(33, 7)] },
      { op: "conv2d", types: [h(2, 5, 5, 3), h(3, 3, 3, 5)], attrs: { padding: "same" } },
      { op: "conv2dBackpropInput", types: [h(2, 5, 5, 5), h(3, 3, 3, 5)], attrs: { padding: "same", inputShape: [2, 5, 5, 3] } },
      { op: "conv2dBackpropFilter", types: [h(2, 5, 5, 3), h(2, 5, 5, 5)], attrs: { padding: "same", filterShape: [3, 3, 3, 5] } },
    ]);
    await expectWgslMatchesInterpreter(g, undefined, { ...compare(g, dtype, 6), relativeToMax: true, target: { workgroupTiles: true } });
  });

  it("convolutions, pools and their gradients", async () => {
    const g = cases("conv", [
      { op: "conv2d", types: [h(2, 6, 6, 3), h(3, 3, 3, 5)], attrs: { padding: "same" } },
      { op: "fusedConv2d", types: [h(2, 5, 5, 2), h(3, 3, 2, 3), h(3)], attrs: { padding: "same", epilogue: "add(x0, x1); tanh(t0)" } },
      { op: "conv2dBackpropInput", types: [h(2, 6, 6, 5), h(3, 3, 3, 5)], attrs: { padding: "same", inputShape: [2, 6, 6, 3] } },
      { op: "conv2dBackpropFilter", types: [h(2, 6, 6, 3), h(2, 6, 6, 5)], attrs: { padding: "same", filterShape: [3, 3, 3, 5] } },
      { op: "maxPool2d", types: [h(2, 7, 7, 3)], attrs: { size: [3, 3], stride: [2, 2], padding: "same" } },
      { op: "avgPool2d", types: [h(2, 7, 7, 3)], attrs: { size: [3, 3], stride: [1, 1], padding: "same" } },
      { op: "maxPool2dGrad", types: [h(2, 6, 6, 3), h(2, 3, 3, 3)], attrs: { size: [2, 2], stride: [2, 2] } },
      { op: "avgPool2dGrad", types: [h(2, 7, 7, 3)], attrs: { size: [3, 3], stride: [1, 1], padding: "same", inputShape: [2, 7, 7, 3] } },
    ]);
    await expectWgslMatchesInterpreter(g, undefined, { ...compare(g, dtype, 6), relativeToMax: true });
  });

  it("reductions (short and workgroup rows), softmax, normalizations and losses (staged)", async () => {
    const g = cases("reductions", [
      { op: "sum", types: [h(3, 300)], attrs: { axes: [1] } },
      { op: "mean", types: [h(5, 7)], attrs: { axes: [1] } },
      { op: "max", types: [h(3, 4, 5)], attrs: { axes: [0, 2] } },
      { op: "softmax", types: [h(7, 37)], attrs: { axis: -1 } },
      { op: "logSoftmax", types: [h(9, 5)], attrs: { axis: 0 } },
      { op: "layerNorm", types: [h(5, 37), h(37), h(37)] },
      { op: "batchNorm", types: [h(4, 3, 3, 5), h(5), h(5)] },
      { op: "batchNormRunningStat", types: [h(4, 3, 3, 5), h(5)], attrs: { stat: "var" } },
      { op: "softmaxCrossEntropy", types: [h(13, 10), t("i32", 13)] },
      { op: "mse", types: [h(3, 37), h(3, 37)] },
    ]);
    await expectWgslMatchesInterpreter(g, undefined, { ...compare(g, dtype, 1), relativeToMax: true });
  });
});

/** `g`'s nodes each reading its operands as inputs (`in/<value>`), results as outputs `node/<id>` (see the WASM test). */
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

function nodeCompare(op: string, dtype: string, operands: readonly Tensor[]) {
  const own = getOp(op).tolerance ?? 0;
  if (dtype === "f16" || dtype === "bf16") return { tolerance: own + HALF_ULP[dtype], floor: Math.max(HALF_MIN_NORMAL[dtype], SUBNORMAL_FLOOR), relativeToMax: getOp(op).kind !== "elementwise" };
  let scale = SUBNORMAL_FLOOR;
  for (const x of operands) for (const v of x.data) if (Number.isFinite(v)) scale = Math.max(scale, Math.abs(v));
  return { tolerance: Math.max(own, 1e-5), floor: scale, relativeToMax: true };
}

// The ResNet is left out here as in wgsl-examples.test.ts (its reference runs take too long for
// the WGSL files' budget on a 2-core machine); WGSL_ALL_EXAMPLES=1 runs it too.
const EXAMPLES_HERE = process.env.WGSL_ALL_EXAMPLES ? EXAMPLES : EXAMPLES.filter((e) => e !== "resnet");

describe.each(EXAMPLES_HERE)("%s with 16-bit storage on webgpu", (name) => {
  const model = compileModelFile(`examples/${name}/model.ts`);

  it.each(HALVES)("inference --precision %s: the forward pass matches the interpreter end to end", async (dtype) => {
    const graph = compile(model.graph, { backend: wgslBackend(), precision: { dtype }, timeLimitMs: 100 }).entries[0].graph;
    const { memory: _plan, ...unplanned } = graph;
    const inputs = randomInputs(graph, 1);
    const params = initParams(graph, 1);
    const gpu = await runWgsl(graph, inputs, params);
    const reference = interpret(unplanned, inputs, { params, seed: 1 });
    const failures = resultMismatches(gpu, reference, { tolerance: graphTolerance(graph) + 8 * HALF_ULP[dtype], relativeToMax: true, floor: SUBNORMAL_FLOOR });
    expect(failures.join("\n")).toBe("");
  }, 120_000);

  it.each(HALVES)("--train --mixed %s: every node of the train step matches the interpreter on the interpreter's operands", async (dtype) => {
    const program = compile(model.graph, { backend: wgslBackend(), training: { ...trainingSpec(model.train), mixed: { dtype } }, timeLimitMs: 100 });
    const failures: string[] = [];
    // The train step holds the forward pass's nodes too (the forward entry is the same nodes).
    for (const entry of program.entries.filter((e) => e.exportName === "train_step")) {
      const { memory: _plan, ...unplanned } = entry.graph;
      const run = interpret(unplanned, randomInputs(unplanned, 1), { params: initParams(unplanned, 1), seed: 1, keepValues: true });
      const { graph, inputs } = nodeByNode(unplanned, run.values!);
      const gpu = await runWgsl(graph, inputs);
      for (const n of unplanned.nodes) {
        const problem = compareTensors(gpu.outputs[`node/${n.id}`], run.values!.get(n.id)!, nodeCompare(n.op, n.type.dtype, n.inputs.map((v) => run.values!.get(v)!)));
        if (problem) failures.push(`${entry.exportName} %${n.id} (${n.op} -> ${n.type.dtype}): ${problem}`);
      }
    }
    expect(failures.join("\n")).toBe("");
  }, 180_000);
});
