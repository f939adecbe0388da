// Builders for the elementwise op records: the dtype checks, shape rules, kernel loops and VJP
// plumbing that the ~20 unary, binary and comparison ops share. Each call returns one complete
// OpDef record; elementwise.ts lists them.

import type { Attrs } from "../graph.ts";
import type { AttrSpec, OpDef, OpFusion, Tensor, VjpContext, VjpRule } from "../op-def.ts";
import { formatType, isFloat, isInteger, numel, ShapeError, type DType, type TensorType } from "../types.ts";
import { elementwiseVjp, noCotangents, scalar, unbroadcast } from "../vjp-kit.ts";
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
  readonly vjp: VjpRule;
  /** Fusion roles (OpDef.fusion); `{ chain: true }` for ops with a float element function. */
  readonly fusion?: OpFusion;
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
    vjp: opts.vjp,
    inplace: "overwrite",
    ...(opts.fusion ? { fusion: opts.fusion } : {}),
  };
}

export interface BinaryOptions {
  readonly accepts: Accepts;
  readonly tolerance: number;
  /** Element function for integer dtypes where it differs from the float one (div, mul). */
  readonly integerFn?: Binary;
  readonly vjp: VjpRule;
  /** Fusion roles (OpDef.fusion); `{ chain: true }` for ops with a float element function. */
  readonly fusion?: OpFusion;
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
    vjp: opts.vjp,
    inplace: "overwrite",
    ...(opts.fusion ? { fusion: opts.fusion } : {}),
  };
}

/** A broadcasting comparison: bool result, 1 where `test` holds. NaN compares false. No gradient flows through it. */
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
    vjp: noCotangents,
    // Only where the operands are bool: the width check of mayReuseOperand rejects the rest.
    inplace: "overwrite",
  };
}

// VJP formulas. A rule for an elementwise op is a formula per operand, written with `Formula`,
// whose methods emit one IR node each; `chainRule` and `cotangentRule` turn the formulas into a
// VjpRule that skips operands autodiff does not need and undoes broadcasting.

/** A value name, or a number that becomes a scalar constant of the cotangent's dtype. */
export type Term = string | number;

/**
 * What a formula sees: the cotangent `dy`, the forward result `y`, the operands (`x` for unary
 * ops, `a` and `b` for binary ones), the node's attributes, and arithmetic on IR values. Numbers
 * become constants of dy's dtype, which is the dtype of every float operand of an elementwise op.
 */
export class Formula {
  readonly dy: string;
  readonly y: string;
  readonly operands: readonly string[];
  readonly attrs: Attrs;
  private readonly dtype: DType;

  constructor(private readonly ctx: VjpContext) {
    this.dy = ctx.dy;
    this.y = ctx.node.id;
    this.operands = ctx.node.inputs;
    this.attrs = ctx.node.attrs;
    this.dtype = ctx.b.typeOf(ctx.dy).dtype;
  }

  get x(): string {
    return this.operands[0];
  }
  get a(): string {
    return this.operands[0];
  }
  get b(): string {
    return this.operands[1];
  }

  add = (p: Term, q: Term) => this.emit("add", p, q);
  sub = (p: Term, q: Term) => this.emit("sub", p, q);
  mul = (p: Term, q: Term) => this.emit("mul", p, q);
  div = (p: Term, q: Term) => this.emit("div", p, q);
  pow = (p: Term, q: Term) => this.emit("pow", p, q);
  neg = (p: Term) => this.emit("neg", p);
  exp = (p: Term) => this.emit("exp", p);
  log = (p: Term) => this.emit("log", p);
  sigmoid = (p: Term) => this.emit("sigmoid", p);
  greater = (p: Term, q: Term) => this.emit("greater", p, q);
  less = (p: Term, q: Term) => this.emit("less", p, q);
  equal = (p: Term, q: Term) => this.emit("equal", p, q);
  where = (cond: string, p: Term, q: Term) => this.emit("where", cond, p, q);
  /** 1 where the bool `cond` holds and 0 elsewhere, in dy's dtype. */
  indicator = (cond: string) => this.ctx.b.op("cast", [cond], { dtype: this.dtype });
  /** -1, 0 or 1: 0 at 0, which makes abs's gradient at 0 zero (as PyTorch). */
  sign = (p: Term) => this.sub(this.indicator(this.greater(p, 0)), this.indicator(this.less(p, 0)));

  private emit(op: string, ...inputs: Term[]): string {
    return this.ctx.b.op(op, inputs.map((t) => (typeof t === "number" ? scalar(this.ctx.b, t, this.dtype) : t)));
  }
}

/** A formula per operand; null for an operand that takes no cotangent. */
export type PerOperand = ReadonlyArray<((f: Formula) => string) | null>;

/** Each operand's cotangent is its formula's value (any broadcast-compatible shape), unbroadcast. */
export function cotangentRule(...cotangents: PerOperand): VjpRule {
  return (ctx) => {
    const f = new Formula(ctx);
    return ctx.node.inputs.map((v, i) => {
      const cotangent = cotangents[i];
      return ctx.needs[i] && cotangent ? unbroadcast(ctx.b, cotangent(f), ctx.b.typeOf(v).shape) : null;
    });
  };
}

/** The chain rule: each operand's cotangent is dy times its formula, the partial d(y)/d(operand). */
export function chainRule(...partials: PerOperand): VjpRule {
  return elementwiseVjp(partials.map((partial) => partial && ((ctx: VjpContext) => partial(new Formula(ctx)))));
}
