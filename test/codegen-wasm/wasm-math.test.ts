// The WASM math library (compiler/codegen-wasm/kernels/math.ts) against float64 references on
// millions of points per function: random bit patterns over all of f32 (NaN, infinities and
// subnormals included), dense uniform samples over each function's working range, and the
// overflow/underflow edges. The scalar (f32) and four-lane (f32x4) forms must agree bit for bit.
//
// Error metric: |got - exact| / max(|exact|, 2^-126), exact being the float64 value; a result
// that f32 must round to an infinity has to be that infinity, NaN has to meet NaN. The bound
// asserted per function is tighter than the op records' tolerances (1e-5), so a regression
// shows long before a model's output would. Measured (max relative error over ~4-6M points):
//   exp 8.9e-8   log 1.8e-7   tanh 1.7e-7   sigmoid 1.8e-7   normalCdf 3.0e-7
//   gelu 3.2e-7  geluTanh 2.2e-7   pow 6.0e-8   (f32's own rounding is 6.0e-8)

import { describe, expect, it } from "vitest";
import { Lanes } from "../../compiler/codegen-wasm/kernels/lanes.ts";
import { MATH_FITS, remez } from "../../compiler/codegen-wasm/kernels/math-fit.ts";
import * as math from "../../compiler/codegen-wasm/kernels/math.ts";
import { callMath, callPow, type UnaryMath } from "../../compiler/codegen-wasm/kernels/math.ts";
import { WasmModule } from "../../compiler/codegen-wasm/module.ts";
import { erfc } from "../../compiler/ir/ops/erf.ts";
import { philox4x32 } from "../../compiler/ir/rng.ts";

interface WasmApi {
  instantiate(bytes: Uint8Array): Promise<{ instance: { exports: Record<string, unknown> } }>;
}
const WebAssemblyApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

const N = 1 << 20; // points per sample set

/** A module computing `name` over N f32 at 0: scalar results at 4N, four-lane results at 8N. */
async function unaryProbe(name: UnaryMath) {
  const module = new WasmModule(12 * N);
  const defined = new Set<string>();
  const helper = (fn: string, define: (w: WasmModule) => void) => {
    if (!defined.has(fn)) {
      defined.add(fn);
      define(module);
    }
    return fn;
  };
  for (const width of [1, 4] as const) {
    module.func(`run${width}`, (f) => {
      const i = f.local("i32");
      const L = new Lanes(f, width);
      const load = width === 4 ? f.loadV128(f.at(0, f.get(i), 4)) : f.loadF32(f.at(0, f.get(i), 4));
      const value = callMath(L, helper, name, load);
      const addr = f.at((width === 4 ? 8 : 4) * N, f.get(i), 4);
      return [f.forRange(i, 0, N, width, [width === 4 ? f.storeV128(addr, value) : f.storeF32(addr, value)])];
    });
    module.export(`run${width}`);
  }
  const { instance } = await WebAssemblyApi.instantiate(module.emit());
  module.dispose();
  const memory = instance.exports.memory as { buffer: ArrayBuffer };
  return (xs: Float32Array) => {
    new Float32Array(memory.buffer, 0, N).set(xs);
    (instance.exports.run1 as () => void)();
    (instance.exports.run4 as () => void)();
    return { scalar: new Float32Array(memory.buffer, 4 * N, N).slice(), vector: new Float32Array(memory.buffer, 8 * N, N).slice() };
  };
}

async function powProbe() {
  const module = new WasmModule(12 * N);
  const helper = (fn: string, define: (w: WasmModule) => void) => (define(module), fn);
  module.func("run", (f) => {
    const i = f.local("i32");
    const value = callPow(new Lanes(f, 1), helper, f.loadF32(f.at(0, f.get(i), 4)), f.loadF32(f.at(4 * N, f.get(i), 4)));
    return [f.forRange(i, 0, N, 1, [f.storeF32(f.at(8 * N, f.get(i), 4), value)])];
  });
  module.export("run");
  const { instance } = await WebAssemblyApi.instantiate(module.emit());
  module.dispose();
  const memory = instance.exports.memory as { buffer: ArrayBuffer };
  return (a: Float32Array, b: Float32Array) => {
    new Float32Array(memory.buffer, 0, N).set(a);
    new Float32Array(memory.buffer, 4 * N, N).set(b);
    (instance.exports.run as () => void)();
    return new Float32Array(memory.buffer, 8 * N, N).slice();
  };
}

