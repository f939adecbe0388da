// WGSL text shared by every kernel: the arena binding with typed loads and stores, literals, index
// arithmetic and the dispatch grid.
//
// The arena is ONE storage buffer, `array<u32>`, bound once at @group(0) @binding(0), with the
// same byte layout as the WASM backend's memory (so weights files and plans are interchangeable).
// How each dtype sits in it and what it computes in come from ir/dtypes.ts (DTYPE_INFO[d].wgsl):
//   f32, i32      one word each; word index = byte offset / 4 (slots are 16-byte aligned)
//   f16, bf16     two to a little-endian word; element index = byte offset / 2 + i; they load
//                 as f32 (ld_f16 exact by integer operations, ld_bf16 the high half of an f32)
//                 and are stored through f16_bits / bf16_bits (round to nearest even, on the
//                 bits: WGSL leaves pack2x16float's rounding and range to the implementation)
//   i8, u8, bool  one byte each, four to a little-endian word; byte index = offset + i
// Kernels compute f32 values as f32 and every integer dtype (and bool, as 0/1) as i32, like the
// WASM kernels' 32-bit integer lanes; a byte store keeps the low 8 bits, which reproduces the
// interpreter's wrap-around. Loads take the element index as u32 and return the compute type.
//
// NaN tests go through the bits (is_nan): SwiftShader evaluates `NaN != 0.0` as false (an ordered
// comparison, which WGSL's loose NaN rules permit), so no comparison is trusted to see NaN.
//
// Packed tensors (2 or 4 elements a word) are written a whole word at a time by one invocation
// (see elementMap in kernels/map.ts), since WGSL has no sub-word stores and two invocations must
// not race on one word.

import { DTYPE_INFO } from "../ir/dtypes.ts";
import type { DType } from "../ir/types.ts";
import type { WgslPass, WgslTarget } from "./kernel.ts";

export const PRELUDE = `@group(0) @binding(0) var<storage, read_write> arena: array<u32>;
var<private> k_zero: u32 = 0u;
fn is_nan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
fn ld_f32(w: u32) -> f32 { return bitcast<f32>(arena[w]); }
fn ld_i32(w: u32) -> i32 { return bitcast<i32>(arena[w]); }
fn ld_u8(b: u32) -> i32 { return i32((arena[b >> 2u] >> ((b & 3u) * 8u)) & 0xffu); }
fn ld_i8(b: u32) -> i32 { return (ld_u8(b) << 24u) >> 24u; }
fn st_f32(w: u32, v: f32) { arena[w] = bitcast<u32>(v); }
fn st_i32(w: u32, v: i32) { arena[w] = bitcast<u32>(v); }
`;

/**
 * The 16-bit float conversions, added to a shader that uses them (pass()). All integer
 * arithmetic, so they are exact whatever the device's float rounding or subnormal flushing:
 *   f16_value  f16 pattern -> f32 (subnormals normalised with countLeadingZeros; NaN payload kept)
 *   f16_bits   f32 -> f16 pattern, nearest even; >= 65520 -> inf; NaN -> 0x7e00 (runtime/half.ts)
 *   bf16_bits  f32 -> bf16 pattern, nearest even; NaN -> its high half with the quiet bit set
 */
