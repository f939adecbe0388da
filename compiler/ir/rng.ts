// Counter-based random numbers: Philox-4x32-10 (Salmon, Moraes, Dror, Shaw: "Parallel random
// numbers: as easy as 1, 2, 3", SC 2011).
//
// A counter-based generator is a pure function (counter, key) -> 128 random bits. Nothing is
// stateful, so the interpreter, the WASM kernels and the WGSL shaders can each compute the random
// bits of any element independently and get the same answer. Everything below uses only 32-bit
// unsigned integer operations (multiply-low, add, xor, shifts) so the same arithmetic can be
// written in WebAssembly (i32.mul) and WGSL (u32 *) and reproduce these bits exactly.
//
// ## Dropout (the contract every backend reproduces bit for bit)
//
// For a `dropout` node with attribute `seed` at step `t` (the value of its i32 `step` operand)
// and element `i` of its operand in row-major flat order (the mask is independent of the shape):
//
//   key     = [seed >>> 0, t >>> 0]                  (negative steps as two's complement u32)
//   counter = [i >>> 2, 0, 0, 0]                    (four elements share one Philox block)
//   bits    = philox4x32(counter, key)[i & 3]
//   keep    = (bits >>> 8) >= dropoutThreshold(rate)  where dropoutThreshold = ceil(rate * 2^24)
//   out[i]  = keep ? x[i] * (1 / (1 - rate)) : 0
//
// The comparison `uniform01(bits) >= rate` is done on the 24-bit integer so no backend ever
// compares floats: `(bits >>> 8) * 2^-24 >= rate` holds exactly when `(bits >>> 8) >= ceil(rate *
// 2^24)` (multiplying by a power of two is exact in float64). Tensors are assumed to have fewer
// than 2^32 elements, so `i >>> 2` never overflows.
//
// Param initialization (init.ts) uses the same generator on the host with its own key; see there.

import { philoxWasm, PHILOX_WASM_MAX_BLOCKS } from "./philox-wasm.ts";

export type U32x4 = [number, number, number, number];
export type U32x2 = [number, number];

const PHILOX_M0 = 0xd2511f53;
const PHILOX_M1 = 0xcd9e8d57;
const PHILOX_W0 = 0x9e3779b9; // golden ratio
const PHILOX_W1 = 0xbb67ae85; // sqrt(3) - 1
const PHILOX_ROUNDS = 10;

/**
 * High 32 bits of the 64-bit product of two u32, from four 16x16-bit partial products (each fits
 * in 32 bits), the way a GPU without 64-bit integers computes it.
 */
export function mulhi32(a: number, b: number): number {
  const aLo = a & 0xffff;
  const aHi = a >>> 16;
  const bLo = b & 0xffff;
  const bHi = b >>> 16;
  const lolo = Math.imul(aLo, bLo) >>> 0;
  const lohi = Math.imul(aLo, bHi) >>> 0;
  const hilo = Math.imul(aHi, bLo) >>> 0;
  const hihi = Math.imul(aHi, bHi) >>> 0;
  // Carry out of the middle 16-bit column: at most 3 * 0xffff, so it never overflows.
  const middle = (lolo >>> 16) + (lohi & 0xffff) + (hilo & 0xffff);
  return (hihi + (lohi >>> 16) + (hilo >>> 16) + (middle >>> 16)) >>> 0;
}

/** Philox-4x32 with 10 rounds: four random u32 from a 128-bit counter and a 64-bit key. */
export function philox4x32(counter: readonly number[], key: readonly number[]): U32x4 {
  let c0 = counter[0] >>> 0;
  let c1 = counter[1] >>> 0;
  let c2 = counter[2] >>> 0;
  let c3 = counter[3] >>> 0;
  let k0 = key[0] >>> 0;
  let k1 = key[1] >>> 0;
  for (let round = 0; round < PHILOX_ROUNDS; round++) {
    if (round > 0) {
      // The key schedule ("bump") happens between rounds, so the last round uses the 9th key.
      k0 = (k0 + PHILOX_W0) >>> 0;
      k1 = (k1 + PHILOX_W1) >>> 0;
    }
    const hi0 = mulhi32(PHILOX_M0, c0);
    const lo0 = Math.imul(PHILOX_M0, c0) >>> 0;
    const hi1 = mulhi32(PHILOX_M1, c2);
    const lo1 = Math.imul(PHILOX_M1, c2) >>> 0;
    c0 = (hi1 ^ c1 ^ k0) >>> 0;
    c1 = lo1;
    c2 = (hi0 ^ c3 ^ k1) >>> 0;
    c3 = lo0;
  }
  return [c0, c1, c2, c3];
}

/**
 * philox4x32 of `count` consecutive blocks, counters [first + b, high, 0, 0] for b < count (the
 * caller keeps first + count <= 2^32), written as four u32 per block into `out` from index 0. The
 * same bits as philox4x32, computed by a small WebAssembly module (philox-wasm.ts): initialising a
 * deep net's params draws millions of them.
 */
export function philox4x32Blocks(first: number, high: number, count: number, key: readonly number[], out: Uint32Array): Uint32Array {
  const wasm = philoxWasm();
  for (let done = 0; done < count; ) {
    const n = Math.min(count - done, PHILOX_WASM_MAX_BLOCKS);
    wasm.blocks((first + done) | 0, high | 0, n, key[0] | 0, key[1] | 0);
    out.set(new Uint32Array(wasm.memory.buffer, 0, 4 * n), 4 * done);
    done += n;
  }
  return out;
}

const TWO_POW_M24 = 2 ** -24;
const TWO_POW_M53 = 2 ** -53;

/**
 * A u32 to a float in [0, 1) with 24-bit resolution: the top 24 bits times 2^-24. Every result is
 * exactly representable in float32, so f32 backends compute the same number.
 */
export function uniform01(bits: number): number {
  return (bits >>> 8) * TWO_POW_M24;
}

/**
 * Two u32 to a float in [0, 1) with 53-bit resolution (every double in the grid k * 2^-53).
 * Host-only: param initialization uses it so normal tails are not cut off at 24-bit resolution.
 */
export function uniform01x53(hiBits: number, loBits: number): number {
  return ((hiBits >>> 5) * 2 ** 26 + (loBits >>> 6)) * TWO_POW_M53;
}

/** The integer form of `uniform01(bits) >= rate`: keep an element iff `(bits >>> 8) >= this`. */
export function dropoutThreshold(rate: number): number {
  return Math.ceil(rate * 2 ** 24);
}

/**
 * The keep mask of a dropout over `n` elements with (seed, step): 1 = keep, 0 = drop (see the
 * header). One Philox call serves four consecutive elements.
 */
export function dropoutMask(n: number, rate: number, seed: number, step: number): Uint8Array {
  const threshold = dropoutThreshold(rate);
  const key = [seed >>> 0, step >>> 0];
  const mask = new Uint8Array(n);
  for (let block = 0; block * 4 < n; block++) {
    const bits = philox4x32([block, 0, 0, 0], key);
    for (let lane = 0; lane < 4 && block * 4 + lane < n; lane++) {
      mask[block * 4 + lane] = bits[lane] >>> 8 >= threshold ? 1 : 0;
    }
  }
  return mask;
}

const FNV_OFFSET_BASIS = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const utf8 = new TextEncoder();

/** 32-bit FNV-1a of the string's UTF-8 bytes: turns names into Philox keys. */
export function hashName(s: string): number {
  let h = FNV_OFFSET_BASIS;
  for (const byte of utf8.encode(s)) {
    h = Math.imul(h ^ byte, FNV_PRIME);
  }
  return h >>> 0;
}
