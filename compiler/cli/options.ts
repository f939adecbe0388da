// Options and argument parsing shared by the commands.

import type { Argv } from "yargs";

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

export function withModelOptions<T>(y: Argv<T>) {
  return y
    .positional("model", { type: "string", demandOption: true, describe: "path to model.ts" })
    .option("set", { type: "string", array: true, describe: "override a config constant: --set batch=128" });
}
