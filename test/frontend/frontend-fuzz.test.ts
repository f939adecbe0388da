// The frontend fuzzer (scripts/fuzz/) on a few hundred mutated example models: none may hang,
// crash or end in an internal error; the mutations are reproducible from (seed, case); and the
// fuzzer itself tells those outcomes apart and writes their reproducers.

import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadExamples, runFuzz } from "../../scripts/fuzz/fuzz.ts";
import { mutateCase } from "../../scripts/fuzz/mutate.ts";

const out = mkdtempSync(join(tmpdir(), "mlc-fuzz-test-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe("frontend fuzzer", () => {
  it("mutations are a function of (seed, case) and change the example", () => {
    const examples = loadExamples();
    expect(examples.map((e) => e.name)).toContain("resnet");
    expect(mutateCase(examples, 7, 3)).toEqual(mutateCase(examples, 7, 3));
    const cases = Array.from({ length: 50 }, (_, i) => mutateCase(examples, 7, i));
    expect(cases.filter((c) => c.src !== examples.find((e) => e.name === c.example)!.src).length).toBeGreaterThan(45);
    expect(new Set(cases.flatMap((c) => c.mutations.map((m) => m.split(":")[0]))).size).toBeGreaterThanOrEqual(8);
  });

  it("250 cases: no hang, no crash, no internal error", { timeout: 600_000 }, async () => {
    const report = await runFuzz({ count: 250, seed: 20, jobs: 2, timeoutMs: 60_000, outDir: join(out, "run") });
    process.stdout.write(`fuzz 250 cases in ${report.seconds.toFixed(1)} s: ${JSON.stringify(report.counts)}\n`);
    expect(report.reproducers).toEqual([]);
    expect({ hang: report.counts.hang, crash: report.counts.crash, internal: report.counts.internal }).toEqual({ hang: 0, crash: 0, internal: 0 });
    expect(report.counts.compiled + report.counts.diagnostic).toBe(250);
    expect(report.counts.diagnostic).toBeGreaterThan(100);
  });

  it("a case past the time limit is a hang, with its reproducer written", { timeout: 120_000 }, async () => {
    // A limit no compilation meets: every case is a hang, its worker terminated and replaced.
    const report = await runFuzz({ count: 2, seed: 1, jobs: 1, timeoutMs: 1, outDir: join(out, "hang") });
    expect(report.counts.hang).toBe(2);
    const files = readdirSync(join(out, "hang")).sort();
    expect(files).toEqual(["seed1-case0-hang.json", "seed1-case0-hang.ts", "seed1-case1-hang.json", "seed1-case1-hang.ts"]);
    const meta = JSON.parse(readFileSync(join(out, "hang", "seed1-case0-hang.json"), "utf8"));
    expect(meta).toMatchObject({ seed: 1, case: 0, outcome: "hang" });
    expect(readFileSync(join(out, "hang", "seed1-case0-hang.ts"), "utf8")).toBe(mutateCase(loadExamples(), 1, 0).src);
  });
});
