// erf/erfc and the transcendental elementwise kernels against independent references:
// mpmath at 60 digits over the whole real line (tails included) and PyTorch's float64 results on
// moderate inputs. Fixtures: test/fixtures/ops/elementwise.json, written by
// test/oracle/gen_elementwise_fixtures.py.

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ELEMENTWISE_OPS } from "../../compiler/ir/ops/elementwise.ts";
import { erf, erfc } from "../../compiler/ir/ops/erf.ts";
import { opNamed, runOp, tensor } from "../support/kernel-harness.ts";

interface Fixtures {
  mp: { erf: [number, number, number][]; gelu: [number, number, number][]; sigmoid: [number, number][] };
  torch: Record<string, number[]>;
}
const FIX: Fixtures = JSON.parse(readFileSync(new URL("../fixtures/ops/elementwise.json", import.meta.url), "utf8"));

/** Smallest normal double: below it a result has fewer than 53 significant bits. */
const MIN_NORMAL = 2.2250738585072014e-308;

/** Points where |actual - expected| > rel * |expected| + abs, as "x: actual vs expected" lines. */
function mismatches(xs: readonly number[], actual: readonly number[], expected: readonly number[], rel: (x: number) => number, abs: number): string[] {
  const bad: string[] = [];
  xs.forEach((x, i) => {
    const ok = Math.abs(actual[i] - expected[i]) <= rel(x) * Math.abs(expected[i]) + abs;
    if (!ok) bad.push(`x=${x}: ${actual[i]} vs ${expected[i]}`);
  });
  return bad;
}

function apply(name: string, xs: readonly number[], attrs: Record<string, string> = {}): number[] {
  return runOp(opNamed(ELEMENTWISE_OPS, name), [tensor("f32", [xs.length], xs)], attrs).values;
}

describe("erf and erfc", () => {
  const xs = FIX.mp.erf.map((r) => r[0]);
  it("match 60-digit values to 1e-15 (erf) and 3e-15 (erfc) relative", () => {
    expect(mismatches(xs, xs.map(erf), FIX.mp.erf.map((r) => r[1]), () => 1e-15, 0)).toEqual([]);
    // erfc reaches subnormals near x = 26.5, where only an absolute bound makes sense.
    expect(mismatches(xs, xs.map(erfc), FIX.mp.erf.map((r) => r[2]), () => 3e-15, MIN_NORMAL)).toEqual([]);
  });

  it("match PyTorch on [-6, 6]", () => {
    expect(mismatches(FIX.torch.x, FIX.torch.x.map(erf), FIX.torch.erf, () => 1e-15, 0)).toEqual([]);
  });

  it("handle the special values", () => {
    expect([erf(0), erf(-0), erf(Infinity), erf(-Infinity), erf(NaN)]).toEqual([0, -0, 1, -1, NaN]);
    expect([erfc(0), erfc(Infinity), erfc(-Infinity), erfc(NaN), erfc(40)]).toEqual([1, 0, 2, NaN, 0]);
  });

  it("are odd/complementary across the switch between expansions", () => {
    for (const x of [0.3, 0.999999, 1, 1.5, 1.999999, 2, 2.000001, 4.2]) {
      expect(erf(-x)).toBe(-erf(x));
      expect(Math.abs(erf(x) + erfc(x) - 1)).toBeLessThan(1e-15);
    }
  });
});

describe("gelu", () => {
  const xs = FIX.mp.gelu.map((r) => r[0]);
  // Both forms amplify the rounding of their inner argument in the left tail (the result decays
  // like exp(-x^2/2)), so the bound scales with x^2; results below the normal range only get an
  // absolute bound.
  const conditioned = (x: number) => 2e-15 * Math.max(1, x * x);

  it("exact form matches 60-digit x * Phi(x) over [-40, 40]", () => {
    expect(mismatches(xs, apply("gelu", xs), FIX.mp.gelu.map((r) => r[1]), conditioned, MIN_NORMAL)).toEqual([]);
  });

  it("tanh form matches 60-digit 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))", () => {
    const got = apply("gelu", xs, { approximate: "tanh" });
    expect(mismatches(xs, got, FIX.mp.gelu.map((r) => r[2]), conditioned, MIN_NORMAL)).toEqual([]);
  });

  it("matches PyTorch's F.gelu on [-6, 6] (whose own formulas lose digits below about -5)", () => {
    const x = FIX.torch.x;
    expect(mismatches(x, apply("gelu", x), FIX.torch.gelu_none, () => 1e-12, 1e-15)).toEqual([]);
    expect(mismatches(x, apply("gelu", x, { approximate: "tanh" }), FIX.torch.gelu_tanh, () => 1e-12, 1e-15)).toEqual([]);
  });

  it("differs between the two forms by the published approximation error", () => {
    const exact = apply("gelu", [1, -1, 3]);
    const approx = apply("gelu", [1, -1, 3], { approximate: "tanh" });
    exact.forEach((v, i) => {
      expect(v).not.toBe(approx[i]);
      expect(Math.abs(v - approx[i])).toBeLessThan(1e-3);
    });
  });
});

describe("sigmoid, tanh, exp, log, sqrt, rsqrt, pow", () => {
  it("sigmoid matches 60-digit values far into both tails, without overflow", () => {
    const xs = FIX.mp.sigmoid.map((r) => r[0]);
    const rel = (x: number) => 4e-16 * Math.max(1, Math.abs(x));
    expect(mismatches(xs, apply("sigmoid", xs), FIX.mp.sigmoid.map((r) => r[1]), rel, MIN_NORMAL)).toEqual([]);
  });

  it.each(["sigmoid", "tanh", "exp"])("%s matches PyTorch on [-6, 6]", (name) => {
    expect(mismatches(FIX.torch.x, apply(name, FIX.torch.x), FIX.torch[name], () => 1e-15, 0)).toEqual([]);
  });

  it.each(["log", "sqrt", "rsqrt"])("%s matches PyTorch on positive inputs", (name) => {
    const x = FIX.torch.positive_x;
    expect(mismatches(x, apply(name, x), FIX.torch[name], () => 1e-15, 0)).toEqual([]);
  });

  it("pow matches PyTorch", () => {
    const base = FIX.torch.pow_base;
    const exponent = FIX.torch.pow_exponent;
    const got = runOp(opNamed(ELEMENTWISE_OPS, "pow"), [tensor("f32", [base.length], base), tensor("f32", [base.length], exponent)]).values;
    expect(mismatches(base, got, FIX.torch.pow, () => 1e-15, 0)).toEqual([]);
  });
});
