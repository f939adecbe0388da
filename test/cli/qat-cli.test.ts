// Quantization-aware training from the command line: --quantize int8 with --train
// (compiler/cli/training.ts, quantize-options.ts) gives the training program qat.ts's fakeQuant
// nodes and observer state, which the bundle's weights file carries; the PTQ-only flags and the
// combinations not supported yet are one line, exit 1. Without --train and --calibrate, --quantize
// int8 --weights FILE takes the activation ranges from the file's qat/* state.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { decodeSafetensors, encodeSafetensors, type SafeTensor } from "../../runtime/safetensors.ts";

const tmp = mkdtempSync(join(tmpdir(), "mlc-qat-cli-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const mlc = (...args: string[]) => spawnSync(process.execPath, ["bin/mlc.js", ...args], { env: { ...process.env, TMPDIR: tmp }, encoding: "utf8" });
const MODEL = "test/fixtures/small-mlp/model.ts";

describe("--train --quantize int8", () => {
  it("mlc ir: fakeQuant on both layers' weights and inputs, the observers as state", () => {
    const r = mlc("ir", MODEL, "--train", "--quantize", "int8", "--quantize-skip", "l2.w");
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/state %qat\/l1\.w\/min: f32\[\]/);
    expect(r.stdout).toMatch(/state %qat\/step: i32\[\]/);
    expect(r.stdout).not.toMatch(/%qat\/l2\.w\/min/);
    expect(r.stdout).toMatch(/%qat\/l1\.w\/w_fq:f32\[6,8\] = fakeQuant %l1\.w, [^\n]*\{axis=1, qmin=-127, qmax=127\}/);
    expect(r.stdout).toMatch(/%qat\/l1\.w\/x_fq:f32\[4,6\] = fakeQuant %x, [^\n]*\{axis=null, qmin=0, qmax=255\}/);
  });

  it("mlc build: the weights file holds the observers' ranges and step", () => {
    const out = join(tmp, "b");
    const r = mlc("build", MODEL, "--train", "--quantize", "int8", "--out", out);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const t = decodeSafetensors(readFileSync(join(out, "smallMlp.safetensors"))).tensors;
    for (const name of ["qat/l1.w/min", "qat/l1.w/max", "qat/l2.w/min", "qat/l2.w/max"]) expect(t[name]?.dtype, name).toBe("F32");
    expect(t["qat/step"]?.dtype).toBe("I32");
  }, 60_000);

  it.each([
    [["--calibrate", "c.safetensors"], /--calibrate is for post-training quantization: with --train, --quantize int8 observes the activation ranges while training/],
    [["--mixed", "bf16"], /--quantize int8 \(quantization-aware training\) does not combine with --mixed yet/],
    [["--accumulate", "2"], /does not combine with --accumulate yet/],
    [["--quantize-skip", "nope.w"], /--quantize-skip: 'nope\.w' is not a param of this model/],
  ])("%j is one line, exit 1", (flags, message) => {
    const r = mlc("ir", MODEL, "--train", "--quantize", "int8", ...(flags as string[]));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(message as RegExp);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  });
});

describe("--quantize int8 --weights from QAT, without --calibrate", () => {
  const f32 = (v: number): SafeTensor => ({ dtype: "F32", shape: [], data: Float32Array.from([v]) });
  const file = (name: string, tensors: Record<string, SafeTensor>) => {
    const path = join(tmp, name);
    writeFileSync(path, encodeSafetensors(tensors));
    return path;
  };
  const ranges = { "qat/l1.w/min": f32(-0.9), "qat/l1.w/max": f32(0.8), "qat/l2.w/min": f32(0), "qat/l2.w/max": f32(1.5), "qat/step": { dtype: "I32", shape: [], data: Int32Array.from([10]) } } as Record<string, SafeTensor>;

  it("builds the int8 bundle with the trained ranges, calibrating nothing", () => {
    const out = join(tmp, "int8");
    const r = mlc("build", MODEL, "--quantize", "int8", "--weights", file("qat.safetensors", ranges), "--out", out);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/int8 quantization \(activation ranges from quantization-aware training\):\n  l1\.w \(\+ l1\.b\) \[6,8\] i8 per column, scale [0-9.]+\.\.[0-9.]+; input u8 scale 0\.00667 zero point 135 \(range -0\.9\.\.0\.8\)\n/);
    expect(r.stdout).toMatch(/\n  l2\.w \(\+ l2\.b\) \[8,3\] [^\n]*input u8 scale 0\.00588 zero point 0 \(range 0\.\.1\.5\)\n/);
    const t = decodeSafetensors(readFileSync(join(out, "smallMlp.safetensors"))).tensors;
    expect(Object.keys(t).sort()).toEqual(["l1.w/bias", "l1.w/q", "l1.w/scale", "l2.w/bias", "l2.w/q", "l2.w/scale"]);
  }, 60_000);

  it("mlc run interprets that int8 program from the same file (its qat/* consumed, not refused as unknown params)", () => {
    const r = mlc("run", MODEL, "--quantize", "int8", "--weights", file("qat-run.safetensors", ranges), "--random-inputs");
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/activation ranges from quantization-aware training/);
    expect(r.stdout).toMatch(/\nout: f32\[4,3\] [^\n]* finite/);
  }, 30_000);

  it.each([
    ["a file without the ranges", ["--weights", "plain"], /--quantize int8 needs --calibrate FILE\.safetensors, or --weights from quantization-aware training \(--train --quantize int8\): [^\n]*plain\.safetensors has no qat\/l1\.w\/min and qat\/l1\.w\/max/],
    ["--observer", ["--weights", "qat", "--observer", "mse"], /--observer needs --calibrate: without it the ranges are quantization-aware training's/],
  ])("%s is one line, exit 1, writing nothing", (_what, flags, message) => {
    const paths: Record<string, string> = { plain: file("plain.safetensors", { "l2.b": { dtype: "F32", shape: [3], data: new Float32Array(3) } }), qat: file("qat2.safetensors", ranges) };
    const out = join(tmp, `refused-${_what.replace(/\W+/g, "-")}`);
    const r = mlc("build", MODEL, "--quantize", "int8", ...(flags as string[]).map((f) => paths[f] ?? f), "--out", out);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(message as RegExp);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(existsSync(out)).toBe(false);
  }, 30_000);
});
