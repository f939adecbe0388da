// `mlc mem --target T` reports exactly the arena `mlc build --target T` writes: both go through the
// driver, so the same passes plan the same program (every entry point, fused, with the backend's
// workspaces). Every example, forward and training, both targets, through the functions the two
// commands call; and the commands themselves on two examples.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { mainEntry, memoryReport } from "../../compiler/cli/memory-report.ts";
import type { Backend } from "../../compiler/bundle/backend.ts";
import { wasmBackend } from "../../compiler/codegen-wasm/backend.ts";
import { wgslBackend } from "../../compiler/codegen-wgsl/backend.ts";
import { build, compile } from "../../compiler/driver/compile.ts";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import { trainingSpec } from "../../compiler/passes/train-options.ts";
import { EXAMPLES } from "../support/example-graphs.ts";

const tmp = mkdtempSync(join(tmpdir(), "mlc-mem-build-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const BACKENDS: ReadonlyArray<readonly [string, Backend]> = [["wasm-simd", wasmBackend as Backend], ["webgpu", wgslBackend() as Backend]];

describe.each(EXAMPLES)("%s", (name) => {
  const model = compileModelFile(`examples/${name}/model.ts`);
  const forwardIds = new Set(model.graph.nodes.map((n) => n.id));
  it.each(BACKENDS.flatMap(([target, backend]) => [false, true].map((train) => [target, train, backend] as const)))(
    "%s, train %s: the reported arena is the bundle's",
    (_target, train, backend) => {
      // No time limit: the planner's default budget counts work, not time, so plans are repeatable.
      const options = { backend, ...(train ? { training: trainingSpec(model.train) } : {}) };
      const program = compile(model.graph, options);
      const report = memoryReport(program, compile(model.graph, { ...options, schedule: false }), { forwardIds, backend });
      const bundle = build(model.graph, options);
      const plan = JSON.parse(bundle.files[`${bundle.name}.plan.json`] as string) as { arena: number; entries: Record<string, unknown> };
      expect(report.arena).toBe(plan.arena);
      expect(bundle.layout.arena).toBe(plan.arena);
      expect(Object.keys(plan.entries)).toEqual(program.entries.map((e) => e.exportName));
      expect(mainEntry(program)).toBe(program.entries.find((e) => e.exportName === (train ? "train_step" : "forward"))!.graph);
      expect(report.lowerBound).toBeLessThanOrEqual(report.arena);
    },
    120_000,
  );
});

function mlc(...args: string[]) {
  const r = spawnSync(process.execPath, ["bin/mlc.js", ...args], { encoding: "utf8" });
  expect(r.stderr).toBe("");
  expect(r.status).toBe(0);
  return r.stdout;
}

describe("the commands", () => {
  it.each([
    ["mnist-mlp", "wasm-simd", ["--train"]],
    ["mnist-mlp", "webgpu", ["--train"]],
    ["cnn", "wasm-simd", []],
  ] as const)("%s --target %s %j: mlc mem --json says the arena mlc build writes", (name, target, flags) => {
    const out = join(tmp, `${name}-${target}-${flags.length}`);
    mlc("build", `examples/${name}/model.ts`, "--target", target, ...flags, "--out", out);
    const planFile = readFileSync(join(out, `${name === "cnn" ? "cnn" : "mnistMlp"}.plan.json`), "utf8");
    const report = JSON.parse(mlc("mem", `examples/${name}/model.ts`, "--target", target, ...flags, "--json")) as { batches: { arena: number }[] };
    expect(report.batches[0].arena).toBe((JSON.parse(planFile) as { arena: number }).arena);
  }, 120_000);
});
