// The f32 math library of the WASM backend: exp, log, tanh, sigmoid, the normal CDF (exact GELU's
// erf), tanh-GELU and pow, each as a shared helper function in the module, in a scalar (f32) and a
// four-lane (f32x4) form built from the same Lanes algorithm, so both give identical bits.
//
// Techniques:
//   exp      Cody–Waite range reduction x = k ln2 + r, |r| <= ln2/2, with ln2 split in a high part
//            of 16 significant bits (k * hi is exact for |k| < 256) and a low part; e^r - 1 by a
//            minimax polynomial r + r^2 P(r); 2^k applied in two halves so that results in the
//            subnormal range are rounded once and 2^128 never has to be formed.
//   log      x = 2^e m with m in [sqrt(1/2), sqrt 2) by integer arithmetic on the bits (subnormals
//            scaled by 2^23 first); log m = 2 atanh(s), s = (m-1)/(m+1), as 2s + s z R(z), z = s^2.
//   tanh     -t / (t + 2) with t = expm1(-2|x|) (no cancellation anywhere), sign restored.
//   sigmoid  1 / (1 + e) or e / (1 + e) with e = exp(-|x|): exp never overflows.
//   normalCdf  Phi(x) through the upper tail Q(w), w = |x|: a polynomial for w < 1; beyond,
//            Q = phi(w) M(w) with the Mills ratio M by polynomials in w (w < 2.5) and 1/w, and
//            exp(-w^2/2) from w = hi + lo (hi with 12 significant bits, so hi^2 is exact).
//   geluTanh x sigmoid(2u), u = sqrt(2/pi)(x + 0.044715 x^3) formed in f64 and passed to exp as
//            hi + lo, since an f32 rounding of 2u costs |2u| ulps of relative error in exp.
//   pow      |a|^b = 2^(b log2|a|) in f64 (log by the atanh series, 2^r by Taylor's series: in f64
//            truncated series are far below f32's precision) with C99's special cases, scalar.
// Polynomial coefficients come from math-fit.ts (weighted Remez); test/codegen-wasm/wasm-math.test.ts re-derives
// them and measures every function against float64 (all within 3.2e-7 relative, ~5 ulp).

import type { KernelArgs } from "../kernel.ts";
import type { Expr, FunctionBuilder, WasmModule } from "../module.ts";
import { Lanes, type V, type Width } from "./lanes.ts";
import { powBody } from "./math-pow.ts";

export type UnaryMath = "exp" | "log" | "tanh" | "sigmoid" | "normalCdf" | "gelu" | "geluTanh";

type Helper = KernelArgs["helper"];

// Coefficients shared with the WGSL kernels (compiler/kernel-math/coefficients.ts, from math-fit.ts).
import { EXPM1_P, LOG1P_R, MILLS_FAR, MILLS_FAR_CENTER, MILLS_NEAR, MILLS_NEAR_CENTER, NORMAL_CENTRAL } from "../../kernel-math/coefficients.ts";
export { EXPM1_P, LOG1P_R, MILLS_FAR, MILLS_FAR_CENTER, MILLS_NEAR, MILLS_NEAR_CENTER, NORMAL_CENTRAL };

const f32Bits = (x: number) => new Uint32Array(new Float32Array([x]).buffer)[0];
const bitsF32 = (b: number) => new Float32Array(new Uint32Array([b >>> 0]).buffer)[0];

/** ln 2 as hi + lo, hi keeping 16 significant bits (Cody–Waite). */
const LN2_HI = bitsF32(f32Bits(Math.LN2) & 0xffffff00);
const LN2_LO = Math.fround(Math.LN2 - LN2_HI);
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);
const SQRT_HALF_BITS = f32Bits(Math.SQRT1_2);

// ---- algorithms over Lanes ---------------------------------------------------------------------

/** 2^k for integer lanes k in [-126, 127], built in the exponent field. */
function pow2(L: Lanes, k: Expr): Expr {
  return L.fromBits(L.shl(L.iadd(k, L.ic(127)), 23));
}

