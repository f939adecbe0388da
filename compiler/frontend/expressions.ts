// Expressions of the partial evaluator.

import {
  Node,
  SyntaxKind,
  ts,
  type BinaryExpression,
  type CallExpression,
  type ElementAccessExpression,
  type Expression,
  type NewExpression,
  type NumericLiteral,
  type ObjectLiteralExpression,
  type PropertyAccessExpression,
} from "ts-morph";
import { CODES, FrontendError } from "./diagnostics.ts";
import type { Env } from "./env.ts";
import type { CallSite, Evaluator } from "./evaluator.ts";
import { binaryOperator, truthy, unaryOperator } from "./operators.ts";
import { assignTarget, keyOf, propertyKey } from "./patterns.ts";
import { getProperty } from "./properties.ts";
import { ERROR_CONSTRUCTORS } from "./stdlib.ts";
import {
  BoundMethod,
  BuiltinRef,
  Closure,
  describe,
  HostFunction,
  isCallable,
  isPlainObject,
  newObject,
  TensorValue,
  type Value,
} from "./values.ts";

/** What the construct is called in "... are not supported in models" messages. */
const UNSUPPORTED: Partial<Record<SyntaxKind, string>> = {
  [SyntaxKind.ThisKeyword]: "'this'",
  [SyntaxKind.SuperKeyword]: "'super'",
  [SyntaxKind.ClassExpression]: "class expressions",
  [SyntaxKind.AwaitExpression]: "await expressions",
  [SyntaxKind.YieldExpression]: "yield expressions",
  [SyntaxKind.TaggedTemplateExpression]: "tagged templates",
  [SyntaxKind.RegularExpressionLiteral]: "regular expressions",
  [SyntaxKind.BigIntLiteral]: "bigint literals",
  [SyntaxKind.DeleteExpression]: "delete expressions",
  [SyntaxKind.MetaProperty]: "import.meta and new.target",
  [SyntaxKind.JsxElement]: "JSX",
  [SyntaxKind.JsxSelfClosingElement]: "JSX",
};

export function evaluateExpression(ev: Evaluator, node: Expression, env: Env): Value {
  // The commonest kinds first, by one kind read (each Node.isX below reads it again).
  switch (node.getKind()) {
    case SyntaxKind.Identifier:
      return ev.lookup(node, env);
    case SyntaxKind.NumericLiteral:
      return (node as NumericLiteral).getLiteralValue();
    case SyntaxKind.BinaryExpression:
      return binary(ev, node as BinaryExpression, env);
    case SyntaxKind.PropertyAccessExpression:
    case SyntaxKind.ElementAccessExpression:
    case SyntaxKind.CallExpression: {
      const v = chainPart(ev, node, env);
      return v === SHORT_CIRCUIT ? undefined : v;
    }
  }
  if (Node.isNumericLiteral(node)) return node.getLiteralValue();
  if (Node.isStringLiteral(node) || Node.isNoSubstitutionTemplateLiteral(node)) return node.getLiteralValue();
  if (Node.isTrueLiteral(node)) return true;
  if (Node.isFalseLiteral(node)) return false;
  if (Node.isNullLiteral(node)) return null;
  if (Node.isIdentifier(node)) return ev.lookup(node, env);
  if (Node.isTemplateExpression(node)) {
    let text = node.getHead().getLiteralText();
    for (const span of node.getTemplateSpans()) {
      text += templatePiece(ev, ev.evalExpr(span.getExpression(), env), span.getExpression());
      text += span.getLiteral().getLiteralText();
    }
    return text;
  }
  if (
    Node.isParenthesizedExpression(node) ||
    Node.isAsExpression(node) ||
    Node.isTypeAssertion(node) ||
    Node.isNonNullExpression(node) ||
    Node.isSatisfiesExpression(node)
  ) {
    return ev.evalExpr(node.getExpression(), env);
  }
  if (Node.isArrayLiteralExpression(node)) return arrayLiteral(ev, node.getElements(), env);
  if (Node.isObjectLiteralExpression(node)) return objectLiteral(ev, node, env);
  if (Node.isPropertyAccessExpression(node) || Node.isElementAccessExpression(node) || Node.isCallExpression(node)) {
    const v = chainPart(ev, node, env);
    return v === SHORT_CIRCUIT ? undefined : v;
  }
  if (Node.isArrowFunction(node) || Node.isFunctionExpression(node)) return ev.closureOf(node, env);
  if (Node.isBinaryExpression(node)) return binary(ev, node, env);
  if (Node.isPrefixUnaryExpression(node)) {
    const op = ts.tokenToString(node.getOperatorToken())!;
    if (op === "++" || op === "--") return increment(ev, node.getOperand(), op, env).updated;
    return unaryOperator(op, ev.evalExpr(node.getOperand(), env), node);
  }
  if (Node.isPostfixUnaryExpression(node)) {
    return increment(ev, node.getOperand(), ts.tokenToString(node.getOperatorToken())!, env).previous;
  }
  if (Node.isConditionalExpression(node)) {
    const cond = truthy(ev.evalExpr(node.getCondition(), env), node.getCondition(), "the condition of '?:'");
    return ev.evalExpr(cond ? node.getWhenTrue() : node.getWhenFalse(), env);
  }
  if (Node.isTypeOfExpression(node)) return typeOf(ev.evalExpr(node.getExpression(), env));
  if (Node.isVoidExpression(node)) {
    ev.evalExpr(node.getExpression(), env);
    return undefined;
  }
  if (Node.isNewExpression(node)) return newExpression(ev, node, env);
  const what = UNSUPPORTED[node.getKind()] ?? `${node.getKindName()} expressions`;
  throw new FrontendError(CODES.unsupportedExpression, `${what} are not supported in models`, node);
}

