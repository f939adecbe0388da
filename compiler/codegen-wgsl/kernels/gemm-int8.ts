// matmulInteger and convInteger with WGSL's packed 4×8-bit dot products (the `packed_4x8_integer_dot_product`
// language feature: dot4I8Packed, dot4U8Packed), for targets whose adapter has it
// (WgslTarget.packedIntegerDot; kernels/quant.ts keeps the one-product-a-step kernels otherwise).
//
// One invocation per row and 4 adjacent columns; per 4 k steps it reads one word of A (4 k of
// its row, as stored) and one word of B per k step (4 columns of that row), turns the 4 B words
// into 4 column words (4 k each) with a 4×4 byte transpose, and does 4 dots. The operands are
// read from the arena as they are: no packing pass and no workspace. A word of either operand
// that does not start a u32 (an odd K or N, or an offset not a multiple of 4) is read as two
// words funnel-shifted together.
//
// Signedness: dot4I8Packed multiplies i8 × i8, dot4U8Packed u8 × u8. The mixed pairs use
// u = (u ^ 0x80) + 128 bytewise, where u ^ 0x80 read as i8 is u − 128:
//   u8 A × i8 B  = dot4I8Packed(a ^ 0x80808080, b) + 128 · Σ b   (Σ b = dot4I8Packed(0x01010101, b))
//   i8 A × u8 B  = dot4I8Packed(a, b ^ 0x80808080) + 128 · Σ a
// Every step is exact in i32 (|4 products| ≤ 4·255²) and the sums wrap modulo 2^32 like the
// WASM kernel's (docs/PRECISION.md). Past K, the last group's A bytes are masked to 0 after the
// ^0x80 (so they add nothing whatever B holds there), and its B rows are clamped to row K−1.

import type { Attrs } from "../../ir/graph.ts";
import { attr } from "../../ir/op-def.ts";
import { convIntegerGeometry } from "../../ir/ops/quant.ts";
import { numel, type DType, type TensorType } from "../../ir/types.ts";
import type { WgslKernelArgs, WgslPass } from "../kernel.ts";
import { flatLaunch, i32, pass, u32 } from "../wgsl.ts";

export const PACKED_DOT_FEATURE = "packed_4x8_integer_dot_product";

/** The WGSL reading the 4 bytes at byte address `b` (an expression) as a word, aligned or not. */
const WORD_AT = `fn ld_word(b: u32) -> u32 {
  let s = (b & 3u) * 8u;
  let lo = arena[b >> 2u] >> s;
  if (s == 0u) { return lo; }
  return lo | (arena[(b >> 2u) + 1u] << (32u - s));
}
`;

/** Columns 0..3 of the 4×4 byte matrix whose rows are words r0..r3 (byte c of row t → byte t of column c). */
const TRANSPOSE = `fn columns(r0: u32, r1: u32, r2: u32, r3: u32) -> vec4<u32> {
  let t0 = (r0 & 0x00ff00ffu) | ((r1 & 0x00ff00ffu) << 8u);
  let t1 = ((r0 >> 8u) & 0x00ff00ffu) | (r1 & 0xff00ff00u);
  let t2 = (r2 & 0x00ff00ffu) | ((r3 & 0x00ff00ffu) << 8u);
  let t3 = ((r2 >> 8u) & 0x00ff00ffu) | (r3 & 0xff00ff00u);
  return vec4<u32>((t0 & 0xffffu) | (t2 << 16u), (t1 & 0xffffu) | (t3 << 16u), (t0 >> 16u) | (t2 & 0xffff0000u), (t1 >> 16u) | (t3 & 0xffff0000u));
}
`;

/** A word read at byte address `at` (WGSL u32 expression); a plain arena read where `aligned`. */
const word = (aligned: boolean, at: string) => (aligned ? `arena[(${at}) >> 2u]` : `ld_word(${at})`);

