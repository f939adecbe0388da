// `mlc mem model.ts [--target T] [--train [--checkpoint MODE] [--memory-budget SIZE] [--tradeoff]]
// [--batch 16,32,64] [--svg FILE] [--json]` — plan a model's arena at one or more batch sizes, as
// `mlc build --target T` with the same flags plans it (the driver's pipeline: every entry point,
// fused, with the backend's workspaces, in one arena), and report the bytes: by category, naive
// (every value its own buffer), planned, the max-live lower bound, and the peak with and without
// memory-aware scheduling. `--svg` draws the arena timeline of the train step (or forward pass).
//
// With --train it also plans the training step under each checkpoint policy (none, sqrt, auto
// with --memory-budget if given) and shows arena, activation memory and recomputation overhead
// side by side; `--tradeoff` adds auto's memory-versus-recompute curve over a range of budgets,
// which `--svg` then draws instead of the timeline (tradeoff-svg.ts).
//
// `--train --fit SIZE [--effective-batch N]` prints instead, per checkpoint mode, the largest
// config.batch whose planned arena fits SIZE (fit-batch.ts), and the accumulation count for N.

import type { CommandModule } from "yargs";
import { compile, compileFront, fuseFront, loadBackend, planFused } from "../../driver/index.ts";
import { compileModelFile } from "../../frontend/index.ts";
import { printGraph } from "../../ir/printer.ts";
import { verifyGraph } from "../../ir/verifier.ts";
import { categorize, CATEGORIES, checkpointComparison, mainEntry, memoryReport, type CheckpointComparison, type CheckpointRow, type MemoryReport } from "../memory-report.ts";
import { irDumps, withPipelineOptions, type PipelineArgs } from "../pipeline-options.ts";
import { parseSetFlags, UsageError, withModelOptions } from "../options.ts";
import { formatBytes, timelineSvg } from "../timeline-svg.ts";
import { checkpointOptions, precisionOptions, programForward, trainingOptions, withTrainOptions, type TrainArgs } from "../training.ts";
import { tradeoffSvg } from "../tradeoff-svg.ts";
import { accumulationFor, fitBatch, formatFit } from "../fit-batch.ts";
import { parseByteSize } from "../byte-size.ts";
import { writeFileAtomic } from "../atomic-write.ts";
import { quantizeOptions, quantizeWeightsOption, wantsQuantization, withQuantizeOptions, type QuantizeArgs } from "../quantize-options.ts";
import { formatCodebookReport, formatQuantizationReport, type CodebookReport, type QuantizationReport } from "../../driver/index.ts";

interface MemArgs extends TrainArgs, PipelineArgs, QuantizeArgs {
  model: string;
  weights?: string;
  set?: string[];
  batch?: string;
  svg?: string;
  json: boolean;
  "print-ir": boolean;
  "time-limit"?: number;
  tradeoff: boolean;
  fit?: string;
  "effective-batch"?: number;
}

/** Budgets of the --tradeoff curve, evenly spaced from the least feasible to the un-checkpointed peak. */
const TRADEOFF_BUDGETS = 10;