export const HALF_PRELUDE = `fn ld_half(e: u32) -> u32 { return (arena[e >> 1u] >> ((e & 1u) * 16u)) & 0xffffu; }
fn f16_value(h: u32) -> f32 {
  let m = h & 0x7fffu;
  let sign = (h & 0x8000u) << 16u;
  if (m >= 0x7c00u) { return bitcast<f32>(sign | 0x7f800000u | ((m & 0x3ffu) << 13u)); }
  if (m >= 0x400u) { return bitcast<f32>(sign | ((m << 13u) + 0x38000000u)); }
  if (m == 0u) { return bitcast<f32>(sign); }
  let s = countLeadingZeros(m) - 21u;
  return bitcast<f32>(sign | ((113u - s) << 23u) | (((m << s) & 0x3ffu) << 13u));
}
fn ld_f16(e: u32) -> f32 { return f16_value(ld_half(e)); }
fn ld_bf16(e: u32) -> f32 { return bitcast<f32>(ld_half(e) << 16u); }
fn f16_bits(x: f32) -> u32 {
  let b = bitcast<u32>(x);
  let a = b & 0x7fffffffu;
  let sign = (b >> 16u) & 0x8000u;
  if (a > 0x7f800000u) { return 0x7e00u; }
  if (a >= 0x47800000u) { return sign | 0x7c00u; }
  if (a >= 0x38800000u) { return sign | ((a - 0x38000000u + 0xfffu + ((a >> 13u) & 1u)) >> 13u); }
  let e = a >> 23u;
  if (e < 102u) { return sign; }
  let m = (a & 0x7fffffu) | 0x800000u;
  let s = 126u - e;
  return sign | ((m + (1u << (s - 1u)) - 1u + ((m >> s) & 1u)) >> s);
}
fn bf16_bits(x: f32) -> u32 {
  let b = bitcast<u32>(x);
  if ((b & 0x7fffffffu) > 0x7f800000u) { return (b >> 16u) | 0x40u; }
  return (b + 0x7fffu + ((b >> 16u) & 1u)) >> 16u;
}
`;

const USES_HALF = /\b(ld_f16|ld_bf16|f16_bits|bf16_bits)\b/;

/** Bytes of one stored element. */
export function elementBytes(dtype: DType): 1 | 2 | 4 {
  return DTYPE_INFO[dtype].bytes;
}

/** Elements of `dtype` in one 32-bit word of the arena. */
export function perWord(dtype: DType): 1 | 2 | 4 {
  return DTYPE_INFO[dtype].wgsl.perWord;
}

/** The WGSL type a dtype computes in. */
export function computeType(dtype: DType): "f32" | "i32" {
  return DTYPE_INFO[dtype].compute;
}

/** The element index (word, half-word or byte) of a tensor's first element. */
export function baseIndex(offset: number, dtype: DType): number {
  const bytes = elementBytes(dtype);
  if (offset % bytes !== 0) throw new Error(`webgpu: a ${dtype} tensor at byte offset ${offset} is not aligned to its ${bytes}-byte elements`);
  return offset / bytes;
}

/** The WGSL expression loading element `index` (a u32 expression) of a tensor at `offset`, in its compute type. */
export function load(offset: number, dtype: DType, index: string): string {
  const base = baseIndex(offset, dtype);
  const at = base === 0 ? index : `${u32(base)} + ${index}`;
  return `${DTYPE_INFO[dtype].wgsl.load}(${at})`;
}

/** The WGSL expression of the bits a compute value `v` is stored as (within its element's width). */
export function encode(dtype: DType, v: string): string {
  return DTYPE_INFO[dtype].wgsl.encode(v);
}

export function u32(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`webgpu: ${n} is not a u32`);
  return `${n}u`;
}

export function i32(n: number): string {
  if (!Number.isInteger(n) || n < -(2 ** 31) || n >= 2 ** 31) throw new Error(`webgpu: ${n} is not an i32`);
  return n === -(2 ** 31) ? "i32(-2147483647 - 1)" : n < 0 ? `(${n}i)` : `${n}i`;
}

const F32_MIN_NORMAL = 2 ** -126;

/**
 * An exact f32 literal for `v` (rounded to f32); -0 and subnormals by their bits, and inf/NaN by
 * bits or-ed with the private zero `k_zero` at run time, since WGSL's constant evaluation rejects
 * non-finite values.
 */
