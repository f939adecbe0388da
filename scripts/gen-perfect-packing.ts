// Perfect packings: planning problems whose optimum is known exactly. A box of `capacity` bytes ×
// `steps` time steps is cut into `buffers` rectangles by random guillotine cuts (each cut splits
// one rectangle in two, across time or across bytes); every rectangle becomes one buffer, live
// during its time range [lower, upper) with its byte range's length as size. The rectangles tile
// the box, so at every step the live sizes sum to exactly `capacity`: the max-live lower bound is
// the capacity, and the box itself is a plan that meets it. The optimum arena is the capacity.
//
// Byte cuts fall on multiples of `granularity` (16 by default, the WASM SIMD alignment the
// compiler plans with), so every size is a multiple of it and the optimum is still the capacity
// when offsets must be aligned to it (`mlc plan --alignment 16`), as with alignment 1.
//
// Deterministic per seed (mulberry32). Run directly to write a CSV:
//
//   npx tsx scripts/gen-perfect-packing.ts --buffers 1000 --seed 7 [--capacity 1048576]
//       [--steps 10000] [--granularity 16] [--shape balanced|uniform] [--solution] [--out problem.csv]
//
// The buffer ids are shuffled (`b0`, `b1`, ... in random order), so the file's line order says
// nothing about the packing; with --solution the box's own offsets are written too.

import { writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { formatPlanCsv } from "../compiler/passes/planner/csv.ts";
import type { PlanProblem } from "../compiler/passes/planner/problem.ts";
import { rng } from "../test/support/seeded-random.ts";

export interface PerfectPackingOptions {
  readonly buffers: number;
  readonly seed: number;
  /** Bytes: the box's height and the optimum arena. A multiple of `granularity`. */
  readonly capacity?: number;
  /** Time steps: the box's width. Defaults to DEFAULT_STEPS_PER_BUFFER × buffers. */
  readonly steps?: number;
  /** Byte cuts fall on multiples of this. */
  readonly granularity?: number;
  /** How rectangles are chosen and cut (see perfectPacking). */
  readonly shape?: "balanced" | "uniform";
}

export interface PerfectPacking {
  readonly problem: PlanProblem;
  /** The box's own plan (offsets by buffer index): arena = capacity. */
  readonly offsets: number[];
  readonly capacity: number;
}

export const DEFAULT_CAPACITY = 1 << 20;
export const DEFAULT_GRANULARITY = 16;
export const DEFAULT_STEPS_PER_BUFFER = 10;

interface Rect {
  lower: number;
  upper: number;
  bottom: number;
  top: number;
}

/** mulberry32 (test/support/seeded-random.ts): small, fast and reproducible across platforms. */
export const seededRandom = rng;

/**
 * Cuts the box until it holds `buffers` rectangles. "balanced" (the default) picks a rectangle
 * with probability proportional to its area and cuts it across its longer side, measured relative
 * to the box (time / steps against bytes / capacity), at a uniform position in the middle half
 * of that side: pieces stay within a bounded aspect ratio, as in the usual perfect-packing
 * generators. "uniform" picks any rectangle that can still be cut, a direction at even odds and a
 * position anywhere on the grid: it also makes slivers (rectangles one time step wide cut into
 * dozens of thin buffers), a harder family.
 */
export function perfectPacking(options: PerfectPackingOptions): PerfectPacking {
  const { buffers: n, seed } = options;
  const capacity = options.capacity ?? DEFAULT_CAPACITY;
  const granularity = options.granularity ?? DEFAULT_GRANULARITY;
  const steps = options.steps ?? DEFAULT_STEPS_PER_BUFFER * n;
  const shape = options.shape ?? "balanced";
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`perfectPacking: buffers must be a positive integer, got ${n}`);
  if (capacity % granularity !== 0 || capacity <= 0) {
    throw new Error(`perfectPacking: capacity ${capacity} must be a positive multiple of the granularity ${granularity}`);
  }
  if (n > steps * (capacity / granularity)) throw new Error(`perfectPacking: ${n} buffers do not fit a ${steps} × ${capacity / granularity} grid`);
  const random = seededRandom(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
  const rects: Rect[] = [{ lower: 0, upper: steps, bottom: 0, top: capacity }];
  const width = (r: Rect) => r.upper - r.lower;
  const height = (r: Rect) => (r.top - r.bottom) / granularity;
  const canCut = (r: Rect) => width(r) >= 2 || height(r) >= 2;
  /** Cuts r across time (or bytes) at a grid position in [from, to] (fractions of the side). */
  const cut = (k: number, acrossTime: boolean, from: number, to: number): void => {
    const r = rects[k];
    const span = acrossTime ? width(r) : height(r);
    const lo = Math.max(1, Math.ceil(span * from));
    const hi = Math.min(span - 1, Math.floor(span * to));
    const at = lo <= hi ? int(lo, hi) : int(1, span - 1);
    if (acrossTime) {
      rects.splice(k, 1, { ...r, upper: r.lower + at }, { ...r, lower: r.lower + at });
    } else {
      const y = r.bottom + granularity * at;
      rects.splice(k, 1, { ...r, top: y }, { ...r, bottom: y });
    }
  };
  while (rects.length < n) {
    if (shape === "uniform") {
      const cuttable = rects.map((r, i) => (canCut(r) ? i : -1)).filter((i) => i >= 0);
      const k = cuttable[int(0, cuttable.length - 1)];
      const r = rects[k];
      const acrossTime = width(r) >= 2 && (height(r) < 2 || random() < 0.5);
      cut(k, acrossTime, 0, 1);
    } else {
      // Area-weighted choice among the rectangles that can be cut.
      let total = 0;
      for (const r of rects) if (canCut(r)) total += width(r) * height(r);
      let pick = random() * total;
      let k = 0;
      for (; k < rects.length; k++) {
        if (!canCut(rects[k])) continue;
        pick -= width(rects[k]) * height(rects[k]);
        if (pick < 0) break;
      }
      if (k === rects.length) k = rects.findIndex(canCut);
      const r = rects[k];
      const relativeWidth = width(r) / steps;
      const relativeHeight = height(r) / (capacity / granularity);
      const acrossTime = width(r) >= 2 && (height(r) < 2 || relativeWidth >= relativeHeight);
      cut(k, acrossTime, 0.25, 0.75);
    }
  }
  // Shuffle (Fisher–Yates) so the order of the buffers carries no trace of the cuts.
  for (let i = rects.length - 1; i > 0; i--) {
    const j = int(0, i);
    [rects[i], rects[j]] = [rects[j], rects[i]];
  }
  const problem: PlanProblem = {
    alignment: 1,
    buffers: rects.map((r, i) => ({ id: `b${i}`, lower: r.lower, upper: r.upper, size: r.top - r.bottom })),
  };
  return { problem, offsets: rects.map((r) => r.bottom), capacity };
}

function main(argv: readonly string[]): void {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === "--solution") {
      flags.set("solution", "yes");
      continue;
    }
    if (!flag.startsWith("--") || i + 1 >= argv.length) {
      throw new Error("usage: gen-perfect-packing.ts --buffers N --seed S [--capacity B] [--steps T] [--granularity G] [--shape balanced|uniform] [--solution] [--out FILE]");
    }
    flags.set(flag.slice(2), argv[++i]);
  }
  const number = (name: string): number | undefined => {
    const text = flags.get(name);
    if (text === undefined) return undefined;
    const value = Number(text);
    if (!Number.isSafeInteger(value)) throw new Error(`--${name} must be an integer, got '${text}'`);
    return value;
  };
  const shape = flags.get("shape") ?? "balanced";
  if (shape !== "balanced" && shape !== "uniform") throw new Error(`--shape must be balanced or uniform, got '${shape}'`);
  const packing = perfectPacking({
    buffers: number("buffers") ?? 1000,
    seed: number("seed") ?? 1,
    capacity: number("capacity"),
    steps: number("steps"),
    granularity: number("granularity"),
    shape,
  });
  const csv = formatPlanCsv(packing.problem, flags.has("solution") ? packing.offsets : undefined);
  const out = flags.get("out");
  if (out === undefined) process.stdout.write(csv);
  else writeFileSync(out, csv);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main(process.argv.slice(2));
