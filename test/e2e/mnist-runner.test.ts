// `npm run mnist` end to end, as a child process (node with tsx's loader, as `npm run` does): it
// builds the MNIST MLP training bundle, trains it through the bundle API on the 8,000 training
// digits and must reach ≥ 92% on the 2,000 held-out digits within the 60 s training budget, with
// the memory it reports adding up to the arena. Bad flags are a usage error (exit code 2).

import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const out = mkdtempSync(join(tmpdir(), "mlc-mnist-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

function runner(...args: string[]) {
  const r = spawnSync(process.execPath, ["--import", "tsx", "examples/mnist-mlp/train.ts", "--out", out, ...args], { encoding: "utf8", timeout: 170_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface Summary {
  accuracy: number; correct: number; testCount: number; trainCount: number; batch: number; steps: number; epochs: number;
  trainSeconds: number; samplesPerSecond: number; loss: number; outOfTime: boolean; wasmMemoryBytes: number;
  memory: { arena: number; memoryBytes: number; params: number; optimizerState: number; otherState: number; inputs: number; shared: number };
}

describe("npm run mnist", () => {
  it("trains the bundle to ≥ 92% test accuracy within 60 s and reports speed and memory", () => {
    const { code, stdout, stderr } = runner("--seconds", "60", "--json");
    expect(code, stderr).toBe(0);
    const lines = stdout.trim().split("\n");
    const summary = JSON.parse(lines[lines.length - 1]) as Summary;
    // The figures, and the same figures in the human-readable report above the JSON line.
    expect(summary.testCount).toBe(2000);
    expect(summary.trainCount).toBe(8000);
    expect(summary.batch).toBe(64);
    expect(summary.accuracy).toBeGreaterThanOrEqual(0.92);
    expect(summary.correct).toBe(Math.round(summary.accuracy * 2000));
    expect(summary.trainSeconds).toBeLessThanOrEqual(60);
    expect(summary.steps).toBeGreaterThan(0);
    expect(summary.samplesPerSecond).toBeCloseTo((summary.steps * 64) / summary.trainSeconds, 3);
    expect(Number.isFinite(summary.loss)).toBe(true);
    expect(stdout).toContain(`test accuracy ${(summary.accuracy * 100).toFixed(2)}% (${summary.correct}/2000`);
    expect(stdout).toMatch(/samples\/s/);
    // Memory: params 235,146 f32 (784·256+256 + 256·128+128 + 128·10+10), Adam's two moments of each
    // plus a few scalars, and the rest of the arena shared; the module's memory is the arena in pages.
    const m = summary.memory;
    const params = 235_146 * 4;
    expect(m.params).toBe(params);
    expect(m.optimizerState).toBeGreaterThanOrEqual(2 * params);
    expect(m.optimizerState).toBeLessThan(2 * params + 256);
    expect(m.inputs).toBe(64 * 784 * 4 + 64 * 4);
    expect(m.params + m.optimizerState + m.otherState + m.inputs + m.shared).toBe(m.arena);
    expect(m.shared).toBeGreaterThan(0);
    expect(summary.wasmMemoryBytes).toBe(m.memoryBytes);
    expect(summary.wasmMemoryBytes % 65536).toBe(0);
    expect(summary.wasmMemoryBytes).toBeGreaterThanOrEqual(m.arena);
    expect(stdout).toContain("optimizer state");
    // Not a terminal: one progress line per epoch on stderr.
    expect(stderr.trim().split("\n").filter((l) => /^epoch +\d+\/\d+ +step/.test(l))).toHaveLength(Math.floor(summary.epochs));
    // The bundle an app would ship was written where asked.
    for (const ext of ["wasm", "js", "d.ts", "safetensors", "plan.json"]) expect(existsSync(join(out, `mnistMlp.${ext}`)), ext).toBe(true);
  }, 180_000);

  it("stops at the --seconds budget", () => {
    const { code, stdout, stderr } = runner("--seconds", "0.05", "--epochs", "1000", "--json");
    expect(code, stderr).toBe(0);
    const summary = JSON.parse(stdout.trim().split("\n").at(-1)!) as Summary;
    expect(summary.outOfTime).toBe(true);
    expect(summary.steps).toBeLessThan(1000 * 125);
    expect(stdout).toContain("budget ran out");
  }, 180_000);

  it("refuses a bad flag with a usage error", () => {
    const { code, stderr } = runner("--epochs", "zero");
    expect(code).toBe(2);
    expect(stderr).toContain("--epochs must be a positive integer, got 'zero'");
  }, 60_000);
});
