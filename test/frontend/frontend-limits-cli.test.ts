// `mlc build` of a model with a huge shape, through the real command line: exit code 1 and the
// located MLC206 diagnostic (not an internal error from the planner or binaryen), with the child's
// peak memory under 1 GB. The wall time is printed, not asserted. Also: `--limit` reaches the
// frontend, and a bad `--limit` is a usage error.

import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const tmp = mkdtempSync(join(tmpdir(), "mlc-limits-cli-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const BIN = pathToFileURL(resolve("bin/mlc.js")).href;

/** Runs bin/mlc.js in a node that prints its own peak RSS (KiB) to stderr on exit. */
function mlcWithPeak(...args: string[]) {
  const script = [
    `process.on("exit", () => process.stderr.write("\\nmaxrss_kib " + process.resourceUsage().maxRSS + "\\n"));`,
    // bin/mlc.js reads its arguments after argv[1], as when run as a script.
    `process.argv.splice(1, 0, "mlc");`,
    `await import(${JSON.stringify(BIN)});`,
  ].join("\n");
  const started = performance.now();
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script, ...args], { encoding: "utf8" });
  const seconds = (performance.now() - started) / 1000;
  const peak = /maxrss_kib (\d+)/.exec(r.stderr);
  return { code: r.status, stdout: r.stdout, stderr: r.stderr.replace(/\nmaxrss_kib \d+\n$/, ""), peakKiB: peak ? Number(peak[1]) : NaN, seconds };
}

function writeModel(name: string, body: string): string {
  const file = join(tmp, name);
  writeFileSync(file, `import { input, param, matmul } from "mlc";\nexport default function model() {\n  const x = input("x", [4, 8]);\n${body}\n}\n`);
  return file;
}

describe("mlc build with huge shapes", () => {
  it.each([
    ["param [1e9, 1e9]", `  const w = param("w", [1e9, 1e9]);\n  return matmul(x, w);`, "param 'w' of shape [1000000000, 1000000000]"],
    ["input of 2^31 elements", `  const big = input("big", [2 ** 31]);\n  return x.add(big.sum());`, "input 'big' of shape [2147483648]"],
  ])("%s: exit 1 with MLC206, peak memory under 1 GB", (_, body, message) => {
    const file = writeModel(`huge-${body.length}.ts`, body);
    const r = mlcWithPeak("build", file, "--out", join(tmp, "out"));
    process.stdout.write(`mlc build (${message}): exit ${r.code} in ${r.seconds.toFixed(2)} s, peak RSS ${(r.peakKiB / 1024).toFixed(0)} MiB\n`);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("error[MLC206]");
    expect(r.stderr).toContain(message);
    expect(r.stderr).toContain(`${file}:4:`);
    expect(r.stderr).not.toContain("internal compiler error");
    expect(r.peakKiB).toBeLessThan(1024 * 1024);
  });

  it("--limit reaches the frontend (a loop limit of 3 stops a 4-iteration loop); a bad --limit is a usage error", () => {
    const file = writeModel("loop.ts", `  let h = x;\n  for (let i = 0; i < 4; i++) h = h.add(1);\n  return h;`);
    const stopped = mlcWithPeak("ir", file, "--limit", "loop=3");
    expect(stopped.code).toBe(1);
    expect(stopped.stderr).toContain("error[MLC107]: loop runs more than 3 iterations");
    expect(mlcWithPeak("ir", file, "--limit", "loop=3,steps=5000", "--limit", "loop=4").code).toBe(0);
    const bad = mlcWithPeak("ir", file, "--limit", "loops=3");
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("unknown limit 'loops'");
  });
});