// ---- literals ---------------------------------------------------------------------------------

function templatePiece(ev: Evaluator, v: Value, node: Node): string {
  if (v === null || typeof v !== "object") return String(v);
  if (Array.isArray(v)) {
    // Paid per element: an array holding itself twice, doubled 40 times, has 2^40 leaves.
    ev.charge(node, v.length);
    const text = v.map((x) => (x === undefined || x === null ? "" : templatePiece(ev, x, node))).join(",");
    if (text.length > ev.limits.maxValueSize) throw ev.tooLarge("string", text.length, node);
    return text;
  }
  const hint = v instanceof TensorValue ? "; use its shape or dtype" : "";
  throw new FrontendError(CODES.badArgument, `cannot put ${describe(v)} into a string${hint}`, node);
}

function arrayLiteral(ev: Evaluator, elements: readonly Expression[], env: Env): Value[] {
  const out: Value[] = [];
  for (const e of elements) {
    // Item by item: push(...items) overflows the stack past about 100,000 items.
    if (Node.isSpreadElement(e)) for (const item of spreadItems(ev, ev.evalExpr(e.getExpression(), env), e)) out.push(item);
    else if (Node.isOmittedExpression(e)) out.push(undefined);
    else out.push(ev.evalExpr(e, env));
  }
  return out;
}

/** The items of `...v`; copying them is paid for, so `[...a, ...a]` doubling in a loop stays bounded. */
function spreadItems(ev: Evaluator, v: Value, node: Node): Value[] {
  if (Array.isArray(v) || typeof v === "string") ev.charge(node, v.length);
  if (Array.isArray(v)) return v;
  if (typeof v === "string") return [...v];
  throw new FrontendError(CODES.badArgument, `cannot spread ${describe(v)} into a list`, node);
}

