// Kernels of the elementwise ops (docs/IR.md, "Elementwise"; dropout lives in dropout.ts): each
// is an element function run by the broadcasting loop nest of map.ts. Floats (f32) compute in
// f32/f32x4 lanes; every integer dtype and bool computes in 32-bit integer lanes and is truncated
// to its width when stored, which reproduces the interpreter's wrap-around.
//
// Where the interpreter's semantics need care:
//   integer div    truncates toward zero; x / 0 = 0 and INT_MIN / -1 wraps to INT_MIN (wasm's
//                  div_s would trap on both, so the divisor is made safe and the result selected)
//   cast f32->int  saturates to the target's range, NaN -> 0 (trunc_sat, then a clamp for i8/u8)
//   cast ->bool    nonzero -> 1 (NaN -> 1, as in C and NumPy)
//   maximum/minimum/relu  wasm's min/max propagate NaN and order -0 < +0, exactly Math.min/max
//   rsqrt          1 / sqrt(x): two correctly rounded steps, within 1.5 ulp

import { signature, signedTable, type DTypeSpec } from "../../ir/dtypes.ts";
import type { Attrs } from "../../ir/graph.ts";
import type { DType } from "../../ir/types.ts";
import type { KernelArgs, KernelEmitter, KernelRegistration, KernelTable } from "../kernel.ts";
import type { Expr } from "../module.ts";
import { isFloatLane } from "./access.ts";
import { FLOATS, INTS, STORED } from "../../ir/dtypes.ts";
import type { Lanes, V } from "./lanes.ts";
import { emitMap, type ElementFn } from "./map.ts";
import { callMath, callPow, type UnaryMath } from "./math.ts";

/** What an element function may depend on: the node's attributes and the module's shared helpers. */
export interface ElementContext {
  readonly attrs: Attrs;
  readonly helper: KernelArgs["helper"];
}

/** An element function for one lane kind, and whether it has a four-lane form. */
interface Variant {
  readonly fn: (c: ElementContext) => ElementFn;
  readonly vector?: boolean;
}

/** An op's element functions for float lanes (FLOATS) and for integer lanes (INTS, and bool where `bool`). */
interface Variants {
  readonly float?: Variant;
  readonly int?: Variant;
  /** Whether the integer variant also takes bool operands (equal). */
  readonly bool?: boolean;
}

/**
 * A kernel choosing its variant by the compute type of operand `dataOperand`; the registrations
 * below list exactly the dtypes each variant serves, so a missing one is a table miss.
 */
function elementwise(variants: Variants, dataOperand = 0): KernelEmitter {
  return (a) => {
    const dtype = a.inputs[dataOperand].type.dtype;
    const variant = isFloatLane(dtype) ? variants.float : variants.int;
    if (!variant) throw new Error(`wasm-simd: ${a.node.op} was looked up for ${dtype} operands it has no variant for (node %${a.node.id})`);
    return emitMap(a.f, a.inputs, a.output, variant.fn({ attrs: a.node.attrs, helper: a.helper }), { vector: variant.vector ?? true });
  };
}

/** The operand dtypes a variant set serves. */
function operandDTypes(v: Variants): DType[] {
  return [...(v.float ? FLOATS : []), ...(v.int ? INTS : []), ...(v.bool ? (["bool"] as const) : [])];
}

const same = (fn: ElementFn): Variant => ({ fn: () => fn });

const math = (name: UnaryMath): Variant => ({ fn: (c) => (L, [x]) => callMath(L, c.helper, name, x()) });

const UNARY: Record<string, Variants> = {
  neg: { float: same((L, [x]) => L.neg(x())), int: same((L, [x]) => L.isub(L.ic(0), x())) },
  abs: { float: same((L, [x]) => L.abs(x())), int: same((L, [x]) => L.iabs(x)) },
  relu: { float: same((L, [x]) => L.max(x(), L.c(0))), int: same((L, [x]) => L.imax(x, () => L.ic(0))) },
  sqrt: { float: same((L, [x]) => L.sqrt(x())) },
  rsqrt: { float: same((L, [x]) => L.div(L.c(1), L.sqrt(x()))) },
  exp: { float: math("exp") },
  log: { float: math("log") },
  tanh: { float: math("tanh") },
  sigmoid: { float: math("sigmoid") },
  gelu: {
    float: { fn: (c) => (L, [x]) => callMath(L, c.helper, c.attrs.approximate === "tanh" ? "geluTanh" : "gelu", x()) },
  },
};

/** Integer a / b truncating toward zero, with x / 0 = 0 and INT_MIN / -1 = INT_MIN (no trap). */
function integerDivide(L: Lanes, a: V, b: V): Expr {
  const zero = L.letI(L.ieq(b(), L.ic(0)));
  const minusOne = L.letI(L.ieq(b(), L.ic(-1)));
  const safe = L.select(L.maskOr(zero(), minusOne()), L.ic(1), b());
  const quotient = L.f.i32.div_s(a(), safe);
  return L.select(zero(), L.ic(0), L.select(minusOne(), L.isub(L.ic(0), a()), quotient));
}

