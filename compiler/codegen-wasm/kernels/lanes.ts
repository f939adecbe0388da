// Element arithmetic written once for two widths: one element in an f32/i32 (width 1) or four in
// a v128 (width 4, f32x4/i32x4). Kernels and the math library compute through a `Lanes`, so the
// SIMD body of a loop and its scalar tail run the same algorithm and give bit-identical results.
//
// Conventions: float values are f32 or f32x4; integer values (every integer dtype and bool,
// widened to 32 bits) are i32 or i32x4. A comparison gives a mask: an i32 0/1 at width 1, lanes of
// all ones or all zeros at width 4; `select(mask, a, b)` takes a mask. Expressions are trees, so a
// value used twice goes through a local: `let` appends `local.set` to the statement list and
// returns a thunk that reads it back.

import type { Expr, FunctionBuilder, WasmType } from "../module.ts";

export type Width = 1 | 4;

/** A value that can be read any number of times (a local). */
export type V = () => Expr;

export class Lanes {
  /**
   * Statements that must run before the expressions built so far are evaluated (`let`, and the
   * storage conversions of access.ts, append to it): emit them after building every expression.
   */
  readonly body: Expr[];

  constructor(readonly f: FunctionBuilder, readonly width: Width, body: Expr[] = []) {
    this.body = body;
  }

  /** The same function and statement list at another width (e.g. a scalar load inside a vector step). */
  at(width: Width): Lanes {
    return width === this.width ? this : new Lanes(this.f, width, this.body);
  }

  get vector(): boolean {
    return this.width === 4;
  }

  /** The wasm type holding a float / an integer or mask at this width. */
  get floatType(): WasmType {
    return this.vector ? "v128" : "f32";
  }
  get intType(): WasmType {
    return this.vector ? "v128" : "i32";
  }

  /** Stores `value` in a fresh local (statement appended to `body`) and returns its reader. */
  let(value: Expr, kind: "float" | "int"): V {
    const local = this.f.local(kind === "float" ? this.floatType : this.intType);
    this.body.push(this.f.set(local, value));
    return () => this.f.get(local);
  }
  letF(value: Expr): V {
    return this.let(value, "float");
  }
  letI(value: Expr): V {
    return this.let(value, "int");
  }

  // ---- floats ------------------------------------------------------------------------------
  /** A float constant (rounded to f32), splatted at width 4. */
  c(value: number): Expr {
    const k = this.f.f32.const(value);
    return this.vector ? this.f.f32x4.splat(k) : k;
  }
  private get F() {
    return this.vector ? this.f.f32x4 : this.f.f32;
  }
  add(a: Expr, b: Expr): Expr { return this.F.add(a, b); }
  sub(a: Expr, b: Expr): Expr { return this.F.sub(a, b); }
  mul(a: Expr, b: Expr): Expr { return this.F.mul(a, b); }
  div(a: Expr, b: Expr): Expr { return this.F.div(a, b); }
  /** IEEE min/max as wasm defines them: NaN propagates, -0 < +0 (the same as Math.min/max). */
  min(a: Expr, b: Expr): Expr { return this.F.min(a, b); }
  max(a: Expr, b: Expr): Expr { return this.F.max(a, b); }
  neg(a: Expr): Expr { return this.F.neg(a); }
  abs(a: Expr): Expr { return this.F.abs(a); }
  sqrt(a: Expr): Expr { return this.F.sqrt(a); }
  floor(a: Expr): Expr { return this.F.floor(a); }
  trunc(a: Expr): Expr { return this.F.trunc(a); }
  /** |mag| with the sign bit of `sign`. */
  copysign(mag: Expr, sign: Expr): Expr {
    if (!this.vector) return this.f.f32.copysign(mag, sign);
    const f = this.f;
    return f.v128.or(f.v128.and(mag, f.i32x4.splat(f.i32.const(0x7fffffff))), f.v128.and(sign, f.i32x4.splat(f.i32.const(0x80000000 | 0))));
  }
  /** Round to nearest, ties to even. */
  nearest(a: Expr): Expr { return this.F.nearest(a); }
  /** a * b + c, rounded twice (wasm has no fused multiply-add outside relaxed SIMD). */
  madd(a: Expr, b: Expr, c: Expr): Expr { return this.add(this.mul(a, b), c); }
  /** Horner's rule: coefficients from the constant term up, in the variable `x`. */
  poly(x: V, coefficients: readonly number[]): Expr {
    let acc = this.c(coefficients[coefficients.length - 1]);
    for (let i = coefficients.length - 2; i >= 0; i--) acc = this.madd(acc, x(), this.c(coefficients[i]));
    return acc;
  }

  eq(a: Expr, b: Expr): Expr { return this.F.eq(a, b); }
  ne(a: Expr, b: Expr): Expr { return this.F.ne(a, b); }
  lt(a: Expr, b: Expr): Expr { return this.F.lt(a, b); }
  le(a: Expr, b: Expr): Expr { return this.F.le(a, b); }
  gt(a: Expr, b: Expr): Expr { return this.F.gt(a, b); }
  ge(a: Expr, b: Expr): Expr { return this.F.ge(a, b); }