// ---- sample sets -------------------------------------------------------------------------------

function randomWords(seed: number): Uint32Array {
  const words = new Uint32Array(N);
  for (let i = 0; i < N; i += 4) words.set(philox4x32([i >>> 2, 0, 0, 0], [seed, 0x6d617468]), i);
  return words;
}

/** Every f32 bit pattern is equally likely: NaNs, infinities, subnormals, both zeros. */
const anyBits = (seed: number) => new Float32Array(randomWords(seed).buffer);

const uniform = (seed: number, lo: number, hi: number) =>
  Float32Array.from(randomWords(seed), (w) => lo + ((hi - lo) * w) / 2 ** 32);

/** The f32 values on either side of `center`, consecutive bit patterns. */
function around(center: number, count = N): Float32Array {
  const base = new Int32Array(new Float32Array([center]).buffer)[0] - count / 2;
  return new Float32Array(Int32Array.from({ length: count }, (_, i) => base + i).buffer);
}

// ---- float64 references ------------------------------------------------------------------------

const sigmoid = (x: number) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));
const normalCdf = (x: number) => 0.5 * erfc(-x * Math.SQRT1_2);
const geluTanh = (x: number) => x * sigmoid(2 * Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x));
const powC = (a: number, b: number) => (a === 1 || b === 0 || (a === -1 && !Number.isFinite(b) && !Number.isNaN(b)) ? 1 : Math.pow(a, b));

const REFERENCES: Record<UnaryMath, (x: number) => number> = {
  exp: Math.exp, log: Math.log, tanh: Math.tanh, sigmoid, normalCdf, gelu: (x) => x * normalCdf(x), geluTanh,
};

const FLOOR = 2 ** -126;

interface Worst {
  error: number;
  at: string;
}

/**
 * Worst error of `got` against `exact` over the set, over all results and over the results in
 * f32's normal range (where the floor plays no part); Infinity when a special value is wrong.
 */
function worstErrors(inputs: readonly ArrayLike<number>[], got: Float32Array, exact: (...xs: number[]) => number): { all: Worst; normal: Worst } {
  const all = { error: 0, at: "" };
  const normal = { error: 0, at: "" };
  for (let i = 0; i < got.length; i++) {
    const args = inputs.map((xs) => xs[i]);
    const e = exact(...args);
    const g = got[i];
    let error: number;
    if (Number.isNaN(e)) error = Number.isNaN(g) ? 0 : Infinity;
    else if (!Number.isFinite(Math.fround(e))) error = g === Math.fround(e) ? 0 : Infinity;
    else error = Math.abs(g - e) / Math.max(Math.abs(e), FLOOR);
    if (Number.isNaN(error)) error = Infinity;
    const at = () => `f(${args.join(", ")}) = ${g}, exact ${e}`;
    if (error > all.error) Object.assign(all, { error, at: at() });
    if (error > normal.error && !(Math.abs(e) < FLOOR)) Object.assign(normal, { error, at: at() });
  }
  return { all, normal };
}

function worse(a: Worst, b: Worst): Worst {
  return b.error > a.error ? b : a;
}

const UNARY_CASES: { name: UnaryMath; sets: () => Float32Array[]; bound: number }[] = [
  { name: "exp", bound: 2e-7, sets: () => [anyBits(1), uniform(2, -104, 89), uniform(3, -1, 1), around(88.72283), around(-87.33655), around(-103.2789)] },
  { name: "log", bound: 2e-7, sets: () => [anyBits(4), uniform(5, 0.5, 2), uniform(6, 0, 1e-37), around(1)] },
  { name: "tanh", bound: 2e-7, sets: () => [anyBits(7), uniform(8, -10, 10), uniform(9, -1e-3, 1e-3), around(0.5)] },
  { name: "sigmoid", bound: 2e-7, sets: () => [anyBits(10), uniform(11, -110, 110), uniform(12, -20, 20)] },
  { name: "normalCdf", bound: 4e-7, sets: () => [anyBits(13), uniform(14, -14, 14), around(-1), around(-2.5), around(1)] },
  { name: "gelu", bound: 4e-7, sets: () => [anyBits(15), uniform(16, -14, 14), uniform(17, -3, 3)] },
  { name: "geluTanh", bound: 4e-7, sets: () => [anyBits(18), uniform(19, -12, 12), uniform(20, -25, 25)] },
];

