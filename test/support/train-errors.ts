// The refusals of bad input to `mlc train` (test/train/train-errors*.test.ts): one line on stderr
// naming the tensor and the file, exit code 1, no stack trace, and no run directory (nor a stray
// compiled bundle) left behind.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect } from "vitest";
import { syntheticImages, writeIdx } from "./train-data.ts";

export const tmp = mkdtempSync(join(tmpdir(), "mlc-train-errors-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
export const env = { ...process.env, TMPDIR: tmp };
export const mlc = (...args: string[]) => spawnSync(process.execPath, ["bin/mlc.js", ...args], { env, encoding: "utf8" });

export const set = syntheticImages(64, 4);
export const d = join(tmp, "data");
mkdirSync(d);
export const good = writeIdx(d, set, "good", false);
export const [goodImages, goodLabels] = good.split(",").map((p) => p.split("=")[1]);

/** Runs `mlc train` on DATA; expects one error line (exact when given), exit 1, nothing written. */
export function refuses(data: string, expected: string | RegExp, extra: string[] = []) {
  const out = join(tmp, `run-${Math.random().toString(36).slice(2)}`);
  const r = mlc("train", "examples/cnn/model.ts", "--data", data, "--batch", "16", "--out", out, ...extra);
  expect(r.status).toBe(1);
  expect(r.stdout).toBe("");
  expect(r.stderr.split("\n")).toHaveLength(2); // one line and its newline
  expect(r.stderr).not.toMatch(/\n\s+at /);
  if (typeof expected === "string") expect(r.stderr).toBe(`error: ${expected}\n`);
  else expect(r.stderr).toMatch(expected);
  expect(existsSync(out)).toBe(false);
  expect(readdirSync(tmp).filter((f) => f.startsWith("mlc-train-bundle-"))).toEqual([]);
}

