// The Philox counter RNG (Random123 known-answer vectors, 32-bit arithmetic against BigInt), the
// name hash, the dropout mask contract, and param initializers (parsing, fans, statistics,
// determinism).

import { describe, expect, it } from "vitest";
import type { ParamDecl } from "../../compiler/ir/graph.ts";
import { fans, INIT_KINDS, initParam, parseInit } from "../../compiler/ir/init.ts";
import { dropoutMask, dropoutThreshold, hashName, mulhi32, philox4x32, philox4x32Blocks, uniform01, uniform01x53 } from "../../compiler/ir/rng.ts";
import type { DType, Shape } from "../../compiler/ir/types.ts";
import { sequence } from "../support/kernel-harness.ts";
import binaryen from "binaryen";
import { PHILOX_WASM_BASE64, PHILOX_WASM_MAX_BLOCKS, PHILOX_WAT } from "../../compiler/ir/philox-wasm.ts";

describe("philox4x32-10", () => {
  // Known-answer vectors from Random123's kat_vectors for philox4x32_10.
  it.each([
    [[0, 0, 0, 0], [0, 0], [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]],
    [[0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff], [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]],
    [[0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0], [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]],
  ])("counter %j key %j gives the published output", (counter, key, want) => {
    expect(philox4x32(counter, key)).toEqual(want);
  });

  it("computes mulhi with 32-bit operations exactly", () => {
    const words = [0, 1, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff, 0xd2511f53, 0xcd9e8d57];
    const randomWords = sequence(200, 0, 2 ** 32, 5).map(Math.floor);
    for (const a of [...words, ...randomWords.slice(0, 100)]) {
      for (const b of [...words, ...randomWords.slice(100, 110)]) {
        expect(mulhi32(a, b)).toBe(Number((BigInt(a) * BigInt(b)) >> 32n));
      }
    }
  });

  it("philox4x32Blocks gives philox4x32's words for consecutive counters, up to the last u32 counter", () => {
    for (const [first, high, key] of [[0, 0, [0, 0]], [0xfffffff0, 7, [0xffffffff, 0xffffffff]], [0x243f6a88, 0x85a308d3, [0xa4093822, 0x299f31d0]]] as const) {
      const words = philox4x32Blocks(first, high, 16, key, new Uint32Array(64));
      for (let b = 0; b < 16; b++) expect([...words.subarray(4 * b, 4 * b + 4)]).toEqual(philox4x32([first + b, high, 0, 0], key));
    }
  });

  it("philox4x32Blocks runs past one call of the WebAssembly module (its page holds 4096 blocks)", () => {
    const count = PHILOX_WASM_MAX_BLOCKS + 5;
    const words = philox4x32Blocks(3, 1, count, [12345, 678], new Uint32Array(4 * count));
    for (const b of [0, PHILOX_WASM_MAX_BLOCKS - 1, PHILOX_WASM_MAX_BLOCKS, count - 1]) {
      expect([...words.subarray(4 * b, 4 * b + 4)]).toEqual(philox4x32([3 + b, 1, 0, 0], [12345, 678]));
    }
  });

  it("the embedded WebAssembly module is what binaryen assembles from its text", () => {
    const m = binaryen.parseText(PHILOX_WAT);
    try {
      m.setFeatures(binaryen.Features.MVP);
      expect(m.validate()).toBeTruthy();
      expect(Buffer.from(m.emitBinary()).toString("base64")).toBe(PHILOX_WASM_BASE64);
    } finally {
      m.dispose();
    }
  });

  it("returns unsigned 32-bit words that change about half their bits when the counter changes by one", () => {
    let flipped = 0;
    const trials = 2000;
    for (let c = 0; c < trials; c++) {
      const a = philox4x32([c, 0, 0, 0], [7, 9]);
      const b = philox4x32([c + 1, 0, 0, 0], [7, 9]);
      for (let w = 0; w < 4; w++) {
        expect(Number.isInteger(a[w]) && a[w] >= 0 && a[w] < 2 ** 32).toBe(true);
        flipped += popcount(a[w] ^ b[w]);
      }
    }
    expect(flipped / (trials * 128)).toBeCloseTo(0.5, 2);
  });
});

function popcount(x: number): number {
  let n = 0;
  for (let v = x >>> 0; v; v >>>= 1) n += v & 1;
  return n;
}

