// Property reads and writes on compile-time values (`x.shape`, `xs.length`, `cfg.units`,
// `Math.PI`, `m.relu`, `x.matmul`).

import { ts, type Node } from "ts-morph";
import { BUILTINS, TENSOR_METHODS } from "./builtins.ts";
import { CODES, FrontendError } from "./diagnostics.ts";
import type { Evaluator } from "./evaluator.ts";
import { arrayMethod, numberMethod, stringMethod } from "./stdlib.ts";
import {
  BoundMethod,
  BuiltinRef,
  describe,
  HostFunction,
  HostObject,
  isPlainObject,
  NamespaceValue,
  TensorValue,
  type Value,
} from "./values.ts";

/** `obj[key]` / `obj.key`. Missing keys of plain objects and arrays read as undefined, as in JS. */
export function getProperty(ev: Evaluator, obj: Value, key: string | number, node: Node): Value {
  const name = String(key);
  if (obj === undefined || obj === null) {
    throw new FrontendError(CODES.evaluation, `cannot read '${name}' of ${obj}`, node);
  }
  if (obj instanceof TensorValue) {
    if (name === "shape") return [...obj.type.shape];
    if (name === "dtype") return obj.type.dtype;
    if (TENSOR_METHODS.has(name)) return new BoundMethod(name, obj);
    throw new FrontendError(CODES.evaluation, `tensors have no property '${name}' (a tensor has shape, dtype and op methods)`, node);
  }
  if (Array.isArray(obj)) {
    if (name === "length") return obj.length;
    if (isIndex(name)) return obj[Number(name)];
    return arrayMethod(obj, name) ?? unsupportedMember("array", name, node);
  }
  if (typeof obj === "string") {
    if (name === "length") return obj.length;
    if (isIndex(name)) return obj[Number(name)];
    return stringMethod(obj, name) ?? unsupportedMember("string", name, node);
  }
  if (typeof obj === "number") return numberMethod(obj, name) ?? unsupportedMember("number", name, node);
  if (typeof obj === "boolean") {
    if (name === "toString") return new HostFunction("toString", () => String(obj));
    return unsupportedMember("boolean", name, node);
  }
  if (isPlainObject(obj)) return Object.prototype.hasOwnProperty.call(obj, name) ? obj[name] : undefined;
  if (obj instanceof HostObject) {
    if (obj.members.has(name)) return obj.members.get(name);
    throw new FrontendError(CODES.notCallable, `'${obj.name}.${name}' is not available at compile time in models`, node);
  }
  if (obj instanceof HostFunction) {
    if (obj.statics.has(name)) return obj.statics.get(name);
    throw new FrontendError(CODES.notCallable, `'${obj.name}.${name}' is not available at compile time in models`, node);
  }
  if (obj instanceof NamespaceValue) return namespaceMember(ev, obj, name, node);
  throw new FrontendError(CODES.evaluation, `cannot read '${name}' of ${describe(obj)}`, node);
}

/** `obj[key] = value` on plain objects and arrays (tensors and strings are immutable). */
export function setProperty(ev: Evaluator, obj: Value, key: string | number, value: Value, node: Node): void {
  const name = String(key);
  if (isPlainObject(obj)) {
    obj[name] = value;
    return;
  }
  if (Array.isArray(obj)) {
    if (isIndex(name)) {
      // `a[1e9] = 0` would make an array of a billion holes.
      if (Number(name) >= ev.limits.maxValueSize) throw ev.tooLarge("array", Number(name) + 1, node);
      obj[Number(name)] = value;
      return;
    }
    if (name === "length" && typeof value === "number") {
      if (value > ev.limits.maxValueSize) throw ev.tooLarge("array", value, node);
      obj.length = value;
      return;
    }
  }
  throw new FrontendError(CODES.evaluation, `cannot set '${name}' on ${describe(obj)}`, node);
}

function isIndex(name: string): boolean {
  return /^(0|[1-9]\d*)$/.test(name);
}

function unsupportedMember(kind: string, name: string, node: Node): never {
  throw new FrontendError(CODES.notCallable, `the ${kind} member '${name}' is not available at compile time in models`, node);
}

/** `m.relu` where `import * as m from "mlc"`: the checker confirms `relu` is an export of dsl.ts. */
function namespaceMember(ev: Evaluator, ns: NamespaceValue, name: string, node: Node): Value {
  const exported = ev.program.checker.getExportsOfModule(ns.module).find((s) => s.name === name);
  if (exported && exported.flags & ts.SymbolFlags.Function && BUILTINS.has(name)) return new BuiltinRef(name);
  throw new FrontendError(CODES.unknownIdentifier, `mlc has no function '${name}'`, node);
}
