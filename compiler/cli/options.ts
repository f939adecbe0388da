// Options and argument parsing shared by the commands.

import type { Argv } from "yargs";
// limits.ts loads no TypeScript compiler: this file is imported at start-up.
import { parseLimitSpec, setDefaultLimits } from "../frontend/limits.ts";

/** `--set batch=128 --set act=gelu` → { batch: "128", act: "gelu" }. */
export function parseSetFlags(values: readonly string[] | undefined): Record<string, string> {
  const out: Record<string, string> = Object.create(null);
  for (const kv of values ?? []) {
    const eq = kv.indexOf("=");
    if (eq <= 0) throw new UsageError(`--set expects key=value, got '${kv}'`);
    out[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return out;
}

export class UsageError extends Error {
  override name = "UsageError";
}

/**
 * `--limit steps=1e7,depth=800` (repeatable) → the frontend's evaluation limits for every model
 * this command compiles (docs/DSL.md "Limits"). A bad key or value is a usage error.
 */
export function applyLimitFlags(values: readonly string[] | undefined): void {
  const limits = {};
  for (const spec of values ?? []) {
    try {
      Object.assign(limits, parseLimitSpec(spec));
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }
  setDefaultLimits(limits);
}

export function withModelOptions<T>(y: Argv<T>) {
  return y
    .positional("model", { type: "string", demandOption: true, describe: "path to model.ts" })
    .option("set", { type: "string", array: true, describe: "override a config constant: --set batch=128" })
    .option("limit", {
      type: "string",
      array: true,
      describe: "raise a compile-time evaluation limit: --limit steps=10000000,depth=800 (keys: steps, loop, calls, value, depth, tensor-elements, tensor-bytes, total-bytes)",
    })
    // Applied before the command runs, so every compilation it makes uses them. A middleware, not
    // a coerce: yargs wraps a coerce's error in its own, which would read as an internal error.
    .middleware((argv) => applyLimitFlags(argv.limit as string[] | undefined));
}
