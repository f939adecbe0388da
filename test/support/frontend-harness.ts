// Shared helpers of the frontend tests: write a model into a fresh temp folder and compile it.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { expect } from "vitest";
import { compileModelFile, CompileError, type CompileOptions, type CompiledModel, type Diagnostic } from "../../compiler/frontend/index.ts";
import { printGraph } from "../../compiler/ir/printer.ts";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "mlc-frontend-"));
let counter = 0;

/** A fresh folder under the OS temp dir (outside the repository, so paths print absolute). */
export function freshDir(): string {
  const dir = path.join(root, String(counter++));
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/** Writes `files` (name → source) into a fresh folder; returns the folder. */
export function writeFiles(files: Record<string, string>): string {
  const dir = freshDir();
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

/** Writes `source` as `<fresh dir>/<name>` and returns its absolute path. */
export function writeModel(source: string, name = "model.ts"): string {
  return path.join(writeFiles({ [name]: source }), name);
}

export function compileSource(source: string, opts?: CompileOptions): CompiledModel {
  return compileModelFile(writeModel(source), opts);
}

/** Compiles `source`, expecting a CompileError, and returns it. */
export function compileError(source: string, opts?: CompileOptions, name = "model.ts"): CompileError & { file: string } {
  const file = writeModel(source, name);
  try {
    compileModelFile(file, opts);
  } catch (e) {
    if (e instanceof CompileError) return Object.assign(e, { file });
    throw e;
  }
  throw new Error("expected a CompileError, but the model compiled");
}

/** The IR text of a graph without location comments. */
export function irText(model: CompiledModel): string {
  return printGraph(model.graph, { locations: false });
}

/** The node lines of the IR (no header, decls, outputs), trimmed. */
export function nodeLines(model: CompiledModel): string[] {
  return irText(model)
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.startsWith("%"));
}

/**
 * Compiles a module whose `train` export carries compile-time results: `prelude` runs at the top
 * level and `expr` is evaluated into `train.value`.
 */
export function evalAtCompileTime(expr: string, prelude = ""): unknown {
  const source = `import { input } from "mlc";
${prelude}
export default function model() { return input("x", [1]); }
export const train = { value: ${expr} };
`;
  return (compileSource(source).train as { value: unknown }).value;
}

export interface ExpectedDiagnostic {
  code: string;
  line: number;
  col: number;
  /** Substring of the message. */
  message?: string;
  /** The caret line exactly as rendered (with its gutter), e.g. "  |     ^^^". */
  caret?: string;
}

/** Expects exactly one diagnostic (the first) to match, and checks its rendering. */
export function expectDiagnostic(err: CompileError & { file: string }, want: ExpectedDiagnostic): Diagnostic {
  const d = err.diagnostics[0];
  expect({ code: d.code, line: d.line, col: d.col }).toEqual({ code: want.code, line: want.line, col: want.col });
  expect(d.file).toBe(err.file);
  if (want.message) expect(d.message).toContain(want.message);
  expect(err.message).toContain(`error[${want.code}]: `);
  expect(err.message).toContain(`--> ${err.file}:${want.line}:${want.col}`);
  if (want.caret) {
    const lines = err.message.split("\n");
    const at = lines.findIndex((l) => l.includes(`--> ${err.file}:${want.line}:${want.col}`));
    expect(lines[at + 3]).toBe(want.caret);
  }
  expect(err.message).not.toMatch(/\n\s+at .*\(.*:\d+:\d+\)/); // never a stack trace
  return d;
}

/** Removes every temp folder this test file made (call from afterAll). */
export function removeTempDirs(): void {
  fs.rmSync(root, { recursive: true, force: true });
}
