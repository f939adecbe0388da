#!/usr/bin/env node
// `npm run build` (also run by npm's `prepare`, so `npm install` and `npm ci` produce it): compiles
// the compiler's TypeScript (compiler/, runtime/) into plain JavaScript under dist/, one output file
// per source file in the same layout (dist/compiler/cli/main.js, ...), so that `import.meta.url`
// and relative reads of sibling files (runtime/bundle-runtime.js, frontend/dsl.ts) work unchanged.
// Imports stay imports: `./x.ts` becomes `./x.js`, packages (binaryen, ts-morph, yargs, webgpu,
// ...) are left to node_modules. Non-TypeScript files under those folders are copied alongside.
// Imports of the CommonJS packages in CJS_PACKAGES become require() calls: importing CommonJS from
// ESM makes Node scan the package's source for its export names first, a few hundred milliseconds
// of every command that reads a model (ts-morph).
//
// This module is also what bin/mlc.js asks, on every start, whether dist/ is missing or older than
// the sources (`buildState`), so it must stay light: esbuild is imported only to build.

import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
export const DIST = join(ROOT, "dist");
/** The folders compiled into dist/ (everything the CLI imports lives under them). */
const SOURCE_DIRS = ["compiler", "runtime"];
/** TypeScript files read as data at run time, copied next to their compiled selves. */
const DATA_FILES = ["compiler/frontend/dsl.ts"];
const STAMP = join(DIST, "build-stamp.json");
/** CommonJS packages the compiler imports, loaded with require() in dist/ (see requireCommonJs). */
const CJS_PACKAGES = ["ts-morph", "typescript"];
const SELF = fileURLToPath(import.meta.url);

/**
 * What the sources look like now: how many files and folders there are under compiler/ and
 * runtime/ and the newest modification time among them (a folder's time changes when a file is
 * added, removed or renamed), plus this script's own. Any edit changes it.
 */
export function sourceFingerprint() {
  let entries = 0;
  let newest = statSync(SELF).mtimeMs;
  const walk = (dir) => {
    const st = statSync(dir);
    newest = Math.max(newest, st.mtimeMs);
    entries++;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else {
        newest = Math.max(newest, statSync(p).mtimeMs);
        entries++;
      }
    }
  };
  for (const d of SOURCE_DIRS) walk(join(ROOT, d));
  return { entries, newest };
}

/** "missing" (no build), "stale" (sources changed since it) or "fresh". */
export function buildState() {
  let stamp;
  try {
    stamp = JSON.parse(readFileSync(STAMP, "utf8"));
  } catch {
    return "missing";
  }
  const now = sourceFingerprint();
  return stamp.entries === now.entries && stamp.newest === now.newest ? "fresh" : "stale";
}

function sourceFiles(dir, out = []) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) sourceFiles(p, out);
    else out.push(p);
  }
  return out;
}

function modifiedBefore(path, time) {
  try {
    return statSync(path).mtimeMs < time;
  } catch {
    return false;
  }
}

/** Writes a file so that a process reading it concurrently sees the old or the new text, never half. */
function writeAtomic(path, contents) {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, contents);
  renameSync(tmp, path);
}

const isInside = (path, dirs) => dirs.some((d) => path === d || path.startsWith(d + sep));

/** Every import is external; a relative `.ts` import becomes `.js` and must stay inside the compiled folders. */
function externalImports(sourceRoots) {
  return {
    name: "mlc-external-imports",
    setup(b) {
      b.onResolve({ filter: /.*/ }, (args) => {
        if (args.kind === "entry-point") return undefined;
        if (!args.path.startsWith(".")) return { path: args.path, external: true };
        const target = resolve(args.resolveDir, args.path);
        if (!isInside(target, sourceRoots)) {
          return { errors: [{ text: `${args.path} is outside ${SOURCE_DIRS.join("/, ")}/, which is all that dist/ holds` }] };
        }
        return { path: args.path.replace(/\.ts$/, ".js"), external: true };
      });
    },
  };
}

/**
 * Compiles compiler/ and runtime/ into dist/ and returns what it did. Outputs are written
 * atomically, files no longer produced are removed, and the stamp `buildState` compares against
 * is written last, from the sources as they were when the build started.
 */
