// A WebGPU bundle of the int8-quantized MNIST MLP carries both forms of its matmulInteger kernels
// (codegen-wgsl/bundle.ts MANIFEST.packedDot) and load() picks by the GPU's wgslLanguageFeatures:
// the packed-dot shaders where `packed_4x8_integer_dot_product` is there, the per-step ones where
// it is not or no GPU object is given; both give the interpreter's logits bit for bit. A bundle
// without int8 kernels has no second form.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { wgslBackend } from "../../compiler/codegen-wgsl/backend.ts";
import { PACKED_DOT_FEATURE } from "../../compiler/codegen-wgsl/kernels/gemm-int8.ts";
import { build, compile } from "../../compiler/driver/compile.ts";
import { inferenceGraph } from "../../compiler/driver/inference.ts";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import { interpret } from "../../compiler/ir/interpreter.ts";
import { wgslDevice } from "../support/wgsl-harness.ts";

const root = mkdtempSync(join(tmpdir(), "mlc-wgsl-bundle-int8-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

interface Bundle {
  readonly packedIntegerDot: boolean;
  forward(): void;
  inputs: Record<string, { set(v: ArrayLike<number>): void }>;
  outputs: Record<string, () => Promise<Float32Array>>;
}
type Load = (o: object) => Promise<Bundle>;

async function written(bundle: ReturnType<typeof build>, folder: string): Promise<{ load: Load; script: string }> {
  const dir = join(root, folder);
  const { mkdirSync } = await import("node:fs");
  mkdirSync(dir);
  for (const [file, contents] of Object.entries(bundle.files)) writeFileSync(join(dir, file), contents);
  const script = bundle.files[`${bundle.name}.wgsl.js`] as string;
  return { load: ((await import(pathToFileURL(join(dir, `${bundle.name}.wgsl.js`)).href)) as { load: Load }).load, script };
}

describe("the int8 MNIST MLP WebGPU bundle", () => {
  const graph = inferenceGraph(compileModelFile("examples/mnist-mlp/model.ts", { set: { batch: "3" } }).graph, { loss: "loss" }).graph;
  const pixels = (n: number, salt: number) => Float64Array.from({ length: n * 784 }, (_, i) => Math.fround(((i * 7919 + salt * 104729) % 1009) / 1008));
  const quantize = { observer: "minmax" as const, calibration: { x: pixels(8, 1) }, samples: 8, seed: 2, perLayerErrors: false };
  const reference = compile(graph, { quantize });
  const params = Object.fromEntries(Object.entries(reference.quantization!.tensors).map(([n, t]) => [n, t.data]));
  const x = pixels(3, 7).map((v) => Math.fround(v * 1.5 - 0.2));
  const expected = Array.from(interpret(reference.entries[0].graph, { x }, { params }).outputs.logits.data);

  it("runs the packed-dot kernels where the GPU has them, the per-step ones otherwise, both bit for bit", async () => {
    const gpu = await wgslDevice();
    const { load, script } = await written(build(graph, { backend: wgslBackend(), quantize, seed: 2 }), "int8");
    expect(script).toContain("dot4I8Packed(");
    const choices: [object, boolean][] = [
      [{ device: gpu.device, gpu: gpu.gpu }, gpu.languageFeatures.has(PACKED_DOT_FEATURE)],
      [{ device: gpu.device, gpu: { wgslLanguageFeatures: new Set<string>() } }, false],
      [{ device: gpu.device, gpu: { wgslLanguageFeatures: new Set([PACKED_DOT_FEATURE]) } }, true],
      [{ device: gpu.device }, false],
    ];
    for (const [opts, packed] of choices) {
      const m = await load(opts);
      expect(m.packedIntegerDot).toBe(packed);
      m.inputs.x.set(x);
      m.forward();
      expect(Array.from(await m.outputs.logits())).toEqual(expected);
    }
  }, 120_000);

  it("an f32 bundle has one form only", async () => {
    const gpu = await wgslDevice();
    const { load, script } = await written(build(graph, { backend: wgslBackend(), seed: 2 }), "f32");
    expect(script).not.toContain("dot4");
    expect((await load({ device: gpu.device, gpu: { wgslLanguageFeatures: new Set([PACKED_DOT_FEATURE]) } })).packedIntegerDot).toBe(false);
  }, 120_000);
});