describe("wasm math library vs float64", () => {
  for (const { name, sets, bound } of UNARY_CASES) {
    it(`${name}: relative error below ${bound}, scalar and SIMD identical`, async () => {
      const run = await unaryProbe(name);
      let all: Worst = { error: 0, at: "" };
      let normal: Worst = { error: 0, at: "" };
      for (const xs of sets()) {
        const { scalar, vector } = run(xs);
        const firstDiff = scalar.findIndex((v, i) => !Object.is(v, vector[i]) && !(Number.isNaN(v) && Number.isNaN(vector[i])));
        expect(firstDiff, `scalar and f32x4 differ at ${name}(${xs[firstDiff]})`).toBe(-1);
        const set = worstErrors([xs], scalar, REFERENCES[name]);
        all = worse(all, set.all);
        normal = worse(normal, set.normal);
      }
      console.log(`${name}: max relative error ${normal.error.toExponential(2)} (normal results), ${all.error.toExponential(2)} (all, floor 2^-126)`);
      expect(normal.error, normal.at).toBeLessThan(bound);
      expect(all.error, all.at).toBeLessThan(bound);
    });
  }

  it("pow: relative error below 2e-7 including C99 special cases", async () => {
    const run = await powProbe();
    const specials = [0, -0, 1, -1, 2, -2, 0.5, -0.5, 3, -3, Infinity, -Infinity, NaN, 1e-45, 3e38, 0.1];
    const grid = specials.flatMap((a) => specials.map((b) => [a, b]));
    const pairs: [Float32Array, Float32Array][] = [
      [anyBits(21), anyBits(22)],
      [uniform(23, 0, 4), uniform(24, -60, 60)],
      [uniform(25, -10, 10), Float32Array.from(uniform(26, -40, 40), Math.round)],
      [Float32Array.from({ length: N }, (_, i) => grid[i % grid.length][0]), Float32Array.from({ length: N }, (_, i) => grid[i % grid.length][1])],
    ];
    let all: Worst = { error: 0, at: "" };
    let normal: Worst = { error: 0, at: "" };
    for (const [a, b] of pairs) {
      const set = worstErrors([a, b], run(a, b), powC);
      all = worse(all, set.all);
      normal = worse(normal, set.normal);
    }
    console.log(`pow: max relative error ${normal.error.toExponential(2)} (normal results), ${all.error.toExponential(2)} (all, floor 2^-126)`);
    expect(normal.error, normal.at).toBeLessThan(2e-7);
    expect(all.error, all.at).toBeLessThan(2e-7);
  });

  it("math.ts holds the coefficients math-fit.ts derives (rounded to f32)", () => {
    const held: Record<string, readonly number[]> = {
      expm1: math.EXPM1_P, log1p: math.LOG1P_R, normalCentral: math.NORMAL_CENTRAL, millsNear: math.MILLS_NEAR, millsFar: math.MILLS_FAR,
    };
    for (const spec of MATH_FITS) {
      const fit = remez(spec);
      expect(held[spec.name].map(Math.fround), spec.name).toEqual(fit.coefficients.map(Math.fround));
      expect(fit.maxError, spec.name).toBeLessThan(2e-8);
    }
    expect(math.MILLS_NEAR_CENTER).toBe(MATH_FITS.find((s) => s.name === "millsNear")!.center);
    expect(math.MILLS_FAR_CENTER).toBe(MATH_FITS.find((s) => s.name === "millsFar")!.center);
  });
});