function objectLiteral(ev: Evaluator, node: ObjectLiteralExpression, env: Env): Value {
  const out = newObject();
  for (const prop of node.getProperties()) {
    if (Node.isPropertyAssignment(prop)) {
      out[propertyKey(ev, prop.getNameNode(), env)] = ev.evalExpr(prop.getInitializerOrThrow(), env);
    } else if (Node.isShorthandPropertyAssignment(prop)) {
      out[prop.getName()] = ev.lookup(prop, env);
    } else if (Node.isSpreadAssignment(prop)) {
      const v = ev.evalExpr(prop.getExpression(), env);
      if (Array.isArray(v)) ev.charge(prop, v.length);
      else if (isPlainObject(v)) ev.charge(prop, Object.keys(v).length);
      if (isPlainObject(v) || Array.isArray(v)) Object.assign(out, v);
      else if (v !== undefined && v !== null) throw new FrontendError(CODES.badArgument, `cannot spread ${describe(v)} into an object`, prop);
    } else if (Node.isMethodDeclaration(prop)) {
      out[propertyKey(ev, prop.getNameNode(), env)] = ev.closureOf(prop, env);
    } else {
      throw new FrontendError(CODES.unsupportedExpression, "getters and setters are not supported in models", prop);
    }
  }
  return out;
}

// ---- property access and calls (with optional chaining) ----------------------------------------

/** `a?.b.c` with `a` undefined: the whole chain is undefined. */
const SHORT_CIRCUIT = Symbol("optional chain short-circuit");
type ChainResult = Value | typeof SHORT_CIRCUIT;

function isChainLink(node: Node): boolean {
  return (
    (Node.isPropertyAccessExpression(node) || Node.isElementAccessExpression(node) || Node.isCallExpression(node)) &&
    (node.compilerNode.flags & ts.NodeFlags.OptionalChain) !== 0
  );
}

/** The object of a member access or the callee of a call, continuing an optional chain. */
function chainObject(ev: Evaluator, node: Expression, env: Env): ChainResult {
  return isChainLink(node) ? chainPart(ev, node, env) : ev.evalExpr(node, env);
}

function chainPart(ev: Evaluator, node: Expression, env: Env): ChainResult {
  if (Node.isCallExpression(node)) return call(ev, node, env);
  const objectNode = (node as PropertyAccessExpression).getExpression();
  const obj = chainObject(ev, objectNode, env);
  if (obj === SHORT_CIRCUIT) return obj;
  const optional = (node as PropertyAccessExpression).hasQuestionDotToken();
  if (optional && (obj === undefined || obj === null)) return SHORT_CIRCUIT;
  if (Node.isPropertyAccessExpression(node)) return getProperty(ev, obj, node.getName(), node.getNameNode());
  const argument = (node as ElementAccessExpression).getArgumentExpressionOrThrow();
  return getProperty(ev, obj, keyOf(ev.evalExpr(argument, env), argument), node);
}

function call(ev: Evaluator, node: CallExpression, env: Env): ChainResult {
  const calleeNode = node.getExpression();
  if (calleeNode.getKind() === SyntaxKind.SuperKeyword || calleeNode.getKind() === SyntaxKind.ImportKeyword) {
    throw new FrontendError(CODES.unsupportedExpression, `${calleeNode.getText()}(...) calls are not supported in models`, node);
  }
  const callee = chainObject(ev, calleeNode, env);
  if (callee === SHORT_CIRCUIT) return callee;
  if (node.hasQuestionDotToken() && (callee === undefined || callee === null)) return SHORT_CIRCUIT;
  if (!isCallable(callee)) {
    throw new FrontendError(
      CODES.notCallable,
      `'${calleeNode.getText()}' is ${describe(callee)}, not a function: only mlc ops and the model's own functions can be called`,
      calleeNode,
    );
  }
  const { values, nodes } = callArguments(ev, node.getArguments() as Expression[], env);
  const nameNode = Node.isPropertyAccessExpression(calleeNode) ? calleeNode.getNameNode() : calleeNode;
  // A method's receiver is the op's first operand: blame the receiver expression for it.
  const argNodes = callee instanceof BoundMethod && Node.isPropertyAccessExpression(calleeNode) ? [calleeNode.getExpression(), ...nodes] : nodes;
  // The location is only needed when the call makes IR nodes: computed on first use.
  const site: CallSite = {
    node,
    start: nameNode.getStart(),
    argNodes,
    get loc() {
      return ev.locationOf(nameNode);
    },
  };
  return ev.call(callee, values, site);
}

