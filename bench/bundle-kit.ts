// Shared by the benchmarks that run generated bundles (forward.ts, checkpoint.ts, ...): a temporary folder, writing a
// bundle into a folder and importing it as an app would, and the summary of per-call timings.
// A helper module (it exports no `run`, so bench/run.ts skips it).

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { WrittenBundle } from "../compiler/bundle/backend.ts";

/** Runs `fn` with a fresh temporary folder (`prefix` in its name), removed afterwards whatever happens. */
export async function inTempDir<T>(prefix: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  try {
    return await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Writes the bundle's files into `folder` (created if missing) and returns its loaded model. */
export async function loadBundle<M>(bundle: WrittenBundle, folder: string): Promise<M> {
  mkdirSync(folder, { recursive: true });
  for (const [name, contents] of Object.entries(bundle.files)) writeFileSync(join(folder, name), contents);
  const { load } = (await import(pathToFileURL(join(folder, `${bundle.name}.js`)).href)) as { load(): Promise<M> };
  return load();
}

export interface Timing {
  /** Milliseconds per call. */
  readonly median: number;
  readonly p25: number;
  readonly p75: number;
  readonly min: number;
  readonly calls: number;
}

/** Quartiles, minimum and count of per-call milliseconds. */
export function timingSummary(ms: readonly number[]): Timing {
  const sorted = [...ms].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { median: at(0.5), p25: at(0.25), p75: at(0.75), min: sorted[0], calls: sorted.length };
}