const BINARY: Record<string, Variants> = {
  add: { float: same((L, [a, b]) => L.add(a(), b())), int: same((L, [a, b]) => L.iadd(a(), b())) },
  sub: { float: same((L, [a, b]) => L.sub(a(), b())), int: same((L, [a, b]) => L.isub(a(), b())) },
  mul: { float: same((L, [a, b]) => L.mul(a(), b())), int: same((L, [a, b]) => L.imul(a(), b())) },
  div: { float: same((L, [a, b]) => L.div(a(), b())), int: { fn: () => (L, [a, b]) => integerDivide(L, a, b), vector: false } },
  maximum: { float: same((L, [a, b]) => L.max(a(), b())), int: same((L, [a, b]) => L.imax(a, b)) },
  minimum: { float: same((L, [a, b]) => L.min(a(), b())), int: same((L, [a, b]) => L.imin(a, b)) },
  pow: { float: { fn: (c) => (L, [x, y]) => callPow(L, c.helper, x(), y()), vector: false } },
};

/**
 * The f32 element function of an arithmetic op (unary or binary) with the given attributes, and
 * whether it has a four-lane form; undefined for ops without one. The fused kernel chains these.
 */
export function floatElementFunction(op: string, c: ElementContext): { fn: ElementFn; vector: boolean } | undefined {
  const table = [UNARY, BINARY, SELECT].find((t) => Object.hasOwn(t, op));
  const variant = table?.[op].float;
  return variant && { fn: variant.fn(c), vector: variant.vector ?? true };
}

const COMPARISON: Record<string, Variants> = {
  less: { float: same((L, [a, b]) => L.maskTo01(L.lt(a(), b()))), int: same((L, [a, b]) => L.maskTo01(L.ilt(a(), b()))) },
  greater: { float: same((L, [a, b]) => L.maskTo01(L.gt(a(), b()))), int: same((L, [a, b]) => L.maskTo01(L.igt(a(), b()))) },
  equal: { float: same((L, [a, b]) => L.maskTo01(L.eq(a(), b()))), int: same((L, [a, b]) => L.maskTo01(L.ieq(a(), b()))), bool: true },
};

const pick: ElementFn = (L, [cond, a, b]) => L.select(L.nonzero(cond()), a(), b());
/** Ops with a bool condition: its lanes are integers (0 or 1), the others of the data's kind. */
const SELECT: Record<string, Variants> = { where: { float: same(pick), int: same(pick) } };
const where: KernelEmitter = elementwise(SELECT.where, 1);

/** Inclusive ranges that float -> integer casts saturate to. */
const SATURATE: Partial<Record<DType, readonly [number, number]>> = { i8: [-128, 127], u8: [0, 255] };

/** The element function of `cast` from one stored dtype to another. */
function castFn(from: DType, to: DType): ElementFn {
  const fromFloat = isFloatLane(from);
  if (to === "bool") return (L, [x]) => L.maskTo01(fromFloat ? L.ne(x(), L.c(0)) : L.nonzero(x()));
  if (isFloatLane(to)) return fromFloat ? (_L, [x]) => x() : (L, [x]) => L.toFloat(x());
  if (!fromFloat) return (_L, [x]) => x(); // int -> int: the store truncates (wraps)
  const range = SATURATE[to];
  if (!range) return (L, [x]) => L.truncSat(x());
  return (L, [x]) => {
    const t = L.letI(L.truncSat(x()));
    const low = L.letI(L.imax(t, () => L.ic(range[0])));
    return L.imin(low, () => L.ic(range[1]));
  };
}

const cast: KernelEmitter = (a) => emitMap(a.f, a.inputs, a.output, castFn(a.inputs[0].type.dtype, a.output.type.dtype));

const arithmetic = (table: Record<string, Variants>): KernelRegistration[] =>
  Object.entries(table).map(([op, v]) => ({ op, dtypes: operandDTypes(v), kernel: elementwise(v) }));

const comparisons = (table: Record<string, Variants>): KernelRegistration[] =>
  Object.entries(table).map(([op, v]) => ({ op, dtypes: operandDTypes(v).map((t) => signature([t, t], "bool")), kernel: elementwise(v) }));

/** cast between every two stored dtypes. */
const castSignatures: DTypeSpec = STORED.flatMap((from) => STORED.map((to) => signature([from], to)));

export const ELEMENTWISE_KERNELS: KernelTable = signedTable("wasm elementwise kernels", {
  arithmetic: [...arithmetic(UNARY), ...arithmetic(BINARY)],
  comparison: comparisons(COMPARISON),
  select: [
    { op: "where", dtypes: STORED.map((t) => signature(["bool", t, t], t)), kernel: where },
    { op: "cast", dtypes: castSignatures, kernel: cast },
  ],
});
