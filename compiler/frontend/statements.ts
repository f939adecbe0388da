// Statements of the partial evaluator. Control flow is decided at compile time: `if`/`switch`
// pick a branch, loops are unrolled (each iteration may add nodes to the graph), and `break`,
// `continue` and `return` travel up as completions.

import {
  Node,
  SyntaxKind,
  type DoStatement,
  type Expression,
  type ForInStatement,
  type ForOfStatement,
  type ForStatement,
  type Statement,
  type SwitchStatement,
  type VariableDeclarationList,
  type WhileStatement,
} from "ts-morph";
import { CODES, FrontendError } from "./diagnostics.ts";
import { Env } from "./env.ts";
import type { Evaluator } from "./evaluator.ts";
import { raiseHint } from "./limits.ts";
import { strictEquals, truthy } from "./operators.ts";
import { assignTarget, bindPattern } from "./patterns.ts";
import { describe, isPlainObject, type Value } from "./values.ts";

export type Completion =
  | { readonly kind: "normal" }
  | { readonly kind: "return"; readonly value: Value }
  | { readonly kind: "break"; readonly label?: string }
  | { readonly kind: "continue"; readonly label?: string };

const NORMAL: Completion = { kind: "normal" };

/** Function declarations are visible in their whole block, before their statement runs. */
export function hoistFunctions(ev: Evaluator, statements: readonly Statement[], env: Env): void {
  for (const s of statements) {
    if (Node.isFunctionDeclaration(s) && s.hasBody() && s.getName()) env.declare(ev.symbolOf(s), ev.closureOf(s, env), false);
  }
}

export function executeStatements(ev: Evaluator, statements: readonly Statement[], env: Env): Completion {
  for (const s of statements) {
    let done: Completion;
    try {
      done = executeStatement(ev, s, env, []);
    } catch (e) {
      if (e instanceof FrontendError) throw e;
      if (e instanceof RangeError && /call stack/i.test(e.message)) {
        throw new FrontendError(CODES.recursionLimit, "evaluation nests too deeply for the compiler's stack (runaway recursion, or calls and expressions nested too deep?)", s);
      }
      // A value JavaScript itself cannot hold is past any size limit too.
      if (e instanceof RangeError && /invalid (string|array) length/i.test(e.message)) {
        throw new FrontendError(CODES.valueLimit, `a compile-time value is too large (${e.message}); the limit is ${ev.limits.maxValueSize.toLocaleString("en-US")} elements or characters`, s);
      }
      // A bug in the compiler still gets a location instead of a stack trace.
      throw new FrontendError(CODES.internal, `internal compiler error: ${e instanceof Error ? e.message : String(e)}`, s);
    }
    if (done.kind !== "normal") return done;
  }
  return NORMAL;
}

/** What the construct is called in "... are not supported in models" messages. */
const UNSUPPORTED: Partial<Record<SyntaxKind, string>> = {
  [SyntaxKind.ClassDeclaration]: "class declarations",
  [SyntaxKind.EnumDeclaration]: "enum declarations",
  [SyntaxKind.ModuleDeclaration]: "namespace declarations",
  [SyntaxKind.TryStatement]: "try statements",
  [SyntaxKind.WithStatement]: "with statements",
  [SyntaxKind.DebuggerStatement]: "debugger statements",
  [SyntaxKind.ImportEqualsDeclaration]: "import = require declarations",
};

