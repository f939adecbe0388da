// The one writer of every file mlc writes (compiler/cli/atomic-write.ts): a set of files all or
// none, temp files removed on failure and after a killed writer, failures of the destination as
// OutputErrors (user errors), names too long for a temp suffix handled.
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ensureDirectory, OutputError, tempPath, writeFileAtomic, writeFilesAtomic } from "../../compiler/cli/atomic-write.ts";
import { isUserError } from "../../compiler/cli/errors.ts";
import { PlanVerifyError, verifyPlan } from "../../compiler/ir/plan-verify.ts";
import { ArenaTooLargeError } from "../../compiler/driver/compile.ts";
import { WeightsConflictError } from "../../compiler/cli/keep-weights.ts";

const tmp = mkdtempSync(join(tmpdir(), "mlc-atomic-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function fresh(name: string): string {
  const dir = join(tmp, name);
  mkdirSync(dir);
  return dir;
}

function caught(f: () => void): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error("did not throw");
}

describe("writeFilesAtomic", () => {
  it("replaces every file of the set", () => {
    const dir = fresh("set");
    writeFileSync(join(dir, "a"), "old a");
    writeFilesAtomic([{ path: join(dir, "a"), data: "new a" }, { path: join(dir, "b"), data: new Uint8Array([1, 2]) }]);
    expect(readFileSync(join(dir, "a"), "utf8")).toBe("new a");
    expect([...readFileSync(join(dir, "b"))]).toEqual([1, 2]);
    expect(readdirSync(dir).sort()).toEqual(["a", "b"]);
  });

  it("replaces none when one file cannot be written, and leaves no temp file", () => {
    const dir = fresh("none");
    writeFileSync(join(dir, "a"), "old a");
    writeFileSync(join(dir, "file"), "a file, not a directory");
    const e = caught(() => writeFilesAtomic([{ path: join(dir, "a"), data: "new a" }, { path: join(dir, "file", "b"), data: "b" }]));
    expect(e).toBeInstanceOf(OutputError);
    expect(e.message).toBe(`cannot write ${join(dir, "file", "b")}: ENOTDIR (a part of the path is a file, not a directory); none of the files was replaced`);
    expect(isUserError(e)).toBe(true);
    expect(readFileSync(join(dir, "a"), "utf8")).toBe("old a");
    expect(readdirSync(dir).sort()).toEqual(["a", "file"]);
  });

  it("refuses a target that is a directory before writing anything", () => {
    const dir = fresh("target-dir");
    mkdirSync(join(dir, "b"));
    const e = caught(() => writeFilesAtomic([{ path: join(dir, "a"), data: "a" }, { path: join(dir, "b"), data: "b" }]));
    expect(e.message).toBe(`cannot write ${join(dir, "b")}: it is a directory`);
    expect(readdirSync(dir)).toEqual(["b"]);
  });

  it("removes temp files of a process that no longer runs, and keeps those of running ones", () => {
    const dir = fresh("stale");
    const pidMax = Number(readFileSync("/proc/sys/kernel/pid_max", "utf8"));
    const dead = tempPath(join(dir, "w.bin"), pidMax + 1); // no process can have this id
    const alive = tempPath(join(dir, "w.bin"), process.ppid);
    const other = tempPath(join(dir, "other.bin"), pidMax + 1); // not a target of this write
    for (const f of [dead, alive, other]) writeFileSync(f, "partial");
    writeFileAtomic(join(dir, "w.bin"), "whole");
    expect(readdirSync(dir).sort()).toEqual([alive, other, join(dir, "w.bin")].map((p) => p.slice(dir.length + 1)).sort());
  });

  it("keeps the permission bits of the file it replaces", () => {
    const dir = fresh("mode");
    const path = join(dir, "secret.safetensors");
    writeFileSync(path, "old");
    chmodSync(path, 0o600);
    writeFileAtomic(path, "new");
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readFileSync(path, "utf8")).toBe("new");
  });

  it("writes a file whose name leaves no room for a temp suffix", () => {
    const dir = fresh("long");
    const name = "n".repeat(250);
    writeFileAtomic(join(dir, name), "x");
    expect(readdirSync(dir)).toEqual([name]);
    expect(tempPath(join(dir, name)).length - dir.length).toBeLessThan(60);
  });
});

describe("ensureDirectory", () => {
  it("creates missing parents and returns the first it created", () => {
    const base = fresh("mk");
    expect(ensureDirectory(join(base, "a", "b"))).toBe(join(base, "a"));
    expect(ensureDirectory(join(base, "a", "b"))).toBeUndefined();
  });

  it("says what is wrong with a destination that cannot be a directory, and returns (/proc)", () => {
    const base = fresh("bad");
    writeFileSync(join(base, "f"), "");
    expect(caught(() => ensureDirectory(join(base, "f"))).message).toBe(`cannot use ${join(base, "f")} as a directory: it is not one`);
    expect(caught(() => ensureDirectory(join(base, "f", "x"))).message).toMatch(/ENOTDIR/);
    // Node's own mkdirSync({ recursive: true }) never returns here.
    const e = caught(() => ensureDirectory("/proc/mlc-test/out"));
    expect(e.message).toBe("cannot create the directory /proc/mlc-test/out: ENOENT (no such file or directory)");
    expect(isUserError(e)).toBe(true);
  });
});

describe("downstream errors that are the user's", () => {
  it("are recognised as user errors (one line, exit code 1)", () => {
    for (const e of [new PlanVerifyError([]), new ArenaTooLargeError("x"), new WeightsConflictError("x"), new OutputError("x")]) expect(isUserError(e), e.name).toBe(true);
  });

  it("a plan offset past 2^53 is named as a model too large for any arena", () => {
    const problem = { buffers: [{ id: "w", lower: 0, upper: 1, size: 8 }], alignment: 1 };
    const [v] = verifyPlan(problem, { offsets: [4e18], arena: 4e18 + 8 });
    expect(v.message).toBe("buffer 'w' has offset 4000000000000000000, past 2^53 bytes: the buffers are too large for any arena (make the model's tensors smaller)");
  });

  it("any other violation of a plan mlc made is named as mlc's bug in the message", () => {
    const problem = { buffers: [{ id: "a", lower: 0, upper: 2, size: 8 }, { id: "b", lower: 1, upper: 3, size: 8 }], alignment: 1 };
    const tooLarge = new PlanVerifyError(verifyPlan(problem, { offsets: [4e18, 8e18], arena: 8e18 + 8 }));
    expect(tooLarge.message).not.toContain("bug in mlc");
    const overlap = new PlanVerifyError(verifyPlan(problem, { offsets: [0, 4], arena: 12 }));
    expect(overlap.message).toMatch(/overlap\n  \(mlc verifies every plan it makes: unless this plan came from you, this is a bug in mlc, please report it\)$/);
  });
});
