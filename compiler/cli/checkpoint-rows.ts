// `mlc mem --train` plans the training step under every checkpoint policy (memory-report.ts
// checkpointComparison). The policies' programs are independent of the report's own program, so
// each row the command has not planned itself is planned in a worker thread of its own
// (checkpoint-rows-worker.ts) while the main thread plans the program and its unscheduled twin:
// on a deep model each of these is seconds of work. A worker gets the program's front (the
// training step after the training and clean-up phases, which every policy continues) and the
// training options, as plain data, and returns its rows; the planner's budget is counted in units of
// work, not time (unless --time-limit says otherwise), so the rows are the ones the main thread
// would plan.
//
// Small models (WORKER_MIN_FORWARD_NODES), the TypeScript sources (tests, MLC_FROM_SOURCE) and
// MLC_NO_WORKERS=1 plan the rows on the main thread.

import { Worker } from "node:worker_threads";
import type { Graph } from "../ir/graph.ts";
import type { TrainingOptions } from "../driver/phases.ts";
import type { ProgramFront } from "../driver/compile.ts";
import type { Target } from "../driver/backends.ts";
import type { CheckpointPolicy, CheckpointRow } from "./memory-report.ts";

export interface RowsRequest {
  /** The forward graph the comparison starts from. */
  forward: Graph;
  /** Its front (the training and clean-up phases), which every policy's program continues. */
  front: ProgramFront;
  /** The target the programs are planned for (loaded in the worker for planning only). */
  target: Target;
  training: Omit<TrainingOptions, "checkpoint">;
  policies: CheckpointPolicy[];
  timeLimitMs?: number;
}

/** Rows being planned in a worker: `rows` resolves to them by policyKey; `stop` ends the worker early. */
export interface PendingRows {
  readonly rows: Promise<Map<string, CheckpointRow>>;
  stop(): void;
}

/**
 * Forward passes smaller than this are planned on the main thread: a worker's start (loading the
 * driver, about a third of a second of CPU) costs more than a small step's planning saves.
 */
export const WORKER_MIN_FORWARD_NODES = 400;

/** Starts planning the request's rows in a worker thread; undefined where they are planned on the main thread. */
export function planRowsInWorker(request: RowsRequest): PendingRows | undefined {
  const compiled = import.meta.url.endsWith(".js");
  if (!compiled || request.policies.length === 0 || ["1", "true"].includes(process.env.MLC_NO_WORKERS ?? "")) return undefined;
  if (request.forward.nodes.length < WORKER_MIN_FORWARD_NODES) return undefined;
  // The same young generation as the main thread's node (bin/mlc.js): 3 semi-spaces of 64 MB.
  const worker = new Worker(new URL("./checkpoint-rows-worker.js", import.meta.url), { workerData: request, resourceLimits: { maxYoungGenerationSizeMb: 192 } });
  const rows = new Promise<Map<string, CheckpointRow>>((resolve, reject) => {
    worker.once("message", (m: [string, CheckpointRow][]) => resolve(new Map(m)));
    worker.once("error", reject);
    worker.once("exit", (code) => reject(new Error(`the checkpoint rows' worker stopped (exit code ${code}) before it answered`)));
  });
  // A rejection nobody awaits (the command failed first and stopped the worker) is not an error.
  rows.catch(() => {});
  return { rows, stop: () => void worker.terminate() };
}
