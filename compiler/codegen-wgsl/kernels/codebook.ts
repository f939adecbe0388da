// The WGSL kernel of codebookMatmul (ir/ops/codebook.ts): one invocation per result element, a
// loop over K that decodes each weight in the shader from the u32 arena (the index byte, its
// nibble for 4-bit and smaller tables, then the f32 table entry; an index past the table reads 0)
// and accumulates in f32. Correct, not tiled: the decoded weights are never stored anywhere.
// codebookConv2d likewise: one invocation per output element, a loop over the taps inside the
// image (padding taps add 0) and their channels, each filter weight decoded where it is read.

import { attr } from "../../ir/op-def.ts";
import { convGeometry } from "../../ir/ops/nn.ts";
import { indicesPerByte } from "../../ir/ops/codebook.ts";
import { signature } from "../../ir/dtypes.ts";
import type { WgslKernel, WgslKernelArgs, WgslKernelRegistration } from "../kernel.ts";
import { i32, load, u32 } from "../wgsl.ts";
import { elementMap } from "./map.ts";

/**
 * WGSL statements defining `w`, the weight at row `p` (a u32 expression), column `col` of the
 * weight stored as `indices` into `table` (an index past the table reads 0).
 */
function decodeWeight(a: WgslKernelArgs, p: string): string {
  const [, indices, table] = a.inputs;
  const bits = attr.num(a.node.attrs, "bits");
  const entries = 2 ** bits;
  const rowBytes = indices.type.shape[1];
  const nibbles = indicesPerByte(bits) === 2;
  const byteAt = nibbles ? `(${p}) * ${u32(rowBytes)} + (col >> 1u)` : `(${p}) * ${u32(rowBytes)} + col`;
  const index = nibbles
    ? `(u32(${load(indices.offset, "u8", byteAt)}) >> ((col & 1u) * 4u)) & 15u`
    : `u32(${load(indices.offset, "u8", byteAt)})`;
  return [
    `let q = ${index};`,
    `let w = select(0.0, ${load(table.offset, "f32", `min(q, ${u32(entries - 1)})`)}, q < ${u32(entries)});`,
  ].join(" ");
}

const codebookMatmul: WgslKernel = (a) => {
  const [x] = a.inputs;
  const n = attr.num(a.node.attrs, "n");
  const k = x.type.shape[x.type.shape.length - 1];
  const body = [
    `  let row = i / ${u32(n)};`,
    `  let col = i % ${u32(n)};`,
    "  var acc = 0.0;",
    `  for (var p = 0u; p < ${u32(k)}; p++) {`,
    `    ${decodeWeight(a, "p")}`,
    `    acc += ${load(x.offset, "f32", `row * ${u32(k)} + p`)} * w;`,
    "  }",
    "  return acc;",
  ].join("\n");
  return [elementMap(`codebookMatmul %${a.node.id}`, a.output, { body }, a.target)];
};

const codebookConv2d: WgslKernel = (a) => {
  const [x] = a.inputs;
  const [kh, kw] = attr.ints(a.node.attrs, "kernel");
  const [, inH, inW, channels] = x.type.shape;
  const o = attr.num(a.node.attrs, "n");
  const { win } = convGeometry("codebookConv2d", x.type, { dtype: "f32", shape: [kh, kw, channels, o] }, a.node.attrs);
  const body = [
    `  let col = i % ${u32(o)};`,
    `  let ox = i32((i / ${u32(o)}) % ${u32(win.outW)});`,
    `  let oy = i32((i / ${u32(o * win.outW)}) % ${u32(win.outH)});`,
    `  let n = i / ${u32(o * win.outW * win.outH)};`,
    "  var acc = 0.0;",
    `  for (var ky = 0; ky < ${i32(kh)}; ky++) {`,
    `    let iy = oy * ${i32(win.strideH)} - ${i32(win.padTop)} + ky * ${i32(win.dilationH)};`,
    `    if (iy < 0 || iy >= ${i32(inH)}) { continue; }`,
    `    for (var kx = 0; kx < ${i32(kw)}; kx++) {`,
    `      let ix = ox * ${i32(win.strideW)} - ${i32(win.padLeft)} + kx * ${i32(win.dilationW)};`,
    `      if (ix < 0 || ix >= ${i32(inW)}) { continue; }`,
    `      let xBase = ((n * ${u32(inH)} + u32(iy)) * ${u32(inW)} + u32(ix)) * ${u32(channels)};`,
    `      let row0 = (u32(ky) * ${u32(kw)} + u32(kx)) * ${u32(channels)};`,
    `      for (var ci = 0u; ci < ${u32(channels)}; ci++) {`,
    `        ${decodeWeight(a, "row0 + ci")}`,
    `        acc += ${load(x.offset, "f32", "xBase + ci")} * w;`,
    "      }",
    "    }",
    "  }",
    "  return acc;",
  ].join("\n");
  return [elementMap(`codebookConv2d %${a.node.id}`, a.output, { body }, a.target)];
};

const F32_U8_F32 = [signature(["f32", "u8", "f32"], "f32")];

export const CODEBOOK_KERNELS: readonly WgslKernelRegistration[] = [
  { op: "codebookMatmul", dtypes: F32_U8_F32, kernel: codebookMatmul },
  { op: "codebookConv2d", dtypes: F32_U8_F32, kernel: codebookConv2d },
];
