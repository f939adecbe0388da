// The whole path from pruned weights to sparse kernels on the command line: `mlc prune --structure
// block:1x4` and `--structure 2:4` on the MNIST MLP's weights, then `mlc build --sparse`: the
// kernel-choice table names block-sparse for the block-pruned layers and 2:4 for the 2:4 one, and
// the bundle, imported from its folder outside the repo, computes what the interpreter computes
// on the unshrunk model with the pruned weights.

import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import { interpret } from "../../compiler/ir/interpreter.ts";
import { decodeSafetensors } from "../../runtime/safetensors.ts";

const tmp = mkdtempSync(join(tmpdir(), "mlc-block-sparse-cli-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const mlc = (...args: string[]) => spawnSync(process.execPath, ["bin/mlc.js", ...args], { env: { ...process.env, TMPDIR: tmp }, encoding: "utf8" });
const MLP = "examples/mnist-mlp/model.ts";

describe("mlc prune --structure block:1x4 | 2:4, then mlc build --sparse", () => {
  it("picks block-sparse and 2:4 kernels, prints them, and the bundle matches the interpreter", async () => {
    const w = join(tmp, "w.safetensors");
    const blocks = join(tmp, "blocks.safetensors");
    const pruned = join(tmp, "pruned.safetensors");
    expect(mlc("init-weights", MLP, "--out", w, "--seed", "5").status).toBe(0);
    expect(mlc("prune", MLP, "--weights", w, "--sparsity", "0.9", "--structure", "block:1x4", "--norm", "2", "--params", "fc256.w,fc128.w", "--out", blocks).status).toBe(0);
    expect(mlc("prune", MLP, "--weights", blocks, "--structure", "2:4", "--params", "out.w", "--out", pruned).status).toBe(0);
    const out = join(tmp, "bundle");
    const r = mlc("build", MLP, "--weights", pruned, "--sparse", "--set", "batch=16", "--out", out);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/fc256\.w\s+\[784,256\]\s+16\s+10\.0%\s+block-sparse/);
    expect(r.stdout).toMatch(/fc128\.w\s+\[256,128\]\s+16\s+10\.0%\s+block-sparse/);
    expect(r.stdout).toMatch(/out\.w\s+\[128,10\]\s+16\s+\d+\.\d%\s+2:4/);

    const params = Object.fromEntries(Object.entries(decodeSafetensors(readFileSync(pruned)).tensors).map(([n, t]) => [n, Float64Array.from(t.data as Float32Array)]));
    const { graph } = compileModelFile(MLP, { set: { batch: "16" } });
    const x = Float64Array.from({ length: 16 * 784 }, (_, i) => Math.fround(((i * 37) % 101) / 101));
    const want = interpret(graph, { x, y: new Float64Array(16) }, { params }).outputs.logits.data;
    const { load } = (await import(pathToFileURL(join(out, "mnistMlp.js")).href)) as {
      load: () => Promise<{ inputs: Record<string, Float32Array>; outputs: Record<string, Float32Array>; forward(): void }>;
    };
    const m = await load();
    m.inputs.x.set(x);
    m.forward();
    const got = m.outputs.logits;
    const scale = Math.max(...Array.from(want, Math.abs));
    for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i]), `logit ${i}`).toBeLessThanOrEqual(1e-5 * scale);
  }, 180_000);
});
