// The values the partial evaluator computes with.
//
// Compile-time values are held as the JavaScript values they denote (numbers, strings, booleans,
// undefined, null, arrays, plain objects), so arithmetic and comparisons are JavaScript's own.
// Everything else is an instance of one of the classes below: a symbolic tensor (a value of the
// graph being built), a closure over a model function, a DSL builtin (an op), a builtin bound to
// its tensor receiver (`x.relu`), a host function (`Math.max`, `[].map`), or the `mlc` namespace.

import type { ts } from "ts-morph";
import type { ArrowFunction, FunctionDeclaration, FunctionExpression, MethodDeclaration } from "ts-morph";
import { formatType, type TensorType } from "../ir/types.ts";
import type { Env } from "./env.ts";

export type Value =
  | number
  | string
  | boolean
  | undefined
  | null
  | Value[]
  | PlainObject
  | TensorValue
  | Closure
  | BuiltinRef
  | BoundMethod
  | HostFunction
  | HostObject
  | NamespaceValue;

/** An object literal's value. Created with a null prototype, so keys never hit Object.prototype. */
export interface PlainObject {
  [key: string]: Value;
}

/** A value of the graph under construction: its IR name and static type. */
export class TensorValue {
  constructor(
    readonly name: string,
    readonly type: TensorType,
  ) {}
}

export type FunctionNode = FunctionDeclaration | ArrowFunction | FunctionExpression | MethodDeclaration;

/** A model-local function together with the environment it was created in. */
export class Closure {
  constructor(
    readonly node: FunctionNode,
    readonly env: Env,
    readonly name: string,
  ) {}
}

/** A DSL function from "mlc" (an op, `input` or `param`) used as a value. */
export class BuiltinRef {
  constructor(readonly name: string) {}
}

/** `x.matmul`: a DSL op whose first operand is the tensor `receiver`. */
export class BoundMethod {
  constructor(
    readonly name: string,
    readonly receiver: TensorValue,
  ) {}
}

/**
 * Calls a function value from inside a host function (`map`, `reduce`, ...). Model functions get
 * every argument, as in JavaScript; mlc ops get only the first `dataArgs`, so `xs.map(relu)`
 * means `relu(x)` rather than `relu(x, index, array)`.
 */
export type Invoke = (fn: Value, args: Value[], dataArgs?: number) => Value;

/**
 * What a host function may ask of the evaluator: the limits, `charge(n)` to pay for n elements it
 * is about to make, and `size(n, what)` to refuse a value of n elements or characters before
 * making it (both throw the limit's diagnostic).
 */
export interface HostContext {
  readonly limits: { readonly maxValueSize: number };
  charge(n: number): void;
  size(n: number, what: "array" | "string"): void;
}

/**
 * A function of the compile-time standard library (Math.*, array methods). `call` receives the
 * evaluated arguments and a callback that invokes function values; `statics` are its properties
 * (`Number.isInteger`, `Array.from`).
 */
export class HostFunction {
  constructor(
    readonly name: string,
    readonly call: (args: Value[], invoke: Invoke, context: HostContext) => Value,
    readonly statics: ReadonlyMap<string, Value> = new Map(),
  ) {}
}

/** A global object such as `Math` whose members are fixed; reading any other member is an error. */
export class HostObject {
  constructor(
    readonly name: string,
    readonly members: ReadonlyMap<string, Value>,
  ) {}
}

/** `import * as m from "mlc"`: property access yields builtins. */
export class NamespaceValue {
  constructor(readonly module: ts.Symbol) {}
}

export function isPlainObject(v: Value): v is PlainObject {
  return typeof v === "object" && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === null;
}

export function newObject(): PlainObject {
  return Object.create(null) as PlainObject;
}

export function isCallable(v: Value): v is Closure | BuiltinRef | BoundMethod | HostFunction {
  return v instanceof Closure || v instanceof BuiltinRef || v instanceof BoundMethod || v instanceof HostFunction;
}

/** A short description for diagnostics: "a tensor f32[64,10]", "the number 3", "an array". */
export function describe(v: Value): string {
  if (v === undefined) return "undefined";
  if (v === null) return "null";
  if (typeof v === "number") return `the number ${v}`;
  if (typeof v === "string") return `the string ${JSON.stringify(v)}`;
  if (typeof v === "boolean") return `the boolean ${v}`;
  if (Array.isArray(v)) return "an array";
  if (v instanceof TensorValue) return `a tensor ${formatType(v.type)}`;
  if (v instanceof Closure) return `the function ${v.name}`;
  if (v instanceof BuiltinRef) return `the mlc function ${v.name}`;
  if (v instanceof BoundMethod) return `the tensor method ${v.name}`;
  if (v instanceof HostFunction) return `the function ${v.name}`;
  if (v instanceof HostObject) return `the object ${v.name}`;
  if (v instanceof NamespaceValue) return "the mlc module";
  return "an object";
}

/** True for values made only of numbers, strings, booleans, null, undefined, arrays and objects. */
export function isPlainData(v: Value): boolean {
  if (v === undefined || v === null) return true;
  if (typeof v !== "object") return true;
  if (Array.isArray(v)) return v.every(isPlainData);
  if (isPlainObject(v)) return Object.values(v).every(isPlainData);
  return false;
}

/** A deep copy of plain data with ordinary prototypes, for handing to the rest of the compiler. */
export function toPlainData(v: Value): unknown {
  if (Array.isArray(v)) return v.map(toPlainData);
  if (isPlainObject(v)) {
    // Entries, not assignments: a key `__proto__` stays a key instead of setting the prototype.
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toPlainData(x)]));
  }
  return v;
}

/** The inverse of toPlainData (used for `--set` values parsed from JSON). */
export function fromPlainData(v: unknown): Value {
  if (Array.isArray(v)) return v.map(fromPlainData);
  if (typeof v === "object" && v !== null) {
    const out = newObject();
    for (const [k, x] of Object.entries(v)) out[k] = fromPlainData(x);
    return out;
  }
  return v as Value;
}

/**
 * Parts of a value counted as a copy would have them (a shared array counts at each use), up to
 * just past `max`: an array that holds itself twice, doubled 40 times, is 2^40 parts to copy.
 */
export function dataSize(v: Value, max: number): number {
  let count = 0;
  const stack: Value[] = [v];
  while (stack.length && count <= max) {
    const x = stack.pop();
    count++;
    if (Array.isArray(x)) for (const y of x) stack.push(y);
    else if (isPlainObject(x)) for (const y of Object.values(x)) stack.push(y);
  }
  return count;
}