/** The reduced argument: k = round(x / ln2) and r = x - k ln2 (+ lo), |r| <= ln2/2. */
function reduce(L: Lanes, hi: V, lo?: V): { k: V; r: V } {
  const k = L.letF(L.nearest(L.mul(lo ? L.add(hi(), lo()) : hi(), L.c(Math.LOG2E))));
  let r = L.sub(L.sub(hi(), L.mul(k(), L.c(LN2_HI))), L.mul(k(), L.c(LN2_LO)));
  if (lo) r = L.add(r, lo());
  return { k, r: L.letF(r) };
}

/** e^r - 1 on the reduced range, relative error ~1e-8. */
function expm1Reduced(L: Lanes, r: V): Expr {
  return L.madd(L.mul(r(), r()), L.poly(r, EXPM1_P), r());
}

/**
 * e^(hi + lo) * 2^bias, lo a small correction to hi (absent: 0). NaN propagates; +-inf saturate.
 * A bias keeps a result that would be subnormal normal, for a caller that scales back at its end.
 */
export function expLanes(L: Lanes, hi: V, lo?: V, bias = 0): Expr {
  // Below the lower clamp e^x 2^bias is under half of 2^-149 and rounds to 0; above the upper
  // one it overflows; in between 2^k splits into two normal halves.
  const clamped = L.letF(L.min(L.max(hi(), L.c(-110 - bias)), L.c(89)));
  const { k, r } = reduce(L, clamped, lo);
  const p = L.add(L.c(1), expm1Reduced(L, r));
  const ki = L.letI(L.iadd(L.truncSat(k()), L.ic(bias)));
  const k1 = L.letI(L.shrS(ki(), 1));
  return L.mul(L.mul(p, pow2(L, k1())), pow2(L, L.isub(ki(), k1())));
}

/** e^y - 1 for y <= 0 (or NaN): 2^k q + (2^k - 1), exact at k = 0 where it matters most. */
function expm1NonPositive(L: Lanes, y: V): Expr {
  const clamped = L.letF(L.max(y(), L.c(-30)));
  const { k, r } = reduce(L, clamped);
  const q = expm1Reduced(L, r);
  const scale = L.letF(pow2(L, L.truncSat(k())));
  return L.add(L.mul(scale(), q), L.sub(scale(), L.c(1)));
}

export function logLanes(L: Lanes, x: V): Expr {
  const subnormal = L.letI(L.lt(x(), L.c(2 ** -126)));
  const bits = L.letI(L.bits(L.select(subnormal(), L.mul(x(), L.c(2 ** 23)), x())));
  const e = L.letI(L.shrS(L.isub(bits(), L.ic(SQRT_HALF_BITS)), 23));
  const m = L.fromBits(L.isub(bits(), L.shl(e(), 23)));
  const ef = L.letF(L.sub(L.toFloat(e()), L.select(subnormal(), L.c(23), L.c(0))));
  const f = L.letF(L.sub(m, L.c(1)));
  const s = L.letF(L.div(f(), L.add(L.c(2), f())));
  const z = L.letF(L.mul(s(), s()));
  const log1p = L.madd(L.mul(s(), z()), L.poly(z, LOG1P_R), L.add(s(), s()));
  const finite = L.add(L.mul(ef(), L.c(LN2_HI)), L.madd(ef(), L.c(LN2_LO), log1p));
  const special = L.select(L.eq(x(), L.c(0)), L.c(-Infinity), L.select(L.eq(x(), L.c(Infinity)), x(), L.c(NaN)));
  // Positive, finite, nonzero: the formula; anything else (0, inf, negative, NaN): its special value.
  const regular = L.maskAnd(L.gt(x(), L.c(0)), L.lt(x(), L.c(Infinity)));
  return L.select(regular, finite, special);
}

export function tanhLanes(L: Lanes, x: V): Expr {
  const t = L.letF(expm1NonPositive(L, () => L.mul(L.c(-2), L.abs(x()))));
  return L.copysign(L.div(L.neg(t()), L.add(t(), L.c(2))), x());
}

