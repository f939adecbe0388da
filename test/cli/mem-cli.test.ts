// `mlc mem` through the real command line: the table per batch size, the JSON report, the SVG
// timeline (parsed by Python's XML parser, an independent reader), and its errors.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CATEGORIES, type MemoryReport } from "../../compiler/cli/memory-report.ts";
import { parseGraph } from "../../compiler/ir/parser.ts";
import { printGraph } from "../../compiler/ir/printer.ts";
import { verifyGraph } from "../../compiler/ir/verifier.ts";

const tmp = mkdtempSync(join(tmpdir(), "mlc-mem-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function mlc(...args: string[]) {
  const r = spawnSync(process.execPath, ["bin/mlc.js", ...args], { encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The cells of a table row by its label. */
function row(table: string, label: string): string[] {
  const line = table.split("\n").find((l) => l.startsWith(label + " ") || l.startsWith(label + "  "));
  if (!line) throw new Error(`no row '${label}' in:\n${table}`);
  return line.slice(label.length).trim().split(/\s{2,}/);
}

describe("mlc mem", () => {
  it("prints a table per batch size with the saving against naive", () => {
    const { code, stdout, stderr } = mlc("mem", "examples/mnist-mlp/model.ts", "--train", "--batch", "16,64");
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(stdout).toMatch(/^mnistMlp, training step: arena memory\n/);
    expect(stdout.split("\n")[2].trim().split(/\s{2,}/)).toEqual(["batch 16", "batch 64"]);
    for (const label of [...CATEGORIES.map((c) => "  " + c), "max-live lower bound", "planned arena", "peak, original order", "peak, memory-aware schedule"]) {
      expect(row(stdout, label)).toHaveLength(2);
    }
    const saving = row(stdout, "naive / planned").map((s) => Number(s.replace(/x$/, "")));
    for (const s of saving) expect(s).toBeGreaterThan(1.5);
    for (const r of row(stdout, "planned / lower bound")) expect(Number(r)).toBeLessThanOrEqual(1.02);
  }, 60_000);

  it("--json reports arena, lower bound and naive bytes per batch size, consistently", () => {
    const { code, stdout } = mlc("mem", "examples/recsys/model.ts", "--train", "--batch", "32,128", "--json");
    expect(code).toBe(0);
    const report = JSON.parse(stdout) as { graph: string; step: string; batches: MemoryReport[] };
    expect(report.graph).toBe("recsys");
    expect(report.step).toBe("train");
    expect(report.batches.map((b) => b.batch)).toEqual([32, 128]);
    for (const b of report.batches) {
      expect(b.naive).toBeGreaterThan(b.arena);
      expect(b.arena).toBeGreaterThanOrEqual(b.lowerBound);
      expect(b.arena / b.lowerBound).toBeLessThanOrEqual(1.02);
      expect(b.ratio).toBeCloseTo(b.arena / b.lowerBound, 12);
      expect(b.peakScheduled).toBe(b.lowerBound);
      expect(b.peakUnscheduled).toBeGreaterThanOrEqual(b.peakScheduled);
      // The categories split the naive total, and the peak's live bytes are the lower bound.
      expect(CATEGORIES.reduce((s, c) => s + b.categories[c].naive, 0)).toBe(b.naive);
      expect(CATEGORIES.reduce((s, c) => s + b.categories[c].atPeak, 0)).toBe(b.lowerBound);
      expect(b.categories.params.naive).toBe(b.categories.params.atPeak); // params live throughout
    }
    // Params do not grow with the batch; activations do.
    const [small, large] = report.batches;
    expect(large.categories.params.naive).toBe(small.categories.params.naive);
    expect(large.categories.activations.naive).toBeGreaterThan(small.categories.activations.naive);
    expect(large.arena).toBeGreaterThan(small.arena);
  }, 60_000);

  it("--svg draws one rectangle per buffer, with axes and a legend, as well-formed XML", () => {
    const file = join(tmp, "timeline.svg");
    const { code, stderr } = mlc("mem", "examples/cnn/model.ts", "--train", "--svg", file);
    expect(code).toBe(0);
    expect(stderr).toBe(`wrote ${file}\n`);
    const count = spawnSync("/usr/bin/python3", ["-c", `
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
ns = "{http://www.w3.org/2000/svg}"
rects = root.iter(ns + "rect")
titled = sum(1 for r in root.iter(ns + "rect") if r.find(ns + "title") is not None)
texts = [t.text for t in root.iter(ns + "text")]
print(root.tag, titled, "schedule step (node index)" in texts, "arena offset" in texts, sum(1 for t in texts if t and t.startswith("activations (")))
`, file], { encoding: "utf8" });
    expect(count.stderr).toBe("");
    const [tag, titled, xLabel, yLabel, legend] = count.stdout.trim().split(" ");
    expect(tag).toBe("{http://www.w3.org/2000/svg}svg");
    // One titled rectangle per buffer: the report's buffer count is the number of alias classes.
    const json = JSON.parse(mlc("mem", "examples/cnn/model.ts", "--train", "--json").stdout) as { batches: MemoryReport[] };
    expect(Number(titled)).toBe(json.batches[0].buffers);
    expect([xLabel, yLabel, legend]).toEqual(["True", "True", "1"]);
    expect(readFileSync(file, "utf8")).toContain("max-live lower bound");
  }, 60_000);

  it("names the batch size in the file when planning several", () => {
    const file = join(tmp, "multi.svg");
    const { code, stderr } = mlc("mem", "examples/recsys/model.ts", "--batch", "8,16", "--svg", file);
    expect(code).toBe(0);
    expect(stderr).toBe(`wrote ${join(tmp, "multi.b8.svg")}\nwrote ${join(tmp, "multi.b16.svg")}\n`);
  }, 60_000);

  it("says clearly when the model has no batch size to set, or the sizes are malformed", () => {
    const none = mlc("mem", "docs/examples/two-layer-mlp.ts", "--batch", "8");
    expect(none.code).toBe(1);
    expect(none.stderr).toBe(
      "error: --batch sets config.batch, but docs/examples/two-layer-mlp.ts has no 'batch' in its config (it exports no config); plan it at its own size without --batch\n",
    );
    const bad = mlc("mem", "examples/recsys/model.ts", "--batch", "16,x");
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe("error: --batch expects positive integers separated by commas, got '16,x'\n");
    const both = mlc("mem", "examples/recsys/model.ts", "--batch", "16", "--set", "batch=8");
    expect(both.stderr).toBe("error: give the batch size with --batch or --set batch=..., not both\n");
  }, 60_000);

  it("--print-ir prints the planned graph, which parses back and verifies", () => {
    const { code, stdout } = mlc("mem", "examples/recsys/model.ts", "--train", "--print-ir");
    expect(code).toBe(0);
    const ir = stdout.slice(0, stdout.indexOf("\n}\n") + 3);
    const g = parseGraph(ir);
    verifyGraph(g);
    expect(ir).toMatch(/^graph recsys \{\n  memory arena=\d+ align=16\n/);
    expect(printGraph(g)).toBe(ir);
    expect(stdout.slice(ir.length)).toMatch(/^\nrecsys, training step: arena memory\n/);
  }, 60_000);

  it("plans the forward pass at the model's own batch without --batch", () => {
    const { code, stdout } = mlc("mem", "examples/transformer/model.ts", "--json");
    expect(code).toBe(0);
    const [b] = (JSON.parse(stdout) as { batches: MemoryReport[] }).batches;
    expect(b.batch).toBe(4);
    expect(b.categories.gradients.naive).toBe(0);
    expect(b.categories["optimizer state"].naive).toBe(0);
  }, 60_000);
});
