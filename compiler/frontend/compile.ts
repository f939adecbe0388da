// The frontend driver: model file → IR graph, config and train settings.
//
// Stages: load and syntax-check the model with ts-morph (project.ts); evaluate its top level
// (config with --set overrides, helpers, `train`); call the default export with no arguments,
// which builds the graph; turn the returned tensor(s) into outputs; finally require the files to
// type-check. The first problem stops compilation and is reported as a CompileError.

import * as fs from "node:fs";
import * as path from "node:path";
import { Node, SyntaxKind, type SourceFile } from "ts-morph";
import type { Graph } from "../ir/graph.ts";
import { applyConfigOverrides, type SetOverrides } from "./config.ts";
import { CODES, CompileError, diagnosticAt, displayPath, FrontendError, type Diagnostic } from "./diagnostics.ts";
import { Evaluator, valueLimitMessage } from "./evaluator.ts";
import { GraphContext } from "./graph-context.ts";
import { withLimits, type EvalLimits } from "./limits.ts";
import { bracketNesting, isStackOverflow, stackOverflow, syntaxNesting } from "./nesting.ts";
import { loadModelProgram, typeDiagnostics, type ModelProgram } from "./project.ts";
import { Closure, dataSize, describe, isPlainData, isPlainObject, TensorValue, toPlainData, type Value } from "./values.ts";

export interface CompileOptions {
  /** `--set key=value` overrides of top-level config keys; values are parsed as JSON when possible. */
  set?: SetOverrides;
  /** Evaluation limits (docs/DSL.md "Limits"); those left out keep their defaults (`--limit`). */
  limits?: Partial<EvalLimits>;
}


export interface CompiledModel {
  graph: Graph;
  /** The model's `config` after overrides (empty when it has none). */
  config: Record<string, unknown>;
  /** The model's `train` export as plain data, not interpreted here. */
  train?: unknown;
  /** The model file as given to the compiler, resolved to an absolute path. */
  file: string;
}

export function compileModelFile(file: string, opts: CompileOptions = {}): CompiledModel {
  const absPath = path.resolve(file);
  const limits = withLimits(opts.limits);
  const program = loadChecked(absPath, limits);
  try {
    const model = evaluateModel(program, absPath, opts, limits);
    const typeErrors = typeDiagnostics(program);
    if (typeErrors.length) throw new CompileError(typeErrors, sourcesOf(program));
    return model;
  } catch (e) {
    if (e instanceof CompileError) throw e;
    if (isStackOverflow(e)) throw new CompileError([stackOverflow(program.entry.getFilePath(), program.entry.getFullText(), limits)], sourcesOf(program));
    throw new CompileError([toDiagnostic(e, program.entry)], sourcesOf(program));
  }
}

/** Loads the model and its imports; syntax errors and the nesting limit are CompileErrors. */
function loadChecked(absPath: string, limits: EvalLimits): ModelProgram {
  // Brackets are counted before parsing: TypeScript's parser overflows the stack on deep nesting.
  const text = fs.existsSync(absPath) && fs.statSync(absPath).isFile() ? fs.readFileSync(absPath, "utf8") : undefined;
  const deep = text === undefined ? undefined : bracketNesting(absPath, text, limits);
  if (deep) throw new CompileError([deep], new Map([[deep.file, text!]]));
  let loaded: ReturnType<typeof loadModelProgram>;
  try {
    loaded = loadModelProgram(absPath);
  } catch (e) {
    // An imported file nests too deeply for the parser.
    if (isStackOverflow(e)) throw new CompileError([stackOverflow(absPath, text ?? "", limits)]);
    throw e;
  }
  const { program, diagnostics } = loaded;
  if (!program) throw new CompileError(diagnostics);
  if (diagnostics.length) throw new CompileError(diagnostics, sourcesOf(program));
  for (const sf of program.userFiles) {
    const tooDeep = syntaxNesting(sf.compilerNode, limits);
    if (tooDeep) throw new CompileError([tooDeep], sourcesOf(program));
  }
  return program;
}

/** Plain data past the value limit (counting shared parts once per use) is a diagnostic at `node`. */
function checkDataSize(v: Value, node: Node, limits: EvalLimits): void {
  const size = dataSize(v, limits.maxValueSize);
  if (size > limits.maxValueSize) throw new FrontendError(CODES.valueLimit, valueLimitMessage("value", size, limits), node);
}

