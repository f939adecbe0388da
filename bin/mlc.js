#!/usr/bin/env node
// mlc is written in TypeScript; this runs its compiled JavaScript from dist/, which `npm run build`
// (scripts/build.mjs, run by `npm install` / `npm ci` through the prepare script) writes.
// If the sources changed since that build, they are recompiled first (esbuild, well under a
// second), so edits are never ignored; if dist/ was never built, this fails and says so.
// MLC_FROM_SOURCE=1 runs the TypeScript sources directly through tsx's loader (slow to start).

import module from "node:module";

// Node 22.1+ keeps V8's compiled code of loaded modules on disk (typescript.js alone is 9 MB).
module.enableCompileCache?.();

const fromSource = !["", "0", "false", undefined].includes(process.env.MLC_FROM_SOURCE);
let main;
if (fromSource) {
  const { register } = await import("tsx/esm/api");
  register();
  ({ main } = await import("../compiler/cli/main.ts"));
} else {
  const { build, buildState } = await import("../scripts/build.mjs");
  const state = buildState();
  if (state === "missing") {
    process.stderr.write(
      "mlc: dist/ has not been built, so there is no compiled mlc to run.\n" +
        "     Run `npm run build` (npm install and npm ci do it), or MLC_FROM_SOURCE=1 to run the sources through tsx.\n",
    );
    process.exit(1);
  }
  if (state === "stale") {
    try {
      await build();
    } catch (e) {
      process.stderr.write(`mlc: the sources changed since dist/ was built and rebuilding failed:\n${e?.message ?? e}\n`);
      process.exit(1);
    }
  }
  // An internal error's stack trace names the TypeScript sources (dist/ has linked source maps).
  process.setSourceMapsEnabled(true);
  ({ main } = await import("../dist/compiler/cli/main.js"));
}
process.exitCode = await main(process.argv.slice(2));
