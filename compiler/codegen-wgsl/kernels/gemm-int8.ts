// matmulInteger with WGSL's packed 4×8-bit dot products (the `packed_4x8_integer_dot_product`
// language feature: dot4I8Packed, dot4U8Packed), for targets whose adapter has it
// (WgslTarget.packedIntegerDot; kernels/quant.ts keeps the one-product-a-step kernel otherwise).
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

import { numel } from "../../ir/types.ts";
import type { WgslKernelArgs, WgslPass } from "../kernel.ts";
import { flatLaunch, pass, u32 } from "../wgsl.ts";

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

export function packedMatmulInteger(a: WgslKernelArgs): WgslPass[] {
  const [x, w] = a.inputs;
  const [k, n] = w.type.shape;
  const m = numel(x.type.shape.slice(0, -1));
  const ad = x.type.dtype;
  const bd = w.type.dtype;
  const groups = Math.ceil(k / 4);
  const tail = k % 4; // k steps in the last group when K is not a multiple of 4
  const colGroups = Math.ceil(n / 4);
  const launch = flatLaunch(m * colGroups, a.target);
  const aAligned = x.offset % 4 === 0 && k % 4 === 0;
  const bAligned = w.offset % 4 === 0 && n % 4 === 0;
  const mixed = ad !== bd;
  // The dot of A word `aw` (masked) with column word `c`, and the Σ term of a mixed pair.
  const dot = ad === "u8" && bd === "u8" ? (c: string) => `i32(dot4U8Packed(aw, ${c}))`
    : ad === "u8" ? (c: string) => `dot4I8Packed(aw, ${c})`
      : bd === "u8" ? (c: string) => `dot4I8Packed(aw, ${c} ^ 0x80808080u)`
        : (c: string) => `dot4I8Packed(aw, ${c})`;
  const sum = ad === "u8" ? (c: string) => `dot4I8Packed(ones, ${c})` : () => "dot4I8Packed(aw, 0x01010101u)";
  const lanes = [0, 1, 2, 3];
  const bRow = (t: number) => (tail === 0 ? `p + ${u32(t)}` : `min(p + ${u32(t)}, ${u32(k - 1)})`);
  const code = `${aAligned && bAligned ? "" : WORD_AT}${TRANSPOSE}${launch.header}
  let row = t / ${u32(colGroups)};
  let col = (t % ${u32(colGroups)}) * 4u;
  var acc = vec4<i32>(0i);
  ${mixed ? "var corr = vec4<i32>(0i);" : ""}
  for (var g = 0u; g < ${u32(groups)}; g++) {
    let p = g * 4u;
    // The bytes past K (last group only) are 0, after the sign flip of a u8 A.
    let mask = select(0xffffffffu, ${u32(tail === 0 ? 0xffffffff : (2 ** (8 * tail) - 1) >>> 0)}, g == ${u32(Math.max(groups, 1) - 1)});
    let ones = 0x01010101u & mask;
    let aw = (${word(aAligned, `${u32(x.offset)} + row * ${u32(k)} + p`)}${ad === "u8" && bd === "i8" ? " ^ 0x80808080u" : ""}) & mask;
    let c = columns(${[0, 1, 2, 3].map((t) => word(bAligned, `${u32(w.offset)} + (${bRow(t)}) * ${u32(n)} + col`)).join(", ")});
${lanes.map((j) => `    acc[${j}] += ${dot(`c[${j}]`)};`).join("\n")}
${mixed ? lanes.map((j) => `    corr[${j}] += ${sum(`c[${j}]`)};`).join("\n") : ""}
  }
  ${mixed ? "acc += corr * 128i;" : ""}
  let out = ${u32(a.output.offset / 4)} + row * ${u32(n)} + col;
${lanes.map((j) => `  ${j === 0 ? "" : `if (col + ${u32(j)} < ${u32(n)}) `}{ st_i32(out + ${u32(j)}, acc[${j}]); }`).join("\n")}
}
`;
  return [pass(`matmulInteger %${a.node.id} (dot4 packed)`, code, launch.workgroups, `requires ${PACKED_DOT_FEATURE};\n`)];
}
