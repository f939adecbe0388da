// The reference interpreter: runs a graph node by node through each op's reference kernel. It is
// the oracle every backend and every pass is tested against, so it favours being obviously
// correct over being fast.
//
// Every value is held as float64 numbers. In "native" precision each result (and each input and
// param on entry) is rounded to its dtype, so an f32/f16/bf16/i8 graph computes what its storage
// types say; in "f64" precision float values keep full float64 (integer and bool values are
// still rounded to their dtype, since integer semantics such as truncating division depend on it).

import type { Graph, InputDecl, Node, ParamDecl } from "./graph.ts";
import { roundArray } from "./dtype-round.ts";
import { initParam } from "./init.ts";
import type { Tensor } from "./op-def.ts";
import { getOp } from "./ops.ts";
import { formatType, isFloat, numel, type DType, type TensorType } from "./types.ts";
import { verifyGraph } from "./verifier.ts";

export type Precision = "f64" | "native";

export interface RunOptions {
  /** "native" (default) rounds every value to its dtype; "f64" keeps floats in float64. */
  readonly precision?: Precision;
  /** Values of params/state by name; the ones not given start from their seeded initializer. */
  readonly params?: Readonly<Record<string, Float64Array | ArrayLike<number>>>;
  /** Seed of the initializers of params that are not given (default 0). */
  readonly seed?: number;
  /** Keep every intermediate value and return them in `values` (default false). */
  readonly keepValues?: boolean;
}

export interface RunResult {
  readonly outputs: Record<string, Tensor>;
  /** New values of the persistent state the graph updates, by param name. */
  readonly updates: Record<string, Tensor>;
  /** Every value by name, when `keepValues` was set. */
  readonly values?: Map<string, Tensor>;
}

/** A bad call (missing or malformed inputs/params) or a kernel failing at run time. */
export class InterpreterError extends Error {
  override name = "InterpreterError";
}

/** The initial value of every param and state of `g`, from its initializer and `seed`. */
export function initParams(g: Graph, seed = 0): Record<string, Float64Array> {
  // Records keyed by the user's names have no prototype: `__proto__` and `constructor` are names.
  const out: Record<string, Float64Array> = Object.create(null);
  for (const p of g.params) out[p.name] = initParam(p, seed);
  return out;
}

export function interpret(g: Graph, inputs: Readonly<Record<string, ArrayLike<number>>>, opts: RunOptions = {}): RunResult {
  verifyGraph(g);
  const precision = opts.precision ?? "native";
  const keep = opts.keepValues ?? false;
  const values = new Map<string, Tensor>();
  for (const [name, t] of entryValues(g, inputs, opts, precision)) values.set(name, t);

  const lastUse = lastUses(g);
  g.nodes.forEach((node, index) => {
    values.set(node.id, { type: node.type, data: runNode(node, values, precision) });
    if (keep) return;
    for (const v of new Set([...node.inputs, node.id])) {
      if (lastUse.get(v) === undefined || lastUse.get(v) === index) values.delete(v);
    }
  });

  const outputs: Record<string, Tensor> = Object.create(null);
  for (const o of g.outputs) outputs[o.name] = values.get(o.value)!;
  const updates: Record<string, Tensor> = Object.create(null);
  for (const u of g.updates) updates[u.param] = values.get(u.value)!;
  return keep ? { outputs, updates, values } : { outputs, updates };
}

/**
 * The index of the last node that reads each value; values the caller gets back (outputs and
 * update values) live to the end and are absent from the map's finite entries.
 */
function lastUses(g: Graph): Map<string, number> {
  const last = new Map<string, number>();
  g.nodes.forEach((n, index) => n.inputs.forEach((v) => last.set(v, index)));
  for (const o of g.outputs) last.set(o.value, Infinity);
  for (const u of g.updates) last.set(u.value, Infinity);
  return last;
}