export function f32(v: number): string {
  const r = Math.fround(v);
  if (Number.isFinite(r) && !Object.is(r, -0) && (r === 0 || Math.abs(r) >= F32_MIN_NORMAL)) {
    const text = String(r);
    return r < 0 ? `(${text}f)` : `${text}f`;
  }
  const bits = new Uint32Array(new Float32Array([r]).buffer)[0];
  return Number.isFinite(r) ? `bitcast<f32>(0x${bits.toString(16)}u)` : `bitcast<f32>(k_zero | 0x${bits.toString(16)}u)`;
}

/** A literal of `v` in the compute type of `dtype`. */
export function literal(v: number, dtype: DType): string {
  return computeType(dtype) === "f32" ? f32(v) : i32(v);
}

export const WORKGROUP = 64;

/**
 * A 1-D launch of `count` invocations (workgroups of `size`): the workgroup counts (split over x
 * and y when there are more than the per-dimension limit) and the WGSL lines that define `t`, the
 * invocation's index, and return when it is past `count`. Only for shaders without barriers.
 */
export function flatLaunch(count: number, target: WgslTarget, size = WORKGROUP): { workgroups: [number, number, number]; header: string } {
  const groups = Math.max(1, Math.ceil(count / size));
  const x = Math.min(groups, target.maxWorkgroupsPerDimension);
  const y = Math.ceil(groups / x);
  if (y > target.maxWorkgroupsPerDimension) throw new Error(`webgpu: ${count} invocations exceed the dispatch limits`);
  const index = y > 1 ? `gid.x + gid.y * ${u32(x * size)}` : "gid.x";
  return {
    workgroups: [x, y, 1],
    header: `@compute @workgroup_size(${size})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = ${index};
  if (t >= ${u32(count)}) { return; }`,
  };
}

/**
 * One workgroup per item (`count` items): counts split over x and y, and the expression of the
 * item index `w`, uniform across the workgroup (so barriers after its bounds check are allowed).
 */
export function groupLaunch(count: number, target: WgslTarget): { workgroups: [number, number, number]; item: string } {
  const x = Math.min(Math.max(1, count), target.maxWorkgroupsPerDimension);
  const y = Math.ceil(Math.max(1, count) / x);
  return { workgroups: [x, y, 1], item: y > 1 ? `wid.x + wid.y * ${u32(x)}` : "wid.x" };
}

/** A pass from a shader body (the prelude is prepended, after any `enable` directives; HALF_PRELUDE when used). */
export function pass(label: string, code: string, workgroups: readonly [number, number, number], directives = ""): WgslPass {
  return { label, code: directives + PRELUDE + (USES_HALF.test(code) ? HALF_PRELUDE : "") + code, workgroups };
}

/**
 * WGSL computing the flat index into an operand read through `strides` (elements per step along
 * each of the result's axes, 0 where broadcast) from the result's flat index `i`, as one
 * expression over axes merged where possible (from map.ts's coalescing rule).
 */
export function stridedIndex(i: string, shape: readonly number[], strides: readonly number[], offset = 0): string {
  // Merge neighbours the operand steps through as one; drop size-1 axes.
  const axes: { size: number; stride: number }[] = [];
  shape.forEach((size, d) => {
    if (size === 1) return;
    const last = axes[axes.length - 1];
    if (last && last.stride === strides[d] * size) axes[axes.length - 1] = { size: last.size * size, stride: strides[d] };
    else axes.push({ size, stride: strides[d] });
  });
  const terms: string[] = [];
  let inner = 1;
  for (let k = axes.length - 1; k >= 0; k--) {
    const { size, stride } = axes[k];
    if (stride !== 0) {
      const q = inner === 1 ? i : `(${i} / ${u32(inner)})`;
      const coord = k === 0 ? q : `(${q} % ${u32(size)})`;
      terms.push(stride === 1 ? coord : `${coord} * ${u32(stride)}`);
    }
    inner *= size;
  }
  if (offset !== 0) terms.push(u32(offset));
  return terms.length ? `(${terms.join(" + ")})` : "0u";
}
