// The CLI's start-up: bin/mlc.js runs the compiled JavaScript in dist/ (scripts/build.mjs), and
// `mlc --help` loads none of the heavy packages (ts-morph, typescript, binaryen, webgpu): every
// command's module is imported only when that command runs (compiler/cli/main.ts). A static
// import of a command or of the frontend in main.ts fails the first test.

import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { COMMANDS, loadCommand } from "../../compiler/cli/main.ts";

const HEAVY = ["ts-morph", "@ts-morph/common", "typescript", "binaryen", "webgpu"];
const tmp = mkdtempSync(join(tmpdir(), "mlc-startup-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Runs `node bin/mlc.js ...args` and returns its result and the URLs of every module it loaded. */
function traced(args: string[], env: Record<string, string> = {}) {
  const log = join(tmp, `imports-${Math.random().toString(36).slice(2)}.txt`);
  const r = spawnSync(process.execPath, ["--import", "./test/support/record-imports.mjs", "bin/mlc.js", ...args], {
    encoding: "utf8",
    env: { ...process.env, MLC_FROM_SOURCE: "", ...env, MLC_IMPORT_LOG: log },
  });
  let loaded: string[] = [];
  try {
    loaded = readFileSync(log, "utf8").split("\n").filter(Boolean);
  } catch {
    // nothing was recorded
  }
  return { ...r, loaded };
}

const packagesIn = (urls: readonly string[]) =>
  new Set(urls.flatMap((u) => [...u.matchAll(/\/node_modules\/((?:@[^/]+\/)?[^/]+)\//g)].map((m) => m[1]!)));

describe("mlc --help", () => {
  it("runs the compiled CLI and loads no heavy package", () => {
    const r = traced(["--help"]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    for (const c of COMMANDS) expect(r.stdout).toContain(c.describe.slice(0, 20));
    // The hook saw the run (yargs), which was the compiled main, not the sources through tsx.
    const packages = packagesIn(r.loaded);
    expect(packages).toContain("yargs");
    expect(r.loaded.some((u) => u.endsWith("/dist/compiler/cli/main.js"))).toBe(true);
    expect(r.loaded.filter((u) => u.endsWith(".ts"))).toEqual([]);
    expect(packages.has("tsx")).toBe(false);
    expect(HEAVY.filter((p) => packages.has(p))).toEqual([]);
  });

  it("a command loads its module when it runs, and its own --help lists its options", () => {
    const r = traced(["ir", "--help"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("--set");
    expect(r.stdout).toContain("--train");
    expect(r.loaded.some((u) => u.endsWith("/dist/compiler/cli/commands/ir.js"))).toBe(true);
    expect(r.loaded.some((u) => u.endsWith("/dist/compiler/cli/commands/build.js"))).toBe(false);
  });

  it("an unknown command is a usage error", () => {
    const r = traced(["no-such-command"]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("error: Unknown argument: no-such-command");
  });
});

describe("the command table in main.ts", () => {
  it("matches each command module's usage string and description", async () => {
    for (const entry of COMMANDS) {
      const module = await loadCommand(entry);
      expect({ command: module.command, describe: module.describe }).toEqual({ command: entry.command, describe: entry.describe });
    }
    const names = COMMANDS.map((c) => c.command.split(" ")[0]);
    expect(new Set(names).size).toBe(names.length);
  });
});

describe("bin/mlc.js", () => {
  it("fails with a clear message when dist/ was never built", () => {
    // A copy of the launcher with sources but no dist/ beside it.
    const root = join(tmp, "unbuilt");
    for (const d of ["bin", "scripts", "compiler", "runtime"]) mkdirSync(join(root, d), { recursive: true });
    copyFileSync("bin/mlc.js", join(root, "bin", "mlc.js"));
    copyFileSync("scripts/build.mjs", join(root, "scripts", "build.mjs"));
    const r = spawnSync(process.execPath, [join(root, "bin", "mlc.js"), "--help"], { encoding: "utf8", env: { ...process.env, MLC_FROM_SOURCE: "" } });
    expect(r.status).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("dist/ has not been built");
    expect(r.stderr).toContain("npm run build");
  });

  it("runs the TypeScript sources through tsx with MLC_FROM_SOURCE=1", () => {
    const r = traced(["--help"], { MLC_FROM_SOURCE: "1" });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("mlc <command> [options]");
    expect(r.loaded.some((u) => u.endsWith("/compiler/cli/main.ts"))).toBe(true);
    expect(r.loaded.some((u) => u.includes("/dist/compiler/") && !u.includes("/node_modules/"))).toBe(false);
  });
});
