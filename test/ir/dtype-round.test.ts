// dtype-round.ts against independent references: f16 against a table of every finite half
// (decoded from its bit pattern) searched for the nearest value, bf16 against the two bf16
// neighbours of each f32, integer wrapping against BigInt.asIntN/asUintN.

import { describe, expect, it } from "vitest";
import { roundArray, roundBF16, roundF16, roundTo } from "../../compiler/ir/dtype-round.ts";
import { sequence } from "../support/kernel-harness.ts";

/** The value of a binary16 bit pattern, from the IEEE 754 definition. */
function decodeHalf(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0x1f) return mantissa ? NaN : sign * Infinity;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** Every finite non-negative half, ascending; index = bit pattern (0x0000 .. 0x7bff). */
const HALVES = Array.from({ length: 0x7c00 }, (_, bits) => decodeHalf(bits));
const LARGEST_HALF = HALVES[HALVES.length - 1];

/** Round-to-nearest-even by search: the nearest half, ties to the even bit pattern. */
function nearestHalf(x: number): number {
  const a = Math.abs(x);
  if (a >= LARGEST_HALF + 16) return Math.sign(x) * Infinity; // 65520: halfway to the next binade step
  let lo = 0;
  let hi = HALVES.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (HALVES[mid] <= a) lo = mid;
    else hi = mid;
  }
  if (a >= HALVES[hi]) lo = hi;
  const down = a - HALVES[lo];
  const up = lo + 1 < HALVES.length ? HALVES[lo + 1] - a : Infinity;
  const pick = down < up || (down === up && lo % 2 === 0) ? lo : lo + 1;
  const r = HALVES[Math.min(pick, HALVES.length - 1)];
  return x < 0 ? -r : r;
}

describe("roundF16", () => {
  it("keeps every finite half exactly", () => {
    const wrong = HALVES.filter((h) => roundF16(h) !== h || roundF16(-h) !== -h);
    expect(wrong).toEqual([]);
  });

  it("matches a nearest-value search on random values across all binades", () => {
    const exponents = sequence(4000, -27, 16.2, 7);
    const mantissas = sequence(4000, 1, 2, 8);
    const xs = exponents.map((e, i) => (i % 2 ? -1 : 1) * mantissas[i] * 2 ** Math.floor(e));
    const wrong = xs.filter((x) => !Object.is(roundF16(x), nearestHalf(x)));
    expect(wrong).toEqual([]);
  });

  it("rounds every exact tie to the even neighbour", () => {
    const wrong: number[] = [];
    for (let bits = 0; bits + 1 < HALVES.length; bits++) {
      const tie = (HALVES[bits] + HALVES[bits + 1]) / 2; // exact in float64
      const even = HALVES[bits % 2 === 0 ? bits : bits + 1];
      if (roundF16(tie) !== even) wrong.push(tie);
    }
    expect(wrong).toEqual([]);
  });

  it("rounds values a hair off a tie to the nearer neighbour", () => {
    const wrong: number[] = [];
    for (let bits = 1; bits + 1 < HALVES.length; bits += 37) {
      const tie = (HALVES[bits] + HALVES[bits + 1]) / 2;
      for (const hair of [tie * 2 ** -40, tie * 2 ** -50]) {
        if (roundF16(tie + hair) !== HALVES[bits + 1]) wrong.push(tie + hair);
        if (roundF16(tie - hair) !== HALVES[bits]) wrong.push(tie - hair);
      }
    }
    expect(wrong).toEqual([]);
  });

  it("overflows to infinity from 65520 (halfway above 65504) and keeps the sign of zero", () => {
    expect(roundF16(65519.99)).toBe(65504);
    expect(roundF16(65520)).toBe(Infinity);
    expect(roundF16(-65520)).toBe(-Infinity);
    expect(roundF16(1e300)).toBe(Infinity);
    expect(roundF16(2 ** -25)).toBe(0); // tie between 0 and the smallest subnormal: even is 0
    expect(roundF16(2 ** -25 * 1.0001)).toBe(2 ** -24);
    expect(Object.is(roundF16(-1e-10), -0)).toBe(true);
    expect(roundF16(NaN)).toBeNaN();
    expect(roundF16(-Infinity)).toBe(-Infinity);
  });
});

