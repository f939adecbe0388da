// The part of JavaScript's standard library a model can use at compile time: `Math`, `Number`,
// `Array.from`, `Object.keys`, array and string methods, `new Error(...)` for `throw`.
//
// Everything here is deterministic (no Math.random, no Date): compiling a model twice gives the
// same graph. Functions take compile-time values only; passing a tensor is a diagnostic that says
// which mlc op to use instead.

import { CODES, HostError } from "./diagnostics.ts";
import { strictEquals } from "./operators.ts";
import {
  describe,
  HostFunction,
  HostObject,
  isPlainObject,
  newObject,
  TensorValue,
  type HostContext,
  type Invoke,
  type PlainObject,
  type Value,
} from "./values.ts";

function fail(message: string): never {
  throw new HostError(CODES.badArgument, message);
}

function num(v: Value, what: string): number {
  if (typeof v === "number") return v;
  if (v instanceof TensorValue) {
    throw new HostError(CODES.notCompileTime, `${what} must be a compile-time number, but it is ${describe(v)} (use the mlc ops on tensors, e.g. maximum, exp, sqrt)`);
  }
  return fail(`${what} must be a number, got ${describe(v)}`);
}

function arr(v: Value, what: string): Value[] {
  return Array.isArray(v) ? v : fail(`${what} must be an array, got ${describe(v)}`);
}

function fn(name: string, call: (args: Value[], invoke: Invoke, context: HostContext) => Value): HostFunction {
  return new HostFunction(name, call);
}

// ---- Math -------------------------------------------------------------------------------------

const MATH_FUNCTIONS = [
  "abs", "acos", "acosh", "asin", "asinh", "atan", "atan2", "atanh", "cbrt", "ceil", "clz32", "cos",
  "cosh", "exp", "expm1", "floor", "fround", "hypot", "imul", "log", "log10", "log1p", "log2", "max",
  "min", "pow", "round", "sign", "sin", "sinh", "sqrt", "tan", "tanh", "trunc",
] as const;
const MATH_CONSTANTS = ["E", "LN10", "LN2", "LOG10E", "LOG2E", "PI", "SQRT1_2", "SQRT2"] as const;

function mathObject(): HostObject {
  const members = new Map<string, Value>();
  for (const name of MATH_FUNCTIONS) {
    const impl = Math[name] as (...xs: number[]) => number;
    members.set(name, fn(`Math.${name}`, (args) => impl(...args.map((a, i) => num(a, `argument ${i + 1}`)))));
  }
  for (const name of MATH_CONSTANTS) members.set(name, Math[name]);
  return new HostObject("Math", members);
}

// ---- Number, String, Boolean, Array, Object, JSON, Error ---------------------------------------

function primitive(v: Value, what: string): number | string | boolean | undefined | null {
  if (v === undefined || v === null || typeof v !== "object") return v;
  return fail(`${what} needs a number, string or boolean, got ${describe(v)}`);
}

function withStatics(f: HostFunction, statics: Record<string, Value>): HostFunction {
  return new HostFunction(f.name, f.call, new Map(Object.entries(statics)));
}

const numberFunction = withStatics(fn("Number", ([v]) => Number(primitive(v, "Number()"))), {
  isInteger: fn("Number.isInteger", ([v]) => Number.isInteger(v)),
  isFinite: fn("Number.isFinite", ([v]) => Number.isFinite(v)),
  isNaN: fn("Number.isNaN", ([v]) => Number.isNaN(v)),
  isSafeInteger: fn("Number.isSafeInteger", ([v]) => Number.isSafeInteger(v)),
  parseFloat: fn("Number.parseFloat", ([v]) => Number.parseFloat(String(primitive(v, "parseFloat")))),
  parseInt: fn("Number.parseInt", ([v, radix]) => Number.parseInt(String(primitive(v, "parseInt")), radix as number | undefined)),
  EPSILON: Number.EPSILON,
  MAX_SAFE_INTEGER: Number.MAX_SAFE_INTEGER,
  MIN_SAFE_INTEGER: Number.MIN_SAFE_INTEGER,
  MAX_VALUE: Number.MAX_VALUE,
  MIN_VALUE: Number.MIN_VALUE,
  POSITIVE_INFINITY: Infinity,
  NEGATIVE_INFINITY: -Infinity,
  NaN: NaN,
});

/** `Array.from(arrayOrString, fn?)` and `Array.from({ length: n }, fn?)`. */
function arrayFrom([source, map]: Value[], invoke: Invoke, context: HostContext): Value {
  let items: Value[];
  if (Array.isArray(source)) items = [...source];
  else if (typeof source === "string") items = [...source];
  else if (isPlainObject(source) && typeof source.length === "number") {
    const n = source.length;
    if (!Number.isInteger(n) || n < 0) return fail(`Array.from: length must be a non-negative integer, got ${n}`);
    // Refused or paid for before anything is made: { length: 1e9 } must not allocate.
    context.size(n, "array");
    context.charge(n);
    items = new Array<Value>(n).fill(undefined);
  } else return fail(`Array.from needs an array, a string or { length: n }, got ${describe(source)}`);
  return map === undefined ? items : items.map((x, i) => invoke(map, [x, i], 1));
}