export function sigmoidLanes(L: Lanes, x: V): Expr {
  const positive = L.letI(L.ge(x(), L.c(0)));
  const e = L.letF(expLanes(L, () => L.neg(L.abs(x()))));
  return L.div(L.select(positive(), L.c(1), e()), L.add(L.c(1), e()));
}

/**
 * Results whose last factor is subnormal lose relative precision at every rounding, so the GELU
 * forms carry their tails scaled by 2^TAIL_SCALE and scale down in their final multiply only.
 */
const TAIL_SCALE = 32;

/** Q(w) 2^TAIL_SCALE, Q(w) = P(Z > w) for w >= 0 (or NaN), relatively accurate for Q down to 2^-149. */
function scaledNormalTail(L: Lanes, w: V): Expr {
  const central = L.sub(L.c(0.5), L.mul(w(), L.poly(L.letF(L.mul(w(), w())), NORMAL_CENTRAL)));
  const wt = L.letF(L.min(w(), L.c(15))); // Q(15) is far below f32's range; keeps inf out of w^2
  const hi = L.letF(L.fromBits(L.and(L.bits(wt()), L.ic(0xfffff000))));
  const lo = L.letF(L.sub(wt(), hi()));
  const gauss = L.letF(expLanes(L, () => L.mul(L.mul(hi(), hi()), L.c(-0.5)), () => L.mul(L.mul(lo(), L.add(wt(), hi())), L.c(-0.5)), TAIL_SCALE));
  const near = L.poly(L.letF(L.sub(wt(), L.c(MILLS_NEAR_CENTER))), MILLS_NEAR);
  const u = L.letF(L.div(L.c(1), wt()));
  const far = L.mul(u(), L.poly(L.letF(L.sub(u(), L.c(MILLS_FAR_CENTER))), MILLS_FAR));
  const mills = L.select(L.lt(wt(), L.c(2.5)), near, far);
  const tail = L.mul(gauss(), L.mul(mills, L.c(INV_SQRT_2PI)));
  // Past w = 14.5, even w Q(w) is below 2^-150: exactly 0, so that |x| Q cannot be revived by a huge |x|.
  const farTail = L.select(L.gt(w(), L.c(14.5)), L.c(0), tail);
  return L.select(L.lt(w(), L.c(1)), L.mul(central, L.c(2 ** TAIL_SCALE)), farTail);
}

export function normalCdfLanes(L: Lanes, x: V): Expr {
  const q = L.letF(L.mul(scaledNormalTail(L, () => L.abs(x())), L.c(2 ** -TAIL_SCALE)));
  return L.select(L.lt(x(), L.c(0)), q(), L.sub(L.c(1), q()));
}

/** Exact GELU x Phi(x), as the interpreter's 0.5 x erfc(-x / sqrt 2). */
export function geluLanes(L: Lanes, x: V): Expr {
  const scaled = L.letF(scaledNormalTail(L, () => L.abs(x())));
  const left = L.mul(L.mul(x(), scaled()), L.c(2 ** -TAIL_SCALE));
  const right = L.mul(x(), L.sub(L.c(1), L.mul(scaled(), L.c(2 ** -TAIL_SCALE))));
  return L.select(L.lt(x(), L.c(0)), left, right);
}

const GELU_C1 = 2 * Math.sqrt(2 / Math.PI);
const GELU_C3 = GELU_C1 * 0.044715;

