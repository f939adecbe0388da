// `mlc build` runs binaryen on V8's baseline WebAssembly compiler only (compiler/cli/wasm-tier.ts):
// a speed setting of the compiling process that must not change what it writes. The CLI's bundle
// is compared with the same build in this process, which runs binaryen with both tiers.

import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { wasmBackend } from "../../compiler/codegen-wasm/backend.ts";
import { build } from "../../compiler/driver/index.ts";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import { trainingSpec } from "../../compiler/passes/train-options.ts";

const tmp = mkdtempSync(join(tmpdir(), "mlc-wasm-tier-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("mlc build on the baseline WebAssembly tier", () => {
  it("writes the module and weights an in-process build writes", () => {
    const r = spawnSync(process.execPath, ["bin/mlc.js", "build", "examples/mnist-mlp/model.ts", "--train", "--out", tmp], { encoding: "utf8", env: { ...process.env, MLC_FROM_SOURCE: "" } });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const model = compileModelFile("examples/mnist-mlp/model.ts");
    const bundle = build(model.graph, { backend: wasmBackend, training: { ...trainingSpec(model.train, {}), accumulate: 1, checkpoint: { mode: "none" } } });
    for (const file of [`${bundle.name}.wasm`, `${bundle.name}.safetensors`, `${bundle.name}.plan.json`]) {
      const mine = bundle.files[file];
      const expected = typeof mine === "string" ? Buffer.from(mine) : Buffer.from(mine);
      expect(readFileSync(join(tmp, file)).equals(expected)).toBe(true);
    }
  }, 120_000);
});
