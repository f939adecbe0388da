// The WGSL storage helpers (wgsl.ts's loads, HALF_PRELUDE, and kernels/map.ts's packed stores):
// loads take a storage dtype and give its compute value (f16/bf16 -> f32, i8/u8 -> i32); stores
// narrow back (f32 -> f16/bf16 rounding to nearest even, i32 -> i8/u8 keeping the low byte), two
// or four elements a word. Each case is one elementMap shader from a buffer of one dtype into a
// buffer of another, run on the test device (SwiftShader on a CPU), and must match runtime/half.ts
// and the interpreter's rounding bit for bit on every f16/bf16 pattern, ties and their
// neighbours, subnormals, overflow, inf and NaN; a partial last word keeps the bytes past the
// tensor.

import { describe, expect, it } from "vitest";
import { DEFAULT_TARGET } from "../../compiler/codegen-wgsl/kernel.ts";
import { elementMap } from "../../compiler/codegen-wgsl/kernels/map.ts";
import { load } from "../../compiler/codegen-wgsl/wgsl.ts";
import { roundBF16, roundF16, roundTo } from "../../compiler/ir/dtype-round.ts";
import { DTYPE_INFO, type DType } from "../../compiler/ir/dtypes.ts";
import { bf16BitsToNumber, f16BitsToNumber, numberToBF16Bits, numberToF16Bits } from "../../runtime/half.ts";
import { rng } from "../support/seeded-random.ts";
import { wgslDevice } from "../support/wgsl-harness.ts";

type Typed = Float32Array | Uint16Array | Int32Array | Int8Array | Uint8Array;

const STORAGE = 0x80, COPY_SRC = 0x4, COPY_DST = 0x8, MAP_READ_USAGE = 0x1, MAP_READ = 0x1;
/** What the word after the output holds before the shader runs: a partial last word must keep it. */
const SENTINEL = 0xa5a5a5a5;

/** out[i] = in[i] through one elementMap pass: load `from` (compute type), store `to`. */
async function convert(from: DType, to: DType, input: Typed): Promise<{ out: Typed; tail: number }> {
  const { device } = await wgslDevice();
  const n = input.length;
  const inBytes = Math.ceil((n * DTYPE_INFO[from].bytes) / 16) * 16;
  const outBytes = Math.ceil((n * DTYPE_INFO[to].bytes) / 4) * 4;
  const size = inBytes + outBytes + 16;
  const arena = device.createBuffer({ size, usage: STORAGE | COPY_SRC | COPY_DST });
  const init = new Uint8Array(size);
  new Uint32Array(init.buffer).fill(SENTINEL);
  init.set(new Uint8Array(input.buffer, input.byteOffset, n * DTYPE_INFO[from].bytes));
  device.queue.writeBuffer(arena, 0, init);
  const pass = elementMap("convert", { offset: inBytes, type: { dtype: to, shape: [n] } }, { body: `  return ${load(0, from, "i")};` }, DEFAULT_TARGET);
  device.pushErrorScope("validation");
  const pipeline = await device.createComputePipelineAsync({ layout: "auto", compute: { module: device.createShaderModule({ code: pass.code }), entryPoint: "main" } });
  const bindGroup = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: arena } }] });
  const staging = device.createBuffer({ size, usage: MAP_READ_USAGE | COPY_DST });
  const encoder = device.createCommandEncoder();
  const compute = encoder.beginComputePass();
  compute.setPipeline(pipeline);
  compute.setBindGroup(0, bindGroup);
  compute.dispatchWorkgroups(...pass.workgroups);
  compute.end();
  encoder.copyBufferToBuffer(arena, 0, staging, 0, size);
  device.queue.submit([encoder.finish()]);
  const error = await device.popErrorScope();
  if (error) throw new Error(`the shader was rejected: ${error.message}`);
  await staging.mapAsync(MAP_READ);
  const bytes = new Uint8Array(staging.getMappedRange().slice(0));
  staging.unmap();
  staging.destroy();
  arena.destroy();
  // The rest of the output's last word (when the tensor ends inside it) must be untouched.
  const end = inBytes + n * DTYPE_INFO[to].bytes;
  const tail = bytes.slice(end, inBytes + outBytes).every((b, k) => b === new Uint8Array(new Uint32Array([SENTINEL]).buffer)[(end + k) % 4]) ? 1 : 0;
  return { out: new DTYPE_INFO[to].array(bytes.buffer, inBytes, n), tail };
}