const arrayFunction = withStatics(
  fn("Array", () => fail("use an array literal or Array.from({ length: n }, f) instead of Array(...)")),
  {
    from: fn("Array.from", arrayFrom),
    isArray: fn("Array.isArray", ([v]) => Array.isArray(v)),
    of: fn("Array.of", (args) => [...args]),
  },
);

function objectArg(v: Value, what: string): PlainObject {
  return isPlainObject(v) ? v : fail(`${what} needs a plain object, got ${describe(v)}`);
}

const objectStatics = new HostObject(
  "Object",
  new Map<string, Value>([
    ["keys", fn("Object.keys", ([o]) => Object.keys(objectArg(o, "Object.keys")))],
    ["values", fn("Object.values", ([o]) => Object.values(objectArg(o, "Object.values")))],
    ["entries", fn("Object.entries", ([o]) => Object.entries(objectArg(o, "Object.entries")))],
    [
      "fromEntries",
      fn("Object.fromEntries", ([entries]) => {
        const out = newObject();
        for (const e of arr(entries, "Object.fromEntries")) {
          const [k, v] = arr(e, "an entry");
          out[String(primitive(k, "a key"))] = v;
        }
        return out;
      }),
    ],
  ]),
);

/** `new Error(message)` (and the other error constructors) for `throw` in models. */
function errorConstructor(name: string): HostFunction {
  return fn(name, ([message]) => {
    const e = newObject();
    e.name = name;
    e.message = message === undefined ? "" : String(primitive(message, name));
    return e;
  });
}

export const ERROR_CONSTRUCTORS = new Set(["Error", "TypeError", "RangeError"]);

export const GLOBALS: ReadonlyMap<string, Value> = new Map<string, Value>([
  ["undefined", undefined],
  ["NaN", NaN],
  ["Infinity", Infinity],
  ["Math", mathObject()],
  ["Number", numberFunction],
  ["String", fn("String", ([v]) => String(primitive(v, "String()")))],
  ["Boolean", fn("Boolean", ([v]) => Boolean(v))],
  ["Array", arrayFunction],
  ["Object", objectStatics],
  ["JSON", new HostObject("JSON", new Map([["stringify", fn("JSON.stringify", ([v], _, context) => stringify(v, context))]]))],
  ["isFinite", fn("isFinite", ([v]) => Number.isFinite(v))],
  ["isNaN", fn("isNaN", ([v]) => Number.isNaN(num(v, "isNaN's argument")))],
  ["parseInt", numberFunction.statics.get("parseInt")],
  ["parseFloat", numberFunction.statics.get("parseFloat")],
  ...[...ERROR_CONSTRUCTORS].map((name): [string, Value] => [name, errorConstructor(name)]),
]);

function stringify(v: Value, context: HostContext): string {
  // Each node visited is paid for: an array holding itself twice, doubled 40 times, is 2^40 nodes.
  const plain = (x: Value): unknown => {
    context.charge(1);
    if (Array.isArray(x)) return x.map(plain);
    if (isPlainObject(x)) return Object.fromEntries(Object.entries(x).map(([k, y]) => [k, plain(y)]));
    if (x !== null && typeof x === "object") return fail(`JSON.stringify needs plain data, got ${describe(x)}`);
    return x;
  };
  return JSON.stringify(plain(v));
}

// ---- methods of compile-time values -----------------------------------------------------------

function indexOf(items: readonly Value[], target: Value, from = 0): number {
  for (let i = Math.max(0, from); i < items.length; i++) if (strictEquals(items[i], target)) return i;
  return -1;
}

