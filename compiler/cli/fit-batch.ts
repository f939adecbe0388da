// `mlc mem model.ts --train --fit 8MB [--effective-batch 256]`: the largest batch (config.batch)
// whose planned arena fits a budget, per checkpoint mode (none, sqrt, auto with the budget as its
// memory budget), found by compiling — the driver's compile() with the backend, so each arena is
// exactly the one `mlc build` would write, and no trial runs are needed.
//
// The search keeps a bracket [lo, hi): lo's arena fits, hi's does not (found by extrapolating from
// batches 1 and 2). Arenas grow about linearly with the batch, so a probe is the batch the line through
// the bracket's ends says fills the budget (regula falsi) and its neighbour; a probe that does
// not halve the bracket is followed by a bisection. It ends when hi = lo + 1. Whatever the arena's
// shape, the answer b has arena(b) <= budget < arena(b + 1). A mode that cannot compile a batch
// (auto finding no checkpointing within the budget) counts it as not fitting.

import type { Backend } from "../bundle/backend.ts";
import { compile } from "../driver/compile.ts";
import type { TrainingOptions } from "../driver/phases.ts";
import { compileModelFile } from "../frontend/index.ts";
import type { CheckpointMode } from "../passes/checkpoint.ts";

export interface FitOptions {
  readonly model: string;
  readonly set: Readonly<Record<string, string>>;
  readonly backend: Backend;
  /** The training options without checkpointing (each mode sets its own). */
  readonly training: Omit<TrainingOptions, "checkpoint">;
  readonly budget: number;
  readonly timeLimitMs?: number;
  /** The largest batch tried (default 2^20). */
  readonly maxBatch?: number;
}

export interface FitResult {
  readonly mode: CheckpointMode;
  /** The largest fitting batch, or 0 when not even batch 1 fits. */
  readonly batch: number;
  /** Its arena (undefined when batch is 0). */
  readonly arena?: number;
  /** The next batch and its arena (Infinity: it does not compile within the budget); absent at maxBatch. */
  readonly next?: { readonly batch: number; readonly arena: number };
  /** Batch sizes compiled. */
  readonly compiles: number;
}

/** The arena of the training step at `batch` under `mode` (Infinity when it does not compile). */
export function trainingArena(o: FitOptions, mode: CheckpointMode, batch: number): number {
  const model = compileModelFile(o.model, { set: { ...o.set, batch: String(batch) } });
  const checkpoint = { mode, ...(mode === "auto" ? { budgetBytes: o.budget } : {}) };
  try {
    return compile(model.graph, { backend: o.backend, training: { ...o.training, checkpoint }, ...(o.timeLimitMs !== undefined ? { timeLimitMs: o.timeLimitMs } : {}) }).arena!;
  } catch (e) {
    if (e instanceof Error && e.name === "CheckpointBudgetError") return Infinity;
    throw e;
  }
}

export function fitBatch(o: FitOptions, mode: CheckpointMode, arenaOf = (b: number) => trainingArena(o, mode, b)): FitResult {
  const max = o.maxBatch ?? 2 ** 20;
  const cache = new Map<number, number>();
  const arena = (b: number) => {
    let a = cache.get(b);
    if (a === undefined) cache.set(b, (a = arenaOf(b)));
    return a;
  };
  if (arena(1) > o.budget) return { mode, batch: 0, next: { batch: 1, arena: arena(1) }, compiles: cache.size };
  // The bracket: from batch 1 and 2 the line predicts the answer; probe one past it (it should not
  // fit); while probes still fit, extrapolate again from batch 1 through the last fitting one.
  let lo = 1;
  let hi = 0;
  for (let b = 2; ; ) {
    if (b >= max) {
      if (arena(max) <= o.budget) return { mode, batch: max, arena: arena(max), compiles: cache.size };
      hi = max;
      break;
    }
    if (arena(b) > o.budget) {
      hi = b;
      break;
    }
    lo = b;
    const slope = (arena(lo) - arena(1)) / (lo - 1);
    const predicted = slope > 0 ? Math.floor(lo + (o.budget - arena(lo)) / slope + 1e-9) : 2 * lo;
    b = Math.max(lo + 1, Math.min(predicted + 1, max));
  }
  let bisect = false;
  while (hi - lo > 1) {
    const width = hi - lo;
    let probe = Math.floor((lo + hi) / 2);
    if (!bisect) {
      const a = arena(lo);
      const c = arena(hi);
      const guess = Number.isFinite(c) ? Math.floor(lo + ((hi - lo) * (o.budget - a)) / (c - a) + 1e-9) : probe;
      probe = Math.min(hi - 1, Math.max(lo + 1, guess));
    }
    if (arena(probe) <= o.budget) {
      lo = probe;
      // An accurate guess has the answer's other side next to it.
      if (!bisect && probe + 1 < hi) {
        if (arena(probe + 1) > o.budget) hi = probe + 1;
        else lo = probe + 1;
      }
    } else {
      hi = probe;
      if (!bisect && probe - 1 > lo) {
        if (arena(probe - 1) <= o.budget) lo = probe - 1;
        else hi = probe - 1;
      }
    }
    // A guess that did not halve the bracket is followed by a bisection (no creeping along one side).
    bisect = !bisect && hi - lo > width / 2;
  }
  return { mode, batch: lo, arena: arena(lo), next: { batch: hi, arena: arena(hi) }, compiles: cache.size };
}

/** Micro-batches of `batch` that reach an effective batch of at least `effective`. */
export function accumulationFor(effective: number, batch: number): number {
  return batch > 0 ? Math.ceil(effective / batch) : Infinity;
}

/** The --fit table (or JSON): one row per checkpoint mode. */
export function formatFit(title: string, budget: number, rows: readonly FitResult[], effective?: number): string {
  const bytes = (n: number | undefined) => (n === undefined ? "-" : Number.isFinite(n) ? `${(n / 2 ** 20).toFixed(2)} MiB` : "does not fit");
  const header = ["mode", "batch", "arena", "next batch", "its arena", "compiles", ...(effective !== undefined ? [`accumulate for ${effective}`] : [])];
  const table = [header, ...rows.map((r) => [
    r.mode, r.batch === 0 ? "none fits" : String(r.batch), bytes(r.arena), r.next ? String(r.next.batch) : "-", bytes(r.next?.arena), String(r.compiles),
    ...(effective !== undefined ? [r.batch > 0 ? `${accumulationFor(effective, r.batch)} x ${r.batch}` : "-"] : []),
  ])];
  const widths = header.map((_, c) => Math.max(...table.map((row) => row[c].length)));
  const lines = table.map((row) => row.map((cell, c) => (c === 0 ? cell.padEnd(widths[0]) : cell.padStart(widths[c] + 2))).join("").trimEnd());
  return `${title}: the largest batch whose planned arena fits ${budget} bytes (${(budget / 2 ** 20).toFixed(2)} MiB)\n\n${lines.join("\n")}\n`;
}
