// `mlc mem model.ts [--train] [--batch 16,32,64] [--svg timeline.svg] [--json]` — plan a model's
// arena at one or more batch sizes and report the bytes: by category, naive (every value its own
// buffer), planned, the max-live lower bound, and the peak with and without memory-aware
// scheduling. `--svg` draws the arena timeline.

import { writeFileSync } from "node:fs";
import type { CommandModule } from "yargs";
import { compileModelFile } from "../../frontend/index.ts";
import { printGraph } from "../../ir/printer.ts";
import { verifyGraph } from "../../ir/verifier.ts";
import { categorize, CATEGORIES, memoryReport, type MemoryReport } from "../memory-report.ts";
import { parseSetFlags, UsageError, withModelOptions } from "../options.ts";
import { formatBytes, timelineSvg } from "../timeline-svg.ts";
import { trainingProgram, withTrainOptions, type TrainArgs } from "../training.ts";

interface MemArgs extends TrainArgs {
  model: string;
  set?: string[];
  batch?: string;
  svg?: string;
  json: boolean;
  "print-ir": boolean;
  "time-limit"?: number;
}

export const memCommand: CommandModule<object, MemArgs> = {
  command: "mem <model>",
  describe: "plan a model's arena and report its memory (by category, vs naive and the lower bound)",
  builder: (y) =>
    withTrainOptions(withModelOptions(y))
      .option("batch", { type: "string", describe: "batch sizes to plan, comma-separated (sets config.batch): --batch 16,32,64" })
      .option("svg", { type: "string", describe: "write the arena timeline as SVG (one file per batch size: name.b<batch>.svg when several)" })
      .option("json", { type: "boolean", default: false, describe: "print the report as JSON" })
      .option("print-ir", { type: "boolean", default: false, describe: "print the planned IR (slots, in-place operands) before the report" })
      .option("time-limit", { type: "number", describe: "planner search budget per plan, milliseconds" }) as never,
  handler: (args) => {
    const set = parseSetFlags(args.set);
    const batches = args.batch === undefined ? [undefined] : parseBatches(args.batch);
    if (args.batch !== undefined) requireBatchKey(args.model, set);
    const reports: MemoryReport[] = [];
    let graphName = "";
    for (const batch of batches) {
      const model = compileModelFile(args.model, { set: batch === undefined ? set : { ...set, batch: String(batch) } });
      verifyGraph(model.graph);
      const graph = args.train ? trainingProgram(model, args).trainStep : model.graph;
      graphName = graph.name;
      const forwardIds = new Set(model.graph.nodes.map((n) => n.id));
      const configBatch = typeof model.config.batch === "number" ? model.config.batch : undefined;
      const { report, planned } = memoryReport(graph, {
        forwardIds,
        ...(configBatch !== undefined ? { batch: configBatch } : {}),
        ...(args["time-limit"] !== undefined ? { timeLimitMs: args["time-limit"] } : {}),
      });
      reports.push(report);
      if (args["print-ir"]) process.stdout.write(printGraph(planned) + "\n");
      if (args.svg) {
        const file = batches.length > 1 ? args.svg.replace(/(\.svg)?$/i, `.b${batch}.svg`) : args.svg;
        const subtitle = `${args.train ? "training step" : "forward pass"}${configBatch !== undefined ? `, batch ${configBatch}` : ""}`;
        writeFileSync(file, timelineSvg(planned, { categoryOf: categorize(graph, forwardIds), subtitle }));
        process.stderr.write(`wrote ${file}\n`);
      }
    }
    const what = args.train ? "training step" : "forward pass";
    if (args.json) {
      process.stdout.write(JSON.stringify({ model: args.model, graph: graphName, step: args.train ? "train" : "forward", batches: reports }, null, 2) + "\n");
    } else {
      process.stdout.write(formatTable(`${graphName}, ${what}`, reports));
    }
  },
};

/** --batch sets config.batch, so the model must have one; say so before compiling per batch. */
function requireBatchKey(file: string, set: Record<string, string>): void {
  if ("batch" in set) throw new UsageError("give the batch size with --batch or --set batch=..., not both");
  const { config } = compileModelFile(file, { set });
  if (!Object.hasOwn(config, "batch")) {
    const keys = Object.keys(config);
    throw new UsageError(
      `--batch sets config.batch, but ${file} has no 'batch' in its config (${keys.length ? `config keys: ${keys.join(", ")}` : "it exports no config"}); ` +
        "plan it at its own size without --batch",
    );
  }
}

/** `16,32,64` → [16, 32, 64]; each a positive integer. */
export function parseBatches(text: string): number[] {
  const parts = text.split(",").map((s) => s.trim());
  const batches = parts.map(Number);
  const bad = parts.find((s, i) => s === "" || !Number.isInteger(batches[i]) || batches[i] < 1);
  if (bad !== undefined) throw new UsageError(`--batch expects positive integers separated by commas, got '${text}'`);
  return batches;
}

/** One column per batch size. */
export function formatTable(title: string, reports: readonly MemoryReport[]): string {
  const rows: Array<[string, (r: MemoryReport) => string]> = [];
  const section = (label: string) => rows.push([label, () => ""]);
  section("every value its own buffer (naive):");
  for (const c of CATEGORIES) rows.push([`  ${c}`, (r) => formatBytes(r.categories[c].naive)]);
  rows.push(["  total", (r) => formatBytes(r.naive)]);
  section("live at the peak step, planned:");
  for (const c of CATEGORIES) rows.push([`  ${c}`, (r) => formatBytes(r.categories[c].atPeak)]);
  rows.push(["max-live lower bound", (r) => formatBytes(r.lowerBound)]);
  rows.push(["planned arena", (r) => formatBytes(r.arena)]);
  rows.push(["planned / lower bound", (r) => r.ratio.toFixed(4)]);
  rows.push(["naive / planned", (r) => `${r.saving.toFixed(2)}x`]);
  rows.push(["peak, original order", (r) => formatBytes(r.peakUnscheduled)]);
  rows.push(["peak, memory-aware schedule", (r) => formatBytes(r.peakScheduled)]);
  rows.push(["in-place nodes", (r) => String(r.inplaceNodes)]);

  const header = ["", ...reports.map((r) => (r.batch !== undefined ? `batch ${r.batch}` : "default"))];
  const table = [header, ...rows.map(([label, cell]) => [label, ...reports.map(cell)])];
  const widths = header.map((_, col) => Math.max(...table.map((row) => row[col].length)));
  const lines = table.map((row) => row.map((cell, col) => (col === 0 ? cell.padEnd(widths[0]) : cell.padStart(widths[col] + 2))).join("").trimEnd());
  return `${title}: arena memory\n\n${lines.join("\n")}\n`;
}
