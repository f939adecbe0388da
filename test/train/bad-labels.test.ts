// A label (an input read as indices) outside its range in the data: `mlc train` and `mlc eval`
// stop with one line naming the data file, the tensor, the sample and the value (the bundle
// would refuse the batch too, but cannot name the file), exit 1, and files saved before are left
// as they were; `mlc run --inputs` names the inputs file, the input and the position.

import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeSafetensors, encodeSafetensors } from "../../runtime/safetensors.ts";
import { npyBytes, syntheticImages, writeIdx } from "../support/train-data.ts";

const tmp = mkdtempSync(join(tmpdir(), "mlc-bad-labels-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const mlc = (...args: string[]) => spawnSync(process.execPath, ["bin/mlc.js", ...args], { env: { ...process.env, TMPDIR: tmp }, encoding: "utf8" });

const set = syntheticImages(64, 4);
const dataDir = join(tmp, "data");
mkdirSync(dataDir);
const good = writeIdx(dataDir, set, "good", false);
const images = good.split(",")[0].split("=")[1];

/** The set's labels as .npy with `value` at sample `at`; returns the --data mapping. */
function badLabels(value: number, at: number): { data: string; file: string } {
  const labels = Int32Array.from(set.labels);
  labels[at] = value;
  const file = join(dataDir, `labels-${value}-${at}.npy`);
  writeFileSync(file, npyBytes("<i4", [64], labels));
  return { data: `images=${images},labels=${file}`, file };
}
const message = (file: string, at: number, value: number) =>
  `error: ${file}: sample ${at} of 'labels' holds ${value}, outside [0, 10), the valid range of input 'labels' (class labels of softmaxCrossEntropy over 10 classes)\n`;

describe("mlc train with a label out of range", () => {
  const run = join(tmp, "run");
  beforeAll(() => {
    const r = mlc("train", "examples/cnn/model.ts", "--data", good, "--batch", "16", "--epochs", "1", "--out", run);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  }, 60_000);

  it("stops at the bad sample with the file, tensor, sample and value; saved files are untouched", () => {
    const saved = ["checkpoint.safetensors", "weights.safetensors"].map((f) => readFileSync(join(run, f)));
    const { data, file } = badLabels(10, 37);
    const r = mlc("train", "examples/cnn/model.ts", "--resume", run, "--data", data, "--epochs", "2");
    expect(r.stderr).toBe(message(file, 37, 10));
    expect(r.status).toBe(1);
    ["checkpoint.safetensors", "weights.safetensors"].forEach((f, k) => expect(readFileSync(join(run, f)).equals(saved[k]), f).toBe(true));
  }, 60_000);

  it("a fresh run stops the same way (-1), before saving anything", () => {
    const { data, file } = badLabels(-1, 5);
    const out = join(tmp, "fresh");
    const r = mlc("train", "examples/cnn/model.ts", "--data", data, "--batch", "16", "--out", out);
    expect(r.stderr).toBe(message(file, 5, -1));
    expect(r.status).toBe(1);
    expect(existsSync(join(out, "checkpoint.safetensors"))).toBe(false);
  }, 60_000);

  it("--resume refuses a checkpoint holding NaN, naming it, the tensor and the element", () => {
    const path = join(run, "checkpoint.safetensors");
    const original = readFileSync(path);
    const { tensors, metadata } = decodeSafetensors(original);
    const data = Float32Array.from(tensors["fc.b"].data as Float32Array);
    data[3] = NaN;
    writeFileSync(path, encodeSafetensors({ ...tensors, "fc.b": { ...tensors["fc.b"], data } }, metadata));
    try {
      const r = mlc("train", "examples/cnn/model.ts", "--resume", run, "--epochs", "2");
      expect(r.stderr).toBe(`error: ${path}: weights: 'fc.b' holds NaN at element 3 (index [3] of f32[10]); non-finite weights are rejected unless loaded with { allowNonFinite: true }\n`);
      expect(r.status).toBe(1);
    } finally {
      writeFileSync(path, original);
    }
  }, 60_000);

  it("mlc eval names the bad sample of its data (2^31-1)", () => {
    const { data, file } = badLabels(2 ** 31 - 1, 63);
    const r = mlc("eval", "examples/cnn/model.ts", "--weights", join(run, "weights.safetensors"), "--data", data, "--batch", "16");
    expect(r.stderr).toBe(message(file, 63, 2 ** 31 - 1));
    expect(r.status).toBe(1);
  }, 60_000);
});

describe("mlc run with a label out of range", () => {
  it("names the inputs file, the input, the position and the range", () => {
    const file = join(tmp, "inputs.safetensors");
    const y = new Int32Array(64).fill(1);
    y[7] = 2 ** 31 - 1;
    writeFileSync(file, encodeSafetensors({ x: { dtype: "F32", shape: [64, 784], data: new Float32Array(64 * 784) }, y: { dtype: "I32", shape: [64], data: y } }));
    for (const extra of [[], ["--train"]]) {
      const r = mlc("run", "examples/mnist-mlp/model.ts", "--inputs", file, ...extra);
      expect(r.stderr).toBe(`error: ${file}: input 'y' holds 2147483647 at element 7 (index [7] of i32[64]), outside its valid range [0, 10) (class labels of softmaxCrossEntropy over 10 classes)\n`);
      expect(r.status).toBe(1);
    }
  }, 60_000);
});
