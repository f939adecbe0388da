// The whole project type-checks under the strict tsconfig (vitest alone strips types unchecked).
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { expect, it } from "vitest";

it("tsc --noEmit reports no errors", () => {
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  let output = "";
  try {
    execFileSync(process.execPath, [tsc, "--noEmit", "-p", "."], { encoding: "utf8", stdio: "pipe" });
  } catch (e) {
    output = String((e as { stdout?: string }).stdout ?? e);
  }
  expect(output).toBe("");
}, 120_000);
