// The f32 math library of the WGSL backend, as WGSL functions a shader includes when it uses them.
// WGSL's own exp/log/tanh carry loose accuracy guarantees (exp: 3 + 2|x| ulp, tanh: inherited
// from sinh/cosh, no erf at all), so these port the WASM backend's algorithms
// (codegen-wasm/kernels/math.ts, same coefficients, both from compiler/kernel-math/coefficients.ts) to f32 WGSL:
//   m_exp      Cody–Waite reduction with ln 2 split hi/lo, e^r - 1 by a minimax polynomial, 2^k
//              applied in two halves (subnormal results rounded once); an optional bias keeps
//              results that would be subnormal normal for callers that scale back at the end
//   m_log      exponent and mantissa from the bits, log m = 2 atanh(s) by the atanh series
//   m_log1p    the same series on y itself near 0 (softmax's log of 1 + a tiny rest)
//   m_tanh     -t / (t + 2), t = expm1(-2|x|), sign restored (no cancellation near 0)
//   m_sigmoid  1 / (1 + e) or e / (1 + e), e = exp(-|x|)
//   m_gelu     x Phi(x) through the upper normal tail Q(|x|) scaled by 2^32 (Mills ratio fits)
//   m_gelu_tanh  x sigmoid(2u); unlike the WASM kernel 2u is formed in f32 (WGSL has no f64),
//              which costs about |2u| ulp of relative error: within the op's 1e-5 for |x| < 10
//   m_pow      exp(b log|a|) in f32 with C99's special cases; relative error ~|b log a| ulp
// NaN is returned for NaN inputs explicitly (is_nan, on the bits): WGSL's min/max need not
// propagate it, and SwiftShader evaluates `NaN != 0.0` as false (an ordered comparison).

import { EXPM1_P, LOG1P_R, MILLS_FAR, MILLS_FAR_CENTER, MILLS_NEAR, MILLS_NEAR_CENTER, NORMAL_CENTRAL } from "../../kernel-math/coefficients.ts";
import { f32, i32 } from "../wgsl.ts";

const f32Bits = (x: number) => new Uint32Array(new Float32Array([x]).buffer)[0];
const bitsF32 = (b: number) => new Float32Array(new Uint32Array([b >>> 0]).buffer)[0];
const LN2_HI = bitsF32(f32Bits(Math.LN2) & 0xffffff00);
const LN2_LO = Math.fround(Math.LN2 - LN2_HI);
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);
const GELU_C1 = 2 * Math.sqrt(2 / Math.PI);
const GELU_C3 = GELU_C1 * 0.044715;
const TAIL = 2 ** 32;

/** Horner's scheme as one WGSL expression. */
function poly(x: string, coefficients: readonly number[]): string {
  let acc = f32(coefficients[coefficients.length - 1]);
  for (let i = coefficients.length - 2; i >= 0; i--) acc = `(${acc} * ${x} + ${f32(coefficients[i])})`;
  return acc;
}

const EXP = `
fn m_pow2i(k: i32) -> f32 { return bitcast<f32>(u32(k + 127) << 23u); }
fn m_expm1r(r: f32) -> f32 { return r * r * ${poly("r", EXPM1_P)} + r; }
fn m_exp_parts(hi: f32, lo: f32, bias: i32) -> f32 {
  if (is_nan(hi)) { return hi; }
  let c = min(max(hi, f32(-110 - bias)), 89.0);
  let k = round((c + lo) * ${f32(Math.LOG2E)});
  let r = (c - k * ${f32(LN2_HI)}) - k * ${f32(LN2_LO)} + lo;
  let p = 1.0 + m_expm1r(r);
  let ki = i32(k) + bias;
  let k1 = ki >> 1u;
  return p * m_pow2i(k1) * m_pow2i(ki - k1);
}
fn m_exp(x: f32) -> f32 { return m_exp_parts(x, 0.0, 0); }
`;

const LOG = `
fn m_log(x: f32) -> f32 {
  if (!(x > 0.0 && x < ${f32(Infinity)})) {
    return select(select(${f32(NaN)}, x, x == ${f32(Infinity)}), ${f32(-Infinity)}, x == 0.0);
  }
  let sub = x < ${f32(2 ** -126)};
  let bits = bitcast<i32>(select(x, x * 8388608.0, sub));
  let e = (bits - ${i32(f32Bits(Math.SQRT1_2))}) >> 23u;
  let m = bitcast<f32>(bits - (e << 23u));
  let ef = f32(e) - select(0.0, 23.0, sub);
  let f = m - 1.0;
  let s = f / (2.0 + f);
  let z = s * s;
  let l1p = s * z * ${poly("z", LOG1P_R)} + (s + s);
  return ef * ${f32(LN2_HI)} + (ef * ${f32(LN2_LO)} + l1p);
}
`;

// log(1 + y) without forming 1 + y where that would round: the atanh series of m_log on y itself
// while 1 + y lies in m_log's reduced range [sqrt(1/2), sqrt 2).
const LOG1P = `
fn m_log1p(y: f32) -> f32 {
  if (!(y > ${f32(Math.SQRT1_2 - 1)} && y < ${f32(Math.SQRT2 - 1)})) { return m_log(1.0 + y); }
  let s = y / (2.0 + y);
  let z = s * s;
  return s * z * ${poly("z", LOG1P_R)} + (s + s);
}
`;

