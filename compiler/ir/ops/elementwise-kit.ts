// Builders for the elementwise op records: the dtype checks, shape rules and kernel loops that
// the ~20 unary, binary and comparison ops share. Each call returns one complete OpDef record;
// elementwise.ts lists them.

import type { Attrs } from "../graph.ts";
import type { AttrSpec, OpDef, Tensor } from "../op-def.ts";
import { formatType, isFloat, isInteger, numel, ShapeError, type DType, type TensorType } from "../types.ts";
import { broadcastAll, expandTo } from "./broadcast.ts";

export type Unary = (x: number) => number;
export type Binary = (a: number, b: number) => number;

/** Which element types an op takes: floats only, any number type, or anything including bool. */
export type Accepts = "float" | "numeric" | "any";

const ACCEPTS_WORDS: Record<Accepts, string> = { float: "float", numeric: "numeric (not bool)", any: "any" };

export function acceptsDType(accepts: Accepts, dtype: DType): boolean {
  if (accepts === "float") return isFloat(dtype);
  if (accepts === "numeric") return isFloat(dtype) || isInteger(dtype);
  return true;
}

/** ShapeError unless every operand's dtype is accepted, e.g. "exp: expects float operands, got i32[3]". */
export function checkAccepts(op: string, accepts: Accepts, types: readonly TensorType[]): void {
  if (types.every((t) => acceptsDType(accepts, t.dtype))) return;
  throw new ShapeError(`${op}: expects ${ACCEPTS_WORDS[accepts]} operands, got ${types.map(formatType).join(" and ")}`);
}

/** ShapeError unless both operands have one dtype. */
export function checkSameDType(op: string, a: TensorType, b: TensorType): void {
  if (a.dtype !== b.dtype) {
    throw new ShapeError(`${op}: operands must have the same dtype, got ${formatType(a)} and ${formatType(b)}`);
  }
}

/** The broadcast shape of the operands, with the op's name on the error. */
export function broadcastFor(op: string, types: readonly TensorType[]): number[] {
  try {
    return broadcastAll(types.map((t) => t.shape));
  } catch (e) {
    if (e instanceof ShapeError) throw new ShapeError(`${op}: ${e.message}`);
    throw e;
  }
}

export function mapUnary(x: Float64Array, fn: Unary): Float64Array {
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = fn(x[i]);
  return out;
}

/** `fn` over the broadcast of `a` and `b` onto `out`. */
export function mapBinary(a: Tensor, b: Tensor, out: TensorType, fn: Binary): Float64Array {
  const av = expandTo(a.data, a.type.shape, out.shape);
  const bv = expandTo(b.data, b.type.shape, out.shape);
  const res = new Float64Array(numel(out.shape));
  for (let i = 0; i < res.length; i++) res[i] = fn(av[i], bv[i]);
  return res;
}

export interface UnaryOptions {
  readonly accepts: Accepts;
  /** Relative f32 tolerance for backend kernels. */
  readonly tolerance: number;
  /** Element function for integer dtypes where it differs from the float one (neg). */
  readonly integerFn?: Unary;
}

/** A same-type-out unary op: `out[i] = fn(x[i])`. */
export function unary(name: string, summary: string, fn: Unary, opts: UnaryOptions): OpDef {
  return unaryWithAttrs(name, summary, {}, () => fn, opts);
}

/** A unary op whose element function depends on its attributes (gelu's `approximate`). */
export function unaryWithAttrs(
  name: string,
  summary: string,
  attrs: Readonly<Record<string, AttrSpec>>,
  fnFor: (attrs: Attrs) => Unary,
  opts: UnaryOptions,
): OpDef {
  return {
    name,
    summary,
    kind: "elementwise",
    operands: ["x"],
    attrs,
    tolerance: opts.tolerance,
    infer([x]) {
      checkAccepts(name, opts.accepts, [x]);
      return { dtype: x.dtype, shape: x.shape };
    },
    interpret([x], a) {
      return mapUnary(x.data, opts.integerFn && isInteger(x.type.dtype) ? opts.integerFn : fnFor(a));
    },
  };
}

export interface BinaryOptions {
  readonly accepts: Accepts;
  readonly tolerance: number;
  /** Element function for integer dtypes where it differs from the float one (div, mul). */
  readonly integerFn?: Binary;
}

/** A broadcasting binary op whose result has the operands' dtype. */
export function binary(name: string, summary: string, fn: Binary, opts: BinaryOptions): OpDef {
  return {
    name,
    summary,
    kind: "elementwise",
    operands: ["a", "b"],
    attrs: {},
    tolerance: opts.tolerance,
    infer([a, b]) {
      checkSameDType(name, a, b);
      checkAccepts(name, opts.accepts, [a, b]);
      return { dtype: a.dtype, shape: broadcastFor(name, [a, b]) };
    },
    interpret([a, b], _attrs, out) {
      const f = opts.integerFn && isInteger(a.type.dtype) ? opts.integerFn : fn;
      return mapBinary(a, b, out, f);
    },
  };
}

/** A broadcasting comparison: bool result, 1 where `test` holds. NaN compares false. */
export function comparison(name: string, summary: string, test: (a: number, b: number) => boolean, accepts: Accepts): OpDef {
  return {
    name,
    summary,
    kind: "elementwise",
    operands: ["a", "b"],
    attrs: {},
    tolerance: 0,
    infer([a, b]) {
      checkSameDType(name, a, b);
      checkAccepts(name, accepts, [a, b]);
      return { dtype: "bool", shape: broadcastFor(name, [a, b]) };
    },
    interpret([a, b], _attrs, out) {
      return mapBinary(a, b, out, (x, y) => (test(x, y) ? 1 : 0));
    },
  };
}
