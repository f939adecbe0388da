// Post-training int8 quantization of the Fashion-MNIST CNN (examples/cnn) through the driver:
// both convolutions become convInteger (the wasm-simd im2col + int8 GEMM kernel) and the dense
// layer matmulInteger; the bundle, written to an empty folder outside the repo and imported from
// there, gives bit for bit the interpreter's outputs for the same quantized graph, holds i8
// weights, and refuses a weights file whose quantized tensor has the wrong dtype or whose scales
// have the wrong shape, naming the tensor.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { wasmBackend } from "../../compiler/codegen-wasm/backend.ts";
import { build, compile } from "../../compiler/driver/index.ts";
import { programForward } from "../../compiler/cli/training.ts";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import { interpret } from "../../compiler/ir/interpreter.ts";
import { decodeSafetensors, encodeSafetensors } from "../../runtime/safetensors.ts";

const tmp = mkdtempSync(join(tmpdir(), "mlc-quantize-cnn-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const BATCH = 4;
const model = compileModelFile("examples/cnn/model.ts", { set: { batch: String(BATCH) } });
const { graph } = programForward(model, undefined);

/** Image-like values in [0, 1], seeded by `salt`. */
function images(samples: number, salt: number): Float64Array {
  return Float64Array.from({ length: samples * 784 }, (_, i) => Math.fround(((i * 7919 + salt * 104729) % 1009) / 1008));
}

type Bundle = { inputs: Record<string, Float32Array>; outputs: Record<string, Float32Array>; forward(): void; loadWeights(bytes: Uint8Array): unknown };

describe("the quantized CNN on wasm-simd", () => {
  const quantize = { observer: "minmax" as const, calibration: { images: images(10, 1) }, samples: 10, seed: 3, perLayerErrors: false };
  const program = compile(graph, { quantize });
  const quantized = program.entries[0].graph;
  const q = program.quantization!;

  it("runs from an empty folder outside the repo, bit for bit the interpreter's, and refuses wrong weights naming the tensor", async () => {
    const bundle = build(graph, { backend: wasmBackend, quantize, seed: 3, timeLimitMs: 100 });
    const dir = join(tmp, "int8");
    mkdirSync(dir);
    for (const [file, data] of Object.entries(bundle.files)) writeFileSync(join(dir, file), data);
    const m = (await import(pathToFileURL(join(dir, `${bundle.name}.js`)).href)) as { load(): Promise<Bundle> };
    const cnn = await m.load();
    const params = Object.fromEntries(Object.entries(q.tensors).map(([n, t]) => [n, t.data]));
    for (const [salt, gain] of [[5, 1], [6, 1.5]] as const) {
      const x = images(BATCH, salt).map((v) => Math.fround(v * gain - 0.2));
      cnn.inputs.images.set(x);
      cnn.forward();
      const reference = interpret(quantized, { images: x }, { params }).outputs.logits.data;
      expect(Array.from(cnn.outputs.logits)).toEqual(Array.from(reference));
    }
    const ops = bundle.program.entries[0].graph.nodes.map((n) => n.op);
    expect(ops.filter((o) => o === "convInteger")).toHaveLength(2);
    expect(ops.filter((o) => o === "matmulInteger")).toHaveLength(1);
    expect(ops.some((o) => o === "conv2d" || o === "fusedConv2d" || o === "matmul" || o === "fusedMatmul")).toBe(false);

    const weights = decodeSafetensors(readFileSync(join(dir, `${bundle.name}.safetensors`))).tensors;
    expect(weights["conv2.w/q"].dtype).toBe("I8");
    expect(weights["conv2.w/q"].shape).toEqual([3, 3, 8, 16]);
    expect(Object.keys(weights).some((n) => n === "conv1.w" || n === "conv1.b")).toBe(false);
    const wrongDtype = encodeSafetensors({ "conv1.w/q": { dtype: "F32", shape: [3, 3, 1, 8], data: new Float32Array(72) } });
    expect(() => cnn.loadWeights(wrongDtype)).toThrow(/'conv1\.w\/q' must be i8\[3,3,1,8\]/);
    const wrongScale = encodeSafetensors({ "conv2.w/scale": { dtype: "F32", shape: [15], data: new Float32Array(15) } });
    expect(() => cnn.loadWeights(wrongScale)).toThrow(/'conv2\.w\/scale' must be f32\[16\]/);
  }, 120_000);

  it("reports the convolutions per output channel beside the dense layer", () => {
    expect(q.report.quantized.map((l) => [l.weight, l.op, l.shape])).toEqual([
      ["conv1.w", "conv2d", [3, 3, 1, 8]], ["conv2.w", "conv2d", [3, 3, 8, 16]], ["fc.w", "matmul", [784, 10]],
    ]);
    expect(q.report.kept).toEqual([]);
    expect(q.report.error.argmaxAgreement).toBeGreaterThan(0.8);
  });
});
