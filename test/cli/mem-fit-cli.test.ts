// `mlc mem --train --fit SIZE` through the command line: one row per checkpoint mode, each batch's
// arena within the budget and the next batch's over it (or not compilable within it: auto), and
// the accumulation count for --effective-batch; misuse is a one-line usage error.
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";

function mlc(...args: string[]) {
  const r = spawnSync(process.execPath, ["bin/mlc.js", ...args], { encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface FitJson {
  budget: number;
  modes: Array<{ mode: string; batch: number; arena: number; next: { batch: number; arena: number | null }; accumulate: number; compiles: number }>;
}

describe("mlc mem --fit", () => {
  it("finds the largest batch per checkpoint mode (mnist-mlp, 5MB)", () => {
    const r = mlc("mem", "examples/mnist-mlp/model.ts", "--train", "--fit", "5MB", "--effective-batch", "4096", "--json");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const fit = JSON.parse(r.stdout) as FitJson;
    expect(fit.budget).toBe(5_000_000);
    expect(fit.modes.map((m) => m.mode)).toEqual(["none", "sqrt", "auto"]);
    for (const m of fit.modes) {
      expect(m.batch, m.mode).toBeGreaterThan(1);
      expect(m.arena).toBeLessThanOrEqual(fit.budget);
      expect(m.next.batch).toBe(m.batch + 1);
      if (m.next.arena !== null) expect(m.next.arena).toBeGreaterThan(fit.budget);
      expect(m.accumulate).toBe(Math.ceil(4096 / m.batch));
    }
  }, 60_000);

  it("prints a table", () => {
    const r = mlc("mem", "examples/recsys/model.ts", "--train", "--fit", "180kB", "--effective-batch", "1024");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^recsys, training step \(wasm-simd\): the largest batch whose planned arena fits 180000 bytes/);
    expect(r.stdout).toMatch(/\nnone +\d+ +[\d.]+ MiB +\d+ +/);
    expect(r.stdout).toContain("accumulate for 1024");
  }, 60_000);

  it("is a usage error without --train or with --batch", () => {
    expect(mlc("mem", "examples/recsys/model.ts", "--fit", "1MB")).toMatchObject({ code: 1, stderr: "error: --fit needs --train (it fits the training step's arena)\n" });
    expect(mlc("mem", "examples/recsys/model.ts", "--train", "--fit", "1MB", "--batch", "8")).toMatchObject({ code: 1, stderr: "error: --fit searches the batch size: give no --batch\n" });
    expect(mlc("mem", "examples/recsys/model.ts", "--train", "--fit", "lots").stderr).toBe("error: --fit: expected a size such as 1048576, 64MB or 1.5GiB, got 'lots'\n");
  }, 60_000);
});
