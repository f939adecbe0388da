// IR dumps between passes: `--print-ir-after-all` shows every pass that runs, in the order
// `mlc passes` lists them, the last being the planned IR the backend emits; single passes, dumps
// before a pass, --dump-dir files, and a pass name that does not exist.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseGraph } from "../../compiler/ir/parser.ts";
import { verifyGraph } from "../../compiler/ir/verifier.ts";

const tmp = mkdtempSync(join(tmpdir(), "mlc-dumps-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function mlc(...args: string[]) {
  const r = spawnSync(process.execPath, ["bin/mlc.js", ...args], { encoding: "utf8", maxBuffer: 1 << 28 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The dump's sections: header pass name → the text under it. */
function sections(text: string): Array<{ when: string; pass: string; body: string }> {
  const parts = text.split(/^\*\*\* IR (before|after) ([a-z-]+) \*\*\*\n/m);
  const out = [];
  for (let i = 1; i < parts.length; i += 3) out.push({ when: parts[i], pass: parts[i + 1], body: parts[i + 2] });
  return out;
}

describe("--print-ir-after-all", () => {
  const passes = JSON.parse(mlc("passes", "--json").stdout) as Array<{ name: string; phase: string; when: string }>;
  const build = mlc("build", "examples/transformer/model.ts", "--train", "--print-ir-after-all", "--out", join(tmp, "t"));

  it("shows every pass of the pipeline in order, skipping only those the flags leave out", () => {
    expect(build.code).toBe(0);
    const shown = sections(build.stderr).map((s) => s.pass);
    // Passes that a flag this build does not give turns on (--accumulate, --checkpoint,
    // --precision, ...) do not run; every other one does, in the registry's order (also those
    // that only a --no-... flag would turn off).
    const needsFlag = (when: string) => /--(?!train\b)[a-z]/.test(when.replace("--train without --accumulate", "--train").replace(/, unless --no-[a-z-]+/, ""));
    expect(shown).toEqual(passes.filter((p) => !needsFlag(p.when)).map((p) => p.name));
    expect(shown).toContain("autodiff");
    for (const phase of ["training", "cleanup", "fusion", "memory"]) expect(passes.map((p) => p.phase)).toContain(phase);
  });

  it("ends with the planned IR of every entry, slots included, which parses and verifies", () => {
    const last = sections(build.stderr).at(-1)!;
    expect(last.pass).toBe("plan");
    const graphs = last.body.split(/\n(?=graph )/).map((t) => parseGraph(t));
    // forward, then train_step (both carry the model's name)
    expect(graphs.map((g) => g.name)).toEqual(["transformer", "transformer"]);
    expect(graphs[1].nodes.length).toBeGreaterThan(graphs[0].nodes.length);
    for (const g of graphs) {
      expect(g.memory).toBeDefined();
      verifyGraph(g);
    }
    expect(last.body).toContain("@arena[");
    const plan = JSON.parse(readFileSync(join(tmp, "t", "transformer.plan.json"), "utf8")) as { arena: number };
    expect(Math.max(...graphs.map((g) => g.memory!.arena))).toBe(plan.arena);
  });
});

describe("selected dumps", () => {
  it("--print-ir-after=NAME,NAME and --print-ir-before=NAME print only those, in pipeline order", () => {
    const r = mlc("ir", "examples/mnist-mlp/model.ts", "--train", "--print-ir-after=plan,fuse", "--print-ir-before=autodiff");
    expect(r.code).toBe(0);
    expect(sections(r.stderr).map((s) => `${s.when} ${s.pass}`)).toEqual(["before autodiff", "after fuse", "after plan"]);
  });

  it("--dump-dir writes one numbered file per section", () => {
    const dir = join(tmp, "dumps");
    const r = mlc("mem", "examples/mnist-mlp/model.ts", "--print-ir-after-all", "--dump-dir", dir);
    expect(r.code).toBe(0);
    const files = readdirSync(dir).sort();
    expect(files[0]).toBe("01-after-dce.ir");
    expect(files.at(-1)).toMatch(/^\d\d-after-plan\.ir$/);
    expect(readFileSync(join(dir, files.at(-1)!), "utf8")).toContain("@arena[");
  });

  it("an unknown pass name is a usage error that lists the passes", () => {
    const r = mlc("build", "examples/mnist-mlp/model.ts", "--print-ir-after=fusion", "--out", join(tmp, "x"));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("no pass named 'fusion'");
    expect(r.stderr).toContain("fuse-epilogues");
    expect(r.stderr).not.toContain("    at ");
  });
});
