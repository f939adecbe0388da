// The layers of the compiler import only downwards: the IR (compiler/ir) from nothing above it, the
// passes not from a backend, the CLI or the driver, the two backends not from each other, the
// driver not from the CLI, and the runtime (what generated bundles run) from no compiler code.
// Every module specifier of every source file is read with TypeScript's own pre-processor: static
// `import ... from`, `import "..."`, `export ... from` and `import("...")` (in code or in types),
// never those in comments or strings.

import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "../..");

/** Repo-relative paths of the source files under `dir`, sorted. */
function sourcesUnder(dir: string, pattern: RegExp): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && pattern.test(e.name))
    .map((e) => relative(ROOT, join(e.parentPath, e.name)).split("\\").join("/"))
    .sort();
}

/** The module specifiers `text` imports or re-exports. */
function moduleSpecifiers(text: string): string[] {
  return ts.preProcessFile(text, true, true).importedFiles.map((f) => f.fileName);
}

interface Import {
  /** The importing file, repo-relative. */
  readonly file: string;
  /** The specifier as written. */
  readonly specifier: string;
  /** The repo-relative path it names, for relative specifiers; undefined for packages. */
  readonly target?: string;
}

function importsOf(file: string): Import[] {
  return moduleSpecifiers(readFileSync(join(ROOT, file), "utf8")).map((specifier) => {
    if (!specifier.startsWith(".")) return { file, specifier };
    return { file, specifier, target: relative(ROOT, resolve(ROOT, dirname(file), specifier)).split("\\").join("/") };
  });
}

const COMPILER = sourcesUnder("compiler", /\.(ts|mts|js|mjs)$/).flatMap(importsOf);
const RUNTIME = sourcesUnder("runtime", /\.(ts|mts|js|mjs)$/).flatMap(importsOf);

const under = (path: string | undefined, dir: string) => path !== undefined && (path === dir || path.startsWith(`${dir}/`));
const CODEGEN = ["compiler/codegen-wasm", "compiler/codegen-wgsl"];

/** The imports of files under `from` that name something under one of `forbidden`, as "file → specifier". */
function violations(imports: readonly Import[], from: string, forbidden: readonly string[]): string[] {
  return imports
    .filter((i) => under(i.file, from) && forbidden.some((dir) => under(i.target, dir)))
    .map((i) => `${i.file} → ${i.specifier}`);
}

function expectNone(from: string, forbidden: readonly string[], imports: readonly Import[] = COMPILER): void {
  const found = violations(imports, from, forbidden);
  expect(found, `${from} must not import from ${forbidden.join(", ")}; offending imports:\n  ${found.join("\n  ")}\n`).toEqual([]);
}

describe("layering", () => {
  it("reads every kind of import and nothing in comments or strings", () => {
    const text = [
      `import a from "./a.ts";`,
      `import type { B } from "./b.ts";`,
      `export { c } from "./c.ts";`,
      `export * from "./d.ts";`,
      `import "./e.ts";`,
      `const f = await import("./f.ts");`,
      `type G = import("./g.ts").G;`,
      `// import x from "./comment.ts";`,
      `const s = "import h from './string.ts'";`,
    ].join("\n");
    expect(moduleSpecifiers(text)).toEqual(["./a.ts", "./b.ts", "./c.ts", "./d.ts", "./e.ts", "./f.ts", "./g.ts"]);
    // The scan sees the tree: the IR verifier imports its memory checks.
    expect(COMPILER).toContainEqual({ file: "compiler/ir/verifier.ts", specifier: "./memory-check.ts", target: "compiler/ir/memory-check.ts" });
  });

  it("compiler/ir imports nothing from the passes, the backends, the CLI or the driver", () => {
    expectNone("compiler/ir", ["compiler/passes", ...CODEGEN, "compiler/cli", "compiler/driver"]);
  });

  it("compiler/passes imports nothing from the backends, the CLI or the driver", () => {
    expectNone("compiler/passes", [...CODEGEN, "compiler/cli", "compiler/driver"]);
  });

  it("compiler/codegen-wasm imports nothing from codegen-wgsl, the CLI or the driver", () => {
    expectNone("compiler/codegen-wasm", ["compiler/codegen-wgsl", "compiler/cli", "compiler/driver"]);
  });

  it("compiler/codegen-wgsl imports nothing from codegen-wasm, the CLI or the driver", () => {
    expectNone("compiler/codegen-wgsl", ["compiler/codegen-wasm", "compiler/cli", "compiler/driver"]);
  });

  it("compiler/bundle (what both backends share) imports nothing from a backend, the CLI or the driver", () => {
    expectNone("compiler/bundle", [...CODEGEN, "compiler/cli", "compiler/driver"]);
  });

  it("compiler/kernel-math (coefficients both backends evaluate) imports nothing from the compiler", () => {
    expectNone("compiler/kernel-math", ["compiler"]);
  });

  it("compiler/driver imports nothing from the CLI", () => {
    expectNone("compiler/driver", ["compiler/cli"]);
  });

  it("runtime imports nothing from the compiler", () => {
    expectNone("runtime", ["compiler"], RUNTIME);
  });
});
