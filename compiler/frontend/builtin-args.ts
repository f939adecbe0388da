// Reading the arguments of an mlc op call: each accessor checks the value's kind and reports a
// diagnostic at the offending argument (or option property) when it is wrong.

import { Node } from "ts-morph";
import { DTYPES, isDType, type DType } from "../ir/types.ts";
import { CODES, FrontendError, type DiagnosticCode } from "./diagnostics.ts";
import type { CallSite } from "./evaluator.ts";
import type { GraphContext } from "./graph-context.ts";
import { describe, isPlainObject, newObject, TensorValue, type PlainObject, type Value } from "./values.ts";

export class OpArgs {
  constructor(
    readonly op: string,
    readonly values: readonly Value[],
    readonly site: CallSite,
    readonly graph: GraphContext,
  ) {}

  /** The node to blame for argument i: the argument itself, or the call when it was left out. */
  node(i: number): Node {
    return this.site.argNodes[i] ?? this.site.node;
  }

  fail(i: number, message: string, code: DiagnosticCode = CODES.badArgument): never {
    const node = this.site.argNodes[i];
    if (node) throw new FrontendError(code, `${this.op}: ${message}`, node);
    throw new FrontendError(code, `${this.op}: ${message}`, this.site.node, this.site.start);
  }

  failAt(node: Node, message: string, code: DiagnosticCode = CODES.badArgument): never {
    const start = node === this.site.node ? this.site.start : undefined;
    throw new FrontendError(code, `${this.op}: ${message}`, node, start);
  }

  arity(min: number, max = min): void {
    const n = this.values.length;
    if (n >= min && n <= max) return;
    const want = min === max ? `${min}` : max === Infinity ? `at least ${min}` : `${min} to ${max}`;
    const blame = n > max ? this.node(max) : this.site.node;
    this.failAt(blame, `takes ${want} argument${want === "1" ? "" : "s"}, got ${n}`);
  }

  tensor(i: number, what: string): TensorValue {
    const v = this.values[i];
    return v instanceof TensorValue ? v : this.fail(i, `${what} must be a tensor, got ${describe(v)}`);
  }

  /** A tensor or a plain number (which becomes a scalar constant at the caller's choice of dtype). */
  operand(i: number, what: string): TensorValue | number {
    const v = this.values[i];
    return v instanceof TensorValue || typeof v === "number" ? v : this.fail(i, `${what} must be a tensor or a number, got ${describe(v)}`);
  }

  number(i: number, what: string, fallback?: number): number {
    return checkNumber(this.values[i], fallback, (msg, code) => this.fail(i, `${what} ${msg}`, code));
  }

  int(i: number, what: string, fallback?: number): number {
    return checkInt(this.values[i], fallback, (msg, code) => this.fail(i, `${what} ${msg}`, code));
  }

  bool(i: number, what: string, fallback?: boolean): boolean {
    return checkBool(this.values[i], fallback, (msg, code) => this.fail(i, `${what} ${msg}`, code));
  }

  string(i: number, what: string): string {
    const v = this.values[i];
    return typeof v === "string" ? v : wrong(v, "a string", (msg, code) => this.fail(i, `${what} ${msg}`, code));
  }

  dtype(i: number, fallback?: DType): DType {
    return checkDType(this.values[i], fallback, (msg, code) => this.fail(i, `dtype ${msg}`, code));
  }

  /** An array of integers; `allowNegative` for entries such as reshape's -1. */
  ints(i: number, what: string, fallback?: number[], allowNegative = true): number[] {
    return checkInts(this.values[i], fallback, allowNegative, (msg, code) => this.fail(i, `${what} ${msg}`, code));
  }

  /** A static shape: an array of non-negative integers. */
  shape(i: number, what = "shape"): number[] {
    return this.ints(i, what, undefined, false);
  }

  /** The options object at argument i (absent means all defaults); unknown keys are errors. */
  options(i: number, known: readonly string[]): OpOptions {
    const v = this.values[i];
    if (v !== undefined && !isPlainObject(v)) this.fail(i, `options must be an object, got ${describe(v)}`);
    const obj = v ?? newObject();
    for (const key of Object.keys(obj)) {
      if (!known.includes(key)) {
        const list = known.length ? ` (known: ${known.join(", ")})` : "";
        this.failAt(optionNode(this.node(i), key), `unknown option '${key}'${list}`);
      }
    }
    return new OpOptions(this, i, obj);
  }
}

/** The options object of an op call (`{ stride: 2, padding: "same" }`). */
export class OpOptions {
  constructor(
    private readonly args: OpArgs,
    private readonly index: number,
    readonly values: PlainObject,
  ) {}

