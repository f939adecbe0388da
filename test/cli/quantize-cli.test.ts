// `--quantize int8 --calibrate FILE` on the command line (mlc build, ir, run, mem): the report,
// the i8 weights file, --weights and --quantize-skip, --observer; and the calibration files and
// flag combinations refused with one line naming the tensor, the file and the expected shape,
// exit 1.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { decodeSafetensors, encodeSafetensors, type SafeTensor } from "../../runtime/safetensors.ts";

const tmp = mkdtempSync(join(tmpdir(), "mlc-quantize-cli-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const mlc = (...args: string[]) => spawnSync(process.execPath, ["bin/mlc.js", ...args], { env: { ...process.env, TMPDIR: tmp }, encoding: "utf8" });
const MODEL = ["examples/mnist-mlp/model.ts", "--set", "batch=8"];

function file(name: string, tensors: Record<string, SafeTensor>): string {
  const path = join(tmp, name);
  writeFileSync(path, encodeSafetensors(tensors));
  return path;
}
const pixels = (n: number) => Float32Array.from({ length: n * 784 }, (_, i) => ((i * 7919) % 1009) / 1008);
const calib = file("calib.safetensors", { x: { dtype: "F32", shape: [20, 784], data: pixels(20) }, y: { dtype: "I32", shape: [20], data: new Int32Array(20) } });

describe("mlc build --quantize int8", () => {
  it("writes i8 weights from --weights, prints the report, and keeps --quantize-skip params f32", () => {
    // A "trained" out layer: the build takes it from the file.
    const outW = Float32Array.from({ length: 1280 }, (_, i) => Math.sin(i) * 0.3);
    const weights = file("trained.safetensors", { "out.w": { dtype: "F32", shape: [128, 10], data: outW } });
    const out = join(tmp, "b1");
    const r = mlc("build", ...MODEL, "--quantize", "int8", "--calibrate", calib, "--weights", weights, "--quantize-skip", "fc128.w", "--out", out);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/int8 quantization \(observer minmax, 20 calibration samples\):\n  fc256\.w \(\+ fc256\.b\) \[784,256\] i8 per column, scale /);
    expect(r.stdout).toMatch(/\n  out\.w \(\+ out\.b\) \[128,10\] i8 per column, scale 0\.00236\.\.0\.00236; input u8 scale [0-9.]+ zero point 0 \(range 0\.\.[0-9.]+\); alone: rel\. RMS error [0-9.e-]+, max abs [0-9.e-]+, argmax agreement [0-9.]+%\n/);
    expect(r.stdout).toMatch(/\n  kept f32: fc128\.w \(--quantize-skip\)\n  all quantized: rel\. RMS error/);
    // fc256 was quantized from its seeded init (not in the file); the kept fc128 layer too.
    expect(r.stdout).toMatch(/\nnote: [^\n]*trained\.safetensors: 2 params not in the file keep the seeded initial values: fc128\.w, fc128\.b\n/);
    const t = decodeSafetensors(readFileSync(join(out, "mnistMlp.safetensors"))).tensors;
    expect(Object.keys(t).sort()).toEqual(["fc128.b", "fc128.w", "fc256.w/bias", "fc256.w/q", "fc256.w/scale", "out.w/bias", "out.w/q", "out.w/scale"]);
    expect([t["fc256.w/q"].dtype, t["fc256.w/scale"].dtype, t["fc256.w/bias"].dtype, t["fc128.w"].dtype]).toEqual(["I8", "F32", "I32", "F32"]);
    // sin(i) * 0.3 over 128 rows: every column's absolute maximum is close to 0.3, so is 127 * scale.
    const q = t["out.w/q"].data as Int8Array;
    const scale = t["out.w/scale"].data as Float32Array;
    expect(Math.max(...Array.from(q, Math.abs))).toBe(127);
    expect(scale.length).toBe(10);
  }, 60_000);

  it("--observer percentile and mse choose narrower ranges than minmax for a long-tailed input", () => {
    // One outlier among 15680 values: under the 0.01% percentile cuts off.
    const x = pixels(20).map((v, i) => (i === 5000 ? 40 : v));
    const tailed = file("tailed.safetensors", { x: { dtype: "F32", shape: [20, 784], data: x } });
    const range = (observer: string) => {
      const r = mlc("ir", ...MODEL, "--quantize", "int8", "--calibrate", tailed, "--observer", observer);
      expect(r.status).toBe(0);
      return Number(/fc256\.w .*\(range 0\.\.([0-9.]+)\)/.exec(r.stderr)![1]);
    };
    expect(range("minmax")).toBe(40);
    expect(range("percentile")).toBeLessThan(40);
    expect(range("mse")).toBeLessThan(40);
  }, 60_000);

  it("mlc ir, run and mem take the same flags", () => {
    const ir = mlc("ir", ...MODEL, "--quantize", "int8", "--calibrate", calib, "--no-locations");
    expect(ir.status).toBe(0);
    expect(ir.stdout).toMatch(/%fc256\.w\/acc:i32\[8,256\] = matmulInteger %fc256\.w\/xq, %fc256\.w\/q\n/);
    expect(ir.stdout).not.toMatch(/ = matmul /);
    const run = mlc("run", ...MODEL, "--quantize", "int8", "--calibrate", calib, "--random-inputs");
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/all quantized: .*\n.*\nlogits: f32\[8,10\] min=/);
    const mem = mlc("mem", ...MODEL, "--quantize", "int8", "--calibrate", calib, "--json");
    expect(mem.status).toBe(0);
    const report = JSON.parse(mem.stdout) as { quantization: Array<{ quantized: Array<{ weight: string }> }> };
    expect(report.quantization[0].quantized.map((q) => q.weight)).toEqual(["fc256.w", "fc128.w", "out.w"]);
  }, 90_000);
});