/** bf16 of an f32 value by comparing its two bf16 neighbours (both exact in float64). */
function nearestBF16(x: number): number {
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  f[0] = x;
  const truncated = u[0] & 0xffff0000;
  u[0] = truncated;
  const toward0 = f[0];
  u[0] = truncated + 0x10000; // next bf16 away from zero (may be infinity)
  const away = f[0];
  const dDown = Math.abs(x - toward0);
  const dUp = Math.abs(away - x);
  const evenIsToward0 = ((truncated >>> 16) & 1) === 0;
  return dDown < dUp || (dDown === dUp && evenIsToward0) ? toward0 : away;
}

describe("roundBF16", () => {
  it("matches the nearer of the two bf16 neighbours on random f32 values", () => {
    const xs = sequence(4000, -130, 128, 11).map((e, i) => Math.fround((i % 3 ? 1 : -1) * 1.37 ** (e / 2) * (1 + (i % 97) / 97)));
    const wrong = xs.filter((x) => roundBF16(x) !== nearestBF16(x));
    expect(wrong).toEqual([]);
  });

  it("rounds f32 ties to even", () => {
    // 1 + 2^-8 lies halfway between 1 (even mantissa) and 1 + 2^-7 (odd): goes down.
    expect(roundBF16(1 + 2 ** -8)).toBe(1);
    // 1 + 3 * 2^-8 lies halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even): goes up.
    expect(roundBF16(1 + 3 * 2 ** -8)).toBe(1 + 2 ** -6);
    expect(roundBF16(-(1 + 3 * 2 ** -8))).toBe(-(1 + 2 ** -6));
  });

  it("overflows the largest f32 to infinity and keeps NaN", () => {
    expect(roundBF16(3.4028234663852886e38)).toBe(Infinity);
    expect(roundBF16(3.3895313892515355e38)).toBe(3.3895313892515355e38); // largest bf16
    expect(roundBF16(NaN)).toBeNaN();
  });
});

describe("integer and bool rounding", () => {
  it("wraps like two's complement after truncating toward zero", () => {
    const cases: [number, number, number, number][] = [
      // x, i32, i8, u8
      [2 ** 31, -(2 ** 31), 0, 0],
      [2 ** 32 + 5, 5, 5, 5],
      [-(2 ** 31) - 1, 2 ** 31 - 1, -1, 255],
      [3.7, 3, 3, 3],
      [-3.7, -3, -3, 253],
      [128, 128, -128, 128],
      [255, 255, -1, 255],
      [-129, -129, 127, 127],
      [300, 300, 44, 44],
    ];
    for (const [x, want32, want8, wantU8] of cases) {
      expect([roundTo("i32", x), roundTo("i8", x), roundTo("u8", x)]).toEqual([want32, want8, wantU8]);
    }
  });

  it("agrees with BigInt wrapping on large integers", () => {
    const xs = sequence(2000, -(2 ** 53), 2 ** 53, 21).map(Math.trunc);
    for (const x of xs) {
      const big = BigInt(x);
      expect(roundTo("i32", x)).toBe(Number(BigInt.asIntN(32, big)));
      expect(roundTo("i8", x)).toBe(Number(BigInt.asIntN(8, big)));
      expect(roundTo("u8", x)).toBe(Number(BigInt.asUintN(8, big)));
    }
  });

  it("never gives -0 for an integer dtype", () => {
    for (const dtype of ["i32", "i8", "u8"] as const) expect(Object.is(roundTo(dtype, -0.5), 0)).toBe(true);
  });

  it("maps non-finite values to 0 and bools to 0/1", () => {
    expect([NaN, Infinity, -Infinity].map((x) => roundTo("i32", x))).toEqual([0, 0, 0]);
    expect([0, 2, -0.5, NaN].map((x) => roundTo("bool", x))).toEqual([0, 1, 1, 0]);
  });

  it("rounds f32 and whole arrays in place", () => {
    expect(roundTo("f32", 0.1)).toBe(Math.fround(0.1));
    const data = Float64Array.from([1.5, -2.5, 130]);
    expect(roundArray("i8", data)).toBe(data);
    expect([...data]).toEqual([1, -2, -126]);
  });
});