  has(key: string): boolean {
    return this.values[key] !== undefined;
  }

  /** The property node of `key` when the options are an object literal at the call. */
  node(key: string): Node {
    return optionNode(this.args.node(this.index), key);
  }

  fail(key: string, message: string, code: DiagnosticCode = CODES.badArgument): never {
    return this.args.failAt(this.node(key), message, code);
  }

  number(key: string, fallback?: number): number {
    return checkNumber(this.values[key], fallback, (msg, code) => this.fail(key, `option '${key}' ${msg}`, code));
  }

  int(key: string, fallback?: number): number {
    return checkInt(this.values[key], fallback, (msg, code) => this.fail(key, `option '${key}' ${msg}`, code));
  }

  bool(key: string, fallback?: boolean): boolean {
    return checkBool(this.values[key], fallback, (msg, code) => this.fail(key, `option '${key}' ${msg}`, code));
  }

  dtype(key: string, fallback?: DType): DType {
    return checkDType(this.values[key], fallback, (msg, code) => this.fail(key, `option '${key}' ${msg}`, code));
  }

  oneOf<T extends string>(key: string, allowed: readonly T[], fallback?: T): T {
    const v = this.values[key] ?? fallback;
    if (typeof v === "string" && (allowed as readonly string[]).includes(v)) return v as T;
    return wrong(v, `one of ${allowed.map((a) => `"${a}"`).join(", ")}`, (msg, code) => this.fail(key, `option '${key}' ${msg}`, code));
  }

  /** `n` → [n, n]; `[a, b]` → [a, b]; positive integers. */
  pair(key: string, fallback?: readonly [number, number]): [number, number] {
    const v = this.values[key];
    if (v === undefined && fallback) return [...fallback];
    const pair = typeof v === "number" ? [v, v] : v;
    if (Array.isArray(pair) && pair.length === 2 && pair.every((x) => typeof x === "number" && Number.isInteger(x) && x > 0)) {
      return pair as [number, number];
    }
    return wrong(v, "a positive integer or a pair of them", (msg, code) => this.fail(key, `option '${key}' ${msg}`, code));
  }

  raw(key: string): Value {
    return this.values[key];
  }
}

function optionNode(argNode: Node, key: string): Node {
  let literal: Node = argNode;
  while (Node.isAsExpression(literal) || Node.isParenthesizedExpression(literal) || Node.isSatisfiesExpression(literal)) {
    literal = literal.getExpression();
  }
  return (Node.isObjectLiteralExpression(literal) && literal.getProperty(key)) || argNode;
}

/** Reports a bad value: a tensor where a compile-time value is needed (MLC104), or a wrong kind (MLC106). */
type Fail = (message: string, code: DiagnosticCode) => never;

function wrong(v: Value, expected: string, fail: Fail): never {
  if (v instanceof TensorValue) return fail(`must be known at compile time (${expected}), but it is ${describe(v)}`, CODES.notCompileTime);
  return fail(`must be ${expected}, got ${describe(v)}`, CODES.badArgument);
}

function checkNumber(v: Value, fallback: number | undefined, fail: Fail): number {
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v === "number") return v;
  return wrong(v, "a number", fail);
}

function checkInt(v: Value, fallback: number | undefined, fail: Fail): number {
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v === "number" && Number.isInteger(v)) return v;
  return wrong(v, "an integer", fail);
}

function checkBool(v: Value, fallback: boolean | undefined, fail: Fail): boolean {
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v === "boolean") return v;
  return wrong(v, "true or false", fail);
}

function checkDType(v: Value, fallback: DType | undefined, fail: Fail): DType {
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v === "string" && isDType(v)) return v;
  return wrong(v, `one of ${DTYPES.map((d) => `"${d}"`).join(", ")}`, fail);
}

function checkInts(v: Value, fallback: number[] | undefined, allowNegative: boolean, fail: Fail): number[] {
  if (v === undefined && fallback !== undefined) return fallback;
  const kind = `an array of ${allowNegative ? "integers" : "non-negative integers"}`;
  if (!Array.isArray(v)) return wrong(v, kind, fail);
  const bad = v.findIndex((x) => typeof x !== "number" || !Number.isInteger(x) || (!allowNegative && x < 0));
  if (bad >= 0) {
    const entry = v[bad];
    if (entry instanceof TensorValue) return fail(`entry ${bad} must be known at compile time, but it is ${describe(entry)}`, CODES.notCompileTime);
    return fail(`must be ${kind}, but entry ${bad} is ${describe(entry)}`, CODES.badArgument);
  }
  return v as number[];
}
