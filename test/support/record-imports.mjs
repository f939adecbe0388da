// `node --import ./test/support/record-imports.mjs ...` with MLC_IMPORT_LOG=<file>: appends the URL
// of every module the process imports (ESM resolution, through a loader hook) and, at exit, every
// CommonJS module it loaded, one per line. test/cli/startup.test.ts uses it to see what `mlc --help`
// loads.

import { appendFileSync } from "node:fs";
import { createRequire, register } from "node:module";
import { pathToFileURL } from "node:url";
import { isMainThread } from "node:worker_threads";

const log = process.env.MLC_IMPORT_LOG;

if (isMainThread && log) {
  register(import.meta.url);
  process.on("exit", () => {
    const cache = createRequire(import.meta.url).cache;
    const lines = Object.keys(cache).map((p) => pathToFileURL(p).href);
    if (lines.length > 0) appendFileSync(log, lines.join("\n") + "\n");
  });
}

/** The loader hook (it runs on the loader's own thread). */
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  if (log) appendFileSync(log, result.url + "\n");
  return result;
}
