// Loading a model file with ts-morph.
//
// Only the model file and what it imports are loaded (no tsconfig project). The module "mlc" is
// mapped to our DSL declarations (dsl.ts) through `paths`, so a model anywhere on disk, with or
// without node_modules/mlc, resolves "mlc" to the same declarations the evaluator recognizes ops
// by. The TypeScript checker then does the name resolution for the evaluator, and its syntactic
// and semantic diagnostics become MLC001 / MLC002 / MLC103 diagnostics.

import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { Project, ts, type SourceFile } from "ts-morph";
import { CODES, displayPath, type Diagnostic } from "./diagnostics.ts";

/** Absolute path of the DSL declarations that "mlc" resolves to. */
export const DSL_PATH = path.join(path.dirname(fileURLToPath(import.meta.url)), "dsl.ts");

export interface ModelProgram {
  readonly project: Project;
  readonly tsProgram: ts.Program;
  readonly checker: ts.TypeChecker;
  readonly entry: SourceFile;
  /** The model file and the user modules it imports (not dsl.ts, not libraries). */
  readonly userFiles: readonly SourceFile[];
  isDslFile(sf: ts.SourceFile): boolean;
  isLibFile(sf: ts.SourceFile): boolean;
}

const COMPILER_OPTIONS: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ESNext,
  // "bundler" accepts `./layers`, `./layers.js` and `./layers.ts` alike.
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  allowImportingTsExtensions: true,
  noEmit: true,
  strict: true,
  // Helper functions without annotations are fine: the evaluator checks every value anyway.
  noImplicitAny: false,
  skipLibCheck: true,
  // No @types packages: models run at compile time, not on Node.
  types: [],
  lib: ["lib.es2023.d.ts"],
  paths: { mlc: [DSL_PATH] },
};

/**
 * One Project per process, emptied of the previous model's files before each load. TypeScript's
 * standard library declarations are parsed and bound once instead of at every compilation, which
 * was most of a small model's compile time (commands and the fuzzer compile many models in one
 * process). The model's own files are always read afresh from disk.
 */
let shared: Project | undefined;

function reusableProject(): Project {
  shared ??= new Project({ compilerOptions: COMPILER_OPTIONS, skipAddingFilesFromTsConfig: true });
  // dsl.ts stays: it is part of mlc, not of the model.
  for (const sf of shared.getSourceFiles()) if (path.resolve(sf.getFilePath()) !== path.resolve(DSL_PATH)) shared.removeSourceFile(sf);
  return shared;
}

/** Reads `absPath` and what it imports; returns the program and its syntax errors (if any). */
export function loadModelProgram(absPath: string): { program?: ModelProgram; diagnostics: Diagnostic[] } {
  if (!fs.existsSync(absPath) || !fs.statSync(absPath).isFile()) {
    return { diagnostics: [{ code: CODES.readFile, message: `cannot read model file ${absPath}`, file: displayPath(absPath), line: 1, col: 1 }] };
  }
  const project = reusableProject();
  const entry = project.addSourceFileAtPath(absPath);
  project.resolveSourceFileDependencies();
  const dslPath = path.resolve(DSL_PATH);
  const tsProgram = project.getProgram().compilerObject;
  // Asked at every name the evaluator looks up: memoised per file.
  const dslFiles = new WeakMap<ts.SourceFile, boolean>();
  const isDslFile = (sf: ts.SourceFile) => {
    let is = dslFiles.get(sf);
    if (is === undefined) dslFiles.set(sf, (is = path.resolve(sf.fileName) === dslPath));
    return is;
  };
  const isLibFile = (sf: ts.SourceFile) => tsProgram.isSourceFileDefaultLibrary(sf) || sf.isDeclarationFile;
  const userFiles = project
    .getSourceFiles()
    .filter((sf) => !isDslFile(sf.compilerNode) && !sf.isDeclarationFile() && !sf.isInNodeModules());
  const program: ModelProgram = { project, tsProgram, checker: tsProgram.getTypeChecker(), entry, userFiles, isDslFile, isLibFile };

  const syntactic = userFiles.flatMap((sf) => errorsOnly(tsProgram.getSyntacticDiagnostics(sf.compilerNode)));
  return { program, diagnostics: syntactic.map((d) => toDiagnostic(d, true)) };
}

/**
 * TypeScript's type errors in the model's files. The driver asks for them after evaluation, so a
 * mistake the evaluator can explain in DSL terms (a tensor in `a + b`, a wrong option) is
 * reported that way, and a program that evaluates fine still has to type-check.
 */
export function typeDiagnostics(program: ModelProgram): Diagnostic[] {
  return program.userFiles.flatMap((sf) => errorsOnly(program.tsProgram.getSemanticDiagnostics(sf.compilerNode)).map((d) => toDiagnostic(d, false)));
}

function errorsOnly(ds: readonly ts.Diagnostic[]): ts.Diagnostic[] {
  return ds.filter((d) => d.category === ts.DiagnosticCategory.Error);
}

/** TS's "Cannot find name" errors are the unknown-identifier diagnostic; the rest keep TS's text. */
const UNKNOWN_NAME_CODES = new Set([2304, 2552, 2580, 2581, 2582, 2583, 2584]);

function toDiagnostic(d: ts.Diagnostic, syntactic: boolean): Diagnostic {
  const text = ts.flattenDiagnosticMessageText(d.messageText, "\n");
  const sf = d.file;
  const start = d.start ?? 0;
  const { line, character } = sf ? sf.getLineAndCharacterOfPosition(start) : { line: 0, character: 0 };
  const where = { file: sf ? displayPath(sf.fileName) : "", line: line + 1, col: character + 1, length: d.length ?? 1 };
  // TypeScript numbers its grammar errors below 2000; some come from the semantic pass.
  if (syntactic || d.code < 2000) return { code: CODES.syntax, message: text, ...where };
  if (UNKNOWN_NAME_CODES.has(d.code) && sf) {
    const name = sf.text.slice(start, start + (d.length ?? 0));
    const suggestion = /Did you mean '([^']+)'\?/.exec(text);
    const hint = suggestion ? ` (did you mean '${suggestion[1]}'?)` : "";
    return { code: CODES.unknownIdentifier, message: `unknown identifier '${name}'${hint}`, ...where };
  }
  return { code: CODES.type, message: `${text} (TS${d.code})`, ...where };
}
