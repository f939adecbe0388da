// `mlc build --compress codebookN` (Deep Compression of the weights file): a pruned MNIST MLP's
// bundle, imported from a folder outside the repo, decodes its compressed weights file when it
// loads and computes what the interpreter (`mlc run`, given the decoded weights or the compressed
// file itself) computes with the decoded weights; the
// file holds `W/dc` tensors and f32 biases and is far smaller; the size table; loadWeights
// refuses a malformed or mismatched compressed tensor naming it; saveWeights writes the dense
// weights, which load back; and the flags it does not combine with are refused.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { decodeSafetensors, encodeSafetensors, type SafeTensor } from "../../runtime/safetensors.ts";
import { decompressTensors } from "../../compiler/driver/deep-compression.ts";
import { decodeDeepCompressed, encodeDeepCompressed } from "../../compiler/bundle/deep-compression.ts";

const tmp = mkdtempSync(join(tmpdir(), "mlc-compress-cli-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const mlc = (...args: string[]) => spawnSync(process.execPath, ["bin/mlc.js", ...args], { env: { ...process.env, TMPDIR: tmp }, encoding: "utf8" });
const MODEL = ["examples/mnist-mlp/model.ts", "--set", "batch=8"];

function file(name: string, tensors: Record<string, SafeTensor>): string {
  const path = join(tmp, name);
  writeFileSync(path, encodeSafetensors(tensors));
  return path;
}
/** A weight pruned to about 10% nonzeros (bell-shaped values), deterministic. */
function pruned(rows: number, cols: number, salt: number): Float32Array {
  return Float32Array.from({ length: rows * cols }, (_, i) => {
    const u = Math.sin(i * 12.9898 + salt * 78.233) * 43758.5453;
    const v = u - Math.floor(u);
    return v < 0.9 ? 0 : Math.fround((v - 0.95) * 40 / Math.sqrt(rows));
  });
}
const bias = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.cos(i) * 0.05);
const weights = file("pruned.safetensors", {
  "fc256.w": { dtype: "F32", shape: [784, 256], data: pruned(784, 256, 1) },
  "fc256.b": { dtype: "F32", shape: [256], data: bias(256) },
  "fc128.w": { dtype: "F32", shape: [256, 128], data: pruned(256, 128, 2) },
  "fc128.b": { dtype: "F32", shape: [128], data: bias(128) },
  "out.w": { dtype: "F32", shape: [128, 10], data: pruned(128, 10, 3) },
  "out.b": { dtype: "F32", shape: [10], data: bias(10) },
});
const x = Float32Array.from({ length: 8 * 784 }, (_, i) => ((i * 7919) % 1009) / 1008);
// `mlc run` runs the whole model (the loss too): it takes labels, which the forward bundle does not.
const inputs = file("inputs.safetensors", { x: { dtype: "F32", shape: [8, 784], data: x }, y: { dtype: "I32", shape: [8], data: new Int32Array(8) } });

interface Bundle { inputs: Record<string, Float32Array>; outputs: Record<string, Float32Array>; forward(): void; loadWeights(bytes: Uint8Array): unknown; saveWeights(): Uint8Array }
const importBundle = async (dir: string) => (await import(pathToFileURL(join(dir, "mnistMlp.js")).href)) as { load(opts?: { weights?: Uint8Array }): Promise<Bundle> };

describe("mlc build --compress codebook5", () => {
  const out = join(tmp, "dc5");
  const built = mlc("build", ...MODEL, "--compress", "codebook5", "--weights", weights, "--out", out);
  const dense = mlc("build", ...MODEL, "--weights", weights, "--out", join(tmp, "dense"));
  const compressed = () => decodeSafetensors(readFileSync(join(out, "mnistMlp.safetensors"))).tensors;

  it("writes W/dc tensors and f32 biases, and prints the size table", () => {
    expect(built.stderr).toBe("");
    expect(built.status).toBe(0);
    expect(built.stdout).toMatch(/\nDeep Compression \(--compress codebook5: nonzeros' positions \+ 5-bit indices into a k-means codebook of the nonzeros, Huffman-coded where smaller\):\n  weight   shape        nonzero  pos bits  coding \(pos\/idx\)  rel RMS  dense f32   pruned      \+ codebook\n  fc256\.w  \[784,256\] +\d+\.\d% +\d  huffman\/(huffman|fixed) +[\d.]+  784\.0 KiB +[\d.]+ KiB +[\d.]+ KiB\n/);
    expect(built.stdout).toMatch(/\n  weights 917\.0 KiB dense f32 -> pruned [\d.]+ KiB \([\d.]+x\) -> \+ codebook [\d.]+ KiB \([\d.]+x\)\n  file 919\.0 KiB -> [\d.]+ KiB \([\d.]+x smaller; other tensors 1\.5 KiB kept f32\)\n/);
    const t = compressed();
    expect(Object.keys(t).sort()).toEqual(["fc128.b", "fc128.w/dc", "fc256.b", "fc256.w/dc", "out.b", "out.w/dc"]);
    expect([t["fc256.w/dc"].dtype, t["fc256.b"].dtype]).toEqual(["U8", "F32"]);
    expect(dense.status).toBe(0);
    const ratio = statSync(join(tmp, "dense", "mnistMlp.safetensors")).size / statSync(join(out, "mnistMlp.safetensors")).size;
    expect(ratio).toBeGreaterThan(25);
  }, 120_000);

  it("imported from a folder outside the repo, computes what the interpreter does with the decoded weights", async () => {
    const decoded = file("decoded.safetensors", decompressTensors(compressed()));
    const run = mlc("run", ...MODEL, "--weights", decoded, "--inputs", inputs, "--out", join(tmp, "run.safetensors"));
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    const reference = decodeSafetensors(readFileSync(join(tmp, "run.safetensors"))).tensors.logits.data as Float32Array;
    // The compiler's commands read a compressed weights file as the dense weights it holds.
    const direct = mlc("run", ...MODEL, "--weights", join(out, "mnistMlp.safetensors"), "--inputs", inputs, "--out", join(tmp, "run-direct.safetensors"));
    expect(direct.stderr).toBe("");
    expect(Array.from(decodeSafetensors(readFileSync(join(tmp, "run-direct.safetensors"))).tensors.logits.data as Float32Array)).toEqual(Array.from(reference));
    const m = await (await importBundle(out)).load();
    m.inputs.x.set(x);
    m.forward();
    const got = m.outputs.logits;
    const scale = Math.max(...Array.from(reference, Math.abs));
    for (let i = 0; i < reference.length; i++) expect(Math.abs(got[i] - reference[i])).toBeLessThanOrEqual(1e-5 * scale);
    // The bundle decoded exactly what the compiler's decoder gives, and pruned zeros stayed zero.
    const saved = decodeSafetensors(m.saveWeights()).tensors;
    const want = decodeSafetensors(readFileSync(decoded)).tensors;
    for (const name of ["fc256.w", "fc128.w", "out.w", "fc256.b"]) expect(Array.from(saved[name].data as Float32Array)).toEqual(Array.from(want[name].data as Float32Array));
    const original = decodeSafetensors(readFileSync(weights)).tensors["fc256.w"].data as Float32Array;
    expect(Array.from(saved["fc256.w"].data as Float32Array, (v) => v === 0)).toEqual(Array.from(original, (v) => v === 0));
    // saveWeights writes the dense f32 weights: they load back into a fresh bundle.
    const again = await (await importBundle(out)).load({ weights: m.saveWeights() });
    again.inputs.x.set(x);
    again.forward();
    expect(Array.from(again.outputs.logits)).toEqual(Array.from(got));
  }, 120_000);

  it("refuses a malformed or mismatched compressed tensor, naming it", async () => {
    const bundle = await importBundle(out);
    const t = compressed();
    const good = t["out.w/dc"].data as Uint8Array;
    const bad = (name: string, data: Uint8Array, dtype: SafeTensor["dtype"] = "U8") => encodeSafetensors({ [name]: { dtype, shape: [data.length], data } });
    await expect(bundle.load({ weights: bad("out.w/dc", good.subarray(0, good.length - 1)) })).rejects.toThrow(/weights: 'out\.w\/dc' is not a valid Deep Compression tensor: its index stream .* needs \d+ bytes, \d+ left/);
    // The bundle's decoder refuses what the compiler's does, with the same message (a Huffman-coded stream cut short, its code lengths over-subscribed).
    const w = pruned(784, 256, 1);
    const coded = encodeDeepCompressed(w, [784, 256], 5, { positionBits: 8 });
    expect(coded.huffman.positions).toBe(true);
    const at = 12 + 8 + 32 * 4;
    const cut = coded.bytes.slice();
    new DataView(cut.buffer).setUint32(at + 257, 3, true);
    const over = coded.bytes.slice();
    over.fill(1, at + 1, at + 257);
    for (const broken of [cut, over]) {
      let message = "";
      try {
        decodeDeepCompressed("fc256.w/dc", broken);
      } catch (e) {
        message = (e as Error).message;
      }
      expect(message).toMatch(/^weights: 'fc256\.w\/dc' is not a valid Deep Compression tensor: its position stream/);
      await expect(bundle.load({ weights: bad("fc256.w/dc", broken) })).rejects.toThrow(message);
    }
    const wrongShape = encodeDeepCompressed(pruned(10, 128, 3), [10, 128], 5).bytes;
    await expect(bundle.load({ weights: bad("out.w/dc", wrongShape) })).rejects.toThrow(/weights: 'out\.w' \(decoded from 'out\.w\/dc'\) must be f32\[128,10\] \(safetensors F32\), got F32\[10,128\]/);
    await expect(bundle.load({ weights: bad("nope.w/dc", wrongShape) })).rejects.toThrow(/weights: 'nope\.w' \(decoded from 'nope\.w\/dc'\) is not a param of mnistMlp/);
    const m = await bundle.load();
    expect(() => m.loadWeights(bad("fc128.w/dc", new Uint8Array(good.length), "U8"))).toThrow(/weights: 'fc128\.w\/dc' is not a valid Deep Compression tensor: version 0/);
  }, 60_000);

  it("mlc run refuses a malformed compressed weights file naming the tensor, exit 1", () => {
    const t = compressed();
    const good = t["out.w/dc"].data as Uint8Array;
    const broken = file("broken.safetensors", { ...t, "out.w/dc": { dtype: "U8", shape: [good.length - 1], data: good.slice(0, -1) } });
    const r = mlc("run", ...MODEL, "--weights", broken, "--inputs", inputs);
    expect(r.stderr).toMatch(/^error: .*broken\.safetensors: weights: 'out\.w\/dc' is not a valid Deep Compression tensor: its index stream .*\n$/);
    expect(r.status).toBe(1);
  }, 30_000);

  const refusals: [string, string[], string][] = [
    ["--train", ["--train", "--weights", weights], "error: --compress codebook5 compresses an inference bundle's weights file: build it without --train (fine-tune the pruned weights first)\n"],
    ["no --weights", [], "error: --compress codebook5 needs --weights FILE.safetensors: the pruned weights to compress (e.g. from mlc prune or mlc train --prune)\n"],
    ["--quantize", ["--weights", weights, "--quantize", "codebook4"], "error: --compress codebook5 and --quantize codebook4 do not combine (--compress already stores codebook indices)\n"],
    ["--sparse", ["--weights", weights, "--sparse"], "error: --compress codebook5 and --sparse do not combine yet\n"],
    ["--precision f16", ["--weights", weights, "--precision", "f16"], "error: --compress codebook5 and --precision f16 do not combine: it compresses f32 weights\n"],
  ];
  for (const [what, flags, message] of refusals) {
    it(`refuses ${what}, exit 1, writing nothing`, () => {
      const dir = join(tmp, `refused-${what.replace(/\W+/g, "-")}`);
      const r = mlc("build", ...MODEL, "--compress", "codebook5", ...flags, "--out", dir);
      expect(r.stderr).toBe(message);
      expect(r.status).toBe(1);
      expect(existsSync(dir)).toBe(false);
    }, 30_000);
  }
});
