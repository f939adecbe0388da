// `mlc train` on data with one NaN pixel: the bundle's non-finite guard skips the step holding
// that sample (once per epoch), the run says so, counts it in its epoch lines, summary and JSON,
// keeps going and ends with finite weights; the count is state saved in the checkpoint. Built with
// --no-nonfinite-guard, the old behaviour: the NaN loss ends the run ("training diverged").
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeSafetensors, encodeSafetensors } from "../../runtime/safetensors.ts";
import { syntheticImages } from "../support/train-data.ts";

const tmp = mkdtempSync(join(tmpdir(), "mlc-train-nonfinite-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function mlc(...args: string[]) {
  const r = spawnSync(process.execPath, ["bin/mlc.js", ...args], { encoding: "utf8", env: { ...process.env, TMPDIR: tmp } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

let data = "";
beforeAll(() => {
  const set = syntheticImages(96, 5);
  const images = Float32Array.from(set.images, (v) => v / 255);
  images[40 * 784 + 300] = NaN; // one pixel of sample 40
  data = join(tmp, "poisoned.safetensors");
  writeFileSync(data, encodeSafetensors({
    images: { dtype: "F32", shape: [set.n, 28, 28, 1], data: images },
    labels: { dtype: "I32", shape: [set.n], data: Int32Array.from(set.labels) },
  }));
});

describe("mlc train with a NaN sample", () => {
  it("skips the step holding it in each epoch, reports and counts it, and trains on to finite weights", () => {
    const out = join(tmp, "run");
    const r = mlc("train", "examples/cnn/model.ts", "--data", data, "--batch", "16", "--epochs", "2", "--out", out, "--json");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^step \d+ \(epoch 1\): the loss or a gradient is NaN; the update was skipped/m);
    expect(r.stdout).toMatch(/^epoch 1\/2: train loss \d+\.\d+, step 6, 1 step skipped \(NaN\/Inf\), /m);
    expect(r.stdout).toMatch(/^epoch 2\/2: train loss \d+\.\d+, step 12, 2 steps skipped \(NaN\/Inf\), /m);
    expect(r.stdout).toMatch(/^skipped 2 steps whose loss or gradients were NaN\/Inf \(2 in this run\)/m);
    const result = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
    expect(result.step).toBe(12);
    expect(result.skippedSteps).toBe(2);
    expect(Number.isFinite(result.trainLoss)).toBe(true);
    const checkpoint = decodeSafetensors(readFileSync(join(out, "checkpoint.safetensors")));
    expect(Array.from(checkpoint.tensors["opt/skipped_steps"].data as Float32Array)).toEqual([2]);
    for (const [name, t] of Object.entries(checkpoint.tensors)) expect((t.data as Float32Array).every(Number.isFinite), name).toBe(true);
    // A forward bundle's weights leave the count out (it is training state, opt/*).
    const weights = decodeSafetensors(readFileSync(join(out, "weights.safetensors")));
    expect(Object.keys(weights.tensors)).not.toContain("opt/skipped_steps");
  }, 120_000);

  it("--no-nonfinite-guard: the NaN loss ends the run as diverged (exit 1), and --resume keeps the setting", () => {
    const out = join(tmp, "unguarded");
    const r = mlc("train", "examples/cnn/model.ts", "--data", data, "--batch", "16", "--epochs", "1", "--no-nonfinite-guard", "--out", out);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/training diverged: the loss is NaN at step \d+/);
    expect(JSON.parse(readFileSync(join(out, "config.json"), "utf8")).nonfiniteGuard).toBe(false);
    const resumed = mlc("train", "examples/cnn/model.ts", "--resume", out, "--nonfinite-guard");
    expect(resumed.code).toBe(1);
    expect(resumed.stderr).toContain("--nonfinite-guard true (the run has false)");
  }, 120_000);
});