const TANH = `
fn m_expm1_nonpos(y: f32) -> f32 {
  let c = max(y, -30.0);
  let k = round(c * ${f32(Math.LOG2E)});
  let r = (c - k * ${f32(LN2_HI)}) - k * ${f32(LN2_LO)};
  let q = m_expm1r(r);
  let scale = m_pow2i(i32(k));
  return scale * q + (scale - 1.0);
}
fn m_tanh(x: f32) -> f32 {
  if (is_nan(x)) { return x; }
  let t = m_expm1_nonpos(-2.0 * abs(x));
  let v = -t / (t + 2.0);
  return bitcast<f32>((bitcast<u32>(v) & 0x7fffffffu) | (bitcast<u32>(x) & 0x80000000u));
}
`;

const SIGMOID = `
fn m_sigmoid(x: f32) -> f32 {
  let e = m_exp(-abs(x));
  return select(e, 1.0, x >= 0.0) / (1.0 + e);
}
`;

const GELU = `
fn m_qtail_scaled(w: f32) -> f32 {
  let central = 0.5 - w * ${poly("(w * w)", NORMAL_CENTRAL)};
  let wt = min(w, 15.0);
  let hi = bitcast<f32>(bitcast<u32>(wt) & 0xfffff000u);
  let lo = wt - hi;
  let gauss = m_exp_parts(hi * hi * -0.5, lo * (wt + hi) * -0.5, 32);
  let near = ${poly(`(wt - ${f32(MILLS_NEAR_CENTER)})`, MILLS_NEAR)};
  let u = 1.0 / wt;
  let far = u * ${poly(`(u - ${f32(MILLS_FAR_CENTER)})`, MILLS_FAR)};
  let mills = select(far, near, wt < 2.5);
  let tail = select(gauss * (mills * ${f32(INV_SQRT_2PI)}), 0.0, w > 14.5);
  return select(tail, central * ${f32(TAIL)}, w < 1.0);
}
fn m_gelu(x: f32) -> f32 {
  if (is_nan(x)) { return x; }
  let s = m_qtail_scaled(abs(x));
  return select(x * (1.0 - s * ${f32(1 / TAIL)}), x * s * ${f32(1 / TAIL)}, x < 0.0);
}
fn m_gelu_tanh(x: f32) -> f32 {
  if (is_nan(x)) { return x; }
  let xc = min(max(x, -20.0), 20.0);
  let two_u = xc * (${f32(GELU_C1)} + ${f32(GELU_C3)} * xc * xc);
  let e = m_exp_parts(-abs(two_u), 0.0, 32);
  let unscaled = e * ${f32(1 / TAIL)};
  return select(x * (e / (1.0 + unscaled)) * ${f32(1 / TAIL)}, x * (1.0 / (1.0 + unscaled)), two_u >= 0.0);
}
`;

const POW = `
fn m_pow(a: f32, b: f32) -> f32 {
  if (a == 1.0 || b == 0.0) { return 1.0; }
  if (is_nan(a) || is_nan(b)) { return ${f32(NaN)}; }
  let ab = abs(a);
  if (abs(b) == ${f32(Infinity)}) {
    if (ab == 1.0) { return 1.0; }
    return select(0.0, ${f32(Infinity)}, (ab > 1.0) == (b > 0.0));
  }
  let integral = floor(b) == b;
  let odd = integral && abs(b) < 16777216.0 && (i32(abs(b)) & 1) == 1;
  let negative = odd && (bitcast<u32>(a) & 0x80000000u) != 0u;
  var r: f32;
  if (ab == 0.0) { r = select(0.0, ${f32(Infinity)}, b < 0.0); }
  else if (ab == ${f32(Infinity)}) { r = select(${f32(Infinity)}, 0.0, b < 0.0); }
  else if (a < 0.0 && !integral) { return ${f32(NaN)}; }
  else { r = m_exp(b * m_log(ab)); }
  return select(r, -r, negative);
}
`;

/** Each function's WGSL and the functions it calls. */
const LIBRARY: Readonly<Record<string, { code: string; needs: readonly string[] }>> = {
  exp: { code: EXP, needs: [] },
  log: { code: LOG, needs: [] },
  log1p: { code: LOG1P, needs: ["log"] },
  tanh: { code: TANH, needs: ["exp"] },
  sigmoid: { code: SIGMOID, needs: ["exp"] },
  gelu: { code: GELU, needs: ["exp"] },
  pow: { code: POW, needs: ["exp", "log"] },
};

export type MathFunction = keyof typeof LIBRARY;

/** The WGSL of the named functions and everything they call, each once. */
export function mathLibrary(names: Iterable<string>): string {
  const done = new Set<string>();
  const out: string[] = [];
  const add = (name: string) => {
    if (done.has(name)) return;
    done.add(name);
    for (const n of LIBRARY[name].needs) add(n);
    out.push(LIBRARY[name].code);
  };
  for (const n of names) add(n);
  return out.join("");
}
