// Quantization-aware training from the command line: --quantize int8 with --train
// (compiler/cli/training.ts, quantize-options.ts) gives the training program qat.ts's fakeQuant
// nodes and observer state, which the bundle's weights file carries; the PTQ-only flags and the
// combinations not supported yet are one line, exit 1.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { decodeSafetensors } from "../../runtime/safetensors.ts";

const tmp = mkdtempSync(join(tmpdir(), "mlc-qat-cli-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const mlc = (...args: string[]) => spawnSync(process.execPath, ["bin/mlc.js", ...args], { env: { ...process.env, TMPDIR: tmp }, encoding: "utf8" });
const MODEL = "test/fixtures/qat/model.ts";

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
    const t = decodeSafetensors(readFileSync(join(out, "qatMlp.safetensors"))).tensors;
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
