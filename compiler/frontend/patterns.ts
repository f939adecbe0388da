// Binding values to names: declarations (`const { a, b: [c] = [1] } = v`), parameters (with
// defaults and rest) and assignment targets (`[a, b] = [b, a]`, `obj.k = v`).

import { Node, type BindingName, type Expression, type ParameterDeclaration } from "ts-morph";
import { CODES, FrontendError } from "./diagnostics.ts";
import type { Env } from "./env.ts";
import type { Evaluator } from "./evaluator.ts";
import { getProperty, setProperty } from "./properties.ts";
import { describe, isPlainObject, newObject, type Value } from "./values.ts";

/** Declares the names in `pattern` in `env`, destructuring `value`. */
export function bindPattern(ev: Evaluator, pattern: BindingName, value: Value, env: Env, mutable: boolean): void {
  if (Node.isIdentifier(pattern)) {
    const symbol = ev.symbolAt(pattern);
    if (!symbol) throw new FrontendError(CODES.internal, `no symbol for '${pattern.getText()}'`, pattern);
    env.declare(symbol, value, mutable);
    return;
  }
  if (Node.isArrayBindingPattern(pattern)) {
    const items = iterableItems(value, pattern);
    pattern.getElements().forEach((element, i) => {
      if (Node.isOmittedExpression(element)) return;
      const item = element.getDotDotDotToken() ? items.slice(i) : items[i];
      bindElement(ev, element.getNameNode(), item, element.getInitializer(), env, mutable);
    });
    return;
  }
  // Object pattern: rest collects the keys not named before it.
  const used: string[] = [];
  for (const element of pattern.getElements()) {
    if (element.getDotDotDotToken()) {
      bindPattern(ev, element.getNameNode(), restOf(value, used, element), env, mutable);
      continue;
    }
    const key = propertyKey(ev, element.getPropertyNameNode() ?? element.getNameNode(), env);
    used.push(key);
    bindElement(ev, element.getNameNode(), getProperty(ev, value, key, element), element.getInitializer(), env, mutable);
  }
}

function bindElement(ev: Evaluator, name: BindingName, value: Value, init: Expression | undefined, env: Env, mutable: boolean): void {
  const v = value === undefined && init ? ev.evalExpr(init, env) : value;
  bindPattern(ev, name, v, env, mutable);
}

/** Binds a call's arguments to a function's parameters in the call's fresh frame. */
export function bindParameters(ev: Evaluator, params: readonly ParameterDeclaration[], args: Value[], env: Env): void {
  params.forEach((param, i) => {
    const value = param.isRestParameter() ? args.slice(i) : args[i];
    bindElement(ev, param.getNameNode(), value, param.getInitializer(), env, true);
  });
}

/** `target = value` where target is a name, a property, or an array/object literal pattern. */
export function assignTarget(ev: Evaluator, target: Expression, value: Value, env: Env): void {
  if (Node.isParenthesizedExpression(target) || Node.isAsExpression(target) || Node.isNonNullExpression(target)) {
    return assignTarget(ev, target.getExpression(), value, env);
  }
  if (Node.isIdentifier(target)) return ev.assign(target, value, env);
  if (Node.isPropertyAccessExpression(target)) {
    return setProperty(ev, ev.evalExpr(target.getExpression(), env), target.getName(), value, target);
  }
  if (Node.isElementAccessExpression(target)) {
    const obj = ev.evalExpr(target.getExpression(), env);
    const key = ev.evalExpr(target.getArgumentExpressionOrThrow(), env);
    return setProperty(ev, obj, keyOf(key, target), value, target);
  }
  if (Node.isArrayLiteralExpression(target)) {
    const items = iterableItems(value, target);
    target.getElements().forEach((element, i) => {
      if (Node.isOmittedExpression(element)) return;
      if (Node.isSpreadElement(element)) return assignTarget(ev, element.getExpression(), items.slice(i), env);
      assignWithDefault(ev, element, items[i], env);
    });
    return;
  }
  if (Node.isObjectLiteralExpression(target)) {
    const used: string[] = [];
    for (const prop of target.getProperties()) {
      if (Node.isSpreadAssignment(prop)) {
        assignTarget(ev, prop.getExpression(), restOf(value, used, prop), env);
      } else if (Node.isShorthandPropertyAssignment(prop)) {
        used.push(prop.getName());
        const v = getProperty(ev, value, prop.getName(), prop);
        const init = prop.getObjectAssignmentInitializer();
        ev.assign(prop, v === undefined && init ? ev.evalExpr(init, env) : v, env);
      } else if (Node.isPropertyAssignment(prop)) {
        const key = propertyKey(ev, prop.getNameNode(), env);
        used.push(key);
        assignWithDefault(ev, prop.getInitializerOrThrow(), getProperty(ev, value, key, prop), env);
      } else {
        throw new FrontendError(CODES.unsupportedExpression, "this kind of destructuring assignment is not supported", prop);
      }
    }
    return;
  }
  throw new FrontendError(CODES.unsupportedExpression, `cannot assign to '${target.getText()}'`, target);
}

/** An element of an assignment pattern, possibly `name = default`. */
function assignWithDefault(ev: Evaluator, element: Expression, value: Value, env: Env): void {
  if (Node.isBinaryExpression(element) && element.getOperatorToken().getText() === "=") {
    const v = value === undefined ? ev.evalExpr(element.getRight(), env) : value;
    return assignTarget(ev, element.getLeft(), v, env);
  }
  assignTarget(ev, element, value, env);
}

/** The name of a property: `a`, `"a"`, `1`, or a computed `[expr]`. */
export function propertyKey(ev: Evaluator, name: Node, env: Env): string {
  if (Node.isComputedPropertyName(name)) return String(keyOf(ev.evalExpr(name.getExpression(), env), name));
  if (Node.isStringLiteral(name) || Node.isNoSubstitutionTemplateLiteral(name)) return name.getLiteralValue();
  if (Node.isNumericLiteral(name)) return String(name.getLiteralValue());
  if (Node.isIdentifier(name) || Node.isPrivateIdentifier(name)) return name.getText();
  throw new FrontendError(CODES.unsupportedExpression, `unsupported property name '${name.getText()}'`, name);
}

/** A property key computed at compile time: a string or a number. */
export function keyOf(key: Value, node: Node): string | number {
  if (typeof key === "string" || typeof key === "number") return key;
  throw new FrontendError(CODES.notCompileTime, `a property key must be a compile-time string or number, got ${describe(key)}`, node);
}

function iterableItems(value: Value, node: Node): Value[] {
  if (Array.isArray(value)) return value;
  if (typeof value === "string") return [...value];
  throw new FrontendError(CODES.badArgument, `cannot destructure ${describe(value)} as an array`, node);
}

function restOf(value: Value, used: readonly string[], node: Node): Value {
  if (!isPlainObject(value)) throw new FrontendError(CODES.badArgument, `cannot take the rest of ${describe(value)}`, node);
  const rest = newObject();
  for (const [k, v] of Object.entries(value)) if (!used.includes(k)) rest[k] = v;
  return rest;
}
