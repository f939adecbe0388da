// WGSL text shared by every kernel: the arena binding with typed loads and stores, literals, index
// arithmetic and the dispatch grid.
//
// The arena is ONE storage buffer, `array<u32>`, bound once at @group(0) @binding(0), with the
// same byte layout as the WASM backend's memory (so weights files and plans are interchangeable):
//   f32, i32      one word each; word index = byte offset / 4 (slots are 16-byte aligned)
//   i8, u8, bool  one byte each, packed four to a little-endian word; byte index = offset + i
// Kernels compute f32 values as f32 and every integer dtype (and bool, as 0/1) as i32, like the
// WASM kernels' 32-bit integer lanes; a byte store keeps the low 8 bits, which reproduces the
// interpreter's wrap-around. Loads take the element's word index (4-byte dtypes) or byte index
// (1-byte dtypes) as u32.
//
// NaN tests go through the bits (is_nan): SwiftShader evaluates `NaN != 0.0` as false (an ordered
// comparison, which WGSL's loose NaN rules permit), so no comparison is trusted to see NaN.
//
// Byte tensors are written a whole word at a time by one invocation (see elementMap in
// kernels/map.ts), since WGSL has no byte stores and two invocations must not race on one word.

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

/** Bytes of one stored element. */
export function elementBytes(dtype: DType): 1 | 4 {
  if (dtype === "f32" || dtype === "i32") return 4;
  if (dtype === "u8" || dtype === "i8" || dtype === "bool") return 1;
  throw new Error(`webgpu: ${dtype} storage is not supported yet (use f32)`);
}

/** The WGSL type a dtype computes in. */
export function computeType(dtype: DType): "f32" | "i32" {
  return dtype === "f32" || dtype === "f16" || dtype === "bf16" ? "f32" : "i32";
}

/** The element index (word or byte) of a tensor's first element. */
export function baseIndex(offset: number, dtype: DType): number {
  const bytes = elementBytes(dtype);
  if (bytes === 4 && offset % 4 !== 0) throw new Error(`webgpu: a ${dtype} tensor at byte offset ${offset} is not word-aligned`);
  return bytes === 4 ? offset / 4 : offset;
}

/** The WGSL expression loading element `index` (a u32 expression) of a tensor at `offset`. */
export function load(offset: number, dtype: DType, index: string): string {
  const base = baseIndex(offset, dtype);
  const at = base === 0 ? index : `${u32(base)} + ${index}`;
  const fn = dtype === "bool" ? "ld_u8" : `ld_${dtype === "f32" ? "f32" : dtype}`;
  return `${fn}(${at})`;
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

/** A pass from a shader body (the prelude is prepended, after any `enable` directives). */
export function pass(label: string, code: string, workgroups: readonly [number, number, number], directives = ""): WgslPass {
  return { label, code: directives + PRELUDE + code, workgroups };
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
