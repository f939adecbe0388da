// bench/peer-onnx-int8.ts: the ORT-web twin of an int8 inference graph that bench/quant.ts times
// beside the mlc bundle computes the same logits as the interpreter running that quantized graph
// (so the benchmark's peer does the same work), and refuses a graph with an op it cannot translate.

import { describe, expect, it } from "vitest";
import { int8Twin, ortInt8Forward } from "../../bench/peer-onnx-int8.ts";
import { programForward } from "../../compiler/cli/training.ts";
import { compile } from "../../compiler/driver/index.ts";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import { GraphBuilder } from "../../compiler/ir/builder.ts";
import { interpret } from "../../compiler/ir/interpreter.ts";

const BATCH = 5;

/** Pixel-like values in [0, 1], seeded by `salt`. */
function pixels(samples: number, salt: number): Float64Array {
  return Float64Array.from({ length: samples * 784 }, (_, i) => Math.fround(((i * 7919 + salt * 104729) % 1009) / 1008));
}

describe("the ORT-web twin of the int8 MNIST MLP", () => {
  const { graph } = programForward(compileModelFile("examples/mnist-mlp/model.ts", { set: { batch: String(BATCH) } }), undefined);
  const program = compile(graph, { quantize: { observer: "minmax", calibration: { x: pixels(12, 1) }, samples: 12, seed: 3 } });
  const quantized = program.entries[0].graph;
  const params = Object.fromEntries(Object.entries(program.quantization!.tensors).map(([n, t]) => [n, t.data]));

  it("gives the interpreter's logits, bit for bit (inputs beyond the calibration range too)", async () => {
    const twin = await ortInt8Forward(quantized, params);
    for (const gain of [1, 1.7]) {
      const x = pixels(BATCH, 5).map((v) => Math.fround(v * gain - 0.1));
      const reference = interpret(quantized, { x }, { params }).outputs.logits.data;
      expect(Array.from(await twin.run(Float32Array.from(x)))).toEqual(Array.from(reference));
    }
  }, 120_000);

  it("names an op it has no ONNX twin for", () => {
    const g = new GraphBuilder("t");
    const x = g.addInput({ name: "x", type: { dtype: "f32", shape: [2, 2] } });
    g.output("y", g.op("exp", [x]));
    expect(() => int8Twin(g.build(), {})).toThrow(/no ONNX twin for op 'exp'/);
  });
});
