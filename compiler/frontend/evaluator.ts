// The partial evaluator's core: modules, names and calls.
//
// A model file is run at compile time by walking its AST. Numbers, strings, arrays, objects and
// functions are ordinary compile-time values; calls of mlc ops add nodes to the graph and yield
// symbolic tensors. Model functions are inlined at every call (there are no functions in the IR),
// loops are unrolled and `let` reassignment rebinds (SSA).
//
// Name resolution is the TypeScript checker's: an identifier's symbol leads to its declaration,
// and a declaration in dsl.ts is an mlc builtin, so `import { relu as r } from "mlc"` and
// `import * as m from "mlc"` work and a model's own function named `relu` stays a model function.
// Expressions live in expressions.ts, statements in statements.ts, destructuring in patterns.ts.

import { Node, ts, type Expression, type SourceFile, type Statement } from "ts-morph";
import type { SourceLoc } from "../ir/graph.ts";
import { ShapeError } from "../ir/types.ts";
import { BUILTINS, callBuiltin } from "./builtins.ts";
import { CODES, displayPath, FrontendError, HostError } from "./diagnostics.ts";
import { Env, type Binding } from "./env.ts";
import { DEFAULT_LIMITS, LimitError, raiseHint, type EvalLimits } from "./limits.ts";
import { evaluateExpression } from "./expressions.ts";
import type { GraphContext } from "./graph-context.ts";
import { bindParameters } from "./patterns.ts";
import type { ModelProgram } from "./project.ts";
import { executeStatements, hoistFunctions, type Completion } from "./statements.ts";
import { GLOBALS } from "./stdlib.ts";
import {
  BoundMethod,
  BuiltinRef,
  Closure,
  describe,
  HostFunction,
  NamespaceValue,
  newObject,
  type FunctionNode,
  type HostContext,
  type Value,
} from "./values.ts";

export { DEFAULT_LIMITS, type EvalLimits } from "./limits.ts";

/** What a graph op costs against the step budget: a node (shape rule, checks) is about 30 expressions. */
const OP_STEPS = 32;

/** How a call is written: diagnostics about argument i point at `argNodes[i]`. */
export interface CallSite {
  /** The call; diagnostics about the whole call underline it from `start` (the callee's name). */
  readonly node: Node;
  readonly start?: number;
  readonly argNodes: readonly (Node | undefined)[];
  /** Location given to the IR nodes the call makes (the callee's name). */
  readonly loc: SourceLoc;
}

export interface ModuleRecord {
  readonly file: SourceFile;
  readonly env: Env;
  defaultExport?: Value;
  defaultExportNode?: Node;
}

/** Called after each exported top-level `const` of the entry module is bound (config overrides). */
export type ExportHook = (name: string, binding: Binding, declaration: Node) => void;

export class Evaluator {
  private readonly symbols = new Map<ts.Node, ts.Symbol | undefined>();
  private readonly modules = new Map<SourceFile, ModuleRecord>();
  private callDepth = 0;
  private readonly locations = new Map<Node, SourceLoc>();
  /** Steps taken so far against `limits.maxSteps`. */
  private steps = 0;

  constructor(
    readonly program: ModelProgram,
    readonly graph: GraphContext,
    readonly limits: EvalLimits = DEFAULT_LIMITS,
    private readonly onEntryExport?: ExportHook,
  ) {}

  // ---- modules --------------------------------------------------------------------------------

  /** Runs a module's top level once and returns its bindings. */
  module(file: SourceFile): ModuleRecord {
    let record = this.modules.get(file);
    if (record) return record;
    // Registered before running, so an import cycle finds the partly evaluated module.
    record = { file, env: new Env() };
    this.modules.set(file, record);
    const statements = file.getStatements();
    hoistFunctions(this, statements, record.env);
    for (const statement of statements) this.runTopLevel(record, statement);
    if (!record.defaultExportNode) this.defaultFromExportList(record);
    return record;
  }

  /** `export { model as default }` and `export { default } from "./net.ts"`. */
  private defaultFromExportList(record: ModuleRecord): void {
    const moduleSymbol = this.program.checker.getSymbolAtLocation(record.file.compilerNode);
    const exported = moduleSymbol && this.program.checker.getExportsOfModule(moduleSymbol).find((s) => s.name === "default");
    const declaration = exported?.declarations?.[0];
    if (!exported || !declaration) return;
    const node = record.file.getDescendantAtPos(declaration.getStart()) ?? record.file;
    record.defaultExport = this.valueOfSymbol(exported, "default", node, record.env);
    record.defaultExportNode = node;
  }

