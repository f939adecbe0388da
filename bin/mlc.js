#!/usr/bin/env node
// mlc is written in TypeScript; this runs its compiled JavaScript from dist/, which `npm run build`
// (scripts/build.mjs, run by `npm install` / `npm ci` through the prepare script) writes.
// If the sources changed since that build, they are recompiled first (esbuild, well under a
// second), so edits are never ignored; if dist/ was never built, this fails and says so.
// MLC_FROM_SOURCE=1 runs the TypeScript sources directly through tsx's loader (slow to start).

import { spawn } from "node:child_process";
import module from "node:module";
import { fileURLToPath } from "node:url";

// The compiler builds graphs of tens of thousands of nodes whose objects live for a whole phase:
// with V8's default young generation (16 MB semi-spaces) most of them are copied by several
// scavenges before they are promoted, and on a deep model scavenges take a fifth of the main
// thread. V8 sizes the young generation only at start-up, so a command that compiles re-runs
// this script in a node with larger semi-spaces (signals forwarded, exit status passed on).
// --help and --version answer at once, and `mlc train` only starts its worker (which compiles
// through a child `mlc build`). MLC_DEFAULT_HEAP=1 keeps V8's default, to compare.
const YOUNG_GENERATION = "--max-semi-space-size=64";
const args = process.argv.slice(2);
const light = args.length === 0 || args[0] === "train" || args.some((a) => a === "--help" || a === "-h" || a === "--version");
if (!light && !process.execArgv.some((a) => a.startsWith("--max-semi-space-size")) && !process.env.MLC_DEFAULT_HEAP) {
  process.exitCode = await rerun([...nodeOptions(process.execArgv), YOUNG_GENERATION, fileURLToPath(import.meta.url), ...args]);
} else {
  await run();
}

/**
 * This node's options for the second node, less those that say what to run (`-e`/`--eval`,
 * `-p`/`--print` with their code, `--input-type`): it runs this script.
 */
function nodeOptions(execArgv) {
  const kept = [];
  for (let i = 0; i < execArgv.length; i++) {
    const a = execArgv[i];
    if (["-e", "--eval", "-p", "--print"].includes(a)) i++;
    else if (!/^--(eval|print|input-type)=/.test(a) && a !== "--input-type") kept.push(a);
  }
  return kept;
}

/** Runs node with `argv`, passing on SIGINT and SIGTERM; resolves to its exit code, or ends this process by the signal that ended it. */
function rerun(argv) {
  const child = spawn(process.execPath, argv, { stdio: "inherit" });
  const signals = ["SIGINT", "SIGTERM"];
  const forward = (signal) => child.kill(signal);
  for (const s of signals) process.on(s, forward);
  return new Promise((resolve) => {
    child.on("error", (e) => {
      process.stderr.write(`mlc: could not start node (${process.execPath}): ${e.message}\n`);
      resolve(1);
    });
    child.on("close", (code, signal) => {
      for (const s of signals) process.off(s, forward);
      if (signal) process.kill(process.pid, signal);
      resolve(code ?? 1);
    });
  });
}

async function run() {
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
}
