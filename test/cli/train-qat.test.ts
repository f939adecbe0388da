// `mlc train --quantize int8` (compiler/cli/commands/train.ts → mlc build --train --quantize int8):
// the checkpoint holds the observers' ranges and step, the flags are part of the run's settings,
// and `mlc build --quantize int8 --weights RUN/checkpoint.safetensors` builds the int8 bundle
// from the trained weights and those ranges without --calibrate: QAT end to end from the CLI.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { decodeSafetensors } from "../../runtime/safetensors.ts";
import { writeSmallMlpData } from "../support/train-data.ts";

const tmp = mkdtempSync(join(tmpdir(), "mlc-train-qat-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const mlc = (...args: string[]) => spawnSync(process.execPath, ["bin/mlc.js", ...args], { encoding: "utf8" });
const MODEL = "test/fixtures/small-mlp/model.ts";

describe("mlc train --quantize int8", () => {
  const file = writeSmallMlpData(tmp);
  const run = join(tmp, "run");

  it("trains with the observers in the checkpoint, and the int8 build takes their ranges", () => {
    const r = mlc("train", MODEL, "--data", file, "--steps", "10", "--quantize", "int8", "--out", run);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const checkpoint = decodeSafetensors(readFileSync(join(run, "checkpoint.safetensors"))).tensors;
    expect(Array.from(checkpoint["qat/step"].data as Int32Array)).toEqual([10]);
    // x = sin(i) fills [-1, 1]: the first layer's observed range is close to it.
    const lo = (checkpoint["qat/l1.w/min"].data as Float32Array)[0];
    const hi = (checkpoint["qat/l1.w/max"].data as Float32Array)[0];
    expect(lo).toBeLessThan(-0.9);
    expect(hi).toBeGreaterThan(0.9);
    expect(JSON.parse(readFileSync(join(run, "config.json"), "utf8")).qat).toEqual({ quantize: "int8" });

    const out = join(tmp, "int8");
    const b = mlc("build", MODEL, "--quantize", "int8", "--weights", join(run, "checkpoint.safetensors"), "--out", out);
    expect(b.stderr).toBe("");
    expect(b.status).toBe(0);
    const range = (v: number) => String(Number(v.toPrecision(3)));
    expect(b.stdout).toContain(`int8 quantization (activation ranges from quantization-aware training):\n  l1.w (+ l1.b) [6,8] i8 per column`);
    expect(b.stdout).toContain(`(range ${range(lo)}..${range(hi)})`);
    const weights = decodeSafetensors(readFileSync(join(out, "smallMlp.safetensors"))).tensors;
    expect(weights["l1.w/q"].dtype).toBe("I8");
  }, 120_000);

  it("keeps the flag on --resume and refuses another value", () => {
    const r = mlc("train", MODEL, "--resume", run, "--quantize-skip", "l2.w");
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/a resumed run keeps its settings .*--quantize-skip "l2\.w"/);
  }, 60_000);
});