/** The WGSL terms of a dot of an A-side word `aw` (masked, a u8 A against an i8 B already sign-flipped) with column words. */
function dotTerms(ad: DType, bd: DType) {
  const both = (d: DType) => ad === d && bd === d;
  return {
    /** Σ a·b over the 4 lanes, or its part before the 128·Σ correction of a mixed pair. */
    dot: (c: string) => (both("u8") ? `i32(dot4U8Packed(aw, ${c}))` : bd === "u8" && ad === "i8" ? `dot4I8Packed(aw, ${c} ^ 0x80808080u)` : `dot4I8Packed(aw, ${c})`),
    /** The A word as read: a u8 A against an i8 B is sign-flipped (u − 128). */
    flip: ad === "u8" && bd === "i8" ? " ^ 0x80808080u" : "",
    /** Σ b of a column word (bytes past K masked by `ones`). */
    sumB: (c: string) => (bd === "u8" ? `i32(dot4U8Packed(ones, ${c}))` : `dot4I8Packed(ones, ${c})`),
    /** Σ a of the A word (its bytes past K already 0). */
    sumA: () => "dot4I8Packed(aw, 0x01010101u)",
    /** Which sums the mixed pairs add 128 times. */
    correction: ad === "u8" && bd === "i8" ? "b" as const : ad === "i8" && bd === "u8" ? "a" as const : undefined,
  };
}

const LANES = [0, 1, 2, 3];

/** The mask of the bytes of the last group of 4 that exist when `count` is not a multiple of 4. */
const tailMask = (count: number) => u32(count % 4 === 0 ? 0xffffffff : (2 ** (8 * (count % 4)) - 1) >>> 0);

export function packedMatmulInteger(a: WgslKernelArgs): WgslPass[] {
  const [x, w] = a.inputs;
  const [k, n] = w.type.shape;
  const m = numel(x.type.shape.slice(0, -1));
  const groups = Math.ceil(k / 4);
  const colGroups = Math.ceil(n / 4);
  const launch = flatLaunch(m * colGroups, a.target);
  const aAligned = x.offset % 4 === 0 && k % 4 === 0;
  const bAligned = w.offset % 4 === 0 && n % 4 === 0;
  const t = dotTerms(x.type.dtype, w.type.dtype);
  const bRow = (r: number) => (k % 4 === 0 ? `p + ${u32(r)}` : `min(p + ${u32(r)}, ${u32(k - 1)})`);
  const code = `${aAligned && bAligned ? "" : WORD_AT}${TRANSPOSE}${launch.header}
  let row = t / ${u32(colGroups)};
  let col = (t % ${u32(colGroups)}) * 4u;
  var acc = vec4<i32>(0i);
  var corr = vec4<i32>(0i);
  for (var g = 0u; g < ${u32(groups)}; g++) {
    let p = g * 4u;
    // The bytes past K (last group only) are 0, after the sign flip of a u8 A.
    let mask = select(0xffffffffu, ${tailMask(k)}, g == ${u32(Math.max(groups, 1) - 1)});
    let ones = 0x01010101u & mask;
    let aw = (${word(aAligned, `${u32(x.offset)} + row * ${u32(k)} + p`)}${t.flip}) & mask;
    let c = columns(${LANES.map((r) => word(bAligned, `${u32(w.offset)} + (${bRow(r)}) * ${u32(n)} + col`)).join(", ")});
${LANES.map((j) => `    acc[${j}] += ${t.dot(`c[${j}]`)};`).join("\n")}
${t.correction === "b" ? LANES.map((j) => `    corr[${j}] += ${t.sumB(`c[${j}]`)};`).join("\n") : t.correction === "a" ? `    corr += vec4<i32>(${t.sumA()});` : ""}
  }
  acc += corr * 128i;
  let out = ${u32(a.output.offset / 4)} + row * ${u32(n)} + col;
${storeColumns(n)}
}
`;
  return [pass(`matmulInteger %${a.node.id} (dot4 packed)`, code, launch.workgroups, `requires ${PACKED_DOT_FEATURE};\n`)];
}

/** Stores acc's 4 lanes to out + j for the columns col + j below `n`. */
const storeColumns = (n: number) => LANES.map((j) => `  ${j === 0 ? "" : `if (col + ${u32(j)} < ${u32(n)}) `}{ st_i32(out + ${u32(j)}, acc[${j}]); }`).join("\n");

/**
 * Whether convInteger can run packed: 4 adjacent output channels must share their group (one
 * group, or a multiple of 4 channels per group).
 */
export function packedConvIntegerFits(w: TensorType, attrs: Attrs): boolean {
  const groups = attr.num(attrs, "groups");
  return groups === 1 || (w.shape[3] / groups) % 4 === 0;
}

/** What both convInteger kernels read of the node: operands, window, NHWC/HWIO sizes, groups, zero point. */
export function convIntegerShape(a: WgslKernelArgs) {
  const [x, w] = a.inputs;
  const { win } = convIntegerGeometry(x.type, w.type, a.node.attrs);
  const [, inH, inW, channels] = x.type.shape;
  const [kh, kw, cg, o] = w.type.shape;
  const groupOut = o / attr.num(a.node.attrs, "groups");
  const z = attr.num(a.node.attrs, "inputZeroPoint");
  return { x, w, win, inH, inW, channels, kh, kw, cg, o, groupOut, z };
}

