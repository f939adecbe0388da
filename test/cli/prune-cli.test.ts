// `mlc prune` (compiler/cli/commands/prune.ts): a training checkpoint of the CNN pruned by output
// channel — params zeroed by the masks of ir/prune-masks.ts, the momentum of a pruned weight
// zeroed where it is, every other tensor byte-identical; and the user errors (a param the model
// lacks, a param the file lacks, a malformed structure), each one line, exit 1, nothing written.

import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { pruneMasks } from "../../compiler/ir/prune-masks.ts";
import { decodeSafetensors, encodeSafetensors, type SafeTensor } from "../../runtime/safetensors.ts";
import { rng } from "../support/seeded-random.ts";

const tmp = mkdtempSync(join(tmpdir(), "mlc-prune-cli-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const mlc = (...args: string[]) => spawnSync(process.execPath, ["bin/mlc.js", ...args], { env: { ...process.env, TMPDIR: tmp }, encoding: "utf8" });

/** The CNN's params (examples/cnn, width 8) with random values, plus one momentum and the learning rate. */
function checkpoint(): Record<string, SafeTensor> {
  const random = rng(11);
  const t = (...shape: number[]): SafeTensor => ({ dtype: "F32", shape, data: Float32Array.from({ length: shape.reduce((p, d) => p * d, 1) }, () => random() - 0.5) });
  return {
    "conv1.w": t(3, 3, 1, 8), "conv1.b": t(8), "conv2.w": t(3, 3, 8, 16), "conv2.b": t(16), "fc.w": t(784, 10), "fc.b": t(10),
    "opt/conv2.w/momentum": t(3, 3, 8, 16), "opt/lr": t(),
  };
}

describe("mlc prune", () => {
  it("prunes half of each weight's output channels (L1), zeroes their momentum, copies the rest", () => {
    const file = join(tmp, "ckpt.safetensors");
    const out = join(tmp, "pruned.safetensors");
    const before = checkpoint();
    writeFileSync(file, encodeSafetensors(before));
    const r = mlc("prune", "examples/cnn/model.ts", "--weights", file, "--sparsity", "0.5", "--structure", "channel", "--out", out);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("pruned 3 param(s) of cnn (channel, layer scope)");
    const after = decodeSafetensors(readFileSync(out)).tensors;
    expect(Object.keys(after).sort()).toEqual(Object.keys(before).sort());
    for (const name of ["conv1.w", "conv2.w", "fc.w"]) {
      const w = before[name];
      const [mask] = pruneMasks([{ name, shape: w.shape, data: w.data as Float32Array }], 0.5, { kind: "channel", norm: 1 });
      const cols = w.shape[w.shape.length - 1];
      const pruned = new Set(Array.from({ length: cols }, (_, c) => c).filter((c) => mask[c] === 0));
      expect(pruned.size, name).toBe(Math.round(cols / 2));
      const data = after[name].data as Float32Array;
      (w.data as Float32Array).forEach((v, e) => expect(data[e], `${name}[${e}]`).toBe(pruned.has(e % cols) ? 0 : v));
      if (name === "conv2.w") {
        const m = after["opt/conv2.w/momentum"].data as Float32Array;
        (before["opt/conv2.w/momentum"].data as Float32Array).forEach((v, e) => expect(m[e]).toBe(mask[e] ? v : 0));
      }
    }
    for (const name of ["conv1.b", "conv2.b", "fc.b", "opt/lr"]) expect(after[name].data).toEqual(before[name].data);
  }, 60_000);

  it("user errors: one line, exit 1, no output file", () => {
    const file = join(tmp, "ckpt2.safetensors");
    const { "fc.w": _dropped, ...rest } = checkpoint();
    writeFileSync(file, encodeSafetensors(rest));
    const out = join(tmp, "never.safetensors");
    const cases: [string[], string][] = [
      [["--sparsity", "0.5"], `error: ${file}: missing param 'fc.w' (f32[784,10])\n`],
      [["--sparsity", "0.5", "--params", "conv1.w,nope.w"], "error: --params: 'nope.w' is not a param of cnn (params: conv1.w, conv1.b, conv2.w, conv2.b, fc.w, fc.b)\n"],
      [["--sparsity", "0.5", "--structure", "block:2"], "error: --structure block:2: expected element, channel, block:RxC (e.g. block:4x1) or N:M (e.g. 2:4)\n"],
      [["--structure", "channel"], "error: --structure channel needs --sparsity\n"],
      [["--sparsity", "1.5", "--params", "conv1.w"], "error: --sparsity 1.5: a fraction in [0, 1]\n"],
      [["--structure", "2:4", "--params", "conv1.w"], "error: --structure 2:4: 'conv1.w' has 9 input rows (shape [3,3,1,8]), not a multiple of 4\n"],
    ];
    for (const [flags, message] of cases) {
      const r = mlc("prune", "examples/cnn/model.ts", "--weights", file, ...flags, "--out", out);
      expect(r.stderr, flags.join(" ")).toBe(message);
      expect(r.status).toBe(1);
      expect(existsSync(out)).toBe(false);
    }
  }, 120_000);
});
