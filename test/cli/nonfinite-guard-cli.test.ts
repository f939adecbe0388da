// --no-nonfinite-guard on the commands that build a training step (the --train family,
// cli/training.ts): the step without the guard's state and output; without --train, a usage error.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { manifestOfScript } from "../../compiler/bundle/script.ts";

const tmp = mkdtempSync(join(tmpdir(), "mlc-guard-cli-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const model = "docs/examples/two-layer-mlp.ts";

/** The names of the params and state in a built bundle's MANIFEST. */
function stateNames(script: string): string[] {
  return (manifestOfScript(script) as { params: { name: string }[] }).params.map((p) => p.name);
}

function mlc(...args: string[]) {
  const r = spawnSync(process.execPath, ["bin/mlc.js", ...args], { encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("--no-nonfinite-guard", () => {
  it("mlc ir --train: the guard by default, none with the flag", () => {
    const on = mlc("ir", model, "--train", "--no-locations");
    expect(on.code).toBe(0);
    expect(on.stdout).toContain("state %opt/skipped_steps: f32[] init=zeros");
    expect(on.stdout).toContain("output skipped_step = %step/skipped");
    const off = mlc("ir", model, "--train", "--no-locations", "--no-nonfinite-guard");
    expect(off.code).toBe(0);
    expect(off.stdout).not.toContain("skipped");
    expect(off.stdout).not.toContain("step/finite");
  });

  it("mlc build and mlc run take it; the bundle then has no opt/skipped_steps", () => {
    const out = join(tmp, "b");
    const built = mlc("build", model, "--train", "--no-nonfinite-guard", "--out", out);
    expect(built.code).toBe(0);
    expect(stateNames(readFileSync(join(out, "twoLayerMlp.js"), "utf8"))).not.toContain("opt/skipped_steps");
    const guarded = mlc("build", model, "--train", "--out", join(tmp, "g"));
    expect(stateNames(readFileSync(join(tmp, "g", "twoLayerMlp.js"), "utf8"))).toContain("opt/skipped_steps");
    expect(guarded.code).toBe(0);
    const run = mlc("run", model, "--train", "--random-inputs", "--no-nonfinite-guard");
    expect(run.code).toBe(0);
    expect(run.stdout).not.toContain("skipped_step");
  });

  it("without --train is a usage error", () => {
    expect(mlc("ir", model, "--no-nonfinite-guard")).toMatchObject({ code: 1, stderr: "error: --no-nonfinite-guard needs --train\n" });
  });
});
