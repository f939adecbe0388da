// `mlc train --prune` (compiler/cli/commands/train.ts → mlc build's --prune family): the run's
// weights reach the schedule's final sparsity, the checkpoint keeps the masks and the counter (so
// --resume continues the schedule), the weights file (params only) does not, block and N:M masks
// leave whole zero blocks and N of every M, the flags are part of
// the run's settings, and a bad value is mlc build's one-line error.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { decodeSafetensors } from "../../runtime/safetensors.ts";
import { writeSmallMlpData } from "../support/train-data.ts";

const tmp = mkdtempSync(join(tmpdir(), "mlc-train-prune-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const mlc = (...args: string[]) => spawnSync(process.execPath, ["bin/mlc.js", ...args], { encoding: "utf8" });
const MODEL = "test/fixtures/small-mlp/model.ts";

describe("mlc train --prune", () => {
  const file = writeSmallMlpData(tmp);
  const run = join(tmp, "run");
  const flags = ["--prune", "0.75", "--prune-schedule", "0:8:4"];

  it("trains to the final sparsity, masks in the checkpoint and not in the weights", () => {
    const r = mlc("train", MODEL, "--data", file, "--steps", "12", ...flags, "--out", run);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const weights = decodeSafetensors(readFileSync(join(run, "weights.safetensors"))).tensors;
    const zeros = (name: string) => Array.from(weights[name].data as Float32Array).filter((v) => v === 0).length;
    expect(zeros("l1.w")).toBe(36); // 0.75 of 48
    expect(zeros("l2.w")).toBe(18); // 0.75 of 24
    expect(Object.keys(weights).some((n) => n.startsWith("prune/"))).toBe(false);
    const checkpoint = decodeSafetensors(readFileSync(join(run, "checkpoint.safetensors"))).tensors;
    expect(Array.from(checkpoint["prune/step"].data as Int32Array)).toEqual([12]);
    expect(Array.from(checkpoint["prune/l1.w/mask"].data as Float32Array).filter((v) => v === 0).length).toBe(36);
    expect(JSON.parse(readFileSync(join(run, "config.json"), "utf8")).prune).toEqual({ prune: 0.75, "prune-schedule": "0:8:4" });
  }, 120_000);

  it("keeps the flags on --resume and refuses other values", () => {
    const r = mlc("train", MODEL, "--resume", run, "--prune", "0.5");
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/a resumed run keeps its settings .*--prune 0.5 \(the run has 0.75\)/);
  }, 60_000);

  it("prunes whole blocks (block:RxC, masks per block in the checkpoint) and N of every M (n:m)", () => {
    const blockRun = join(tmp, "block");
    const b = mlc("train", MODEL, "--data", file, "--steps", "6", "--prune", "0.5", "--prune-structure", "block:2x4", "--prune-schedule", "0:4:2", "--out", blockRun);
    expect(b.stderr).toBe("");
    expect(b.status).toBe(0);
    const weights = decodeSafetensors(readFileSync(join(blockRun, "weights.safetensors"))).tensors;
    const w1 = Array.from(weights["l1.w"].data as Float32Array); // [6, 8]: 3 x 2 blocks of 2x4
    const zeroBlocks = [0, 1, 2].flatMap((br) => [0, 1].filter((bc) => [0, 1].every((r) => [0, 1, 2, 3].every((c) => w1[(br * 2 + r) * 8 + bc * 4 + c] === 0))));
    expect(zeroBlocks).toHaveLength(3); // round-half-even(0.5 * 6)
    expect(w1.filter((v) => v === 0)).toHaveLength(24);
    const checkpoint = decodeSafetensors(readFileSync(join(blockRun, "checkpoint.safetensors"))).tensors;
    expect(checkpoint["prune/l1.w/mask"].shape).toEqual([3, 2]);

    const nmRun = join(tmp, "nm");
    const n = mlc("train", MODEL, "--data", file, "--steps", "4", "--prune", "0.5", "--prune-structure", "2:4", "--prune-params", "l2.w", "--prune-schedule", "0:4:1", "--out", nmRun);
    expect(n.stderr).toBe("");
    expect(n.status).toBe(0);
    const w2 = Array.from(decodeSafetensors(readFileSync(join(nmRun, "weights.safetensors"))).tensors["l2.w"].data as Float32Array); // [8, 3]
    for (let g = 0; g < 2; g++) for (let c = 0; c < 3; c++) expect([0, 1, 2, 3].filter((r) => w2[(g * 4 + r) * 3 + c] === 0), `group ${g}, column ${c}`).toHaveLength(2);
  }, 120_000);

  it("reports a bad value as mlc build does, one line", () => {
    const r = mlc("train", MODEL, "--data", file, "--steps", "2", "--prune", "1.5", "--out", join(tmp, "bad"));
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split("\n")).toEqual([expect.stringMatching(/--prune: sparsity 1.5 must be a fraction in \[0, 1\]/)]);
  }, 60_000);
});