function executeStatement(ev: Evaluator, s: Statement, env: Env, labels: readonly string[]): Completion {
  ev.charge(s);
  if (Node.isExpressionStatement(s)) {
    ev.evalExpr(s.getExpression(), env);
    return NORMAL;
  }
  if (Node.isVariableStatement(s)) {
    if (!s.hasDeclareKeyword()) declareVariables(ev, s.getDeclarationList(), env);
    return NORMAL;
  }
  if (Node.isReturnStatement(s)) {
    const e = s.getExpression();
    return { kind: "return", value: e ? ev.evalExpr(e, env) : undefined };
  }
  if (Node.isBlock(s)) return block(ev, s.getStatements(), env);
  if (Node.isIfStatement(s)) {
    if (truthy(ev.evalExpr(s.getExpression(), env), s.getExpression(), "the condition of 'if'")) {
      return executeStatement(ev, s.getThenStatement(), env, []);
    }
    const otherwise = s.getElseStatement();
    return otherwise ? executeStatement(ev, otherwise, env, []) : NORMAL;
  }
  if (Node.isForStatement(s) || Node.isForOfStatement(s) || Node.isForInStatement(s) || Node.isWhileStatement(s) || Node.isDoStatement(s)) {
    return loop(ev, s, env, labels);
  }
  if (Node.isBreakStatement(s) || Node.isContinueStatement(s)) {
    const label = s.getLabel()?.getText();
    return Node.isBreakStatement(s) ? { kind: "break", label } : { kind: "continue", label };
  }
  if (Node.isLabeledStatement(s)) {
    const label = s.getLabel().getText();
    const done = executeStatement(ev, s.getStatement(), env, [...labels, label]);
    return done.kind === "break" && done.label === label ? NORMAL : done;
  }
  if (Node.isSwitchStatement(s)) return switchStatement(ev, s, env);
  if (Node.isThrowStatement(s)) throw thrown(ev, s.getExpression(), env);
  if (
    Node.isFunctionDeclaration(s) || // hoisted
    Node.isEmptyStatement(s) ||
    Node.isTypeAliasDeclaration(s) ||
    Node.isInterfaceDeclaration(s) ||
    Node.isImportDeclaration(s) || // imports resolve through the checker when a name is used
    Node.isExportDeclaration(s)
  ) {
    return NORMAL;
  }
  const what = UNSUPPORTED[s.getKind()] ?? `${s.getKindName()} statements`;
  throw new FrontendError(CODES.unsupportedStatement, `${what} are not supported in models`, s);
}

function declareVariables(ev: Evaluator, list: VariableDeclarationList, env: Env): void {
  const kind: string = list.getDeclarationKind();
  if (kind !== "let" && kind !== "const") {
    const hint = kind === "var" ? "; use let or const" : "";
    throw new FrontendError(CODES.unsupportedStatement, `${kind} declarations are not supported in models${hint}`, list);
  }
  for (const decl of list.getDeclarations()) {
    const init = decl.getInitializer();
    bindPattern(ev, decl.getNameNode(), init ? ev.evalExpr(init, env) : undefined, env, kind === "let");
  }
}

function block(ev: Evaluator, statements: readonly Statement[], outer: Env): Completion {
  const env = new Env(outer);
  hoistFunctions(ev, statements, env);
  return executeStatements(ev, statements, env);
}

type LoopStatement = ForStatement | ForOfStatement | ForInStatement | WhileStatement | DoStatement;

/**
 * Runs a loop to completion at compile time (unrolling it: each iteration may add nodes). The
 * iteration limit turns a loop without a real compile-time bound into a diagnostic instead of a
 * hang.
 */