describe("uniforms", () => {
  it("uniform01 has 24-bit resolution in [0, 1), exact in float32", () => {
    expect(uniform01(0)).toBe(0);
    expect(uniform01(0xff)).toBe(0); // the low 8 bits are dropped
    expect(uniform01(0x80000000)).toBe(0.5);
    expect(uniform01(0xffffffff)).toBe(1 - 2 ** -24);
    for (const bits of sequence(1000, 0, 2 ** 32, 3).map(Math.floor)) {
      const u = uniform01(bits);
      expect(Math.fround(u)).toBe(u);
      expect(u * 2 ** 24).toBe(Math.floor(bits / 256));
    }
  });

  it("uniform01x53 has 53-bit resolution in [0, 1)", () => {
    expect(uniform01x53(0, 0)).toBe(0);
    expect(uniform01x53(0xffffffff, 0xffffffff)).toBe(1 - 2 ** -53);
    expect(uniform01x53(0, 0x40)).toBe(2 ** -53);
    expect(uniform01x53(0x80000000, 0)).toBe(0.5);
  });

  it("philox uniforms average 1/2 with variance 1/12", () => {
    const us: number[] = [];
    for (let c = 0; c < 25_000; c++) us.push(...philox4x32([c, 0, 0, 0], [1, 2]).map(uniform01));
    const m = mean(us);
    expect(Math.abs(m - 0.5)).toBeLessThan(5 * Math.sqrt(1 / 12 / us.length));
    expect(Math.abs(variance(us) - 1 / 12)).toBeLessThan(0.002);
  });
});

describe("hashName", () => {
  /** FNV-1a 32 written with BigInt over the UTF-8 bytes, as in the FNV reference. */
  function fnv1a(s: string): number {
    let h = 0x811c9dc5n;
    for (const byte of Buffer.from(s, "utf8")) h = ((h ^ BigInt(byte)) * 0x01000193n) & 0xffffffffn;
    return Number(h);
  }

  it("gives the published FNV-1a 32 values", () => {
    expect(hashName("")).toBe(0x811c9dc5);
    expect(hashName("a")).toBe(0xe40c292c);
    expect(hashName("foobar")).toBe(0xbf9cf968);
  });

  it("agrees with a BigInt FNV-1a on param names, including non-ASCII", () => {
    for (const s of ["fc256.w", "fc256.b", "conv1/kernel", "emb.ü", "层.w", "x".repeat(100)]) expect(hashName(s)).toBe(fnv1a(s));
  });
});

describe("dropout mask", () => {
  it("thresholds are ceil(rate * 2^24) and equivalent to uniform01(bits) >= rate", () => {
    expect([0, 0.5, 1].map(dropoutThreshold)).toEqual([0, 2 ** 23, 2 ** 24]);
    const bitsList = sequence(500, 0, 2 ** 32, 17).map(Math.floor);
    const rates = [...sequence(50, 0, 1, 19), 0.1, 0.3, 1 / 3, 0.7, 2 ** -24, 1 - 2 ** -24];
    for (const rate of rates) {
      const threshold = dropoutThreshold(rate);
      for (const bits of bitsList) expect(bits >>> 8 >= threshold).toBe(uniform01(bits) >= rate);
    }
  });

  it("keeps element i iff philox([i >> 2, 0, 0, 0], [seed, step])[i & 3] passes the threshold", () => {
    const mask = dropoutMask(103, 0.4, 123, 45);
    expect(mask.length).toBe(103);
    mask.forEach((keep, i) => {
      const bits = philox4x32([Math.floor(i / 4), 0, 0, 0], [123, 45])[i % 4];
      expect(keep).toBe(uniform01(bits) >= 0.4 ? 1 : 0);
    });
  });

  it("reads negative steps as two's complement", () => {
    expect(dropoutMask(40, 0.5, 1, -1)).toEqual(dropoutMask(40, 0.5, 1, 0xffffffff));
  });
});

const decl = (name: string, shape: Shape, init: string, dtype: DType = "f32"): ParamDecl => ({
  name,
  type: { dtype, shape },
  init,
  trainable: true,
});

function mean(xs: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i];
  return s / xs.length;
}

function variance(xs: ArrayLike<number>): number {
  const m = mean(xs);
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += (xs[i] - m) ** 2;
  return s / xs.length;
}

