// Pruning while training from the command line (--prune and its family, compiler/cli/training.ts)
// and from a model's train.prune (passes/train-options.ts): the training step gets the prune
// pass's masks; the flags win over the model; bad values are one line, exit 1.
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { trainingSpec, TrainSpecError } from "../../compiler/passes/train-options.ts";

const mlc = (...args: string[]) => spawnSync(process.execPath, ["bin/mlc.js", ...args], { encoding: "utf8" });

describe("--prune", () => {
  it("adds masks, the step counter and pruneMask to the training step", () => {
    const r = mlc("ir", "test/fixtures/small-mlp/model.ts", "--train", "--prune", "0.8", "--prune-structure", "channel", "--prune-schedule", "10:50:10", "--prune-params", "l1.w");
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/state %prune\/l1\.w\/mask: f32\[8\]/);
    expect(r.stdout).not.toMatch(/%prune\/l2\.w\/mask/);
    expect(r.stdout).toMatch(/state %prune\/step: i32\[\]/);
    expect(r.stdout.match(/= pruneMask /g)?.length).toBe(1);
  });

  it.each([
    [["--prune", "1.5"], /--prune: sparsity 1.5 must be a fraction in \[0, 1\]/],
    [["--prune", "0.5", "--prune-schedule", "9:2:1"], /--prune: schedule 9:2:1 must be START:END:EVERY/],
    [["--prune", "0.5", "--prune-schedule", "every 10"], /--prune-schedule must be "START:END:EVERY"/],
    [["--prune-structure", "channel"], /--prune-structure needs --prune SPARSITY/],
    [["--prune", "0.5", "--prune-scope", "global", "--prune-structure", "channel"], /global scope ranks elements only/],
    [["--prune", "0.5", "--accumulate", "2"], /--prune does not combine with --accumulate/],
    [["--prune", "0.5", "--prune-params", "nope.w"], /prune: the model has no param 'nope.w'/],
  ])("%j is one line, exit 1", (flags, message) => {
    const r = mlc("ir", "test/fixtures/small-mlp/model.ts", "--train", ...(flags as string[]));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(message as RegExp);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  });

  it("needs --train", () => {
    const r = mlc("ir", "test/fixtures/small-mlp/model.ts", "--prune", "0.5");
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/--prune needs --train/);
  });
});

describe("train.prune in the model", () => {
  it("reads the options, with defaults, and names a bad one", () => {
    expect(trainingSpec({ prune: { sparsity: 0.9, schedule: "0:100:10" } }).prune).toEqual({ sparsity: 0.9, initialSparsity: 0, structure: "element", norm: 1, scope: "layer", start: 0, end: 100, every: 10 });
    expect(trainingSpec({ prune: { sparsity: 0.5, structure: "channel", norm: 2, params: ["a.w"] } }).prune).toMatchObject({ structure: "channel", norm: 2, params: ["a.w"], start: 0, end: 0, every: 1 });
    expect(() => trainingSpec({ prune: { sparsity: 0.5, structure: "block:4x1" } })).toThrow(/train\.prune\.structure must be "element" or "channel"/);
    expect(() => trainingSpec({ prune: { schedule: "0:1:1" } })).toThrow(/train\.prune\.sparsity is required/);
    expect(() => trainingSpec({ prune: { sparsity: 0.5, every: 3 } })).toThrow(TrainSpecError);
  });
});
