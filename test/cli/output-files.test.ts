// What mlc leaves on disk when a write fails, is killed, or would destroy something:
// - a bundle is written all or none: under a file-size limit (ulimit -f) the build fails with a
//   clear message and the previous bundle's files are byte-identical, with no temp files; a
//   SIGKILL in the middle of writing the weights (or before the first rename) leaves the previous
//   files intact, and the next build removes the dead process's temp files;
// - a rebuild never silently replaces a weights file holding other (trained) weights; --force does;
// - an unwritable destination, a plan that fails verification and an arena larger than the target
//   can address are user errors: one message, exit code 1, no stack trace.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeSafetensors, encodeSafetensors } from "../../runtime/safetensors.ts";

const tmp = mkdtempSync(join(tmpdir(), "mlc-output-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const MODEL = "examples/mnist-mlp/model.ts";
const BUNDLE = ["mnistMlp.d.ts", "mnistMlp.js", "mnistMlp.plan.json", "mnistMlp.safetensors", "mnistMlp.wasm"];

function mlc(...args: string[]) {
  const r = spawnSync(process.execPath, ["bin/mlc.js", ...args], { encoding: "utf8", timeout: 120_000 });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** `mlc` through bash, after the shell command `setup` (ulimit), or with node's `--import` preload. */
function mlcIn(setup: string, nodeFlags: string[], ...args: string[]) {
  const quote = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;
  const line = `${setup}; exec ${[process.execPath, ...nodeFlags, "bin/mlc.js", ...args].map(quote).join(" ")}`;
  const r = spawnSync("bash", ["-c", line], { encoding: "utf8", timeout: 120_000 });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

function snapshot(dir: string): Record<string, Buffer> {
  return Object.fromEntries(readdirSync(dir).sort().map((f) => [f, readFileSync(join(dir, f))]));
}

function expectUserError(r: { code: number | null; stderr: string }, message: RegExp | string) {
  expect(r.stderr).not.toContain("internal compiler error");
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.stderr).toMatch(typeof message === "string" ? new RegExp(message.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")) : message);
  expect(r.code).toBe(1);
}

describe("a bundle is written all or none", () => {
  const dir = join(tmp, "bundle");
  let before: Record<string, Buffer>;
  beforeAll(() => {
    const r = mlc("build", MODEL, "--out", dir);
    expect(r.stderr).toBe("");
    before = snapshot(dir);
    expect(Object.keys(before)).toEqual(BUNDLE);
  }, 120_000);

  it("under a file-size limit the build fails cleanly and the previous files stay byte-identical, with no temp files", () => {
    // 100 KiB: every file but the 919 KiB weights fits, so all the others are written first.
    const r = mlcIn("ulimit -f 100", [], "build", MODEL, "--out", dir, "--seed", "3", "--force");
    expectUserError(r, /^error: cannot write .*mnistMlp\.safetensors: EFBIG \(file too large.*\); none of the files was replaced\n$/);
    expect(snapshot(dir)).toEqual(before);
  }, 120_000);

  // A preload that SIGKILLs the process at a chosen point of the write, deterministically.
  const killer = (when: "mid-weights" | "first-rename") => {
    const file = join(tmp, `kill-${when}.mjs`);
    writeFileSync(file, `import fs from "node:fs";
import { syncBuiltinESMExports } from "node:module";
const { writeSync, renameSync } = fs;
${when === "mid-weights"
  ? `fs.writeSync = function (fd, buf, off, len, ...rest) {
  if (typeof buf !== "string" && (len ?? buf.length) > 100000) { writeSync.call(fs, fd, buf, off, Math.floor(len / 2)); process.kill(process.pid, "SIGKILL"); }
  return writeSync.call(fs, fd, buf, off, len, ...rest);
};`
  : `fs.renameSync = function (from, to) { if (String(to).endsWith(".wasm")) process.kill(process.pid, "SIGKILL"); return renameSync.call(fs, from, to); };`}
syncBuiltinESMExports();
`);
    return file;
  };

  it.each(["mid-weights", "first-rename"] as const)("a SIGKILL %s leaves the previous files intact; the next build removes the dead temp files", (when) => {
    const r = mlcIn("true", ["--import", killer(when)], "build", MODEL, "--out", dir, "--seed", "4", "--force");
    expect(r.signal ?? (r.code === 137 ? "SIGKILL" : r.code)).toBe("SIGKILL");
    const after = snapshot(dir);
    for (const f of BUNDLE) expect(after[f], f).toEqual(before[f]);
    const temps = Object.keys(after).filter((f) => !BUNDLE.includes(f));
    expect(temps.length).toBeGreaterThan(0);
    for (const t of temps) expect(t).toMatch(/^\.mnistMlp\..*\.tmp-[0-9]+$/);
    // The same build again (same weights: allowed without --force) cleans up after the dead one.
    expect(mlc("build", MODEL, "--out", dir).code).toBe(0);
    expect(snapshot(dir)).toEqual(before);
  }, 120_000);
});

describe("a rebuild never silently replaces trained weights", () => {
  const dir = join(tmp, "trained");
  const weights = join(dir, "mnistMlp.safetensors");

  it("refuses when the weights file holds other values (nothing is written); --force replaces them", () => {
    expect(mlc("build", MODEL, "--train", "--out", dir).code).toBe(0);
    const initial = readFileSync(weights);
    // What a training run leaves there: the bundle's saveWeights(), the same tensors with new values.
    const file = decodeSafetensors(initial);
    const w = file.tensors["fc256.w"].data as Float32Array;
    for (let i = 0; i < w.length; i += 7) w[i] += 0.25;
    const trained = encodeSafetensors(file.tensors);
    writeFileSync(weights, trained);
    const before = snapshot(dir);

    // An inference rebuild (its script differs) into the same folder: refused, nothing touched.
    const r = mlc("build", MODEL, "--out", dir);
    expectUserError(r, `${weights} holds weights this build would not write`);
    expect(r.stderr).toContain("'fc256.w'");
    expect(r.stderr).toContain("--force");
    expect(snapshot(dir)).toEqual(before);
    // The same --train build is refused too: the values differ.
    expectUserError(mlc("build", MODEL, "--train", "--out", dir), "trained weights?");
    expect(readFileSync(weights)).toEqual(Buffer.from(trained));

    const forced = mlc("build", MODEL, "--train", "--out", dir, "--force");
    expect(forced.code).toBe(0);
    expect(readFileSync(weights)).toEqual(initial);
  }, 180_000);

  it("replaces a weights file when nothing in it would be lost (the same build, or --train over an inference bundle)", () => {
    const d = join(tmp, "superset");
    expect(mlc("build", MODEL, "--out", d).code).toBe(0);
    expect(mlc("build", MODEL, "--out", d).code).toBe(0);
    const inference = decodeSafetensors(readFileSync(join(d, "mnistMlp.safetensors"))).tensors;
    const r = mlc("build", MODEL, "--train", "--out", d);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const train = decodeSafetensors(readFileSync(join(d, "mnistMlp.safetensors"))).tensors;
    expect(Object.keys(train).length).toBeGreaterThan(Object.keys(inference).length);
    // ...but an inference build over it would drop the optimizer state: refused.
    expectUserError(mlc("build", MODEL, "--out", d), "would be dropped");
  }, 180_000);
});

describe("an unwritable destination is a user error", () => {
  const file = join(tmp, "a-file");
  beforeAll(() => writeFileSync(file, "not a directory\n"));

  it.each([
    ["/proc", "cannot write /proc/mnistMlp.wasm: ENOENT"],
    ["/proc/mlc/out", "cannot create the directory /proc/mlc/out: ENOENT"],
    ["<file>", "as a directory: it is not one"],
    ["<file>/sub", "ENOTDIR (a part of the path is a file, not a directory)"],
  ])("mlc build --out %s", (out, message) => {
    const r = mlc("build", MODEL, "--out", out.replace("<file>", file));
    expectUserError(r, message);
    expect(readFileSync(file, "utf8")).toBe("not a directory\n");
  }, 120_000);

  it("mlc init-weights, plan, mem --svg and --dump-dir say which file they cannot write", () => {
    expectUserError(mlc("init-weights", MODEL, "--out", "/proc/w.safetensors"), "error: cannot write /proc/w.safetensors: ENOENT");
    const csv = join(tmp, "p.csv");
    writeFileSync(csv, "id,lower,upper,size\n0,0,2,8\n1,1,3,8\n");
    expectUserError(mlc("plan", csv, "--out", `${file}/solution.csv`), `cannot write ${file}/solution.csv: ENOTDIR`);
    expectUserError(mlc("mem", MODEL, "--svg", "/proc/timeline.svg"), "cannot write /proc/timeline.svg");
    expectUserError(mlc("ir", MODEL, "--print-ir-after-all", "--dump-dir", `${file}/dumps`), "cannot create the directory");
  }, 120_000);

  it("a written file leaves no temp file beside it", () => {
    const d = join(tmp, "single");
    mkdirSync(d);
    expect(mlc("init-weights", MODEL, "--out", join(d, "w.safetensors")).code).toBe(0);
    expect(readdirSync(d)).toEqual(["w.safetensors"]);
  }, 120_000);
});

describe("models too large for their target are user errors", () => {
  // One 1.6 GB param and two 1.6 GB outer products alive together: every tensor under the
  // frontend's per-tensor limit (2 GiB) and the params under its 4 GiB total, but the planned
  // arena is 4.8 GB.
  const big = join(tmp, "big3.ts");
  // A param of 10^18 elements: its offsets are past 2^53, so no plan can be verified.
  const huge = join(tmp, "huge.ts");
  beforeAll(() => {
    writeFileSync(big, `import { input, param, matmul, add } from "mlc";
export default function big3() {
  const a = input("a", [20000, 1]);
  const b = input("b", [1, 20000]);
  const c = input("c", [20000, 1]);
  const d = input("d", [1, 20000]);
  return { y: add(add(matmul(a, b), matmul(c, d)), param("w", [20000, 20000])) };
}
`);
    writeFileSync(huge, `import { input, param, matmul } from "mlc";
export default function huge() {
  const x = input("x", [1, 1e9]);
  return { y: matmul(x, param("w", [1e9, 1e9])) };
}
`);
  });

  it.each(["wasm-simd", "webgpu"])("an arena past what %s addresses (4 GiB): mlc build refuses before emitting", (target) => {
    const out = join(tmp, `big-${target}`);
    const r = mlc("build", big, "--target", target, "--out", out);
    expectUserError(r, new RegExp(`error: the planned arena is 4\\d{9} bytes \\(4\\.\\d\\d GiB\\), more than ${target} can address`));
    expect(() => readdirSync(out)).toThrow();
  }, 120_000);

  it("mlc mem reports such an arena and says mlc build refuses it", () => {
    const r = mlc("mem", big);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("is more than wasm-simd can address (4096 MiB): mlc build refuses it");
  }, 120_000);

  it("a plan that fails verification (offsets past 2^53) is a clear error, exit code 1", () => {
    // Whichever check stops it first (the frontend's size limits or the plan verifier), it is the
    // user's model that is too large, never an internal error.
    for (const r of [mlc("build", huge, "--out", join(tmp, "huge")), mlc("mem", huge)]) {
      expect(r.stderr).not.toContain("internal compiler error");
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(r.code).toBe(1);
    }
  }, 120_000);
});

describe("mlc train's run directory", () => {
  it("an --out that cannot be created is one line, exit code 1", async () => {
    const { good, mlc: train, tmp: trainTmp } = await import("../support/train-errors.ts");
    const r = train("train", "examples/cnn/model.ts", "--data", good, "--batch", "16", "--steps", "1", "--out", "/proc/mlc-run");
    expect(r.stderr).toBe("error: cannot create the directory /proc/mlc-run: ENOENT (no such file or directory)\n");
    expect(r.status).toBe(1);
    expect(readdirSync(trainTmp).filter((f) => f.startsWith("mlc-train-bundle-"))).toEqual([]);
  }, 120_000);
});