describe("parseInit", () => {
  it("lists the kinds", () => {
    expect(INIT_KINDS).toEqual(["zeros", "ones", "normal", "uniform", "he_normal", "glorot_uniform", "fill"]);
  });

  it.each([
    ["zeros", { kind: "zeros" }],
    ["ones", { kind: "ones" }],
    ["he_normal", { kind: "he_normal" }],
    ["glorot_uniform", { kind: "glorot_uniform" }],
    ["normal(0.02)", { kind: "normal", arg: 0.02 }],
    ["normal(1e-3)", { kind: "normal", arg: 0.001 }],
    ["uniform( 0.5 )", { kind: "uniform", arg: 0.5 }],
    [" uniform(0)", { kind: "uniform", arg: 0 }],
    ["fill(0.05)", { kind: "fill", arg: 0.05 }],
    ["fill(-2.5e-3)", { kind: "fill", arg: -0.0025 }],
  ])("parses %j", (text, want) => {
    expect(parseInit(text)).toEqual(want);
  });

  it.each(["xavier", "", "normal", "normal()", "normal(-1)", "normal(abc)", "uniform(inf)", "he_normal(2)", "Zeros", "normal(1)(2)"])(
    "rejects %j naming it and the valid spellings",
    (text) => {
      expect(() => parseInit(text)).toThrow(`'${text}'`);
      expect(() => parseInit(text)).toThrow("zeros, ones, he_normal, glorot_uniform, normal(STD), uniform(LIMIT)");
    },
  );
});

describe("fans", () => {
  it.each([
    [[], 1, 1],
    [[5], 5, 5],
    [[3, 4], 3, 4],
    [[2, 3, 4], 6, 8],
    [[3, 3, 16, 32], 144, 288],
  ] as [Shape, number, number][])("%j has fanIn %d, fanOut %d", (shape, fanIn, fanOut) => {
    expect(fans(shape)).toEqual({ fanIn, fanOut });
  });
});