export const memCommand: CommandModule<object, MemArgs> = {
  command: "mem <model>",
  describe: "plan a model's arena and report its memory (by category, vs naive and the lower bound)",
  builder: (y) =>
    withQuantizeOptions(withPipelineOptions(withTrainOptions(withModelOptions(y))))
      .option("weights", { type: "string", describe: "with --quantize: safetensors file of the params to quantize (others keep their seeded init)" })
      .option("batch", { type: "string", describe: "batch sizes to plan, comma-separated (sets config.batch): --batch 16,32,64" })
      .option("svg", { type: "string", describe: "write the arena timeline as SVG (one file per batch size: name.b<batch>.svg when several)" })
      .option("json", { type: "boolean", default: false, describe: "print the report as JSON" })
      .option("print-ir", { type: "boolean", default: false, describe: "print the planned IR (slots, in-place operands) before the report" })
      .option("time-limit", { type: "number", describe: "planner search budget per plan, milliseconds" })
      .option("tradeoff", { type: "boolean", default: false, describe: "with --train: auto checkpointing's arena and recomputation at a range of budgets (--svg draws the curve)" })
      .option("fit", { type: "string", describe: "with --train: the largest batch whose arena fits this size (e.g. 8MB), per checkpoint mode" })
      .option("effective-batch", { type: "number", describe: "with --fit: the accumulation count that reaches this batch" }) as never,
  handler: async (args) => {
    const set = parseSetFlags(args.set);
    if (args.fit !== undefined && args.quantize !== undefined) throw new UsageError("--fit is for training steps; --quantize is for inference");
    if (args.fit !== undefined) return memFit(args, set);
    if (args.tradeoff && !args.train) throw new UsageError("--tradeoff needs --train (it plans the training step under a range of checkpoint budgets)");
    const { budgetBytes } = checkpointOptions(args);
    const batches = args.batch === undefined ? [undefined] : parseBatches(args.batch);
    if (args.batch !== undefined) requireBatchKey(args.model, set);
    const backend = await loadBackend(args.target, { emit: false });
    const dumps = irDumps(args);
    const timing = args["time-limit"] !== undefined ? { timeLimitMs: args["time-limit"] } : {};
    const reports: MemoryReport[] = [];
    const quantizing = wantsQuantization(args);
    if (args.weights !== undefined && !quantizing) throw new UsageError("mlc mem: --weights is for --quantize (the params calibration quantizes)");
    const quantWeights = quantizing ? quantizeWeightsOption(args.weights) : undefined;
    const quantReports: QuantizationReport[] = [];
    const codebookReports: CodebookReport[] = [];
    let graphName = "";
    for (const batch of batches) {
      const model = compileModelFile(args.model, { set: batch === undefined ? set : { ...set, batch: String(batch) } });
      verifyGraph(model.graph);
      const training = trainingOptions(model, args);
      const options = { backend, ...(training ? { training } : {}), ...precisionOptions(args), ...timing };
      // Without --train, the inference forward pass `mlc build` writes (no loss, no labels).
      const { graph: forward } = programForward(model, training);
      const quantize = quantizing ? quantizeOptions(args, forward, model.graph.inputs.map((i) => i.name), quantWeights, 0) : {};
      const compileOptions = { ...options, ...quantize };
      // The scheduled and unscheduled plans share everything before the memory phase (the
      // calibration included), and the checkpoint comparison shares the front; with IR dumps the
      // program is compiled in one run, so its dumps read as `mlc build`'s.
      const front = dumps ? undefined : compileFront(forward, compileOptions);
      const fused = front ? fuseFront(front, compileOptions) : undefined;
      const program = fused ? planFused(fused, compileOptions) : compile(forward, { ...compileOptions, dumps });
      const unscheduled = fused
        ? planFused(fused, { ...compileOptions, schedule: false, verify: false })
        : compile(forward, { ...options, ...quantize, ...(quantize.quantize ? { quantize: { ...quantize.quantize, result: program.quantization } } : {}), schedule: false });
      if (program.quantization) quantReports.push(program.quantization.report);
      if (program.codebooks) codebookReports.push(program.codebooks.report);
      const planned = mainEntry(program);
      graphName = planned.name;
      const forwardIds = new Set(model.graph.nodes.map((n) => n.id));
      const configBatch = typeof model.config.batch === "number" ? model.config.batch : undefined;
      const report = memoryReport(program, unscheduled, { forwardIds, backend, ...(configBatch !== undefined ? { batch: configBatch } : {}) });
      if (training) {
        const { checkpoint, ...plain } = training;
        report.checkpoint = checkpointComparison(model.graph, {
          training: plain,
          backend,
          // The report's own program is one of the comparison's rows (the policy asked for, none
          // without --checkpoint), and its front is theirs (the forward graph is model.graph).
          compiled: { checkpoint: checkpoint ?? { mode: "none" }, program },
          ...(front ? { front } : {}),
          ...(budgetBytes !== undefined ? { budgetBytes } : {}),
          ...(args.tradeoff ? { tradeoffBudgets: TRADEOFF_BUDGETS } : {}),
          ...timing,
        });
      }
      reports.push(report);
      if (args["print-ir"]) process.stdout.write(printGraph(planned) + "\n");
      if (args.svg) {
        const file = batches.length > 1 ? args.svg.replace(/(\.svg)?$/i, `.b${batch}.svg`) : args.svg;
        const subtitle = `${args.train ? "training step" : "forward pass"}${configBatch !== undefined ? `, batch ${configBatch}` : ""}`;
        const tradeoff = report.checkpoint?.tradeoff;
        writeFileAtomic(file, tradeoff ? tradeoffSvg(tradeoff, { title: `${planned.name}: memory versus recomputation (--checkpoint auto)`, subtitle, stepFlops: report.checkpoint!.stepFlops }) : timelineSvg(planned, { categoryOf: categorize(planned, forwardIds), subtitle, workspaceBytes: backend.scratchBytes }));
        process.stderr.write(`wrote ${file}\n`);
      }
    }
    const what = args.train ? "training step" : "forward pass";
    if (args.json) {
      process.stdout.write(JSON.stringify({ model: args.model, target: args.target, graph: graphName, step: args.train ? "train" : "forward", batches: reports, ...(quantizing ? { quantization: args.quantize === "int8" ? quantReports : codebookReports } : {}) }, null, 2) + "\n");
    } else {
      process.stdout.write(formatTable(`${graphName}, ${what}${quantizing ? ` (${args.quantize})` : ""}`, reports));
      for (const q of quantReports) process.stdout.write("\n" + formatQuantizationReport(q) + "\n");
      for (const q of codebookReports) process.stdout.write("\n" + formatCodebookReport(q) + "\n");
      for (const r of reports) if (r.checkpoint) process.stdout.write("\n" + formatCheckpointing(r.checkpoint, r.batch));
    }
    // What `mlc build` would refuse (driver/compile.ts): said here too, so the report is not a surprise.
    const limit = backend.maxArenaBytes;
    const over = limit === undefined ? [] : reports.filter((r) => r.arena > limit);
    for (const r of over) process.stderr.write(`note: ${r.batch !== undefined ? `at batch ${r.batch}, ` : ""}the planned arena (${formatBytes(r.arena)}) is more than ${args.target} can address (${formatBytes(limit!)}): mlc build refuses it\n`);
  },
};