  private runTopLevel(record: ModuleRecord, statement: Statement): void {
    if (Node.isExportAssignment(statement)) {
      record.defaultExport = this.evalExpr(statement.getExpression(), record.env);
      record.defaultExportNode = statement;
      return;
    }
    if (Node.isFunctionDeclaration(statement) && statement.isDefaultExport()) {
      record.defaultExport = this.closureOf(statement, record.env);
      record.defaultExportNode = statement;
      return;
    }
    const done = executeStatements(this, [statement], record.env);
    if (done.kind !== "normal") throw new FrontendError(CODES.unsupportedStatement, `'${done.kind}' outside of a function`, statement);
    if (Node.isVariableStatement(statement) && statement.isExported() && record.file === this.program.entry && this.onEntryExport) {
      for (const decl of statement.getDeclarations()) {
        const name = decl.getNameNode();
        if (!Node.isIdentifier(name)) continue;
        const binding = record.env.find(this.symbolAt(name)!);
        if (binding) this.onEntryExport(name.getText(), binding, decl);
      }
    }
  }

  // ---- names ----------------------------------------------------------------------------------

  /** The checker's symbol for a name node, with exported locals mapped to their export symbol. */
  symbolAt(node: Node): ts.Symbol | undefined {
    const key = node.compilerNode;
    if (this.symbols.has(key)) return this.symbols.get(key);
    const checker = this.program.checker;
    const raw = Node.isShorthandPropertyAssignment(node)
      ? checker.getShorthandAssignmentValueSymbol(key)
      : checker.getSymbolAtLocation(key);
    const symbol = raw && checker.getExportSymbolOfSymbol(raw);
    this.symbols.set(key, symbol);
    return symbol;
  }

  /** The symbol a declaration (function, variable, parameter) declares. */
  symbolOf(declaration: Node & { getNameNode(): Node | undefined }): ts.Symbol {
    const name = declaration.getNameNode();
    const symbol = name && this.symbolAt(name);
    if (!symbol) throw new FrontendError(CODES.internal, "declaration without a symbol", declaration);
    return symbol;
  }

  /** The value an identifier (or shorthand property) refers to. */
  lookup(node: Node, env: Env): Value {
    const name = Node.isShorthandPropertyAssignment(node) ? node.getName() : node.getText();
    const symbol = this.symbolAt(node);
    if (!symbol) {
      if (GLOBALS.has(name)) return GLOBALS.get(name);
      throw new FrontendError(CODES.unknownIdentifier, `unknown identifier '${name}'`, node);
    }
    return this.valueOfSymbol(symbol, name, node, env);
  }

  private valueOfSymbol(symbol: ts.Symbol, name: string, node: Node, env: Env): Value {
    const checker = this.program.checker;
    const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
    const declaration = target.valueDeclaration ?? target.declarations?.[0];
    if (!declaration) {
      if (GLOBALS.has(name)) return GLOBALS.get(name);
      throw new FrontendError(CODES.unknownIdentifier, `unknown identifier '${name}'`, node);
    }
    const sourceFile = declaration.getSourceFile();
    if (this.program.isDslFile(sourceFile)) return this.dslValue(target, declaration, node);
    if (this.program.isLibFile(sourceFile)) {
      if (GLOBALS.has(target.name)) return GLOBALS.get(target.name);
      throw new FrontendError(CODES.unknownIdentifier, `'${target.name}' is not available at compile time in models`, node);
    }
    if (ts.isSourceFile(declaration)) return this.userNamespace(target, node);
    const binding = this.findBinding(target, declaration, env);
    if (binding) return binding.value;
    if (isAmbient(declaration)) {
      throw new FrontendError(CODES.unknownIdentifier, `'${name}' is only declared, it has no value at compile time`, node);
    }
    throw new FrontendError(CODES.evaluation, `'${name}' is used before it is defined`, node);
  }

  /** The binding of a symbol: in the active frames, else at the top level of its module. */
  findBinding(symbol: ts.Symbol, declaration: ts.Node, env: Env): Binding | undefined {
    const local = env.find(symbol);
    if (local) return local;
    const file = this.program.project.getSourceFile(declaration.getSourceFile().fileName);
    if (!file || !isTopLevel(declaration)) return undefined;
    return this.module(file).env.find(symbol);
  }

  private dslValue(target: ts.Symbol, declaration: ts.Node, node: Node): Value {
    if (ts.isSourceFile(declaration)) return new NamespaceValue(target);
    if (BUILTINS.has(target.name)) return new BuiltinRef(target.name);
    throw new FrontendError(CODES.unknownIdentifier, `'${target.name}' from mlc is a type, not a value`, node);
  }