  // ---- integers (32-bit lanes) --------------------------------------------------------------
  ic(value: number): Expr {
    const k = this.f.i32.const(value | 0);
    return this.vector ? this.f.i32x4.splat(k) : k;
  }
  iadd(a: Expr, b: Expr): Expr { return this.vector ? this.f.i32x4.add(a, b) : this.f.i32.add(a, b); }
  isub(a: Expr, b: Expr): Expr { return this.vector ? this.f.i32x4.sub(a, b) : this.f.i32.sub(a, b); }
  /** Low 32 bits of the product (two's complement wrap, like Math.imul). */
  imul(a: Expr, b: Expr): Expr { return this.vector ? this.f.i32x4.mul(a, b) : this.f.i32.mul(a, b); }
  imin(a: V, b: V): Expr { return this.vector ? this.f.i32x4.min_s(a(), b()) : this.select(this.ilt(a(), b()), a(), b()); }
  imax(a: V, b: V): Expr { return this.vector ? this.f.i32x4.max_s(a(), b()) : this.select(this.igt(a(), b()), a(), b()); }
  /** |a| with |-2^31| = -2^31 (wraps, as the interpreter's stored result does). */
  iabs(a: V): Expr { return this.vector ? this.f.i32x4.abs(a()) : this.select(this.ilt(a(), this.ic(0)), this.isub(this.ic(0), a()), a()); }
  and(a: Expr, b: Expr): Expr { return this.vector ? this.f.v128.and(a, b) : this.f.i32.and(a, b); }
  or(a: Expr, b: Expr): Expr { return this.vector ? this.f.v128.or(a, b) : this.f.i32.or(a, b); }
  xor(a: Expr, b: Expr): Expr { return this.vector ? this.f.v128.xor(a, b) : this.f.i32.xor(a, b); }
  shl(a: Expr, bits: number): Expr { return this.vector ? this.f.i32x4.shl(a, this.f.i32.const(bits)) : this.f.i32.shl(a, this.f.i32.const(bits)); }
  shrS(a: Expr, bits: number): Expr { return this.vector ? this.f.i32x4.shr_s(a, this.f.i32.const(bits)) : this.f.i32.shr_s(a, this.f.i32.const(bits)); }
  shrU(a: Expr, bits: number): Expr { return this.vector ? this.f.i32x4.shr_u(a, this.f.i32.const(bits)) : this.f.i32.shr_u(a, this.f.i32.const(bits)); }
  ieq(a: Expr, b: Expr): Expr { return this.vector ? this.f.i32x4.eq(a, b) : this.f.i32.eq(a, b); }
  ine(a: Expr, b: Expr): Expr { return this.vector ? this.f.i32x4.ne(a, b) : this.f.i32.ne(a, b); }
  ilt(a: Expr, b: Expr): Expr { return this.vector ? this.f.i32x4.lt_s(a, b) : this.f.i32.lt_s(a, b); }
  igt(a: Expr, b: Expr): Expr { return this.vector ? this.f.i32x4.gt_s(a, b) : this.f.i32.gt_s(a, b); }

  // ---- conversions and selection ------------------------------------------------------------
  /** The bits of a float as an integer (reinterpret; free at width 4). */
  bits(a: Expr): Expr { return this.vector ? a : this.f.i32.reinterpret(a); }
  /** The float whose bits are the integer. */
  fromBits(a: Expr): Expr { return this.vector ? a : this.f.f32.reinterpret(a); }
  /** Integer to float, rounding to nearest. */
  toFloat(a: Expr): Expr { return this.vector ? this.f.f32x4.convert_i32x4_s(a) : this.f.f32.convert_s.i32(a); }
  /** Float to integer toward zero, saturating, NaN -> 0 (wasm trunc_sat). */
  truncSat(a: Expr): Expr { return this.vector ? this.f.i32x4.trunc_sat_f32x4_s(a) : this.f.i32.trunc_s_sat.f32(a); }

  /** mask ? a : b, lane by lane (both sides are evaluated). */
  select(mask: Expr, a: Expr, b: Expr): Expr {
    return this.vector ? this.f.v128.bitselect(a, b, mask) : this.f.select(mask, a, b);
  }
  /** A mask as integers 0/1. */
  maskTo01(mask: Expr): Expr { return this.vector ? this.f.i32x4.neg(mask) : mask; }
  /** The mask of nonzero integers. */
  nonzero(a: Expr): Expr { return this.ine(a, this.ic(0)); }
  maskAnd(a: Expr, b: Expr): Expr { return this.and(a, b); }
  maskOr(a: Expr, b: Expr): Expr { return this.or(a, b); }
  maskNot(a: Expr): Expr { return this.vector ? this.f.v128.not(a) : this.f.i32.eqz(a); }
}