/** --fit: fitBatch (fit-batch.ts) under each checkpoint mode. */
async function memFit(args: MemArgs, set: Record<string, string>): Promise<void> {
  if (!args.train) throw new UsageError("--fit needs --train (it fits the training step's arena)");
  if (args.batch !== undefined) throw new UsageError("--fit searches the batch size: give no --batch");
  if (args.checkpoint !== "none" || args.memoryBudget !== undefined) throw new UsageError("--fit reports every checkpoint mode (auto with the --fit size as its budget): give no --checkpoint or --memory-budget");
  const eff = args["effective-batch"];
  if (eff !== undefined && (!Number.isInteger(eff) || eff < 1)) throw new UsageError(`--effective-batch must be a positive integer, got ${eff}`);
  const budget = parseByteSize(args.fit!, "--fit");
  requireBatchKey(args.model, set);
  const model = compileModelFile(args.model, { set });
  const { checkpoint: _none, ...training } = trainingOptions(model, args)!;
  const backend = await loadBackend(args.target, { emit: false });
  const opts = { model: args.model, set, backend, training, budget, ...(args["time-limit"] !== undefined ? { timeLimitMs: args["time-limit"] } : {}) };
  const rows = (["none", "sqrt", "auto"] as const).map((mode) => fitBatch(opts, mode));
  if (args.json) {
    process.stdout.write(JSON.stringify({ model: args.model, target: args.target, budget, ...(eff !== undefined ? { effectiveBatch: eff } : {}), modes: rows.map((r) => ({ ...r, ...(eff !== undefined && r.batch > 0 ? { accumulate: accumulationFor(eff, r.batch) } : {}), ...(r.next && !Number.isFinite(r.next.arena) ? { next: { batch: r.next.batch, arena: null } } : {}) })) }, null, 2) + "\n");
  } else {
    process.stdout.write(formatFit(`${model.graph.name}, training step (${args.target})`, budget, rows, eff));
  }
}

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
  // With 16-bit values (--precision, --mixed): the bytes by dtype, kernel scratch apart.
  const dtypes = [...new Set(reports.flatMap((r) => Object.keys(r.dtypes ?? {})))].sort((a, b) => (a === "workspace" ? 1 : b === "workspace" ? -1 : a.localeCompare(b)));
  if (dtypes.length > 0) {
    section("by dtype, naive / live at the peak:");
    for (const d of dtypes) rows.push([`  ${d}`, (r) => (r.dtypes?.[d] ? `${formatBytes(r.dtypes[d].naive)} / ${formatBytes(r.dtypes[d].atPeak)}` : "-")]);
  }

  const header = ["", ...reports.map((r) => (r.batch !== undefined ? `batch ${r.batch}` : "default"))];
  const table = [header, ...rows.map(([label, cell]) => [label, ...reports.map(cell)])];
  const widths = header.map((_, col) => Math.max(...table.map((row) => row[col].length)));
  const lines = table.map((row) => row.map((cell, col) => (col === 0 ? cell.padEnd(widths[0]) : cell.padStart(widths[col] + 2))).join("").trimEnd());
  return `${title}: arena memory\n\n${lines.join("\n")}\n`;
}

