// pow(a, b) for f32 operands, computed in f64 so that the f32 result is correctly rounded but for
// rare double-rounding ties. |a|^b = 2^y with y = b log2|a|: an f32 result that is off by one ulp
// needs y to 1e-8 absolute, and |y| reaches ~150, which f32 arithmetic cannot give.
//
//   log2|a| = e + 2 atanh(s) / ln 2, |a| = 2^e m, m in [sqrt(1/2), sqrt 2), s = (m-1)/(m+1), and
//             2 atanh(s) = 2s (1 + z/3 + z^2/5 + ... + z^8/17), z = s^2 <= 0.0295 (the series'
//             tail is below 1e-15 relative, so its own coefficients need no fitting)
//   2^y     = 2^k 2^r, k = round(y), r in [-1/2, 1/2], 2^r = sum_{n<=12} (r ln2)^n / n!
//
// Special cases follow C99 (and the interpreter's powC): pow(1, y) = pow(x, 0) = 1 even for NaN,
// pow(-1, +-inf) = 1, a negative finite base with a non-integer exponent is NaN, an odd integer
// exponent keeps the base's sign (-0 and -inf included), 0 and inf bases give 0 or inf by the
// exponent's sign, and b = +-inf saturates through the clamp on y.

import type { Expr, FunctionBuilder } from "../module.ts";

const SQRT_HALF_F64_BITS = 0x3fe6a09e667f3bcdn;
const ATANH_SERIES = Array.from({ length: 9 }, (_, n) => 1 / (2 * n + 1));
const EXP_SERIES = Array.from({ length: 13 }, (_, n) => 1 / factorial(n));

function factorial(n: number): number {
  return n <= 1 ? 1 : n * factorial(n - 1);
}

/** Body of `math.pow.f32(a: f32, b: f32) -> f32`. */
export function powBody(f: FunctionBuilder): Expr[] {
  const d = f.f64;
  const i64 = f.i64;
  const stmts: Expr[] = [];
  const local = (value: Expr, type: "f64" | "i64" | "i32" = "f64") => {
    const l = f.local(type);
    stmts.push(f.set(l, value));
    return () => f.get(l);
  };
  const horner = (x: () => Expr, coefficients: readonly number[]) => {
    let acc = d.const(coefficients[coefficients.length - 1]);
    for (let i = coefficients.length - 2; i >= 0; i--) acc = d.add(d.mul(acc, x()), d.const(coefficients[i]));
    return acc;
  };
  const a = local(d.promote(f.get(f.params[0])));
  const b = local(d.promote(f.get(f.params[1])));
  const absA = local(d.abs(a()));

  // log2|a| for finite nonzero a (other bases are replaced below).
  const bits = local(i64.reinterpret(absA()), "i64");
  const e = local(i64.shr_s(i64.sub(bits(), i64.const(SQRT_HALF_F64_BITS)), i64.const(52)), "i64");
  const m = local(d.reinterpret(i64.sub(bits(), i64.shl(e(), i64.const(52)))));
  const s = local(d.div(d.sub(m(), d.const(1)), d.add(m(), d.const(1))));
  const z = local(d.mul(s(), s()));
  const lnM = d.mul(d.mul(d.const(2), s()), horner(z, ATANH_SERIES));
  const log2A = d.add(d.convert_s.i64(e()), d.mul(lnM, d.const(Math.LOG2E)));

  // 2^y, y clamped so that 2^k stays a normal f64 (anything beyond overflows/underflows f32).
  const y = local(d.min(d.max(d.mul(b(), log2A), d.const(-300)), d.const(300)));
  const k = local(d.nearest(y()));
  const t = local(d.mul(d.sub(y(), k()), d.const(Math.LN2)));
  const scale = d.reinterpret(i64.shl(i64.add(i64.trunc_s_sat.f64(k()), i64.const(1023)), i64.const(52)));
  const general = d.mul(horner(t, EXP_SERIES), scale);

  // Bases 0 and inf: 0 or inf by whether "big base" and "positive exponent" agree.
  const isInf = local(d.eq(absA(), d.const(Infinity)), "i32");
  const edge = f.i32.or(d.eq(absA(), d.const(0)), isInf());
  const magnitude = local(f.select(edge, f.select(f.i32.eq(isInf(), d.gt(b(), d.const(0))), d.const(Infinity), d.const(0)), general));

  const isInteger = local(d.eq(b(), d.trunc(b())), "i32");
  const odd = f.i32.and(f.i32.and(isInteger(), d.lt(d.abs(b()), d.const(2 ** 24))), f.i32.and(f.i32.trunc_s_sat.f64(b()), f.i32.const(1)));
  const signBit = i64.lt_s(i64.reinterpret(a()), i64.const(0));
  const signed = f.select(f.i32.and(signBit, odd), d.neg(magnitude()), magnitude());
  const negativeFinite = f.i32.and(d.lt(a(), d.const(0)), d.gt(a(), d.const(-Infinity)));
  const domainError = f.i32.or(f.i32.and(negativeFinite, f.i32.eqz(isInteger())), f.i32.or(d.ne(a(), a()), d.ne(b(), b())));
  const result = f.select(domainError, d.const(NaN), signed);

  const one = f.i32.or(
    f.i32.or(d.eq(a(), d.const(1)), d.eq(b(), d.const(0))),
    f.i32.and(d.eq(a(), d.const(-1)), d.eq(d.abs(b()), d.const(Infinity))),
  );
  return [...stmts, f.f32.demote(f.select(one, d.const(1), result))];
}