async function checked(from: DType, to: DType, input: Typed): Promise<Typed> {
  const { out, tail } = await convert(from, to, input);
  expect(tail, "bytes past the tensor's end in its last word were overwritten").toBe(1);
  return out;
}

const bitsOf = (a: Typed): number[] => (a instanceof Float32Array ? Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length)) : Array.from(a));
const f32Bits = (x: number) => new Uint32Array(new Float32Array([x]).buffer)[0];
const fromF32Bits = (b: number) => new Float32Array(new Uint32Array([b >>> 0]).buffer)[0];

/** Every 16-bit pattern, plus three (an odd count: the last f16 word is half full). */
const ALL_PATTERNS = Uint16Array.from({ length: 65536 + 3 }, (_, i) => i & 0xffff);

function mismatches(inputs: ArrayLike<number>, got: ArrayLike<number>, want: ArrayLike<number>, hex = true): string[] {
  const out: string[] = [];
  const show = (x: number) => (hex ? `0x${(x >>> 0).toString(16)}` : String(x));
  for (let i = 0; i < want.length && out.length < 10; i++) {
    if (got[i] !== want[i]) out.push(`${show(inputs[i])}: got ${show(got[i])}, want ${show(want[i])}`);
  }
  return out;
}

/**
 * f32 inputs (as bits, so NaN payloads survive) for narrowing to a 16-bit float: each pattern's
 * value, the tie to the next and its two f32 neighbours, specials, and random bits over all of
 * f32. The f32 subnormals among them reach f16_bits through bitcasts only, no arithmetic, so
 * WGSL's permission to flush subnormals does not apply (SwiftShader keeps them: -2^-149 -> -0).
 */
function narrowingInputs(widen: (h: number) => number): Float32Array {
  const xs: number[] = [];
  for (let h = 0; h < 0x10000; h++) {
    const v = widen(h);
    const next = widen(h + 1);
    if (!Number.isFinite(v) || !Number.isFinite(next) || (h & 0x7fff) === 0x7fff) continue;
    const mid = Math.fround((v + next) / 2);
    xs.push(v, mid, fromF32Bits(f32Bits(mid) + 1), fromF32Bits(f32Bits(mid) - 1));
  }
  xs.push(0, -0, Infinity, -Infinity, 65504, 65519.99, 65520, 65536, 1e30, -1e30, 2 ** -126, 2 ** -25, 2 ** -24, 1.5 * 2 ** -25);
  const bits = xs.map(f32Bits);
  bits.push(0x7f7f8000, 0x7f7f7fff, 0x7f7f8001, 0xff7f8000, 0x7f7fffff);
  bits.push(0x00000001, 0x80000001, 0x807fffff, 0x00400000, 0x7fc00000, 0x7f800001, 0xff800001, 0x7fbfffff, 0x7fc00001, 0xffc00000, 0x7fa00000);
  const random = rng(11);
  for (let i = 0; i < 100_000; i++) bits.push(Math.floor(random() * 2 ** 32));
  if (bits.length % 2 === 0) bits.push(f32Bits(1));
  return new Float32Array(Uint32Array.from(bits).buffer);
}

const isNaNPattern16 = (h: number, expMask: number, fracMask: number) => (h & expMask) === expMask && (h & fracMask) !== 0;

