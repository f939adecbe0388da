// Deploying what `mlc train` saved: `mlc build --set batch=1 --weights RUN/checkpoint.safetensors`
// writes a forward bundle that classifies one image without labels (the loss output and the label
// input are dropped from an inference bundle; the checkpoint's optimizer state is skipped with a
// note), giving the logits the training bundle gives that image in a batch; the bundle's own
// loadWeights() takes the checkpoint too. Wrong tensors are one-line errors and write nothing.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeSafetensors } from "../../runtime/safetensors.ts";
import { syntheticImages, writeIdx } from "../support/train-data.ts";

const tmp = mkdtempSync(join(tmpdir(), "mlc-infer-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const env = { ...process.env, TMPDIR: tmp };
const mlc = (...args: string[]) => spawnSync(process.execPath, ["bin/mlc.js", ...args], { env, encoding: "utf8" });

const run = join(tmp, "run");
const one = join(tmp, "one");
const images = syntheticImages(20, 9);

beforeAll(() => {
  mkdirSync(join(tmp, "data"));
  const data = writeIdx(join(tmp, "data"), syntheticImages(400, 8), "train", true);
  const r = mlc("train", "examples/cnn/model.ts", "--data", data, "--batch", "20", "--epochs", "2", "--out", run);
  expect(r.stderr).toBe("");
  expect(r.status).toBe(0);
}, 60_000);

// Runs in a bundle's folder with plain node: the image (or a batch holding it in row 0) through forward().
const DRIVER = `
import { readFileSync } from "node:fs";
const [script, batch, checkpoint] = process.argv.slice(2);
const { load } = await import("./" + script);
const m = await load();
const pixels = new Float32Array(JSON.parse(readFileSync("image.json", "utf8")));
const x = m.inputs.images;
x.fill(0);
x.set(pixels);
if (checkpoint) m.loadWeights(readFileSync(checkpoint));
m.forward();
const logits = [...m.outputs.logits.subarray(0, 10)];
let trains = "yes";
try { m.trainStep(); } catch (e) { trains = e.message; }
console.log(JSON.stringify({ inputs: Object.keys(m.inputs), outputs: Object.keys(m.outputs), logits, trains, batch: x.length / 784 }));
`;

function forwardIn(dir: string, script: string, checkpoint?: string) {
  writeFileSync(join(dir, "driver.mjs"), DRIVER);
  writeFileSync(join(dir, "image.json"), JSON.stringify(Array.from(images.images.subarray(0, 784), (v) => v / 255)));
  const r = spawnSync(process.execPath, ["driver.mjs", script, "", ...(checkpoint ? [checkpoint] : [])], { cwd: dir, encoding: "utf8", env: { PATH: process.env.PATH ?? "" } });
  expect(r.status, r.stderr).toBe(0);
  return { ...(JSON.parse(r.stdout) as { inputs: string[]; outputs: string[]; logits: number[]; trains: string; batch: number }), stderr: r.stderr };
}

describe("a forward bundle from a training checkpoint", () => {
  it("builds at batch 1, dropping the loss and the labels input and skipping optimizer state", () => {
    const r = mlc("build", "examples/cnn/model.ts", "--set", "batch=1", "--weights", join(run, "checkpoint.safetensors"), "--out", one);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("note: inference bundle: output loss dropped, so labels is not an input (--outputs all keeps every output)\n");
    expect(r.stdout).toContain(`note: ${join(run, "checkpoint.safetensors")}: ignored 8 training-state tensors (opt/lr, opt/conv1.w/momentum, ...) that this bundle does not have\n`);
  }, 60_000);

  it("classifies one image without labels, as the training bundle does in a batch", () => {
    const single = forwardIn(one, "cnn.js");
    expect(single.inputs).toEqual(["images"]);
    expect(single.outputs).toEqual(["logits"]);
    expect(single.batch).toBe(1);
    expect(single.trains).toBe("cnn was built without --train: it has no trainStep");
    const predicted = single.logits.indexOf(Math.max(...single.logits));
    expect(predicted).toBe(images.labels[0]);
    // The training bundle (batch 20) with the same weights, the image in row 0 of its batch.
    const batched = forwardIn(join(run, "bundle"), "cnn.js", join(run, "checkpoint.safetensors"));
    expect(batched.batch).toBe(20);
    for (let c = 0; c < 10; c++) expect(single.logits[c]).toBeCloseTo(batched.logits[c], 4);
  }, 60_000);

  it("loads the checkpoint with loadWeights too, warning once that optimizer state is skipped", () => {
    const again = forwardIn(one, "cnn.js", join(run, "checkpoint.safetensors"));
    expect(again.stderr).toBe("cnn: weights: ignoring 8 training-state tensors (opt/lr, ...) that this bundle does not have\n");
    expect(again.logits).toEqual(forwardIn(one, "cnn.js").logits);
  });

  it("still refuses a tensor of the wrong shape or dtype, naming it and the file, and writes nothing", () => {
    const bad = join(tmp, "bad.safetensors");
    writeFileSync(bad, encodeSafetensors({ "fc.w": { dtype: "F32", shape: [10, 784], data: new Float32Array(7840) }, "opt/fc.w/momentum": { dtype: "F32", shape: [1], data: new Float32Array(1) } }));
    const out = join(tmp, "not-written");
    const r = mlc("build", "examples/cnn/model.ts", "--set", "batch=1", "--weights", bad, "--out", out);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`error: ${bad}: param 'fc.w' must be f32[784,10] (safetensors F32), got F32[10,784]\n`);
    expect(existsSync(out)).toBe(false);
    writeFileSync(bad, encodeSafetensors({ "conv1.b": { dtype: "I32", shape: [8], data: new Int32Array(8) } }));
    expect(mlc("build", "examples/cnn/model.ts", "--weights", bad, "--out", out).stderr).toBe(`error: ${bad}: param 'conv1.b' must be f32[8] (safetensors F32), got I32[8]\n`);
    expect(existsSync(out)).toBe(false);
  }, 60_000);
});