/** Array methods, bound to their receiver. Mutating ones (push, fill, ...) mutate it, as in JS. */
export function arrayMethod(a: Value[], name: string): HostFunction | undefined {
  const each = (f: Value, invoke: Invoke) => (x: Value, i: number) => invoke(f, [x, i, a], 1);
  const m: Record<string, (args: Value[], invoke: Invoke, context: HostContext) => Value> = {
    at: ([i]) => a.at(num(i, "the index")),
    concat: (args, _, context) => {
      context.size(args.reduce((n: number, x) => n + (Array.isArray(x) ? x.length : 1), a.length), "array");
      return a.concat(...args.map((x) => (Array.isArray(x) ? x : [x])));
    },
    every: ([f], inv) => a.every((x, i) => Boolean(each(f, inv)(x, i))),
    some: ([f], inv) => a.some((x, i) => Boolean(each(f, inv)(x, i))),
    filter: ([f], inv) => a.filter((x, i) => Boolean(each(f, inv)(x, i))),
    find: ([f], inv) => a.find((x, i) => Boolean(each(f, inv)(x, i))),
    findIndex: ([f], inv) => a.findIndex((x, i) => Boolean(each(f, inv)(x, i))),
    flat: (_, __, context) => {
      context.size(a.reduce((n: number, x) => n + (Array.isArray(x) ? x.length : 1), 0), "array");
      return a.flat() as Value[];
    },
    flatMap: ([f], inv, context) => {
      const parts = a.map((x, i) => each(f, inv)(x, i));
      context.size(parts.reduce((n: number, x) => n + (Array.isArray(x) ? x.length : 1), 0), "array");
      return parts.flat() as Value[];
    },
    forEach: ([f], inv) => void a.forEach((x, i) => each(f, inv)(x, i)),
    includes: ([v]) => indexOf(a, v) >= 0,
    indexOf: ([v, from]) => indexOf(a, v, from === undefined ? 0 : num(from, "fromIndex")),
    join: ([sep], _, context) => {
      const parts = a.map((x) => (x === undefined || x === null ? "" : String(primitive(x, "join"))));
      const separator = sep === undefined ? "," : String(primitive(sep, "join"));
      context.size(parts.reduce((n, p) => n + p.length, Math.max(0, parts.length - 1) * separator.length), "string");
      return parts.join(separator);
    },
    map: ([f], inv) => a.map((x, i) => each(f, inv)(x, i)),
    reduce: (args, inv) => {
      const [f] = args;
      if (args.length < 2 && a.length === 0) return fail("reduce of an empty array with no initial value");
      let acc = args.length >= 2 ? args[1] : a[0];
      for (let i = args.length >= 2 ? 0 : 1; i < a.length; i++) acc = inv(f, [acc, a[i], i, a], 2);
      return acc;
    },
    slice: ([s, e]) => a.slice(s === undefined ? undefined : num(s, "start"), e === undefined ? undefined : num(e, "end")),
    fill: ([v, s, e]) => a.fill(v, s === undefined ? undefined : num(s, "start"), e === undefined ? undefined : num(e, "end")),
    push: (args, _, context) => {
      context.size(a.length + args.length, "array");
      return a.push(...args);
    },
    pop: () => a.pop(),
    reverse: () => a.reverse(),
    keys: () => [...a.keys()],
    entries: () => a.map((x, i) => [i, x]),
  };
  const impl = m[name];
  return impl && fn(name, impl);
}

export function stringMethod(s: string, name: string): HostFunction | undefined {
  const str = (v: Value, what: string) => String(primitive(v, what));
  const opt = (v: Value, what: string) => (v === undefined ? undefined : num(v, what));
  const m: Record<string, (args: Value[], invoke: Invoke, context: HostContext) => Value> = {
    at: ([i]) => s.at(num(i, "the index")),
    charAt: ([i]) => s.charAt(num(i, "the index")),
    concat: (args, _, context) => {
      const parts = args.map((x) => str(x, "concat"));
      context.size(parts.reduce((n, p) => n + p.length, s.length), "string");
      return s.concat(...parts);
    },
    endsWith: ([x]) => s.endsWith(str(x, "endsWith")),
    includes: ([x]) => s.includes(str(x, "includes")),
    indexOf: ([x]) => s.indexOf(str(x, "indexOf")),
    padEnd: ([n, f], _, context) => {
      context.size(num(n, "the length"), "string");
      return s.padEnd(num(n, "the length"), f === undefined ? undefined : str(f, "padEnd"));
    },
    padStart: ([n, f], _, context) => {
      context.size(num(n, "the length"), "string");
      return s.padStart(num(n, "the length"), f === undefined ? undefined : str(f, "padStart"));
    },
    repeat: ([n], _, context) => {
      const count = num(n, "the count");
      // Checked before repeating: 'x'.repeat(2 ** 28) must not be built first.
      if (count > 0 && s.length > 0) context.size(count * s.length, "string");
      return s.repeat(count);
    },
    replaceAll: ([a, b], _, context) => {
      const from = str(a, "replaceAll");
      const to = str(b, "replaceAll");
      const hits = from === "" ? s.length + 1 : s.split(from).length - 1;
      context.size(s.length + hits * (to.length - from.length), "string");
      return s.replaceAll(from, to);
    },
    slice: ([a, b]) => s.slice(opt(a, "start"), opt(b, "end")),
    split: ([sep]) => s.split(str(sep, "split")),
    startsWith: ([x]) => s.startsWith(str(x, "startsWith")),
    substring: ([a, b]) => s.substring(num(a, "start"), opt(b, "end")),
    toLowerCase: () => s.toLowerCase(),
    toUpperCase: () => s.toUpperCase(),
    trim: () => s.trim(),
    toString: () => s,
  };
  const impl = m[name];
  return impl && fn(name, impl);
}

export function numberMethod(n: number, name: string): HostFunction | undefined {
  const m: Record<string, (args: Value[]) => Value> = {
    toFixed: ([d]) => n.toFixed(d === undefined ? 0 : num(d, "digits")),
    toPrecision: ([d]) => n.toPrecision(d === undefined ? undefined : num(d, "precision")),
    toString: (args: Value[]) => n.toString(args[0] === undefined ? undefined : num(args[0], "radix")),
  };
  const impl = m[name];
  return impl && fn(name, impl);
}
