// `mlc build --sparse` and `mlc ir --sparse` (docs/COMPRESSION.md "Structured sparsity"): the CNN's
// initial weights channel-pruned by `mlc prune`, then built with the zero channels removed: the
// table of shapes and bytes, the bundle's weights file holding the shrunk params, the IR with the
// shrunk shapes; and the user errors, one line, exit 1, nothing written.

import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { decodeSafetensors } from "../../runtime/safetensors.ts";

const tmp = mkdtempSync(join(tmpdir(), "mlc-sparse-cli-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const mlc = (...args: string[]) => spawnSync(process.execPath, ["bin/mlc.js", ...args], { env: { ...process.env, TMPDIR: tmp }, encoding: "utf8" });
const CNN = "examples/cnn/model.ts";

describe("mlc build --sparse", () => {
  const weights = join(tmp, "w.safetensors");
  const pruned = join(tmp, "pruned.safetensors");

  it("removes the pruned channels (zero biases: all of them), prints the table, writes the shrunk weights", () => {
    expect(mlc("init-weights", CNN, "--out", weights, "--seed", "3").status).toBe(0);
    expect(mlc("prune", CNN, "--weights", weights, "--sparsity", "0.5", "--structure", "channel", "--params", "conv1.w,conv2.w", "--out", pruned).status).toBe(0);
    const out = join(tmp, "bundle");
    const r = mlc("build", CNN, "--weights", pruned, "--sparse", "--out", out);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`structured sparsity (--sparse):
  weight   before      after       zero  removed
  conv1.w  [3,3,1,8]   [3,3,1,4]      4        4
  conv2.w  [3,3,8,16]  [3,3,4,8]      8        8
  also shrunk: conv1.b [8] -> [4], conv2.b [16] -> [8], fc.w [784,10] -> [392,10]
  params 35.5 KiB -> 16.7 KiB (18.9 KiB saved, 2.13x smaller)`);
    // The one dense layer left keeps every block: the dense kernel (docs/COMPRESSION.md "Block-sparse kernels").
    expect(r.stdout).toMatch(/sparse kernels \(--sparse; block-sparse at <= 60% kept 1x4 blocks, 2:4 weights with 4-64 rows\):\n.*\n\s+fc\.w\s+\[392,10\]\s+32\s+100\.0%\s+dense\s+15\.3 KiB\n/);
    const file = decodeSafetensors(readFileSync(join(out, "cnn.safetensors"))).tensors;
    expect(Object.fromEntries(Object.entries(file).map(([n, t]) => [n, t.shape]))).toEqual({
      "conv1.w": [3, 3, 1, 4], "conv1.b": [4], "conv2.w": [3, 3, 4, 8], "conv2.b": [8], "fc.w": [392, 10], "fc.b": [10],
    });
    expect(readFileSync(join(out, "cnn.d.ts"), "utf8")).toContain('"fc.w"');
  }, 120_000);

  it("mlc ir --sparse prints the shrunk graph and the table", () => {
    const r = mlc("ir", CNN, "--weights", pruned, "--sparse", "--no-locations");
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/^structured sparsity \(--sparse\):/);
    expect(r.stdout).toContain("%4:f32[32,14,14,8] = conv2d %3, %conv2.w");
    expect(r.stdout).toContain("%8:f32[32,392] = reshape %7 {shape=[32,392]}");
    expect(r.stdout).not.toContain("loss");
  }, 60_000);

  it("user errors: one line, exit 1, no bundle", () => {
    const out = join(tmp, "never");
    for (const [args, message] of [
      [["--sparse"], "error: --sparse needs --weights FILE.safetensors: the zero channels are read from the weights (e.g. from mlc prune --structure channel)"],
      [["--sparse", "--train", "--weights", pruned], "error: --sparse removes zero channels from an inference program: build it without --train (fine-tune the pruned weights first, then build --sparse)"],
      [["--sparse", "--precision", "f16", "--weights", pruned], "error: --sparse and --precision f16|bf16 do not combine yet"],
    ] as const) {
      const r = mlc("build", CNN, ...args, "--out", out);
      expect(r.status, args.join(" ")).toBe(1);
      expect(r.stderr).toBe(`${message}\n`);
      expect(r.stdout).toBe("");
    }
    expect(existsSync(out)).toBe(false);
  }, 60_000);
});