export async function build() {
  const started = performance.now();
  const startedAt = Date.now();
  const fingerprint = sourceFingerprint();
  const { build: esbuild } = await import("esbuild");
  const sourceRoots = SOURCE_DIRS.map((d) => join(ROOT, d));
  const all = sourceRoots.flatMap((d) => sourceFiles(d));
  const entryPoints = all.filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"));
  const copies = all.filter((f) => !f.endsWith(".ts") || DATA_FILES.includes(relative(ROOT, f).split(sep).join("/")));

  const result = await esbuild({
    entryPoints,
    outdir: DIST,
    outbase: ROOT,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    sourcemap: "linked",
    sourcesContent: false,
    write: false,
    logLevel: "silent",
    plugins: [externalImports(sourceRoots)],
  });
  const written = new Set();
  for (const f of result.outputFiles) {
    writeAtomic(f.path, f.path.endsWith(".js") ? requireCommonJs(f.text) : f.contents);
    written.add(f.path);
  }
  for (const f of copies) {
    const to = join(DIST, relative(ROOT, f));
    if (written.has(to)) throw new Error(`${relative(ROOT, f)} would overwrite the compiled output of a .ts file`);
    writeAtomic(to, readFileSync(f));
    written.add(to);
  }
  checkRuntimeReads(entryPoints);

  let removed = 0;
  if (existsSync(DIST)) {
    for (const f of sourceFiles(DIST)) {
      // Not what a concurrent build (of newer sources) wrote since this one started.
      if (f !== STAMP && !written.has(f) && !f.endsWith(".tmp") && modifiedBefore(f, startedAt)) {
        rmSync(f);
        removed++;
      }
    }
  }
  writeAtomic(STAMP, JSON.stringify(fingerprint) + "\n");
  return { modules: entryPoints.length, copied: copies.length, removed, ms: performance.now() - started };
}

/**
 * `import { A, B as C } from "ts-morph";` → `const { A, B: C } = require("ts-morph");` (through
 * createRequire), also for default and namespace imports, each on the import's own line so the
 * source map still fits. The objects are the same ones an ESM import would give.
 */
export function requireCommonJs(js) {
  let first = true;
  const packages = CJS_PACKAGES.map((p) => p.replace(/[/.]/g, "\\$&")).join("|");
  const pattern = new RegExp(`^import (?:([\\w$]+)|\\* as ([\\w$]+)|([\\w$]+), )?(?:\\{([^}]*)\\})? ?from "(${packages})";$`, "gm");
  return js.replace(pattern, (line, plain, namespace, withNamed, named, pkg) => {
    const bindings = [];
    const whole = plain ?? namespace ?? withNamed;
    const call = `__mlcRequire(${JSON.stringify(pkg)})`;
    if (whole) bindings.push(`const ${whole} = ${call};`);
    if (named !== undefined) {
      const names = named.split(",").map((n) => n.trim()).filter(Boolean).map((n) => n.replace(/^([\w$]+) as ([\w$]+)$/, "$1: $2"));
      if (names.some((n) => !/^[\w$]+(: [\w$]+)?$/.test(n))) return line;
      bindings.push(`const { ${names.join(", ")} } = ${call};`);
    }
    if (bindings.length === 0) return line;
    const header = first ? 'import { createRequire as __mlcCreateRequire } from "node:module"; const __mlcRequire = __mlcCreateRequire(import.meta.url); ' : "";
    first = false;
    return header + bindings.join(" ");
  });
}

/** Each `new URL("…", import.meta.url)` in the sources must name a file that exists in dist/ too. */
function checkRuntimeReads(files) {
  const missing = [];
  for (const f of files) {
    const text = readFileSync(f, "utf8");
    if (!text.includes("import.meta.url")) continue;
    for (const m of text.matchAll(/new URL\(\s*["'`]([^"'`$]+)["'`]\s*,\s*import\.meta\.url\s*\)/g)) {
      const compiled = join(DIST, relative(ROOT, dirname(f)), m[1]);
      if (!existsSync(compiled)) missing.push(`${relative(ROOT, f)} reads ${m[1]}, which is not in ${relative(ROOT, compiled)}`);
    }
  }
  if (missing.length > 0) throw new Error(`dist/ lacks files the compiler reads at run time:\n  ${missing.join("\n  ")}`);
}

if (process.argv[1] && resolve(process.argv[1]) === SELF) {
  try {
    const r = await build();
    process.stderr.write(`build: ${r.modules} modules and ${r.copied} files into dist/ in ${r.ms.toFixed(0)} ms\n`);
  } catch (e) {
    const errors = e?.errors;
    if (Array.isArray(errors) && errors.length > 0) {
      for (const x of errors) process.stderr.write(`build: ${x.location ? `${x.location.file}:${x.location.line}: ` : ""}${x.text}\n`);
    } else {
      process.stderr.write(`build: ${e?.stack ?? e}\n`);
    }
    process.exitCode = 1;
  }
}
