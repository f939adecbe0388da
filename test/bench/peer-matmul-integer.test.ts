// bench/peers.ts's ONNX writer with integer element types: the MatMulInteger model that
// bench/gemm-int8.ts times (u8 input, i8 initializer, i32 output) loads in ONNX Runtime Web and
// computes the same products as mlc's interpreter, so the benchmark's peer does the same work.

import { expect, it } from "vitest";
import { loadOrtWasm, onnxModel } from "../../bench/peers.ts";
import { GraphBuilder } from "../../compiler/ir/builder.ts";
import { interpret } from "../../compiler/ir/interpreter.ts";

it("a u8 x i8 -> i32 MatMulInteger model written by onnxModel matches the interpreter in ORT-web", async () => {
  const [m, k, n] = [5, 7, 3];
  const a = Uint8Array.from({ length: m * k }, (_, i) => (i * 37 + 11) % 256);
  const w = Int8Array.from({ length: k * n }, (_, i) => ((i * 53 + 5) % 255) - 127);
  const ort = await loadOrtWasm();
  const model = onnxModel({
    inputs: [{ name: "a", shape: [m, k], elemType: "uint8" }],
    outputs: [{ name: "c", shape: [m, n], elemType: "int32" }],
    nodes: [{ op: "MatMulInteger", inputs: ["a", "w"], outputs: ["c"] }],
    initializers: [{ name: "w", shape: [k, n], elemType: "int8", data: w }],
  });
  const session = await ort.InferenceSession.create(model, { executionProviders: ["wasm"] });
  const out = await session.run({ a: new ort.Tensor("uint8", a, [m, k]) });
  await session.release();

  const g = new GraphBuilder("mmi");
  const x = g.addInput({ name: "a", type: { dtype: "u8", shape: [m, k] } });
  const y = g.addInput({ name: "w", type: { dtype: "i8", shape: [k, n] } });
  g.output("c", g.op("matmulInteger", [x, y]));
  const reference = interpret(g.build(), { a: Array.from(a), w: Array.from(w) });
  expect(out.c.type).toBe("int32");
  expect(Array.from(out.c.data as Int32Array)).toEqual(Array.from(reference.outputs.c.data));
}, 60_000);