/**
 * convInteger as matmulInteger above, with the taps as the outer loop: one invocation per output
 * pixel and 4 output channels; per tap inside the image, the tap's channels of x (contiguous in
 * NHWC) against w's [C/groups, O] slice of the tap, 4 channels a dot. The zero point comes out
 * of the sums: Σ (x − z)·w = Σ x·w − z·Σ w.
 */
export function packedConvInteger(a: WgslKernelArgs): WgslPass[] {
  const { x, w, win, inH, inW, channels, kh, kw, cg, o, groupOut, z } = convIntegerShape(a);
  const pixels = numel(a.output.type.shape) / Math.max(o, 1);
  const colGroups = Math.ceil(o / 4);
  const launch = flatLaunch(pixels * colGroups, a.target);
  const groups = Math.ceil(cg / 4);
  const aAligned = x.offset % 4 === 0 && channels % 4 === 0 && cg % 4 === 0;
  const bAligned = w.offset % 4 === 0 && o % 4 === 0;
  const t = dotTerms(x.type.dtype, w.type.dtype);
  const bRow = (r: number) => (cg % 4 === 0 ? `p + ${u32(r)}` : `min(p + ${u32(r)}, ${u32(cg - 1)})`);
  const needSumB = t.correction === "b" || z !== 0;
  const code = `${aAligned && bAligned ? "" : WORD_AT}${TRANSPOSE}${launch.header}
  let col = (t % ${u32(colGroups)}) * 4u;
  let pixel = t / ${u32(colGroups)};
  let ox = i32(pixel % ${u32(win.outW)});
  let oy = i32((pixel / ${u32(win.outW)}) % ${u32(win.outH)});
  let n = pixel / ${u32(win.outW * win.outH)};
  let c0 = (col / ${u32(groupOut)}) * ${u32(cg)};
  var acc = vec4<i32>(0i);
  var sumA = 0i;
  var sumB = vec4<i32>(0i);
  for (var ky = 0; ky < ${i32(kh)}; ky++) {
    let iy = oy * ${i32(win.strideH)} - ${i32(win.padTop)} + ky * ${i32(win.dilationH)};
    if (iy < 0 || iy >= ${i32(inH)}) { continue; }
    for (var kx = 0; kx < ${i32(kw)}; kx++) {
      let ix = ox * ${i32(win.strideW)} - ${i32(win.padLeft)} + kx * ${i32(win.dilationW)};
      if (ix < 0 || ix >= ${i32(inW)}) { continue; }
      let xBase = ${u32(x.offset)} + ((n * ${u32(inH)} + u32(iy)) * ${u32(inW)} + u32(ix)) * ${u32(channels)} + c0;
      let wBase = ${u32(w.offset)} + (u32(ky) * ${u32(kw)} + u32(kx)) * ${u32(cg * o)} + col;
      for (var g = 0u; g < ${u32(groups)}; g++) {
        let p = g * 4u;
        let mask = select(0xffffffffu, ${tailMask(cg)}, g == ${u32(Math.max(groups, 1) - 1)});
        let ones = 0x01010101u & mask;
        let aw = (${word(aAligned, "xBase + p")}${t.flip}) & mask;
        let c = columns(${LANES.map((r) => word(bAligned, `wBase + (${bRow(r)}) * ${u32(o)}`)).join(", ")});
${LANES.map((j) => `        acc[${j}] += ${t.dot(`c[${j}]`)};`).join("\n")}
${needSumB ? LANES.map((j) => `        sumB[${j}] += ${t.sumB(`c[${j}]`)};`).join("\n") : ""}
${t.correction === "a" ? `        sumA += ${t.sumA()};` : ""}
      }
    }
  }
  acc += sumB * ${i32((t.correction === "b" ? 128 : 0) - z)} + vec4<i32>(sumA * ${i32(t.correction === "a" ? 128 : 0)});
  let out = ${u32(a.output.offset / 4)} + pixel * ${u32(o)} + col;
${storeColumns(o)}
}
`;
  return [pass(`convInteger %${a.node.id} (dot4 packed)`, code, launch.workgroups, `requires ${PACKED_DOT_FEATURE};\n`)];
}