  /** `import * as layers from "./layers.ts"`: an object of the module's exported values. */
  private userNamespace(moduleSymbol: ts.Symbol, node: Node): Value {
    const out = newObject();
    for (const exported of this.program.checker.getExportsOfModule(moduleSymbol)) {
      const canonical = this.program.checker.getExportSymbolOfSymbol(exported);
      if (canonical.flags & ts.SymbolFlags.Value) out[canonical.name] = this.valueOfSymbol(canonical, canonical.name, node, new Env());
    }
    return out;
  }

  /** Rebinds the `let` an identifier (or a shorthand property in an assignment pattern) names. */
  assign(node: Node, value: Value, env: Env): void {
    const name = Node.isShorthandPropertyAssignment(node) ? node.getName() : node.getText();
    const symbol = this.symbolAt(node);
    const declaration = symbol?.valueDeclaration ?? symbol?.declarations?.[0];
    const binding = symbol && declaration && this.findBinding(symbol, declaration, env);
    if (!binding) throw new FrontendError(CODES.unknownIdentifier, `cannot assign to '${name}': not a variable of the model`, node);
    if (!binding.mutable) throw new FrontendError(CODES.evaluation, `cannot assign to '${name}' because it is a constant`, node);
    binding.value = value;
  }

  // ---- evaluation -----------------------------------------------------------------------------

  evalExpr(node: Expression, env: Env): Value {
    if (++this.steps > this.limits.maxSteps) this.outOfSteps(node);
    const v = evaluateExpression(this, node, env);
    if ((typeof v === "string" || Array.isArray(v)) && v.length > this.limits.maxValueSize) throw this.tooLarge(typeof v === "string" ? "string" : "array", v.length, node);
    return v;
  }

  /** Counts `n` steps (a statement, or the elements of an array made at once) against the budget. */
  charge(node: Node, n = 1): void {
    this.steps += n;
    if (this.steps > this.limits.maxSteps) this.outOfSteps(node);
  }

  /** Steps taken so far (tests and the fuzzer read it). */
  get stepsTaken(): number {
    return this.steps;
  }

  private outOfSteps(node: Node): never {
    const max = this.limits.maxSteps;
    throw new FrontendError(
      CODES.stepLimit,
      `compile-time evaluation takes more than ${max.toLocaleString("en-US")} steps (statements, expressions, calls and array elements); a model's compile-time work must be bounded (${raiseHint("maxSteps", max)})`,
      node,
    );
  }

  /** The diagnostic for a string or array past `maxValueSize`. */
  tooLarge(kind: "string" | "array", length: number, node: Node): FrontendError {
    return new FrontendError(CODES.valueLimit, valueLimitMessage(kind, length, this.limits), node);
  }

  execStatements(statements: readonly Statement[], env: Env): Completion {
    return executeStatements(this, statements, env);
  }

  closureOf(node: FunctionNode, env: Env): Closure {
    if (node.isAsync() || (!Node.isArrowFunction(node) && node.isGenerator())) {
      const what = node.isAsync() ? "async functions" : "generator functions";
      throw new FrontendError(CODES.unsupportedExpression, `${what} are not supported in models`, node);
    }
    const name = Node.isArrowFunction(node) ? nameOfArrow(node) : (node.getName() ?? "<anonymous>");
    return new Closure(node, env, name);
  }

  /** Location of IR nodes made at `node`. */
  locationOf(node: Node): SourceLoc {
    // Memoised: a loop calls the same op many times, and finding a line is dear.
    let loc = this.locations.get(node);
    if (!loc) {
      const sf = node.getSourceFile();
      const { line, column } = sf.getLineAndColumnAtPos(node.getStart());
      loc = { file: displayPath(sf.getFilePath()), line, col: column };
      this.locations.set(node, loc);
    }
    return loc;
  }

  // ---- calls ----------------------------------------------------------------------------------

  call(callee: Value, args: Value[], site: CallSite): Value {
    if (callee instanceof Closure) return this.callClosure(callee, args, site);
    if (callee instanceof BuiltinRef) return this.callOp(callee.name, args, site);
    if (callee instanceof BoundMethod) return this.callOp(callee.name, [callee.receiver, ...args], site);
    if (callee instanceof HostFunction) return this.callHost(callee, args, site);
    throw new FrontendError(
      CODES.notCallable,
      `${describe(callee)} is not callable: only mlc ops and the model's own functions can be called`,
      site.node,
      site.start,
    );
  }

