// The WASM storage helpers (kernels/access.ts, kernels/float16.ts): loads that take a storage
// dtype and give its compute value (f16/bf16 -> f32, i8/u8 -> i32), and stores that narrow back
// (f32 -> f16/bf16 rounding to nearest even, i32 -> i8/u8 wrapping). Each case runs a tiny
// module whose one function is map.ts's loop nest between two buffers of the given dtypes (the
// path every elementwise kernel takes), in its four-lane form with a scalar tail and all-scalar,
// and must match runtime/half.ts and the interpreter's rounding (ir/dtype-round.ts) bit for bit:
// every f16/bf16 pattern, every tie and both neighbours of it, subnormals, overflow, inf and NaN.

import { describe, expect, it } from "vitest";
import type { BufferRef } from "../../compiler/codegen-wasm/kernel.ts";
import { emitMap } from "../../compiler/codegen-wasm/kernels/map.ts";
import { WasmModule } from "../../compiler/codegen-wasm/module.ts";
import { roundBF16, roundF16, roundTo } from "../../compiler/ir/dtype-round.ts";
import { DTYPE_INFO, type DType } from "../../compiler/ir/dtypes.ts";
import { bf16BitsToNumber, f16BitsToNumber, numberToBF16Bits, numberToF16Bits } from "../../runtime/half.ts";
import { rng } from "../support/seeded-random.ts";

interface WasmApi {
  instantiate(bytes: Uint8Array): Promise<{ instance: { exports: Record<string, unknown> } }>;
}
const WebAssemblyApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

type Typed = Float32Array | Uint16Array | Int32Array | Int8Array | Uint8Array;

/**
 * out = in, element by element, from a buffer of `from` into one of `to` (the loop nest of every
 * elementwise kernel: load as the compute type, store narrowed); `vector` false runs it scalar.
 * `input` holds the storage elements (raw patterns for f16/bf16).
 */
async function convert(from: DType, to: DType, input: Typed, vector: boolean): Promise<Typed> {
  const n = input.length;
  const inBytes = n * DTYPE_INFO[from].bytes;
  const outOffset = Math.ceil(inBytes / 16) * 16;
  const module = new WasmModule(outOffset + n * DTYPE_INFO[to].bytes);
  const src: BufferRef = { offset: 0, type: { dtype: from, shape: [n] } };
  const dst: BufferRef = { offset: outOffset, type: { dtype: to, shape: [n] } };
  module.func("run", (f) => emitMap(f, [src], dst, (_L, [x]) => x(), { vector }));
  module.export("run");
  const { instance } = await WebAssemblyApi.instantiate(module.emit());
  module.dispose();
  const buffer = (instance.exports.memory as { buffer: ArrayBuffer }).buffer;
  new Uint8Array(buffer, 0, inBytes).set(new Uint8Array(input.buffer, input.byteOffset, inBytes));
  (instance.exports.run as () => void)();
  return new DTYPE_INFO[to].array(buffer, outOffset, n).slice();
}

/** Both forms (n = 4k + 3, so the four-lane loop has a scalar tail), which must agree bit for bit. */
async function convertBoth(from: DType, to: DType, input: Typed): Promise<Typed> {
  const [vector, scalar] = await Promise.all([convert(from, to, input, true), convert(from, to, input, false)]);
  expect(bitsOf(vector)).toEqual(bitsOf(scalar));
  return vector;
}

function bitsOf(a: Typed): number[] {
  if (a instanceof Float32Array) return Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
  return Array.from(a);
}

const f32Bits = (x: number) => new Uint32Array(new Float32Array([x]).buffer)[0];
const fromF32Bits = (b: number) => new Float32Array(new Uint32Array([b >>> 0]).buffer)[0];

/** Every 16-bit pattern, plus three so the count is 4k + 3. */
const ALL_PATTERNS = Uint16Array.from({ length: 65536 + 3 }, (_, i) => i & 0xffff);

/** Mismatches as "input: got / want" lines (at most 10), so a failure shows its cases. */
function mismatches(inputs: ArrayLike<number>, got: ArrayLike<number>, want: ArrayLike<number>, hex = true): string[] {
  const out: string[] = [];
  const show = (x: number) => (hex ? `0x${(x >>> 0).toString(16)}` : String(x));
  for (let i = 0; i < want.length && out.length < 10; i++) {
    if (got[i] !== want[i]) out.push(`${show(inputs[i])}: got ${show(got[i])}, want ${show(want[i])}`);
  }
  return out;
}

/**
 * f32 inputs for narrowing to a 16-bit float whose patterns widen to `widen(h)`: every pattern's
 * value, the midpoint to the next pattern (a tie) and the f32 on either side of it, the special
 * values, and random bit patterns over all of f32.
 */
function narrowingInputs(widen: (h: number) => number): Float32Array {
  // Built as bits: a NaN that passes through a JavaScript number may lose its payload.
  const xs: number[] = [];
  const bits: number[] = [];
  for (let h = 0; h < 0x10000; h++) {
    const v = widen(h);
    const next = widen(h + 1);
    if (!Number.isFinite(v) || !Number.isFinite(next) || (h & 0x7fff) === 0x7fff) continue;
    const mid = Math.fround((v + next) / 2);
    xs.push(v, mid, fromF32Bits(f32Bits(mid) + 1), fromF32Bits(f32Bits(mid) - 1));
  }
  xs.push(0, -0, Infinity, -Infinity, NaN, 65504, 65519.99, 65520, 65536, 1e30, -1e30, 3.4028234663852886e38, 2 ** -149, -(2 ** -149), 2 ** -126, 2 ** -25, 2 ** -24, 1.5 * 2 ** -25);
  // bf16's overflow tie (half-way from its largest finite value to inf) and its neighbours.
  xs.push(...[0x7f7f8000, 0x7f7f7fff, 0x7f7f8001, 0xff7f8000].map(fromF32Bits));
  const random = rng(7);
  for (let i = 0; i < 100_000; i++) bits.push(Math.floor(random() * 2 ** 32));
  // NaNs with and without the quiet bit, of both signs and with payloads.
  bits.push(0x7f800001, 0xff800001, 0x7fbfffff, 0x7fc00001, 0xffc00000, 0x7f802000, 0x7fa00000);
  const all = Uint32Array.from([...xs.map(f32Bits), ...bits]);
  const padded = new Uint32Array(all.length + ((3 - (all.length % 4) + 4) % 4)).fill(f32Bits(1));
  padded.set(all);
  return new Float32Array(padded.buffer);
}