describe("models with convolutions", () => {
  it("the CNN's convolutions and dense layer are all quantized, the convolutions per output channel", () => {
    const images = file("images.safetensors", { images: { dtype: "F32", shape: [6, 28, 28, 1], data: pixels(6) } });
    const r = mlc("ir", "examples/cnn/model.ts", "--set", "batch=4", "--quantize", "int8", "--calibrate", images);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/\n  fc\.w \(\+ fc\.b\) \[784,10\] i8 per column/);
    expect(r.stderr).toMatch(/\n  conv1\.w \(\+ conv1\.b\) \[3,3,1,8\] i8 per output channel, scale [0-9.e-]+\.\.[0-9.e-]+; input u8 scale [0-9.e-]+ zero point 0 /);
    expect(r.stderr).toMatch(/\n  conv2\.w \(\+ conv2\.b\) \[3,3,8,16\] i8 per output channel/);
    expect(r.stderr).not.toMatch(/kept f32/);
    expect(r.stdout).not.toMatch(/ = conv2d /);
    expect(r.stdout).toMatch(/ = convInteger /);
    expect(r.stdout).toMatch(/ = matmulInteger /);
  }, 60_000);
});

describe("refused calibration files and flags", () => {
  const cases: Array<[string, string[], string]> = [
    ["a wrong name", ["--calibrate", file("name.safetensors", { x: { dtype: "F32", shape: [4, 784], data: pixels(4) }, pixels: { dtype: "F32", shape: [1], data: new Float32Array(1) } })],
      "error: {tmp}/name.safetensors: 'pixels' is not an input of this model (calibration tensors are the model's inputs: x)\n"],
    ["a missing input", ["--calibrate", file("missing.safetensors", { y: { dtype: "I32", shape: [4], data: new Int32Array(4) } })],
      "error: {tmp}/missing.safetensors: missing calibration input 'x' must be F32[S,784] (any number S of samples, then the input f32[8,784] after its batch axis)\n"],
    ["a wrong shape", ["--calibrate", file("shape.safetensors", { x: { dtype: "F32", shape: [4, 28, 28], data: pixels(4) } })],
      "error: {tmp}/shape.safetensors: calibration input 'x' must be F32[S,784] (any number S of samples, then the input f32[8,784] after its batch axis), got F32[4,28,28]\n"],
    ["a wrong dtype", ["--calibrate", file("dtype.safetensors", { x: { dtype: "I32", shape: [2, 784], data: new Int32Array(2 * 784) } })],
      "error: {tmp}/dtype.safetensors: calibration input 'x' must be F32[S,784] (any number S of samples, then the input f32[8,784] after its batch axis), got I32[2,784]\n"],
    ["no --calibrate", [], "error: --quantize int8 needs --calibrate FILE.safetensors (the model's inputs, any number of samples in the leading axis)\n"],
    ["an unknown --quantize-skip", ["--calibrate", calib, "--quantize-skip", "fc.w"], "error: --quantize-skip: 'fc.w' is not a param of this model (params: fc256.w, fc256.b, fc128.w, fc128.b, out.w, out.b)\n"],
    ["--train with --calibrate", ["--calibrate", calib, "--train"], "error: --calibrate is for post-training quantization: with --train, --quantize int8 observes the activation ranges while training\n"],
  ];
  for (const [what, flags, message] of cases) {
    it(`mlc build refuses ${what}, exit 1, writing nothing`, () => {
      const out = join(tmp, `refused-${what.replace(/\W+/g, "-")}`);
      const r = mlc("build", ...MODEL, "--quantize", "int8", ...flags, "--out", out);
      expect(r.stderr).toBe(message.replace("{tmp}", tmp));
      expect(r.status).toBe(1);
      expect(existsSync(out)).toBe(false);
    }, 30_000);
  }

  it("flags of --quantize need it", () => {
    const r = mlc("build", ...MODEL, "--calibrate", calib, "--out", join(tmp, "nq"));
    expect(r.stderr).toBe("error: --calibrate needs --quantize int8\n");
    expect(r.status).toBe(1);
  }, 30_000);
});