function callArguments(ev: Evaluator, args: readonly Expression[], env: Env): { values: Value[]; nodes: Node[] } {
  const values: Value[] = [];
  const nodes: Node[] = [];
  for (const a of args) {
    if (Node.isSpreadElement(a)) {
      const items = spreadItems(ev, ev.evalExpr(a.getExpression(), env), a);
      for (const item of items) {
        values.push(item);
        nodes.push(a);
      }
    } else {
      values.push(ev.evalExpr(a, env));
      nodes.push(a);
    }
  }
  return { values, nodes };
}

/** Only `new Error(message)` (and TypeError, RangeError), for `throw`. */
function newExpression(ev: Evaluator, node: NewExpression, env: Env): Value {
  const ctor = ev.evalExpr(node.getExpression(), env);
  if (ctor instanceof HostFunction && ERROR_CONSTRUCTORS.has(ctor.name)) {
    const { values, nodes } = callArguments(ev, node.getArguments() as Expression[], env);
    return ev.call(ctor, values, { node, argNodes: nodes, loc: ev.locationOf(node) });
  }
  throw new FrontendError(CODES.unsupportedExpression, "new expressions are not supported in models (except new Error(...) for throw)", node);
}

// ---- operators ----------------------------------------------------------------------------------

const COMPOUND_ASSIGNMENT = /^(\*\*|\*|\/|%|\+|-|<<|>>>|>>|&|\||\^)=$/;

function binary(ev: Evaluator, node: BinaryExpression, env: Env): Value {
  const op = node.getOperatorToken().getText();
  const left = node.getLeft();
  const right = node.getRight();
  switch (op) {
    case "=": {
      const v = ev.evalExpr(right, env);
      assignTarget(ev, left, v, env);
      return v;
    }
    case "&&": {
      const l = ev.evalExpr(left, env);
      return truthy(l, left, "the left side of '&&'") ? ev.evalExpr(right, env) : l;
    }
    case "||": {
      const l = ev.evalExpr(left, env);
      return truthy(l, left, "the left side of '||'") ? l : ev.evalExpr(right, env);
    }
    case "??": {
      const l = ev.evalExpr(left, env);
      return l === undefined || l === null ? ev.evalExpr(right, env) : l;
    }
    case "&&=":
    case "||=":
    case "??=": {
      const l = ev.evalExpr(left, env);
      const keep = op === "??=" ? l !== undefined && l !== null : truthy(l, left, `the left side of '${op}'`) === (op === "||=");
      if (keep) return l;
      const v = ev.evalExpr(right, env);
      assignTarget(ev, left, v, env);
      return v;
    }
    case ",":
      ev.evalExpr(left, env);
      return ev.evalExpr(right, env);
    case "instanceof":
      throw new FrontendError(CODES.unsupportedExpression, "instanceof is not supported in models", node);
  }
  const compound = COMPOUND_ASSIGNMENT.exec(op);
  if (compound) {
    const v = binaryOperator(compound[1], ev.evalExpr(left, env), ev.evalExpr(right, env), node);
    assignTarget(ev, left, v, env);
    return v;
  }
  return binaryOperator(op, ev.evalExpr(left, env), ev.evalExpr(right, env), node);
}

function increment(ev: Evaluator, target: Expression, op: string, env: Env): { previous: Value; updated: Value } {
  const previous = ev.evalExpr(target, env);
  if (typeof previous !== "number") {
    throw new FrontendError(CODES.badArgument, `'${op}' needs a number, got ${describe(previous)}`, target);
  }
  const updated = op === "++" ? previous + 1 : previous - 1;
  assignTarget(ev, target, updated, env);
  return { previous, updated };
}

function typeOf(v: Value): string {
  if (v instanceof Closure || v instanceof BuiltinRef || v instanceof BoundMethod || v instanceof HostFunction) return "function";
  return v !== null && typeof v === "object" ? "object" : typeof v;
}
