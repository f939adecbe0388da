// `--quantize codebook3..codebook8` on the command line (mlc build, ir, run, mem): the codebook4
// bundle of the MNIST MLP from trained-like weights (a weights file about 8x smaller than the f32
// build's, u8 indices and f32 tables, f32 biases; imported from a folder outside the repo, its
// outputs match `mlc run --quantize codebook4`, the interpreter, on the same inputs); the bundle
// refusing a weights file whose index or table tensor has the wrong dtype or shape, naming the
// tensor; --quantize-skip; the CNN (convolutions too); and the flags refused with it.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { decodeSafetensors, encodeSafetensors, type SafeTensor } from "../../runtime/safetensors.ts";

const tmp = mkdtempSync(join(tmpdir(), "mlc-codebook-cli-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const mlc = (...args: string[]) => spawnSync(process.execPath, ["bin/mlc.js", ...args], { env: { ...process.env, TMPDIR: tmp }, encoding: "utf8" });
const MODEL = ["examples/mnist-mlp/model.ts", "--set", "batch=8"];

function file(name: string, tensors: Record<string, SafeTensor>): string {
  const path = join(tmp, name);
  writeFileSync(path, encodeSafetensors(tensors));
  return path;
}
/** Weights shaped like trained ones (bell-shaped, a few large), deterministic. */
function weight(rows: number, cols: number, salt: number): Float32Array {
  return Float32Array.from({ length: rows * cols }, (_, i) => {
    const u = Math.sin(i * 12.9898 + salt * 78.233) * 43758.5453;
    const v = u - Math.floor(u);
    return Math.fround((v - 0.5) ** 3 * 2 / Math.sqrt(rows));
  });
}
const weights = file("trained.safetensors", {
  "fc256.w": { dtype: "F32", shape: [784, 256], data: weight(784, 256, 1) },
  "fc256.b": { dtype: "F32", shape: [256], data: Float32Array.from({ length: 256 }, (_, i) => Math.cos(i) * 0.05) },
  "fc128.w": { dtype: "F32", shape: [256, 128], data: weight(256, 128, 2) },
  "out.w": { dtype: "F32", shape: [128, 10], data: weight(128, 10, 3) },
});
const x = Float32Array.from({ length: 8 * 784 }, (_, i) => ((i * 7919) % 1009) / 1008);
const inputs = file("inputs.safetensors", { x: { dtype: "F32", shape: [8, 784], data: x } });

interface Bundle { inputs: Record<string, Float32Array>; outputs: Record<string, Float32Array>; forward(): void; loadWeights(bytes: Uint8Array): unknown }
const importBundle = async (dir: string) => (await import(pathToFileURL(join(dir, "mnistMlp.js")).href)) as { load(opts?: { weights?: Uint8Array }): Promise<Bundle> };

describe("mlc build --quantize codebook4", () => {
  const out = join(tmp, "cb4");
  const built = mlc("build", ...MODEL, "--quantize", "codebook4", "--weights", weights, "--out", out);
  const f32 = mlc("build", ...MODEL, "--weights", weights, "--out", join(tmp, "f32"));

  it("writes 4-bit indices and f32 tables, about 8x smaller than f32, and prints the report", () => {
    expect(built.stderr).toBe("");
    expect(built.status).toBe(0);
    expect(built.stdout).toMatch(/\ncodebook quantization \(4-bit indices, k-means per tensor\):\n  fc256\.w \[784,256\] 16 centroids -?[0-9.e-]+\.\.[0-9.e-]+, \d+ Lloyd iterations; weight rel\. RMS error [0-9.e-]+\n  fc128\.w \[256,128\] /);
    expect(built.stdout).toMatch(/\n  params 918\.5 KiB f32 -> 116\.4 KiB \(7\.89x smaller\)\n/);
    const t = decodeSafetensors(readFileSync(join(out, "mnistMlp.safetensors"))).tensors;
    expect(Object.keys(t).sort()).toEqual(["fc128.b", "fc128.w/codebook", "fc128.w/indices", "fc256.b", "fc256.w/codebook", "fc256.w/indices", "out.b", "out.w/codebook", "out.w/indices"]);
    expect([t["fc256.w/indices"].dtype, t["fc256.w/indices"].shape, t["fc256.w/codebook"].dtype, t["fc256.w/codebook"].shape]).toEqual(["U8", [784, 128], "F32", [16]]);
    expect(t["out.w/indices"].shape).toEqual([128, 5]);
    expect(t["fc256.b"].dtype).toBe("F32");
    expect(f32.status).toBe(0);
    const ratio = statSync(join(tmp, "f32", "mnistMlp.safetensors")).size / statSync(join(out, "mnistMlp.safetensors")).size;
    expect(ratio).toBeGreaterThan(7.5);
    expect(ratio).toBeLessThan(8.1);
  }, 120_000);

  it("imported from a folder outside the repo, computes what mlc run (the interpreter) does", async () => {
    const run = mlc("run", ...MODEL, "--quantize", "codebook4", "--weights", weights, "--inputs", inputs, "--out", join(tmp, "run.safetensors"));
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    const reference = decodeSafetensors(readFileSync(join(tmp, "run.safetensors"))).tensors.logits.data as Float32Array;
    const m = await (await importBundle(out)).load();
    m.inputs.x.set(x);
    m.forward();
    const got = m.outputs.logits;
    // The GEMM sums in another order than the interpreter: f32 rounding only (decoding is exact).
    const scale = Math.max(...Array.from(reference, Math.abs));
    for (let i = 0; i < reference.length; i++) expect(Math.abs(got[i] - reference[i])).toBeLessThanOrEqual(1e-5 * scale);
    // And it is not the f32 model's output (the weights really are the codebook's).
    const plain = await (await importBundle(join(tmp, "f32"))).load();
    plain.inputs.x.set(x);
    plain.forward();
    expect(Array.from(plain.outputs.logits)).not.toEqual(Array.from(got));
  }, 120_000);

  it("refuses a weights file whose index or table tensor has the wrong dtype or shape, naming the tensor", async () => {
    const bundle = await importBundle(out);
    const bad = (name: string, t: SafeTensor) => encodeSafetensors({ [name]: t });
    await expect(bundle.load({ weights: bad("fc256.w/indices", { dtype: "F32", shape: [784, 256], data: new Float32Array(784 * 256) }) }))
      .rejects.toThrow(/weights: 'fc256\.w\/indices' must be u8\[784,128\] \(safetensors U8\), got F32\[784,256\]/);
    await expect(bundle.load({ weights: bad("fc256.w/indices", { dtype: "U8", shape: [784, 256], data: new Uint8Array(784 * 256) }) }))
      .rejects.toThrow(/'fc256\.w\/indices' must be u8\[784,128\]/);
    await expect(bundle.load({ weights: bad("out.w/codebook", { dtype: "F32", shape: [8], data: new Float32Array(8) }) }))
      .rejects.toThrow(/weights: 'out\.w\/codebook' must be f32\[16\] \(safetensors F32\), got F32\[8\]/);
  }, 60_000);
});

describe("--quantize codebookN on mlc ir, mem, and other widths", () => {
  it("mlc ir shows codebookMatmul, keeps --quantize-skip params f32, and mem reports the same", () => {
    const ir = mlc("ir", ...MODEL, "--quantize", "codebook3", "--quantize-skip", "out.w", "--no-locations");
    expect(ir.status).toBe(0);
    expect(ir.stdout).toMatch(/%0:f32\[8,256\] = codebookMatmul %x, %fc256\.w\/indices, %fc256\.w\/codebook \{bits=3, n=256\}\n/);
    expect(ir.stdout).toMatch(/ = matmul %5, %out\.w \{transposeA=false, transposeB=false\}\n/);
    expect(ir.stderr).toMatch(/^codebook quantization \(3-bit indices, k-means per tensor\):\n.*8 centroids/);
    expect(ir.stderr).toMatch(/\n  kept f32: out\.w \(--quantize-skip\)\n/);
    const mem = mlc("mem", ...MODEL, "--quantize", "codebook6", "--json");
    expect(mem.status).toBe(0);
    const report = JSON.parse(mem.stdout) as { quantization: Array<{ bits: number; quantized: Array<{ weight: string; shape: number[] }> }> };
    expect(report.quantization[0].bits).toBe(6);
    expect(report.quantization[0].quantized.map((q) => q.weight)).toEqual(["fc256.w", "fc128.w", "out.w"]);
  }, 90_000);

  it("quantizes the CNN's convolutions and dense layer", () => {
    const r = mlc("ir", "examples/cnn/model.ts", "--set", "batch=2", "--quantize", "codebook4", "--no-locations");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/ = codebookMatmul /);
    expect(r.stdout).toMatch(/ = codebookConv2d %images, %conv1\.w\/indices, %conv1\.w\/codebook \{.*bits=4, kernel=\[3,3\], n=8\}/);
    expect(r.stdout).not.toMatch(/ = conv2d /);
    expect(r.stderr).toMatch(/\n  conv2\.w \[3,3,8,16\] 16 centroids /);
  }, 60_000);

  const refusals: [string, string[], string][] = [
    ["--calibrate", ["--calibrate", inputs], "error: --calibrate is for --quantize int8: --quantize codebook4 quantizes the weights alone and needs no calibration\n"],
    ["--train", ["--train"], "error: --quantize codebook4 is for inference bundles (k-means of trained weights): not with --train\n"],
    ["--precision f16", ["--precision", "f16"], "error: --quantize codebook4 and --precision f16|bf16 do not combine\n"],
    ["--observer", ["--observer", "mse"], "error: --observer is for --quantize int8: --quantize codebook4 quantizes the weights alone and needs no calibration\n"],
    ["--sparse", ["--sparse", "--weights", weights], "error: --sparse and --quantize codebook4 do not combine yet\n"],
  ];
  for (const [what, flags, message] of refusals) {
    it(`mlc build refuses ${what}, exit 1, writing nothing`, () => {
      const out = join(tmp, `refused-${what.replace(/\W+/g, "-")}`);
      const r = mlc("build", ...MODEL, "--quantize", "codebook4", ...flags, "--out", out);
      expect(r.stderr).toBe(message);
      expect(r.status).toBe(1);
      expect(existsSync(out)).toBe(false);
    }, 30_000);
  }
});
