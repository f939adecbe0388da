// Post-training int8 quantization of the MNIST MLP through the driver: the wasm-simd bundle
// (matmulInteger's packed int8 GEMM, the quantize/dequantize kernels, fused and planned) gives
// bit for bit the outputs of the reference interpreter running the same quantized graph; its
// weights file holds i8 weights (about 4x smaller) while the .d.ts keeps f32 inputs and outputs;
// and the report lists every layer with its scales and error.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { wasmBackend } from "../../compiler/codegen-wasm/backend.ts";
import { build, compile, formatQuantizationReport } from "../../compiler/driver/index.ts";
import { programForward } from "../../compiler/cli/training.ts";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import { interpret } from "../../compiler/ir/interpreter.ts";
import { decodeSafetensors, encodeSafetensors } from "../../runtime/safetensors.ts";

const tmp = mkdtempSync(join(tmpdir(), "mlc-quantize-mlp-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const BATCH = 8;
const model = compileModelFile("examples/mnist-mlp/model.ts", { set: { batch: String(BATCH) } });
const { graph } = programForward(model, undefined);

/** Pixel-like values in [0, 1], seeded by `salt`. */
function pixels(samples: number, salt: number): Float64Array {
  return Float64Array.from({ length: samples * 784 }, (_, i) => Math.fround(((i * 7919 + salt * 104729) % 1009) / 1008));
}

describe("the quantized MNIST MLP on wasm-simd", () => {
  // 21 samples: two full batches of 8 and a partial one.
  const quantize = { observer: "minmax" as const, calibration: { x: pixels(21, 1) }, samples: 21, seed: 3 };
  const program = compile(graph, { quantize });
  const quantized = program.entries[0].graph;
  const q = program.quantization!;

  it("matches the interpreter running the same quantized graph, bit for bit", async () => {
    const bundle = build(graph, { backend: wasmBackend, quantize, seed: 3, timeLimitMs: 100 });
    const dir = join(tmp, "int8");
    const { mkdirSync } = await import("node:fs");
    mkdirSync(dir);
    for (const [file, data] of Object.entries(bundle.files)) writeFileSync(join(dir, file), data);
    const m = (await import(pathToFileURL(join(dir, `${bundle.name}.js`)).href)) as { load(): Promise<{ inputs: Record<string, Float32Array>; outputs: Record<string, Float32Array>; forward(): void; loadWeights(bytes: Uint8Array): unknown }> };
    const bundleModel = await m.load();
    const params = Object.fromEntries(Object.entries(q.tensors).map(([n, t]) => [n, t.data]));
    // Test inputs beyond the calibration range too (clamped by quantize).
    for (const [salt, gain] of [[5, 1], [6, 1.7]] as const) {
      const x = pixels(BATCH, salt).map((v) => Math.fround(v * gain - 0.1));
      bundleModel.inputs.x.set(x);
      bundleModel.forward();
      const reference = interpret(quantized, { x }, { params }).outputs.logits.data;
      expect(Array.from(bundleModel.outputs.logits)).toEqual(Array.from(reference));
    }
    // The graph emitted is the integer one.
    const ops = bundle.program.entries[0].graph.nodes.map((n) => n.op);
    expect(ops.filter((o) => o === "matmulInteger")).toHaveLength(3);
    expect(ops.some((o) => o === "matmul" || o === "fusedMatmul")).toBe(false);

    // i8 weights in the file, about 4x smaller than the f32 build's; f32 at the API.
    const weights = decodeSafetensors(readFileSync(join(dir, `${bundle.name}.safetensors`))).tensors;
    expect(Object.keys(weights).sort()).toEqual(["fc128.w/bias", "fc128.w/q", "fc128.w/scale", "fc256.w/bias", "fc256.w/q", "fc256.w/scale", "out.w/bias", "out.w/q", "out.w/scale"]);
    expect(weights["fc256.w/q"].dtype).toBe("I8");
    expect(Array.from(weights["fc256.w/q"].data as Int8Array)).toEqual(Array.from(q.tensors["fc256.w/q"].data));
    const f32 = build(graph, { backend: wasmBackend, seed: 3, timeLimitMs: 100 });
    const size = (b: typeof f32) => (b.files[`${b.name}.safetensors`] as Uint8Array).byteLength;
    expect(size(f32) / size(bundle)).toBeGreaterThan(3.8);
    // The bundle (loaded from a folder outside the repo) refuses a weights file whose quantized
    // weight is f32, or whose scales have the wrong length, naming the tensor.
    const wrongDtype = encodeSafetensors({ "fc256.w/q": { dtype: "F32", shape: [784, 256], data: new Float32Array(784 * 256) } });
    expect(() => bundleModel.loadWeights(wrongDtype)).toThrow(/'fc256\.w\/q' must be i8\[784,256\]/);
    const wrongScale = encodeSafetensors({ "out.w/scale": { dtype: "F32", shape: [9], data: new Float32Array(9) } });
    expect(() => bundleModel.loadWeights(wrongScale)).toThrow(/'out\.w\/scale' must be f32\[10\]/);
    const dts = bundle.files[`${bundle.name}.d.ts`] as string;
    expect(dts).toMatch(/readonly "x": Float32Array;/);
    expect(dts).toMatch(/readonly "logits": Float32Array;/);
  }, 120_000);

  it("reports every quantized layer with its scales and the output error on the calibration set", () => {
    const r = q.report;
    expect(r.quantized.map((l) => [l.weight, l.bias])).toEqual([["fc256.w", "fc256.b"], ["fc128.w", "fc128.b"], ["out.w", "out.b"]]);
    for (const l of r.quantized) {
      expect(l.weightScale[0]).toBeGreaterThan(0);
      expect(l.weightScale[1]).toBeGreaterThanOrEqual(l.weightScale[0]);
      expect(l.error!.relativeRms).toBeGreaterThan(0);
      expect(l.error!.relativeRms).toBeLessThan(0.05);
    }
    // Pixels in [0, 1]: the first layer's input range is exactly that, zero point 0.
    expect(r.quantized[0].activation).toMatchObject({ lo: 0, hi: 1, zeroPoint: 0, scale: Math.fround(1 / 255) });
    expect(r.error!.relativeRms).toBeLessThan(0.05);
    expect(r.error!.argmaxAgreement).toBeGreaterThan(0.9);
    expect(r.paramBytes.f32 / r.paramBytes.quantized).toBeGreaterThan(3.9);
    const text = formatQuantizationReport(r);
    expect(text).toMatch(/^int8 quantization \(observer minmax, 21 calibration samples\):/);
    expect(text).toMatch(/fc256\.w \(\+ fc256\.b\) \[784,256\] i8 per column, scale [0-9.e-]+\.\.[0-9.e-]+; input u8 scale 0\.00392 zero point 0 \(range 0\.\.1\); alone: rel\. RMS error/);
  });

  it("calibrates over any number of samples, a partial last batch included", () => {
    // 9 samples: a batch of 8, then one padded with the first samples.
    const x = pixels(9, 2).map((v) => v * 0.5);
    x.fill(1, 0, 784);
    const r = compile(graph, { quantize: { observer: "minmax", calibration: { x }, samples: 9, perLayerErrors: false } }).quantization!.report;
    expect(r.quantized[0].activation.hi).toBe(1);
    const without = compile(graph, { quantize: { observer: "minmax", calibration: { x: x.subarray(784) }, samples: 8, perLayerErrors: false } }).quantization!.report;
    expect(without.quantized[0].activation.hi).toBeLessThan(0.51);
    expect(without.quantized[0].error).toBeUndefined();
  });
});