const percent = (p: number) => `${p.toFixed(p < 10 ? 2 : 1)}%`;
const flops = (f: number) => (f >= 1e9 ? `${(f / 1e9).toFixed(2)} GFLOP` : f >= 1e6 ? `${(f / 1e6).toFixed(2)} MFLOP` : `${f} FLOP`);

/** The none / sqrt / auto table, and with --tradeoff auto's curve. */
export function formatCheckpointing(c: CheckpointComparison, batch: number | undefined): string {
  const at = batch !== undefined ? `, batch ${batch}` : "";
  const p = c.pinned;
  const lines = [
    `checkpointing${at}: training step ${flops(c.stepFlops)} without recomputation`,
    `activation memory = planned arena - pinned ${formatBytes(p.total)} (params ${formatBytes(p.params)}, optimizer state ${formatBytes(p.optimizerState)}, other state ${formatBytes(p.otherState)}, inputs ${formatBytes(p.inputs)}: live for the whole step)`,
    "",
    ...alignColumns([
      ["mode", "budget", "planned arena", "activation memory", "estimated peak", "recomputed nodes", "extra FLOPs"],
      ...c.modes.map((r) => [r.mode, r.budgetBytes !== undefined ? formatBytes(r.budgetBytes) : "-", ...cells(r)]),
    ]),
  ];
  const t = c.tradeoff;
  if (t) {
    lines.push(
      "",
      `memory versus recomputation (auto)${at}: budgets from the least estimated peak auto reaches (${formatBytes(t.leastPeak)}) to the un-checkpointed one (${formatBytes(t.uncheckpointedPeak)})`,
      "",
      ...alignColumns([
        ["budget", "planned arena", "activation memory", "estimated peak", "recomputed nodes", "extra FLOPs", ""],
        ...t.points.map((q) => [formatBytes(q.budgetBytes), ...cells(q), q.atSqrtPeak ? "(sqrt's estimated peak)" : ""]),
        ["sqrt policy", ...cells(t.sqrt), ""],
      ]),
    );
  }
  return lines.join("\n") + "\n";
}

function cells(r: CheckpointRow): string[] {
  return [formatBytes(r.arena), formatBytes(r.activationBytes), formatBytes(r.estimatedPeak), String(r.recomputedNodes), percent(r.extraFlopsPercent)];
}

/** First column left-aligned, the others right-aligned, two spaces apart. */
function alignColumns(table: string[][]): string[] {
  const widths = table[0].map((_, col) => Math.max(...table.map((row) => row[col].length)));
  return table.map((row) => row.map((cell, col) => (col === 0 ? cell.padEnd(widths[0]) : cell.padStart(widths[col] + 2))).join("").trimEnd());
}
