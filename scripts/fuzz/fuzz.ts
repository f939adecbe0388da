// The frontend fuzzer: mutated example models (mutate.ts) compiled by a pool of worker threads
// (worker.ts), each case under a time limit. A case that runs past it is a hang (its worker is
// terminated and replaced); an exception that escapes the frontend or a worker that dies (out of
// memory) is a crash; a diagnostic with code MLC900 or without a location is an internal error.
// Every hang, crash and internal error is written out as a reproducer: the mutated source and a
// JSON file with the seed, the case index and the mutations.

import { mkdirSync, readdirSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { mutateCase } from "./mutate.ts";
import type { CaseResult, Outcome } from "./worker.ts";

export interface FuzzOptions {
  count: number;
  seed: number;
  /** Worker threads compiling at once. */
  jobs: number;
  /** A case running longer than this is a hang. */
  timeoutMs: number;
  /** Where reproducers go (created when there is one). */
  outDir: string;
  /** Heap limit of each worker: past it the worker dies and the case is a crash. */
  memoryMb?: number;
  onCase?: (index: number, result: CaseResult) => void;
}

export interface FuzzReport {
  counts: Record<Outcome, number>;
  /** Diagnostic codes seen, with counts. */
  codes: Record<string, number>;
  reproducers: string[];
  seconds: number;
  /** The case that took longest (wall time, including waiting for a core) and how long. */
  slowest: { index: number; ms: number };
}

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const WORKER = fileURLToPath(new URL("./worker-boot.mjs", import.meta.url));

export function loadExamples(): { name: string; src: string }[] {
  const dir = join(ROOT, "examples");
  return readdirSync(dir)
    .filter((d) => existsSync(join(dir, d, "model.ts")))
    .sort()
    .map((d) => ({ name: d, src: readFileSync(join(dir, d, "model.ts"), "utf8") }));
}

function newWorker(memoryMb: number): Worker {
  // The CLI compiles on Node's main thread (about 1 MB of stack): the workers get as little, so a
  // stack overflow the CLI would hit shows here too.
  return new Worker(WORKER, { resourceLimits: { maxOldGenerationSizeMb: memoryMb, stackSizeMb: 1 } });
}

export async function runFuzz(opts: FuzzOptions): Promise<FuzzReport> {
  const examples = loadExamples();
  const started = performance.now();
  const counts: Record<Outcome, number> = { compiled: 0, diagnostic: 0, hang: 0, crash: 0, internal: 0 };
  const codes: Record<string, number> = {};
  const reproducers: string[] = [];
  const slowest = { index: -1, ms: 0 };
  let next = 0;

  const record = (index: number, result: CaseResult, c: ReturnType<typeof mutateCase>) => {
    counts[result.outcome]++;
    if (result.code && result.outcome === "diagnostic") codes[result.code] = (codes[result.code] ?? 0) + 1;
    if (result.outcome === "hang" || result.outcome === "crash" || result.outcome === "internal") {
      mkdirSync(opts.outDir, { recursive: true });
      const base = join(opts.outDir, `seed${opts.seed}-case${index}-${result.outcome}`);
      writeFileSync(`${base}.ts`, c.src);
      writeFileSync(`${base}.json`, JSON.stringify({ seed: opts.seed, case: index, example: c.example, mutations: c.mutations, outcome: result.outcome, message: result.message }, null, 2) + "\n");
      reproducers.push(`${base}.ts`);
    }
    opts.onCase?.(index, result);
  };

  const slot = async (): Promise<void> => {
    let worker = newWorker(opts.memoryMb ?? 1024);
    try {
      while (next < opts.count) {
        const index = next++;
        const c = mutateCase(examples, opts.seed, index);
        const w = worker;
        const caseStart = performance.now();
        const result = await new Promise<CaseResult>((resolve) => {
          const done = (r: CaseResult, broken: boolean) => {
            clearTimeout(timer);
            w.removeAllListeners("message").removeAllListeners("error").removeAllListeners("exit");
            if (broken) {
              void w.terminate();
              worker = newWorker(opts.memoryMb ?? 1024);
            }
            resolve(r);
          };
          const timer = setTimeout(() => done({ id: index, outcome: "hang", message: `no answer in ${opts.timeoutMs} ms` }, true), opts.timeoutMs);
          w.once("message", (r: CaseResult) => done(r, false));
          w.once("error", (e) => done({ id: index, outcome: "crash", message: String(e instanceof Error ? e.stack : e) }, true));
          w.once("exit", (code) => done({ id: index, outcome: "crash", message: `worker exited with code ${code}` }, true));
          w.postMessage({ id: index, src: c.src });
        });
        const ms = performance.now() - caseStart;
        if (ms > slowest.ms) Object.assign(slowest, { index, ms });
        record(index, result, c);
      }
    } finally {
      await worker.terminate();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.jobs) }, slot));
  return { counts, codes, reproducers, seconds: (performance.now() - started) / 1000, slowest };
}