describe("f16 storage", () => {
  it("loads every pattern as its exact f32 value (NaN payloads kept)", async () => {
    const got = (await convertBoth("f16", "f32", ALL_PATTERNS)) as Float32Array;
    const gotBits = bitsOf(got);
    const want = Array.from(ALL_PATTERNS, (h) => {
      if ((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0) return (((h & 0x8000) << 16) | 0x7f800000 | ((h & 0x3ff) << 13)) >>> 0;
      return f32Bits(f16BitsToNumber(h));
    });
    expect(mismatches(ALL_PATTERNS, gotBits, want)).toEqual([]);
  });

  it("stores f32 rounded to nearest even like numberToF16Bits and roundF16 (ties, subnormals, overflow, NaN)", async () => {
    const xs = narrowingInputs(f16BitsToNumber);
    const got = (await convertBoth("f32", "f16", xs)) as Uint16Array;
    const want = Array.from(xs, numberToF16Bits);
    expect(mismatches(new Uint32Array(xs.buffer), got, want)).toEqual([]);
    // The interpreter's storage rounding gives the same values.
    const values = Array.from(got, f16BitsToNumber);
    const rounded = Array.from(xs, roundF16);
    expect(mismatches(xs, values, rounded, false).filter((line) => !line.startsWith("NaN"))).toEqual([]);
  });

  it("round-trips every pattern (NaN becomes the quiet 0x7e00)", async () => {
    const got = await convertBoth("f16", "f16", ALL_PATTERNS);
    const want = Array.from(ALL_PATTERNS, (h) => ((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0 ? 0x7e00 : h));
    expect(mismatches(ALL_PATTERNS, got, want)).toEqual([]);
  });
});

describe("bf16 storage", () => {
  it("loads every pattern as the high half of an f32", async () => {
    const got = bitsOf(await convertBoth("bf16", "f32", ALL_PATTERNS));
    const want = Array.from(ALL_PATTERNS, (h) => (h << 16) >>> 0);
    expect(mismatches(ALL_PATTERNS, got, want)).toEqual([]);
    const finite = Array.from(ALL_PATTERNS).filter((h) => !Number.isNaN(bf16BitsToNumber(h)));
    expect(finite.every((h) => fromF32Bits(want[h]) === bf16BitsToNumber(h))).toBe(true);
  });

  it("stores f32 rounded to nearest even like numberToBF16Bits and roundBF16; NaN stays a quiet NaN", async () => {
    const xs = narrowingInputs(bf16BitsToNumber);
    const bits = Array.from(new Uint32Array(xs.buffer));
    const got = (await convertBoth("f32", "bf16", xs)) as Uint16Array;
    // numberToBF16Bits sees NaN as JavaScript's canonical NaN; on the bits the rule is the same:
    // the high half with the quiet bit set.
    const want = bits.map((b, i) => (Number.isNaN(xs[i]) ? ((b >>> 16) | 0x40) & 0xffff : numberToBF16Bits(xs[i])));
    expect(mismatches(bits, got, want)).toEqual([]);
    expect(numberToBF16Bits(NaN)).toBe(((f32Bits(NaN) >>> 16) | 0x40) & 0xffff);
    const values = Array.from(got, bf16BitsToNumber);
    const rounded = Array.from(xs, roundBF16);
    expect(mismatches(xs, values, rounded, false).filter((line) => !line.startsWith("NaN"))).toEqual([]);
  });

  it("round-trips every pattern (a NaN gets its quiet bit)", async () => {
    const got = await convertBoth("bf16", "bf16", ALL_PATTERNS);
    const want = Array.from(ALL_PATTERNS, (h) => ((h & 0x7f80) === 0x7f80 && (h & 0x7f) !== 0 ? h | 0x40 : h));
    expect(mismatches(ALL_PATTERNS, got, want)).toEqual([]);
  });
});

describe("byte storage", () => {
  const bytes = Int8Array.from({ length: 259 }, (_, i) => i - 128);
  const ints = Int32Array.from([...Array.from({ length: 600 }, (_, i) => i - 300), 2 ** 31 - 1, -(2 ** 31), 65535, 65536 + 7, -129]);

  it("i8 loads sign-extended and stores its low byte (round trip, and i32 -> i8 wraps like roundTo)", async () => {
    expect(Array.from(await convertBoth("i8", "i8", bytes))).toEqual(Array.from(bytes));
    expect(Array.from(await convertBoth("i8", "i32", bytes))).toEqual(Array.from(bytes));
    expect(Array.from(await convertBoth("i32", "i8", ints))).toEqual(Array.from(ints, (x) => roundTo("i8", x)));
  });

  it("u8 loads zero-extended and stores its low byte", async () => {
    const u = new Uint8Array(bytes.buffer);
    expect(Array.from(await convertBoth("u8", "i32", u))).toEqual(Array.from(u));
    expect(Array.from(await convertBoth("i32", "u8", ints))).toEqual(Array.from(ints, (x) => roundTo("u8", x)));
  });
});
