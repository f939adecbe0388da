// Diagnostics of the frontend: stable codes, source locations and rustc-style code frames.
//
// Every problem with a model is reported as a Diagnostic (never a stack trace). Inside the
// evaluator a problem is thrown as a FrontendError that still holds the AST node; the driver turns
// it into a Diagnostic with file:line:col. The code table is documented in docs/DSL.md.

import * as path from "node:path";
import type { Node } from "ts-morph";

/** The stable diagnostic codes. Never renumber: users and tests refer to them. */
export const CODES = {
  syntax: "MLC001",
  type: "MLC002",
  readFile: "MLC003",
  unsupportedStatement: "MLC101",
  unsupportedExpression: "MLC102",
  unknownIdentifier: "MLC103",
  notCompileTime: "MLC104",
  notCallable: "MLC105",
  badArgument: "MLC106",
  loopLimit: "MLC107",
  recursionLimit: "MLC108",
  evaluation: "MLC109",
  thrown: "MLC110",
  stepLimit: "MLC111",
  valueLimit: "MLC112",
  nestingLimit: "MLC113",
  shape: "MLC201",
  duplicateName: "MLC202",
  badInit: "MLC203",
  badName: "MLC204",
  badState: "MLC205",
  tensorLimit: "MLC206",
  noDefaultExport: "MLC301",
  badModelResult: "MLC302",
  badSet: "MLC303",
  notPlainData: "MLC304",
  internal: "MLC900",
} as const;

export type DiagnosticCode = (typeof CODES)[keyof typeof CODES];

export interface Diagnostic {
  code: string;
  message: string;
  /** Relative to process.cwd() when the file is inside it, else absolute. */
  file: string;
  /** 1-based. */
  line: number;
  /** 1-based, in characters of the line. */
  col: number;
  /** Characters to underline from `col` (1 when absent). */
  length?: number;
}

/** Thrown by compileModelFile; `message` is every diagnostic, formatted with its code frame. */
export class CompileError extends Error {
  override name = "CompileError";
  constructor(readonly diagnostics: Diagnostic[], sources: ReadonlyMap<string, string> = new Map()) {
    super(diagnostics.map((d) => formatDiagnostic(d, sources.get(d.file))).join("\n\n"));
  }
}

/** A problem found while evaluating a model, still attached to its AST node. */
export class FrontendError extends Error {
  override name = "FrontendError";
  constructor(
    readonly code: DiagnosticCode,
    message: string,
    readonly node: Node,
    /** Where the underline starts when not at the node's start (an op's name in `x.relu()`). */
    readonly start?: number,
  ) {
    super(message);
  }
}

/** Thrown by compile-time library functions (stdlib.ts); the evaluator attaches the call's location. */
export class HostError extends Error {
  override name = "HostError";
  constructor(
    readonly code: DiagnosticCode,
    message: string,
  ) {
    super(message);
  }
}

/** The path a diagnostic or an IR source location shows for `absPath`. */
export function displayPath(absPath: string): string {
  const rel = path.relative(process.cwd(), absPath);
  return rel && !rel.startsWith("..") && !path.isAbsolute(rel) ? rel.split(path.sep).join("/") : absPath;
}

/** A Diagnostic for `node` (from `start`, default its start), underlining the rest of its first line. */
export function diagnosticAt(code: string, message: string, node: Node, start = node.getStart()): Diagnostic {
  const sf = node.getSourceFile();
  const { line, column } = sf.getLineAndColumnAtPos(start);
  const text = sf.getFullText();
  const lineEnd = text.indexOf("\n", start);
  const end = Math.min(node.getEnd(), lineEnd === -1 ? text.length : lineEnd);
  return { code, message, file: displayPath(sf.getFilePath()), line, col: column, length: Math.max(1, end - start) };
}

/**
 * rustc-style rendering:
 *
 *     error[MLC105]: message
 *       --> file:line:col
 *        |
 *      9 |   source line
 *        |   ^^^^^
 *
 * The code frame is left out when the source text is not given.
 */
export function formatDiagnostic(d: Diagnostic, sourceText?: string): string {
  const lineNo = String(d.line);
  const pad = " ".repeat(lineNo.length + 1);
  const head = `error[${d.code}]: ${d.message}\n${pad}--> ${d.file}:${d.line}:${d.col}`;
  const source = sourceText?.split(/\r?\n/)[d.line - 1];
  if (source === undefined) return head;
  // Keep tabs in the caret's indentation so the caret lines up under tab-indented code.
  const indent = source.slice(0, d.col - 1).replace(/[^\t]/g, " ");
  const width = Math.max(1, Math.min(d.length ?? 1, source.length - (d.col - 1)));
  return [head, `${pad} |`, ` ${lineNo} | ${source}`, `${pad} | ${indent}${"^".repeat(width)}`].join("\n");
}