function loop(ev: Evaluator, s: LoopStatement, env: Env, labels: readonly string[]): Completion {
  let iterations = 0;
  const tick = () => {
    if (++iterations > ev.limits.maxLoopIterations) {
      throw new FrontendError(
        CODES.loopLimit,
        `loop runs more than ${ev.limits.maxLoopIterations} iterations; loops in models must have compile-time bounds (${raiseHint("maxLoopIterations", ev.limits.maxLoopIterations)})`,
        s,
      );
    }
  };
  /** Body completion → whether to stop the loop, and the completion to propagate. */
  const afterBody = (done: Completion): Completion | "next" => {
    if (done.kind === "normal") return "next";
    if (done.kind === "continue" && (done.label === undefined || labels.includes(done.label))) return "next";
    if (done.kind === "break" && (done.label === undefined || labels.includes(done.label))) return NORMAL;
    return done;
  };
  const condition = (e: Expression | undefined, scope: Env, what: string) =>
    e === undefined || truthy(ev.evalExpr(e, scope), e, what);

  if (Node.isForStatement(s)) {
    // Each iteration gets a copy of the loop's `let` bindings, so closures capture that iteration.
    let scope = new Env(env);
    const init = s.getInitializer();
    if (init && Node.isVariableDeclarationList(init)) declareVariables(ev, init, scope);
    else if (init) ev.evalExpr(init, scope);
    for (;;) {
      // Iterations are bodies run: a loop of exactly the limit's iterations is within it.
      if (!condition(s.getCondition(), scope, "the condition of 'for'")) return NORMAL;
      tick();
      const next = afterBody(executeStatement(ev, s.getStatement(), scope, []));
      if (next !== "next") return next;
      scope = scope.copyFrame();
      const step = s.getIncrementor();
      if (step) ev.evalExpr(step, scope);
    }
  }
  if (Node.isForOfStatement(s) || Node.isForInStatement(s)) {
    const items = Node.isForOfStatement(s) ? forOfItems(ev.evalExpr(s.getExpression(), env), s) : forInKeys(ev.evalExpr(s.getExpression(), env), s);
    const init = s.getInitializer();
    for (const item of items) {
      tick();
      const scope = new Env(env);
      if (Node.isVariableDeclarationList(init)) {
        bindPattern(ev, init.getDeclarations()[0].getNameNode(), item, scope, init.getDeclarationKind() === "let");
      } else {
        assignTarget(ev, init as Expression, item, scope);
      }
      const next = afterBody(executeStatement(ev, s.getStatement(), scope, []));
      if (next !== "next") return next;
    }
    return NORMAL;
  }
  const cond = (s as { getExpression(): Expression }).getExpression();
  const what = Node.isWhileStatement(s) ? "the condition of 'while'" : "the condition of 'do ... while'";
  let first = Node.isDoStatement(s);
  for (;;) {
    if (!first && !condition(cond, env, what)) return NORMAL;
    first = false;
    tick();
    const next = afterBody(executeStatement(ev, s.getStatement(), env, []));
    if (next !== "next") return next;
  }
}

function forOfItems(v: Value, node: Node): Value[] {
  if (Array.isArray(v)) return [...v];
  if (typeof v === "string") return [...v];
  throw new FrontendError(CODES.notCompileTime, `for-of needs a compile-time array, got ${describe(v)}`, node);
}

function forInKeys(v: Value, node: Node): Value[] {
  if (isPlainObject(v)) return Object.keys(v);
  if (Array.isArray(v)) return Object.keys(v);
  throw new FrontendError(CODES.notCompileTime, `for-in needs a compile-time object, got ${describe(v)}`, node);
}

function switchStatement(ev: Evaluator, s: SwitchStatement, outer: Env): Completion {
  const subject = ev.evalExpr(s.getExpression(), outer);
  const clauses = s.getClauses();
  const env = new Env(outer);
  for (const c of clauses) hoistFunctions(ev, c.getStatements(), env);
  let start = clauses.findIndex((c) => Node.isCaseClause(c) && strictEquals(subject, ev.evalExpr(c.getExpression(), env)));
  if (start < 0) start = clauses.findIndex((c) => Node.isDefaultClause(c));
  if (start < 0) return NORMAL;
  // Fall through from the matching clause until a break.
  for (const c of clauses.slice(start)) {
    const done = executeStatements(ev, c.getStatements(), env);
    if (done.kind === "break" && done.label === undefined) return NORMAL;
    if (done.kind !== "normal") return done;
  }
  return NORMAL;
}

/** `throw new Error("...")` in a model is a compile-time error with the model's own message. */
function thrown(ev: Evaluator, e: Expression, env: Env): FrontendError {
  const v = ev.evalExpr(e, env);
  const message = isPlainObject(v) && typeof v.message === "string" ? v.message : typeof v === "string" ? v : describe(v);
  return new FrontendError(CODES.thrown, `the model threw: ${message}`, e.getParentOrThrow());
}