  private callHost(callee: HostFunction, args: Value[], site: CallSite): Value {
    this.charge(site.node);
    let failedInCallback = false;
    const invoke = (fn: Value, fnArgs: Value[], dataArgs?: number): Value => {
      const isOp = fn instanceof BuiltinRef || fn instanceof BoundMethod;
      try {
        return this.call(fn, isOp && dataArgs !== undefined ? fnArgs.slice(0, dataArgs) : fnArgs, { node: site.node, start: site.start, argNodes: [], get loc() { return site.loc; } });
      } catch (e) {
        failedInCallback = true;
        throw e;
      }
    };
    const limits = this.limits;
    const context: HostContext = {
      limits,
      charge: (n) => {
        this.steps += n;
        if (this.steps > limits.maxSteps) this.outOfSteps(site.node);
      },
      size: (n, what) => {
        if (!(n <= limits.maxValueSize)) throw new HostError(CODES.valueLimit, valueLimitMessage(what, n, limits));
      },
    };
    try {
      const result = callee.call(args, invoke, context);
      // What a library function makes is paid for by its size (Array.from, split, Object.keys, ...).
      if (Array.isArray(result)) context.charge(result.length);
      else if (typeof result === "string") context.charge(result.length >> 4);
      return result;
    } catch (e) {
      if (failedInCallback) throw e;
      if (e instanceof FrontendError) throw e;
      if (e instanceof HostError) throw new FrontendError(e.code, `${callee.name}: ${e.message}`, site.node, site.start);
      // JavaScript's own errors from library functions ("ab".repeat(-1)) are the model's mistakes.
      if (e instanceof RangeError || e instanceof TypeError) throw new FrontendError(CODES.evaluation, `${callee.name}: ${e.message}`, site.node, site.start);
      throw e;
    }
  }

  private callOp(name: string, args: Value[], site: CallSite): Value {
    this.charge(site.node, OP_STEPS);
    try {
      return callBuiltin(name, args, site, this);
    } catch (e) {
      if (e instanceof ShapeError) throw new FrontendError(CODES.shape, e.message, site.node, site.start);
      if (e instanceof LimitError) throw new FrontendError(e.code, e.message, site.node, site.start);
      throw e;
    }
  }

  private callClosure(closure: Closure, args: Value[], site: CallSite): Value {
    this.charge(site.node);
    if (this.callDepth >= this.limits.maxCallDepth) {
      throw new FrontendError(
        CODES.recursionLimit,
        `calls nest deeper than ${this.limits.maxCallDepth} levels (calling ${closure.name}); does the recursion have a compile-time base case? (${raiseHint("maxCallDepth", this.limits.maxCallDepth)})`,
        site.node,
        site.start,
      );
    }
    this.callDepth++;
    try {
      const env = new Env(closure.env);
      bindParameters(this, closure.node.getParameters(), args, env);
      const body = closure.node.getBody();
      if (!body) throw new FrontendError(CODES.notCallable, `${closure.name} has no body to inline`, site.node, site.start);
      if (!Node.isBlock(body)) return this.evalExpr(body as Expression, env);
      const statements = body.getStatements();
      hoistFunctions(this, statements, env);
      const done = this.execStatements(statements, env);
      return done.kind === "return" ? done.value : undefined;
    } finally {
      this.callDepth--;
    }
  }
}

function isTopLevel(declaration: ts.Node): boolean {
  let n: ts.Node = declaration;
  while (n.parent && !ts.isSourceFile(n.parent)) {
    // Variable declarations and binding elements sit under a statement; anything function-like
    // or block-like in between means the declaration is local.
    const p = n.parent;
    if (ts.isFunctionLike(p) || ts.isBlock(p) || ts.isCaseBlock(p) || ts.isIterationStatement(p, false)) return false;
    n = n.parent;
  }
  return true;
}

function isAmbient(declaration: ts.Node): boolean {
  return (ts.getCombinedModifierFlags(declaration as ts.Declaration) & ts.ModifierFlags.Ambient) !== 0;
}

function nameOfArrow(node: Node): string {
  const parent = node.getParent();
  if (parent && Node.isVariableDeclaration(parent)) return parent.getName();
  if (parent && Node.isPropertyAssignment(parent)) return parent.getName();
  return "<arrow function>";
}

export function valueLimitMessage(what: string, size: number, limits: EvalLimits): string {
  const unit = what === "string" ? "characters" : "elements";
  const n = Number.isSafeInteger(size) ? size.toLocaleString("en-US") : String(size);
  return `a compile-time ${what} of ${n} ${unit} is larger than the limit of ${limits.maxValueSize.toLocaleString("en-US")} (${raiseHint("maxValueSize", limits.maxValueSize)})`;
}
