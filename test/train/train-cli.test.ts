// `mlc train` and `mlc eval` through the command line, on a small synthetic image set (gzip IDX
// files, as Debian ships Fashion-MNIST): the run directory's files, evaluation with a padded last
// batch, plain progress lines when stdout is a pipe, the learning-rate schedule written into the
// step's `opt/lr` state, and `mlc eval` on the saved weights and on the checkpoint.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeSafetensors } from "../../runtime/safetensors.ts";
import { learningRate } from "../../compiler/cli/train/schedule.ts";
import { syntheticImages, writeIdx } from "../support/train-data.ts";

const tmp = mkdtempSync(join(tmpdir(), "mlc-train-cli-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function mlc(...args: string[]) {
  const r = spawnSync(process.execPath, ["bin/mlc.js", ...args], { encoding: "utf8", env: { ...process.env, TMPDIR: tmp } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

let trainData = "";
let evalData = "";
beforeAll(() => {
  mkdirSync(join(tmp, "data"));
  trainData = writeIdx(join(tmp, "data"), syntheticImages(480, 1), "train", true);
  evalData = writeIdx(join(tmp, "data"), syntheticImages(100, 2), "t10k", true);
});

describe("mlc train", () => {
  const run = () => join(tmp, "run");
  let result: { step: number; epochs: number; batch: number; eval: { samples: number; loss: number; accuracy: number; predictions: number }; arena: { arena: number; params: number }; peakRssBytes: number };
  let stdout = "";

  it("trains the CNN for two epochs, evaluating after each, and reports the arena", () => {
    const r = mlc("train", "examples/cnn/model.ts", "--data", trainData, "--eval", evalData, "--batch", "16", "--epochs", "2", "--lr-schedule", "cosine", "--seed", "3", "--out", run(), "--json");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    stdout = r.stdout;
    result = JSON.parse(stdout.trim().split("\n").at(-1)!);
    expect(result.step).toBe(60); // 480 / 16 = 30 steps per epoch
    expect(result.epochs).toBe(2);
    expect(result.batch).toBe(16);
    // 100 eval samples: six full batches and one of 4 real rows, padded and masked.
    expect(result.eval.samples).toBe(100);
    expect(result.eval.predictions).toBe(100);
    expect(result.eval.accuracy).toBeGreaterThan(0.8);
    expect(result.arena.arena).toBeGreaterThan(result.arena.params);
    expect(stdout).toMatch(/^epoch 1\/2: train loss \d+\.\d+, step 30, [\d,]+ samples\/s$/m);
    expect(stdout.match(/^ {2}eval: loss \d+\.\d+, accuracy \d+\.\d+% \(\d+\/100\), 100 samples$/gm)).toHaveLength(2);
    expect(stdout).toMatch(/^arena [\d.]+ KiB: params [\d.]+ KiB, optimizer state [\d.]+ KiB, /m);
    expect(stdout).not.toContain("\r"); // stdout is a pipe: plain lines, no redrawn bar
  }, 60_000);

  it("leaves config, checkpoint (params, optimizer state, position) and params-only weights in RUN/", () => {
    const config = JSON.parse(readFileSync(join(run(), "config.json"), "utf8"));
    expect(config).toMatchObject({ version: 1, seed: 3, set: { batch: "16" }, schedule: { kind: "cosine", lr: 0.05 }, stop: { epochs: 2 }, samples: 480 });
    const checkpoint = decodeSafetensors(readFileSync(join(run(), "checkpoint.safetensors")));
    expect(JSON.parse(checkpoint.metadata["mlc.train"])).toMatchObject({ step: 60, epoch: 2, update: 0, samples: 960 });
    expect(Object.keys(checkpoint.tensors)).toContain("opt/fc.w/momentum");
    // The cosine schedule's last rate (step 59 of 60) is what the last step read.
    const lr = (checkpoint.tensors["opt/lr"].data as Float32Array)[0];
    expect(lr).toBe(Math.fround(learningRate({ kind: "cosine", lr: 0.05 }, 59, 60)));
    const weights = decodeSafetensors(readFileSync(join(run(), "weights.safetensors")));
    expect(Object.keys(weights.tensors).sort()).toEqual(["conv1.b", "conv1.w", "conv2.b", "conv2.w", "fc.b", "fc.w"]);
    expect(weights.tensors["fc.w"].data).toEqual(checkpoint.tensors["fc.w"].data);
    expect(existsSync(join(run(), "bundle", "cnn.wasm"))).toBe(true);
  });

  it("mlc eval gives the run's final evaluation from the weights, and from the checkpoint", () => {
    const fromWeights = mlc("eval", "examples/cnn/model.ts", "--weights", join(run(), "weights.safetensors"), "--data", evalData, "--batch", "16", "--json");
    expect(fromWeights.stderr).toBe("");
    expect(fromWeights.code).toBe(0);
    const w = JSON.parse(fromWeights.stdout);
    expect(w.samples).toBe(100);
    expect(w.accuracy).toBe(result.eval.accuracy);
    expect(w.loss).toBeCloseTo(result.eval.loss, 6);
    // Any batch size: the weights do not depend on it; the last batch is padded (100 = 3 x 32 + 4).
    const fromCheckpoint = mlc("eval", "examples/cnn/model.ts", "--weights", join(run(), "checkpoint.safetensors"), "--data", evalData, "--batch", "32");
    expect(fromCheckpoint.code).toBe(0);
    expect(fromCheckpoint.stdout).toMatch(/^note: .*checkpoint\.safetensors: ignored 8 training-state tensors \(opt\/lr, opt\/conv1\.w\/momentum, \.\.\.\) that this bundle does not have$/m);
    expect(fromCheckpoint.stdout).toContain(`accuracy ${(100 * result.eval.accuracy).toFixed(2)}% (${Math.round(result.eval.accuracy * 100)}/100), 100 samples`);
  }, 60_000);

  it("refuses to overwrite a run, and --resume of a finished run with more epochs continues it", () => {
    const again = mlc("train", "examples/cnn/model.ts", "--data", trainData, "--out", run());
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(`error: ${run()} already holds a run (config.json): continue it with --resume ${run()}, or choose another --out\n`);
    const changed = mlc("train", "examples/cnn/model.ts", "--resume", run(), "--lr", "0.1");
    expect(changed.code).toBe(1);
    expect(changed.stderr).toMatch(/^error: a resumed run keeps its settings \(.*config\.json\): --lr 0\.1 \(the run has 0\.05\)\n$/);
    const more = mlc("train", "examples/cnn/model.ts", "--resume", run(), "--epochs", "3", "--json");
    expect(more.stderr).toBe("");
    expect(more.code).toBe(0);
    expect(more.stdout).toMatch(/^resuming .* at step 60 \(epoch 3, step 0 of 30\)/);
    expect(JSON.parse(more.stdout.trim().split("\n").at(-1)!).step).toBe(90);
  }, 60_000);

  it("reuses the run's bundle on resume when this mlc built it, and rebuilds it (saying so) when another did", () => {
    const buildJson = join(run(), "bundle", "build.json");
    const recorded = JSON.parse(readFileSync(buildJson, "utf8")) as { key: string; compiler: string };
    expect(recorded.compiler).toMatch(/^mlc \d+\.\d+\.\d+ \((build [0-9a-f]{12}|from source)\)$/);
    const wasm = join(run(), "bundle", "cnn.wasm");
    const before = statSync(wasm).mtimeMs;
    const same = mlc("train", "examples/cnn/model.ts", "--resume", run(), "--epochs", "4");
    expect(same.code).toBe(0);
    expect(same.stdout).not.toMatch(/note: .*was built by/);
    expect(statSync(wasm).mtimeMs).toBe(before);
    writeFileSync(buildJson, JSON.stringify({ key: recorded.key, compiler: "mlc 0.0.1 (build 000000000000)" }) + "\n");
    const other = mlc("train", "examples/cnn/model.ts", "--resume", run(), "--epochs", "5");
    expect(other.code).toBe(0);
    expect(other.stdout).toContain(`note: ${join(run(), "bundle")} was built by mlc 0.0.1 (build 000000000000); rebuilt by ${recorded.compiler} (the run goes on`);
    expect(JSON.parse(readFileSync(buildJson, "utf8"))).toEqual(recorded);
  }, 60_000);
});