function evaluateModel(program: ModelProgram, absPath: string, opts: CompileOptions, limits: EvalLimits): CompiledModel {
  const overrides = opts.set ?? {};
  const graph = new GraphContext(path.basename(absPath).replace(/\.(m|c)?tsx?$/, ""), limits);
  let config: Value = undefined;
  let train: { value: Value; node: Node } | undefined;
  const ev = new Evaluator(program, graph, limits, (name, binding, declaration) => {
    if (name === "config" || name === "train") checkDataSize(binding.value, declaration, limits);
    if (name === "config") config = binding.value = applyConfigOverrides(binding.value, overrides, declaration);
    if (name === "train") train = { value: binding.value, node: declaration };
  });

  const record = ev.module(program.entry);
  if (config === undefined && Object.keys(overrides).length > 0) {
    const [key] = Object.keys(overrides);
    throw new FrontendError(CODES.badSet, `--set ${key}=${overrides[key]}: the model exports no config object`, program.entry);
  }
  const model = record.defaultExport;
  if (!(model instanceof Closure)) {
    const message =
      model === undefined && !record.defaultExportNode
        ? "the model file has no default export; add `export default function model() { ... }` that builds the graph"
        : `the default export must be the function that builds the model, got ${describe(model)}`;
    throw new FrontendError(CODES.noDefaultExport, message, record.defaultExportNode ?? program.entry);
  }
  // Anonymous functions are named "<anonymous>" / "<arrow function>": keep the file's name then.
  if (!model.name.startsWith("<")) graph.builder.name = model.name;

  const siteNode = record.defaultExportNode ?? model.node;
  const result = ev.call(model, [], { node: siteNode, argNodes: [], loc: ev.locationOf(siteNode) });
  addOutputs(graph, result, model);

  if (train && !isPlainData(train.value)) {
    throw new FrontendError(CODES.notPlainData, `train must be plain data (numbers, strings, booleans, arrays, objects), got ${describe(train.value)}`, train.node);
  }
  return {
    graph: graph.builder.build(),
    config: isPlainObject(config) ? (toPlainData(config) as Record<string, unknown>) : {},
    ...(train ? { train: toPlainData(train.value) } : {}),
    file: absPath,
  };
}

/** A returned tensor is output `out`; an object's entries are outputs in order. */
function addOutputs(graph: GraphContext, result: Value, model: Closure): void {
  if (result instanceof TensorValue) {
    graph.builder.output("out", result.name);
    return;
  }
  const blame = (key?: string) => (key !== undefined && returnedProperty(model, key)) || (Node.isArrowFunction(model.node) ? undefined : model.node.getNameNode()) || model.node;
  if (!isPlainObject(result)) {
    throw new FrontendError(CODES.badModelResult, `the model must return a tensor or an object of tensors, got ${describe(result)}`, blame());
  }
  const entries = Object.entries(result);
  if (entries.length === 0) throw new FrontendError(CODES.badModelResult, "the model returns no outputs", blame());
  for (const [key, v] of entries) {
    if (!(v instanceof TensorValue)) {
      throw new FrontendError(CODES.badModelResult, `output '${key}' must be a tensor, got ${describe(v)}`, blame(key));
    }
    graph.builder.output(key, v.name);
  }
}

/** The property `key` of an object literal returned directly by the model function, if any. */
function returnedProperty(model: Closure, key: string): Node | undefined {
  const body = model.node.getBody();
  const candidates = body && Node.isBlock(body) ? body.getDescendantsOfKind(SyntaxKind.ReturnStatement).map((r) => r.getExpression()) : [body];
  for (const e of candidates) {
    if (e && Node.isObjectLiteralExpression(e)) {
      const prop = e.getProperty(key);
      if (prop) return prop;
    }
  }
  return undefined;
}

function toDiagnostic(e: unknown, entry: SourceFile): Diagnostic {
  if (e instanceof FrontendError) return diagnosticAt(e.code, e.message, e.node, e.start);
  const message = e instanceof Error ? e.message : String(e);
  return { code: CODES.internal, message: `internal compiler error: ${message}`, file: displayPath(entry.getFilePath()), line: 1, col: 1 };
}

function sourcesOf(program: ModelProgram): Map<string, string> {
  return new Map(program.userFiles.map((sf) => [displayPath(sf.getFilePath()), sf.getFullText()]));
}
