// `mlc mem --train` and checkpointing, through the real command line: the none / sqrt / auto
// table, the --tradeoff curve (JSON and SVG) and the flag errors; and the step's FLOP count
// (compiler/passes/checkpoint/cost.ts) against the conv FLOPs of examples/resnet counted by hand.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { CheckpointComparison, MemoryReport } from "../../compiler/cli/memory-report.ts";
import { graphFlops } from "../../compiler/passes/checkpoint/cost.ts";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import { buildTrainingProgram } from "../../compiler/driver/phases.ts";
import { trainingSpec } from "../../compiler/passes/train-options.ts";

const tmp = mkdtempSync(join(tmpdir(), "mlc-mem-checkpoint-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const RESNET = "examples/resnet/model.ts";

function mlc(...args: string[]) {
  const r = spawnSync(process.execPath, ["bin/mlc.js", ...args], { encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** "5.32 MiB" / "977.25 KiB" / "96 B" → bytes (formatBytes rounds to 2 decimals). */
function bytes(text: string): number {
  const m = /^([\d.]+) (B|KiB|MiB)$/.exec(text);
  if (!m) throw new Error(`not a byte size: '${text}'`);
  return Number(m[1]) * { B: 1, KiB: 1024, MiB: 1024 * 1024 }[m[2] as "B" | "KiB" | "MiB"];
}

/** The rows of the checkpointing table (after its header line), as cells. */
function checkpointTable(stdout: string): Map<string, string[]> {
  const lines = stdout.split("\n");
  const header = lines.findIndex((l) => /^mode\s+budget\s+planned arena\s+activation memory/.test(l));
  if (header < 0) throw new Error(`no checkpointing table in:\n${stdout}`);
  const rows = new Map<string, string[]>();
  for (const line of lines.slice(header + 1)) {
    if (line.trim() === "") break;
    const [mode, ...cells] = line.trim().split(/\s{2,}/);
    rows.set(mode, cells);
  }
  return rows;
}

describe("mlc mem --train: checkpointing", () => {
  it("tabulates none, sqrt and auto; both checkpointed arenas are below none's on resnet", () => {
    const { code, stdout, stderr } = mlc("mem", RESNET, "--train");
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(stdout).toMatch(/\ncheckpointing, batch 8: training step [\d.]+ MFLOP without recomputation\n/);
    expect(stdout).toMatch(/\nactivation memory = planned arena - pinned [\d.]+ KiB \(params /);
    const rows = checkpointTable(stdout);
    expect([...rows.keys()]).toEqual(["none", "sqrt", "auto"]);
    // cells: budget, planned arena, activation memory, estimated peak, recomputed nodes, extra FLOPs
    const arena = (mode: string) => bytes(rows.get(mode)![1]);
    const activation = (mode: string) => bytes(rows.get(mode)![2]);
    const extra = (mode: string) => Number(rows.get(mode)![5].replace(/%$/, ""));
    expect(arena("sqrt")).toBeLessThan(arena("none"));
    expect(arena("auto")).toBeLessThan(arena("none"));
    // The arena minus activation memory is the pinned part, the same for every policy (up to the
    // table's three significant digits: half a unit of the last one is at most 0.5% of a value).
    const pinned = arena("none") - activation("none");
    const rounding = (mode: string) => 0.005 * (arena(mode) + activation(mode) + arena("none") + activation("none"));
    for (const mode of ["sqrt", "auto"]) expect(Math.abs(arena(mode) - activation(mode) - pinned)).toBeLessThan(rounding(mode));
    expect(rows.get("none")![4]).toBe("0");
    expect(extra("none")).toBe(0);
    expect(extra("sqrt")).toBeGreaterThan(0);
    // The main table above is the un-checkpointed plan (--checkpoint none): the same arena.
    const planned = /\nplanned arena\s+(.+)\n/.exec(stdout)![1].trim();
    expect(bytes(planned)).toBe(arena("none"));
  }, 180_000);

  it("--tradeoff: budgets ascending from the least feasible peak, arena non-increasing as FLOPs grow; --svg draws one marker per budget", () => {
    const file = join(tmp, "tradeoff.svg");
    const { code, stdout, stderr } = mlc("mem", RESNET, "--train", "--tradeoff", "--json", "--svg", file);
    expect(code).toBe(0);
    expect(stderr).toBe(`wrote ${file}\n`);
    const [report] = (JSON.parse(stdout) as { batches: (MemoryReport & { checkpoint: CheckpointComparison })[] }).batches;
    const c = report.checkpoint;
    const t = c.tradeoff!;

    // The pinned bytes are exactly the naive bytes of the categories pinned for the whole step.
    const cat = report.categories;
    expect(c.pinned.total).toBe(cat.params.naive + cat["optimizer state"].naive + cat["other state"].naive + cat.inputs.naive);
    for (const r of [...c.modes, ...t.points, t.sqrt]) expect(r.activationBytes).toBe(r.arena - c.pinned.total);
    expect(c.modes.find((r) => r.mode === "none")!.arena).toBe(report.arena);

    // Ten evenly spaced budgets (plus sqrt's peak when it falls between), ascending, from the least feasible to the un-checkpointed peak.
    const budgets = t.points.map((p) => p.budgetBytes);
    expect(budgets.length).toBeGreaterThanOrEqual(10);
    expect(budgets).toEqual([...budgets].sort((a, b) => a - b));
    expect(new Set(budgets).size).toBe(budgets.length);
    expect(budgets[0]).toBe(t.leastPeak);
    expect(budgets[budgets.length - 1]).toBe(t.uncheckpointedPeak);
    expect(t.points.filter((p) => p.atSqrtPeak).map((p) => p.budgetBytes)).toEqual([t.sqrt.estimatedPeak]);
    // auto meets each budget by its own estimate; a larger budget never costs more recomputation.
    for (const p of t.points) expect(p.estimatedPeak).toBeLessThanOrEqual(p.budgetBytes);
    for (let i = 1; i < t.points.length; i++) expect(t.points[i].recomputedFlops).toBeLessThanOrEqual(t.points[i - 1].recomputedFlops);
    // At the un-checkpointed peak the drop-nothing policy fits, so auto recomputes nothing.
    expect(t.points[t.points.length - 1].extraFlopsPercent).toBe(0);
    // The curve: sorted by extra FLOPs, the planned arena does not grow.
    const byFlops = [...t.points].sort((a, b) => a.recomputedFlops - b.recomputedFlops || b.arena - a.arena);
    for (let i = 1; i < byFlops.length; i++) expect(byFlops[i].arena, `point ${i} of ${JSON.stringify(byFlops.map((p) => [p.extraFlopsPercent, p.arena]))}`).toBeLessThanOrEqual(byFlops[i - 1].arena);
    expect(byFlops[byFlops.length - 1].arena).toBeLessThan(0.5 * byFlops[0].arena);

    const svg = readFileSync(file, "utf8");
    expect(svg.startsWith("<svg ")).toBe(true);
    expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
    expect(svg.match(/<circle class="budget-point"/g)).toHaveLength(t.points.length);
    expect(svg.match(/<rect class="sqrt-point"/g)).toHaveLength(1);
    expect(svg).toContain("extra FLOPs (recomputation, % of the step)");
    // Well-formed XML, by an independent parser.
    const parsed = spawnSync("/usr/bin/python3", ["-c", `
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
ns = "{http://www.w3.org/2000/svg}"
print(root.tag, sum(1 for c in root.iter(ns + "circle") if c.get("class") == "budget-point"))
`, file], { encoding: "utf8" });
    expect(parsed.stderr).toBe("");
    expect(parsed.stdout.trim()).toBe(`{http://www.w3.org/2000/svg}svg ${t.points.length}`);
  }, 300_000);

  it("--memory-budget: auto's row names the budget and fits it; bad sizes and misuse are clear errors", () => {
    const ok = mlc("mem", "examples/cnn/model.ts", "--train", "--checkpoint", "auto", "--memory-budget", "2.2MB", "--json");
    expect(ok.code).toBe(0);
    const [b] = (JSON.parse(ok.stdout) as { batches: (MemoryReport & { checkpoint: CheckpointComparison })[] }).batches;
    const auto = b.checkpoint.modes.find((r) => r.mode === "auto")!;
    expect(auto.budgetBytes).toBe(2_200_000);
    expect(auto.estimatedPeak).toBeLessThanOrEqual(2_200_000);
    expect(b.arena).toBe(auto.arena); // the main report is the --checkpoint auto plan

    const bad = mlc("mem", RESNET, "--train", "--checkpoint", "auto", "--memory-budget", "64XB");
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe("error: --memory-budget: expected a size such as 1048576, 64MB or 1.5GiB, got '64XB'\n");
    const withoutAuto = mlc("mem", RESNET, "--train", "--memory-budget", "64MB");
    expect(withoutAuto.code).toBe(1);
    expect(withoutAuto.stderr).toBe("error: --memory-budget needs --checkpoint auto\n");
    const infeasible = mlc("mem", RESNET, "--train", "--checkpoint", "auto", "--memory-budget", "1000");
    expect(infeasible.code).toBe(1);
    expect(infeasible.stderr).toMatch(/^error: memory budget 1000 bytes is infeasible for 'resnet': the least peak checkpointing reaches is \d+ bytes\n$/);
    const tradeoffAlone = mlc("mem", RESNET, "--tradeoff");
    expect(tradeoffAlone.code).toBe(1);
    expect(tradeoffAlone.stderr).toBe("error: --tradeoff needs --train (it plans the training step under a range of checkpoint budgets)\n");
  }, 180_000);
});

describe("step FLOPs", () => {
  const model = compileModelFile(RESNET);
  const spec = trainingSpec(model.train);
  const { batch: B, size: S, channels: C, depth } = model.config as Record<string, number>;

  it("count conv2d's transposes as convolutions: resnet's step is its convs' FLOPs plus a few percent", () => {
    const step = buildTrainingProgram(model.graph, spec).trainStep;
    // Per conv: 2 FLOPs x output elements x 3*3*input channels. Each block conv runs forward,
    // input-gradient and filter-gradient; the stem's input (the images) gets no gradient.
    const blockConv = 2 * B * S * S * C * 9 * C;
    const stemConv = 2 * B * S * S * C * 9 * 3;
    const convs = 3 * 2 * depth * blockConv + 2 * stemConv;
    const total = graphFlops(step);
    expect(graphFlops(step, (n) => n.op.startsWith("conv2d"))).toBe(convs);
    expect(total).toBeGreaterThan(convs);
    expect(total).toBeLessThan(1.05 * convs);
  });

  it("a checkpointed step's FLOPs exceed the plain step's by exactly the pass's recomputed FLOPs", () => {
    const plain = graphFlops(buildTrainingProgram(model.graph, spec).trainStep);
    const sqrt = buildTrainingProgram(model.graph, { ...spec, checkpoint: { mode: "sqrt" } });
    const recomputed = sqrt.stats.checkpoint["recomputed-flops"];
    expect(recomputed).toBeGreaterThan(0);
    expect(graphFlops(sqrt.trainStep) - plain).toBe(recomputed);
    expect(graphFlops(sqrt.trainStep, (n) => n.recomputeOf !== undefined)).toBe(recomputed);
  }, 60_000);
});