describe("f16 storage in WGSL", () => {
  it("loads every pattern as its exact f32 value", async () => {
    const got = bitsOf(await checked("f16", "f32", ALL_PATTERNS));
    const want = Array.from(ALL_PATTERNS, (h) =>
      isNaNPattern16(h, 0x7c00, 0x3ff) ? (((h & 0x8000) << 16) | 0x7f800000 | ((h & 0x3ff) << 13)) >>> 0 : f32Bits(f16BitsToNumber(h)),
    );
    expect(mismatches(ALL_PATTERNS, got, want)).toEqual([]);
  });

  it("stores f32 rounded to nearest even like numberToF16Bits and roundF16", async () => {
    const xs = narrowingInputs(f16BitsToNumber);
    const got = (await checked("f32", "f16", xs)) as Uint16Array;
    expect(mismatches(new Uint32Array(xs.buffer), got, Array.from(xs, numberToF16Bits))).toEqual([]);
    const values = Array.from(got, f16BitsToNumber);
    expect(mismatches(xs, values, Array.from(xs, roundF16), false).filter((line) => !line.startsWith("NaN"))).toEqual([]);
  });

  it("round-trips every pattern (NaN becomes 0x7e00), two to a word", async () => {
    const got = await checked("f16", "f16", ALL_PATTERNS);
    const want = Array.from(ALL_PATTERNS, (h) => (isNaNPattern16(h, 0x7c00, 0x3ff) ? 0x7e00 : h));
    expect(mismatches(ALL_PATTERNS, got, want)).toEqual([]);
  });
});

describe("bf16 storage in WGSL", () => {
  it("loads every pattern as the high half of an f32", async () => {
    const got = bitsOf(await checked("bf16", "f32", ALL_PATTERNS));
    expect(mismatches(ALL_PATTERNS, got, Array.from(ALL_PATTERNS, (h) => (h << 16) >>> 0))).toEqual([]);
    expect(Array.from(ALL_PATTERNS).filter((h) => !isNaNPattern16(h, 0x7f80, 0x7f)).every((h) => fromF32Bits((h << 16) >>> 0) === bf16BitsToNumber(h))).toBe(true);
  });

  it("stores f32 rounded to nearest even like numberToBF16Bits and roundBF16; NaN stays a quiet NaN", async () => {
    const xs = narrowingInputs(bf16BitsToNumber);
    const bits = Array.from(new Uint32Array(xs.buffer));
    const got = (await checked("f32", "bf16", xs)) as Uint16Array;
    const want = bits.map((b, i) => (Number.isNaN(xs[i]) ? ((b >>> 16) | 0x40) & 0xffff : numberToBF16Bits(xs[i])));
    expect(mismatches(bits, got, want)).toEqual([]);
    const values = Array.from(got, bf16BitsToNumber);
    expect(mismatches(xs, values, Array.from(xs, roundBF16), false).filter((line) => !line.startsWith("NaN"))).toEqual([]);
  });

  it("round-trips every pattern (a NaN gets its quiet bit)", async () => {
    const got = await checked("bf16", "bf16", ALL_PATTERNS);
    const want = Array.from(ALL_PATTERNS, (h) => (isNaNPattern16(h, 0x7f80, 0x7f) ? h | 0x40 : h));
    expect(mismatches(ALL_PATTERNS, got, want)).toEqual([]);
  });
});

describe("byte storage in WGSL", () => {
  const bytes = Int8Array.from({ length: 259 }, (_, i) => i - 128);
  const ints = Int32Array.from([...Array.from({ length: 598 }, (_, i) => i - 300), 2 ** 31 - 1, -(2 ** 31), 65535, 65536 + 7, -129]);

  it("i8 loads sign-extended and stores its low byte, four to a word", async () => {
    expect(Array.from(await checked("i8", "i8", bytes))).toEqual(Array.from(bytes));
    expect(Array.from(await checked("i8", "i32", bytes))).toEqual(Array.from(bytes));
    expect(Array.from(await checked("i32", "i8", ints))).toEqual(Array.from(ints, (x) => roundTo("i8", x)));
  });

  it("u8 loads zero-extended and stores its low byte", async () => {
    const u = new Uint8Array(bytes.buffer);
    expect(Array.from(await checked("u8", "i32", u))).toEqual(Array.from(u));
    expect(Array.from(await checked("i32", "u8", ints))).toEqual(Array.from(ints, (x) => roundTo("u8", x)));
  });
});
