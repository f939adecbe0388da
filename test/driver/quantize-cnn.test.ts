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
    // Integer from the first quantize to the last dequantize: each conv-ReLU-pool stage
    // requantizes into the next layer, its max pool on the i32 accumulator.
    expect(ops.filter((o) => o === "quantize" || o === "dequantize")).toEqual(["quantize", "dequantize"]);
    const types = new Map(quantized.nodes.map((n) => [n.id, n.type.dtype]));
    expect(quantized.nodes.filter((n) => n.op === "maxPool2d").map((n) => types.get(n.inputs[0]))).toEqual(["i32", "i32"]);

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
    expect(q.report.error!.argmaxAgreement).toBeGreaterThan(0.8);
  });
});

describe("the quantized ResNet example: batch norm folded, then int8", () => {
  const resnet = compileModelFile("examples/resnet/model.ts", { set: { batch: "2", size: "8", channels: "8", depth: "2" } });
  const forward = programForward(resnet, undefined).graph;
  const calibration = { images: Float64Array.from({ length: 6 * 8 * 8 * 3 }, (_, i) => Math.fround(Math.sin(i * 0.61))) };
  const quantize = { observer: "minmax" as const, calibration, samples: 6, seed: 4, perLayerErrors: false };

  it("folds every batch norm into its conv, quantizes every conv, and the bundle matches the interpreter bit for bit", async () => {
    const bundle = build(forward, { backend: wasmBackend, quantize, seed: 4, timeLimitMs: 100 });
    const q = bundle.program.quantization!;
    expect(q.report.folded.map((f) => f.weight)).toEqual(["stem.conv.w", "block0.conv1.w", "block0.conv2.w", "block1.conv1.w", "block1.conv2.w"]);
    expect(q.report.quantized.map((l) => l.weight)).toEqual(["stem.conv.w", "block0.conv1.w", "block0.conv2.w", "block1.conv1.w", "block1.conv2.w", "fc.w"]);
    // Each conv's bias is its batch norm's folded beta.
    expect(q.report.quantized[0].bias).toBe("stem.bn.beta");
    const graph = compile(forward, { quantize: { ...quantize, result: q } }).entries[0].graph;
    expect(graph.nodes.some((n) => n.op === "batchNorm" || n.op === "conv2d")).toBe(false);
    expect(graph.updates).toEqual([]);
    const weights = Object.keys(q.tensors);
    expect(weights.some((n) => /gamma|running/.test(n))).toBe(false);
    expect(q.removed).toEqual(expect.arrayContaining(["stem.bn.gamma", "stem.bn.running_mean", "stem.bn.running_var", "stem.conv.w", "stem.bn.beta"]));

    const dir = join(tmp, "resnet");
    mkdirSync(dir);
    for (const [file, data] of Object.entries(bundle.files)) writeFileSync(join(dir, file), data);
    const m = (await import(pathToFileURL(join(dir, `${bundle.name}.js`)).href)) as { load(): Promise<Bundle> };
    const net = await m.load();
    const x = Float32Array.from({ length: 2 * 8 * 8 * 3 }, (_, i) => Math.cos(i * 0.23));
    net.inputs.images.set(x);
    net.forward();
    const params = Object.fromEntries(Object.entries(q.tensors).map(([n, t]) => [n, t.data]));
    expect(Array.from(net.outputs.logits)).toEqual(Array.from(interpret(graph, { images: x }, { params }).outputs.logits.data));
    // The integer graph stays close to the eval-mode f32 one on the calibration set.
    expect(q.report.error!.relativeRms).toBeLessThan(0.1);
  }, 120_000);

  it("a conv kept f32 by --quantize-skip keeps its batch norm folded: its weight and bias carry the folded values", () => {
    const c = 8;
    const w = Float64Array.from({ length: 3 * 3 * c * c }, (_, i) => Math.sin(i));
    const params = {
      "block0.conv1.w": w, "block0.bn1.gamma": new Float64Array(c).fill(2), "block0.bn1.beta": new Float64Array(c).fill(0.5),
      "block0.bn1.running_mean": new Float64Array(c).fill(0.25), "block0.bn1.running_var": new Float64Array(c).fill(3),
    };
    const q = compile(forward, { quantize: { ...quantize, skip: ["block0.conv1.w"], params } }).quantization!;
    expect(q.report.kept).toEqual([{ param: "block0.conv1.w", reason: "--quantize-skip" }]);
    const s = 2 / Math.sqrt(3 + 1e-5);
    expect(Array.from(q.tensors["block0.conv1.w"].data)).toEqual(Array.from(w, (v) => Math.fround(v * s)));
    expect(Array.from(q.tensors["block0.bn1.beta"].data)).toEqual(new Array(c).fill(Math.fround(-0.25 * s + 0.5)));
    expect(q.removed).toEqual(expect.arrayContaining(["block0.bn1.gamma", "block0.bn1.running_mean", "block0.bn1.running_var"]));
    expect(q.removed).not.toContain("block0.conv1.w");
  });
});