/** Tanh GELU x sigmoid(2u), with 2u = x (c1 + c3 x^2) in f64, split into f32 hi + lo. */
export function geluTanhLanes(L: Lanes, x: V): Expr {
  const f = L.f;
  // Beyond |x| = 20 the sigmoid is 0 or 1 in f32 either way; the clamp keeps inf - inf out of lo.
  const xc = L.letF(L.min(L.max(x(), L.c(-20)), L.c(20)));
  const twoU = (x64: V) => f.f64.mul(x64(), f.f64.add(f.f64.const(GELU_C1), f.f64.mul(f.f64.const(GELU_C3), f.f64.mul(x64(), x64()))));
  let hi: V;
  let lo: V;
  if (!L.vector) {
    const x64 = f.local("f64");
    const t = f.local("f64");
    L.body.push(f.set(x64, f.f64.promote(xc())), f.set(t, twoU(() => f.get(x64))));
    hi = L.letF(f.f32.demote(f.get(t)));
    lo = L.letF(f.f32.demote(f.f64.sub(f.get(t), f.f64.promote(hi()))));
  } else {
    // Two f64x2 halves: lanes 0-1, then lanes 2-3 moved down by a shuffle.
    const halves = [0, 1].map((h) => {
      const x64 = f.local("v128");
      const t = f.local("v128");
      const source = h === 0 ? xc() : f.i8x16.shuffle(xc(), xc(), [8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15]);
      L.body.push(f.set(x64, f.f64x2.promote_low_f32x4(source)), f.set(t, twoUVector(f, () => f.get(x64))));
      const hiHalf = L.letF(f.f32x4.demote_f64x2_zero(f.get(t)));
      const loHalf = f.f32x4.demote_f64x2_zero(f.f64x2.sub(f.get(t), f.f64x2.promote_low_f32x4(hiHalf())));
      return { hi: hiHalf, lo: L.letF(loHalf) };
    });
    const join = (a: V, b: V) => f.i8x16.shuffle(a(), b(), [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23]);
    hi = L.letF(join(halves[0].hi, halves[1].hi));
    lo = L.letF(join(halves[0].lo, halves[1].lo));
  }
  // sigmoid(t) = 1 / (1 + e) for t >= 0, e / (1 + e) below, with e = e^-|t| (e scaled in the latter).
  const positive = L.letI(L.ge(hi(), L.c(0)));
  const e = L.letF(expLanes(L, () => L.neg(L.abs(hi())), () => L.select(positive(), L.neg(lo()), lo()), TAIL_SCALE));
  const unscaled = L.letF(L.mul(e(), L.c(2 ** -TAIL_SCALE)));
  const right = L.mul(x(), L.div(L.c(1), L.add(L.c(1), unscaled())));
  const left = L.mul(L.mul(x(), L.div(e(), L.add(L.c(1), unscaled()))), L.c(2 ** -TAIL_SCALE));
  return L.select(positive(), right, left);
}

function twoUVector(f: FunctionBuilder, x64: V): Expr {
  const c = (v: number) => f.f64x2.splat(f.f64.const(v));
  return f.f64x2.mul(x64(), f.f64x2.add(c(GELU_C1), f.f64x2.mul(c(GELU_C3), f.f64x2.mul(x64(), x64()))));
}

const ALGORITHMS: Record<UnaryMath, (L: Lanes, x: V) => Expr> = {
  exp: (L, x) => expLanes(L, x),
  log: logLanes,
  tanh: tanhLanes,
  sigmoid: sigmoidLanes,
  normalCdf: normalCdfLanes,
  gelu: geluLanes,
  geluTanh: geluTanhLanes,
};

/** The name of the helper function computing `name` at `width`, defining it on first use. */
export function mathFunction(helper: Helper, name: UnaryMath, width: Width): string {
  const fn = `math.${name}.${width === 4 ? "f32x4" : "f32"}`;
  return helper(fn, (w: WasmModule) => {
    const type = width === 4 ? "v128" : "f32";
    w.funcWithParams(fn, [type], type, (f) => {
      const L = new Lanes(f, width);
      const result = ALGORITHMS[name](L, () => f.get(f.params[0]));
      return [...L.body, result];
    });
  });
}

/** `name(x)` at L's width, through the shared helper. */
export function callMath(L: Lanes, helper: Helper, name: UnaryMath, x: Expr): Expr {
  return L.f.call(mathFunction(helper, name, L.width), [x], L.floatType);
}

/** pow(a, b) for scalar f32 lanes (L.width must be 1), through the shared helper. */
export function callPow(L: Lanes, helper: Helper, a: Expr, b: Expr): Expr {
  if (L.vector) throw new Error("pow has a scalar kernel only");
  const fn = helper("math.pow.f32", (w) => w.funcWithParams("math.pow.f32", ["f32", "f32"], "f32", powBody));
  return L.f.call(fn, [a, b], "f32");
}