describe("initParam", () => {
  it("fills zeros and ones for any dtype, and empty tensors", () => {
    expect([...initParam(decl("a", [2, 2], "zeros"))]).toEqual([0, 0, 0, 0]);
    expect([...initParam(decl("b", [3], "ones", "i32"))]).toEqual([1, 1, 1]);
    expect([...initParam(decl("c", [], "ones", "bool"))]).toEqual([1]);
    expect(initParam(decl("d", [0, 5], "he_normal")).length).toBe(0);
  });

  it("rejects random inits for integer and bool params, bad spellings and bad seeds", () => {
    expect(() => initParam(decl("steps", [1], "he_normal", "i32"))).toThrow("param 'steps': i32 params take only zeros or ones, got 'he_normal'");
    expect(() => initParam(decl("m", [1], "normal(1)", "bool"))).toThrow("bool params take only zeros or ones");
    expect(() => initParam(decl("w", [2], "gaussian"))).toThrow("param 'w': unknown initializer 'gaussian'");
    expect(() => initParam(decl("w", [2], "zeros"), -1)).toThrow("init seed -1");
    expect(() => initParam(decl("w", [2], "zeros"), 0.5)).toThrow("init seed 0.5");
  });

  it("normal(STD) has mean 0, the given std and a normal shape", () => {
    const n = 100_001; // odd: the last element comes from a half-used pair
    const v = initParam(decl("w", [n], "normal(0.5)"));
    expect(Math.abs(mean(v))).toBeLessThan((5 * 0.5) / Math.sqrt(n));
    expect(Math.sqrt(variance(v)) / 0.5).toBeCloseTo(1, 1);
    expect(Math.abs(Math.sqrt(variance(v)) - 0.5)).toBeLessThan((5 * 0.5) / Math.sqrt(2 * n));
    // P(|z| < 1) = 0.6827, P(|z| < 2) = 0.9545 for a standard normal.
    const within = (k: number) => v.filter((x) => Math.abs(x) < k * 0.5).length / n;
    expect(Math.abs(within(1) - 0.6827)).toBeLessThan(0.0075);
    expect(Math.abs(within(2) - 0.9545)).toBeLessThan(0.0035);
    expect(Number.isFinite(v[n - 1])).toBe(true);
  });

  it("he_normal has std sqrt(2 / fanIn), for dense and conv weights", () => {
    for (const [shape, fanIn] of [[[256, 400], 256], [[3, 3, 16, 700], 144]] as [Shape, number][]) {
      const v = initParam(decl("he", shape, "he_normal"));
      const std = Math.sqrt(2 / fanIn);
      expect(Math.abs(mean(v))).toBeLessThan((5 * std) / Math.sqrt(v.length));
      expect(Math.abs(Math.sqrt(variance(v)) - std)).toBeLessThan((5 * std) / Math.sqrt(2 * v.length));
    }
  });

  it("uniform(LIMIT) stays in [-LIMIT, LIMIT) with flat histogram and variance LIMIT^2/3", () => {
    const n = 100_000;
    const v = initParam(decl("u", [n], "uniform(0.1)"));
    expect(v.every((x) => x >= -0.1 && x < 0.1)).toBe(true);
    expect(Math.abs(mean(v))).toBeLessThan(5 * Math.sqrt(0.01 / 3 / n));
    expect(variance(v) / (0.01 / 3)).toBeCloseTo(1, 1);
    const bins = new Array<number>(10).fill(0);
    for (const x of v) bins[Math.floor(((x + 0.1) / 0.2) * 10)]++;
    for (const count of bins) expect(Math.abs(count - n / 10)).toBeLessThan(5 * Math.sqrt(n * 0.1 * 0.9));
  });

  it("glorot_uniform has limit sqrt(6 / (fanIn + fanOut))", () => {
    const v = initParam(decl("g", [300, 400], "glorot_uniform"));
    const limit = Math.sqrt(6 / 700);
    const extreme = v.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
    expect(extreme).toBeLessThanOrEqual(limit);
    expect(extreme).toBeGreaterThan(0.999 * limit);
    expect(variance(v) / (limit * limit / 3)).toBeCloseTo(1, 1);
  });

  it("is a pure function of (name, seed, element index)", () => {
    const a = initParam(decl("layer.w", [1000], "normal(1)"));
    expect(initParam(decl("layer.w", [1000], "normal(1)"))).toEqual(a);
    expect(initParam(decl("layer.w", [10, 100], "normal(1)"))).toEqual(a); // the shape does not matter
    expect([...initParam(decl("layer.w", [7], "normal(1)"))]).toEqual([...a.subarray(0, 7)]);
    const differs = (b: Float64Array) => b.filter((x, i) => x !== a[i]).length;
    expect(differs(initParam(decl("layer.b", [1000], "normal(1)")))).toBe(1000);
    expect(differs(initParam(decl("layer.w", [1000], "normal(1)"), 1))).toBe(1000);
  });

  it("follows the stream past the pairs drawn at once (4096), for odd lengths too", () => {
    const n = 2 * 4096 + 3;
    const v = initParam(decl("long", [n], "normal(1)"), 2);
    const u = initParam(decl("long", [n], "uniform(1)"), 2);
    for (const pair of [0, 4095, 4096, 4097]) {
      const [w0, w1, w2, w3] = philox4x32([pair, 0, 0, 0], [hashName("long"), 2]);
      const radius = Math.sqrt(-2 * Math.log(1 - uniform01x53(w0, w1)));
      expect(v[2 * pair]).toBe(radius * Math.cos(2 * Math.PI * uniform01x53(w2, w3)));
      if (2 * pair + 1 < n) expect(v[2 * pair + 1]).toBe(radius * Math.sin(2 * Math.PI * uniform01x53(w2, w3)));
      expect(u[2 * pair]).toBe(2 * uniform01x53(w0, w1) - 1);
    }
  });

  it("follows the documented stream: Box-Muller on Philox pair p with key [hashName(name), seed]", () => {
    const v = initParam(decl("emb", [3], "normal(2)"), 5);
    const [w0, w1, w2, w3] = philox4x32([1, 0, 0, 0], [hashName("emb"), 5]);
    const radius = 2 * Math.sqrt(-2 * Math.log(1 - uniform01x53(w0, w1)));
    expect(v[2]).toBe(radius * Math.cos(2 * Math.PI * uniform01x53(w2, w3)));
    const u = initParam(decl("emb", [2], "uniform(3)"), 5);
    const [x0, x1, x2, x3] = philox4x32([0, 0, 0, 0], [hashName("emb"), 5]);
    expect([...u]).toEqual([3 * (2 * uniform01x53(x0, x1) - 1), 3 * (2 * uniform01x53(x2, x3) - 1)]);
  });
});