function runNode(node: Node, values: ReadonlyMap<string, Tensor>, precision: Precision): Float64Array {
  const operands = node.inputs.map((v) => values.get(v)!);
  const where = `${node.op} node %${node.id}${node.loc ? ` (${node.loc.file}:${node.loc.line}:${node.loc.col})` : ""}`;
  let data: Float64Array;
  try {
    data = getOp(node.op).interpret(operands, node.attrs, node.type);
  } catch (e) {
    throw new InterpreterError(`${where}: ${(e as Error).message}`, { cause: e });
  }
  const want = numel(node.type.shape);
  if (!(data instanceof Float64Array) || data.length !== want) {
    throw new InterpreterError(
      `${where}: the reference kernel returned ${data instanceof Float64Array ? `${data.length} elements` : "no Float64Array"}, expected ${want} for ${formatType(node.type)}`,
    );
  }
  // A kernel may hand back an operand's buffer (reshape does); rounding must not write into it.
  if (operands.some((t) => t.data === data)) data = data.slice();
  return storeAs(node.type.dtype, data, precision);
}

function storeAs(dtype: DType, data: Float64Array, precision: Precision): Float64Array {
  return precision === "native" || !isFloat(dtype) ? roundArray(dtype, data) : data;
}

/** Checks the caller's inputs and params and turns them (or initial values) into tensors. */
function entryValues(
  g: Graph,
  inputs: Readonly<Record<string, ArrayLike<number>>>,
  opts: RunOptions,
  precision: Precision,
): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  rejectUnknown("input", Object.keys(inputs), g.inputs);
  for (const decl of g.inputs) {
    const given = Object.hasOwn(inputs, decl.name) ? inputs[decl.name] : undefined;
    if (given === undefined) throw new InterpreterError(`missing input '${decl.name}': ${describeDecl(decl)}`);
    out.set(decl.name, entryTensor(`input '${decl.name}'`, decl, given, precision));
  }
  const params = opts.params ?? {};
  rejectUnknown("param", Object.keys(params), g.params);
  for (const decl of g.params) {
    const given = Object.hasOwn(params, decl.name) ? params[decl.name] : undefined;
    const data = given === undefined ? initParam(decl, opts.seed ?? 0) : given;
    out.set(decl.name, entryTensor(`${decl.trainable ? "param" : "state"} '${decl.name}'`, decl, data, precision));
  }
  return out;
}

function rejectUnknown(what: string, given: readonly string[], declared: readonly { name: string }[]): void {
  const names = new Set(declared.map((d) => d.name));
  const unknown = given.filter((n) => !names.has(n));
  if (unknown.length === 0) return;
  const known = declared.length ? declared.map((d) => `'${d.name}'`).join(", ") : "none";
  throw new InterpreterError(`unknown ${what}${unknown.length > 1 ? "s" : ""} ${unknown.map((n) => `'${n}'`).join(", ")} (the graph's ${what}s: ${known})`);
}

/** A copy of `given` as a tensor of `decl`'s type, after checking its size and integrality. */
function entryTensor(what: string, decl: InputDecl | ParamDecl, given: ArrayLike<number>, precision: Precision): Tensor {
  const want = numel(decl.type.shape);
  if (given === null || typeof given !== "object" || typeof given.length !== "number") {
    throw new InterpreterError(`${what} expects ${describeDecl(decl)}, got ${given === null ? "null" : typeof given}`);
  }
  if (given.length !== want) {
    throw new InterpreterError(`${what} expects ${describeDecl(decl)}, got ${given.length} element${given.length === 1 ? "" : "s"}`);
  }
  const data = Float64Array.from(given);
  if (!isFloat(decl.type.dtype)) checkIntegral(what, decl.type, data);
  return { type: decl.type, data: storeAs(decl.type.dtype, data, precision) };
}

const INTEGER_RANGE: Partial<Record<DType, readonly [number, number]>> = {
  i32: [-(2 ** 31), 2 ** 31 - 1],
  i8: [-128, 127],
  u8: [0, 255],
  bool: [0, 1],
};

function checkIntegral(what: string, type: TensorType, data: Float64Array): void {
  const [lo, hi] = INTEGER_RANGE[type.dtype]!;
  for (let i = 0; i < data.length; i++) {
    const x = data[i];
    if (!Number.isInteger(x) || x < lo || x > hi) {
      const want = type.dtype === "bool" ? "0 or 1" : `integers in [${lo}, ${hi}]`;
      throw new InterpreterError(`${what} is ${formatType(type)} and must hold ${want}, but element ${i} is ${x}`);
    }
  }
}

function describeDecl(decl: InputDecl | ParamDecl): string {
  const n = numel(decl.type.shape);
  return `${formatType(decl.type)} (${n} element${n === 1 ? "" : "s"})`;
}
