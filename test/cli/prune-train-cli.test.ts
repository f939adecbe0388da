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

  it("stores block masks per block and N:M masks per element", () => {
    const block = mlc("ir", "test/fixtures/small-mlp/model.ts", "--train", "--prune", "0.5", "--prune-structure", "block:4x3");
    expect(block.stderr).toBe("");
    expect(block.status).toBe(0);
    // l1.w [6, 8] in 4x3 blocks: 2 x 3 (partial at the edges); l2.w [8, 3]: 2 x 1.
    expect(block.stdout).toMatch(/state %prune\/l1\.w\/mask: f32\[2, ?3\]/);
    expect(block.stdout).toMatch(/state %prune\/l2\.w\/mask: f32\[2, ?1\]/);
    expect(block.stdout.match(/= pruneMask /g)?.length).toBe(2);
    const nm = mlc("ir", "test/fixtures/small-mlp/model.ts", "--train", "--prune", "0.5", "--prune-structure", "2:4", "--prune-params", "l2.w", "--prune-schedule", "0:100:10");
    expect(nm.stderr).toBe("");
    expect(nm.status).toBe(0);
    expect(nm.stdout).toMatch(/state %prune\/l2\.w\/mask: f32\[8, ?3\]/);
    expect(nm.stdout).not.toMatch(/= pruneMask /);
  });

  it.each([
    [["--prune", "1.5"], /--prune: sparsity 1.5 must be a fraction in \[0, 1\]/],
    [["--prune", "0.5", "--prune-schedule", "9:2:1"], /--prune: schedule 9:2:1 must be START:END:EVERY/],
    [["--prune", "0.5", "--prune-schedule", "every 10"], /--prune-schedule must be "START:END:EVERY"/],
    [["--prune-structure", "channel"], /--prune-structure needs --prune SPARSITY/],
    [["--prune", "0.5", "--prune-scope", "global", "--prune-structure", "channel"], /global scope ranks elements and blocks only \(channels are ranked per layer so far\)/],
    [["--prune", "0.5", "--prune-scope", "global", "--prune-structure", "2:4"], /global scope ranks elements and blocks only \(N:M masks are per group of M\)/],
    [["--prune", "0.5", "--prune-structure", "block:0x2"], /--prune: structure block:0x2: a block has at least 1x1 elements/],
    [["--prune", "0.5", "--prune-structure", "block:4"], /--prune-structure must be "element", "channel", "block:RxC" \(e.g. "block:4x1"\) or "N:M"/],
    [["--prune", "0.5", "--prune-structure", "5:4"], /--prune: structure 5:4: N:M keeps N of every M, 0 <= N <= M/],
    [["--prune", "0.75", "--prune-structure", "2:4"], /--prune: structure 2:4 keeps 2 of every 4 weights, sparsity 0.5: the sparsity 0.75 contradicts it/],
    // l1.w is [6, 8]: 6 input rows, not groups of 4.
    [["--prune", "0.5", "--prune-structure", "2:4"], /prune: structure 2:4: 'l1.w' has 6 input rows \(shape \[6,8\]\), not a multiple of 4/],
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
    expect(trainingSpec({ prune: { sparsity: 0.5, structure: "block:4x1", norm: 2, scope: "global" } }).prune).toMatchObject({ structure: "block:4x1", norm: 2, scope: "global" });
    expect(trainingSpec({ prune: { sparsity: 0.5, structure: "2:4", schedule: "0:100:10" } }).prune).toMatchObject({ structure: "2:4", start: 0, end: 100, every: 10 });
    expect(() => trainingSpec({ prune: { sparsity: 0.5, structure: "block" } })).toThrow(/train\.prune\.structure must be "element", "channel", "block:RxC"/);
    expect(() => trainingSpec({ prune: { sparsity: 0.5, structure: "2:4", initialSparsity: 0.1 } })).toThrow(/train\.prune: structure 2:4 has no initial sparsity/);
    expect(() => trainingSpec({ prune: { schedule: "0:1:1" } })).toThrow(/train\.prune\.sparsity is required/);
    expect(() => trainingSpec({ prune: { sparsity: 0.5, every: 3 } })).toThrow(TrainSpecError);
  });
});
