// JavaScript operators on compile-time values.
//
// Arithmetic and comparisons run JavaScript's own operators on primitive operands, so folding a
// shape expression gives exactly what the same code would give at run time. Tensors have no
// operator overloading: `a + b` on a tensor is a diagnostic that names the op to call instead,
// and a tensor used as a condition is rejected because its value is not known at compile time.

import type { Node } from "ts-morph";
import { CODES, FrontendError } from "./diagnostics.ts";
import { describe, TensorValue, type Value } from "./values.ts";

/** The mlc op that does, elementwise on tensors, what a JavaScript operator does on numbers. */
const TENSOR_OP_FOR: Readonly<Record<string, string>> = {
  "+": "add",
  "-": "sub",
  "*": "mul",
  "/": "div",
  "**": "pow",
  "<": "less",
  ">": "greater",
  "==": "equal",
  "!=": "equal",
  "<=": "greater",
  ">=": "less",
};

type Primitive = number | string | boolean | undefined | null;

function isPrimitive(v: Value): v is Primitive {
  return v === undefined || v === null || typeof v !== "object";
}

function operandError(operator: string, a: Value, b: Value | undefined, node: Node): FrontendError {
  const tensor = [a, b].find((v) => v instanceof TensorValue);
  if (tensor) {
    const op = TENSOR_OP_FOR[operator];
    const hint = op ? `; use ${op}(a, b) or a.${op}(b)` : operator === "-" ? "; use neg(x)" : "";
    return new FrontendError(
      CODES.notCompileTime,
      `the operator '${operator}' computes at compile time and needs compile-time values, but an operand is ${describe(tensor)}${hint}`,
      node,
    );
  }
  const bad = [a, b].find((v) => !isPrimitive(v)) as Value;
  return new FrontendError(CODES.badArgument, `the operator '${operator}' needs numbers or strings, got ${describe(bad)}`, node);
}

/** `a === b` for compile-time values; two tensors are the same when they name the same value. */
export function strictEquals(a: Value, b: Value): boolean {
  if (a instanceof TensorValue && b instanceof TensorValue) return a.name === b.name;
  return a === b;
}

/** Binary operators other than the short-circuiting ones and assignment. */
export function binaryOperator(operator: string, a: Value, b: Value, node: Node): Value {
  if (operator === "===") return strictEquals(a, b);
  if (operator === "!==") return !strictEquals(a, b);
  if (operator === "in") {
    if (typeof b !== "object" || b === null || b instanceof TensorValue) throw operandError(operator, b, undefined, node);
    return String(a) in b;
  }
  if (!isPrimitive(a) || !isPrimitive(b)) {
    // Loose equality of objects is identity, as in JavaScript.
    if (operator === "==") return strictEquals(a, b);
    if (operator === "!=") return !strictEquals(a, b);
    throw operandError(operator, a, b, node);
  }
  // Operands are primitives from here on; the casts only silence TypeScript's operator typing.
  const x = a as number;
  const y = b as number;
  switch (operator) {
    case "+": return (a as string) + (b as string);
    case "-": return x - y;
    case "*": return x * y;
    case "/": return x / y;
    case "%": return x % y;
    case "**": return x ** y;
    case "<": return x < y;
    case ">": return x > y;
    case "<=": return x <= y;
    case ">=": return x >= y;
    // eslint-disable-next-line eqeqeq
    case "==": return a == b;
    // eslint-disable-next-line eqeqeq
    case "!=": return a != b;
    case "&": return x & y;
    case "|": return x | y;
    case "^": return x ^ y;
    case "<<": return x << y;
    case ">>": return x >> y;
    case ">>>": return x >>> y;
  }
  throw new FrontendError(CODES.unsupportedExpression, `the operator '${operator}' is not supported in models`, node);
}

/** Prefix `-`, `+`, `!`, `~`. */
export function unaryOperator(operator: string, v: Value, node: Node): Value {
  if (operator === "!") return !truthy(v, node, "the operand of '!'");
  if (!isPrimitive(v)) throw operandError(operator, v, undefined, node);
  switch (operator) {
    case "-": return -(v as number);
    case "+": return +(v as number);
    case "~": return ~(v as number);
  }
  throw new FrontendError(CODES.unsupportedExpression, `the operator '${operator}' is not supported in models`, node);
}

/** JavaScript truthiness of a compile-time value; a tensor has no compile-time truth value. */
export function truthy(v: Value, node: Node, what: string): boolean {
  if (v instanceof TensorValue) {
    throw new FrontendError(
      CODES.notCompileTime,
      `${what} must be known at compile time, but it is ${describe(v)}; ` +
        "select elementwise with where(cond, a, b), or test `x !== undefined` to ask whether a tensor was given",
      node,
    );
  }
  return Boolean(v);
}
