// The WGSL kernel of codebookMatmul (ir/ops/codebook.ts): one invocation per result element, a
// loop over K that decodes each weight in the shader from the u32 arena (the index byte, its
// nibble for 4-bit and smaller tables, then the f32 table entry; an index past the table reads 0)
// and accumulates in f32. Correct, not tiled: the decoded weights are never stored anywhere.

import { attr } from "../../ir/op-def.ts";
import { indicesPerByte } from "../../ir/ops/codebook.ts";
import { signature } from "../../ir/dtypes.ts";
import type { WgslKernel, WgslKernelRegistration } from "../kernel.ts";
import { load, u32 } from "../wgsl.ts";
import { elementMap } from "./map.ts";

const codebookMatmul: WgslKernel = (a) => {
  const [x, indices, table] = a.inputs;
  const bits = attr.num(a.node.attrs, "bits");
  const n = attr.num(a.node.attrs, "n");
  const k = x.type.shape[x.type.shape.length - 1];
  const entries = 2 ** bits;
  const nibbles = indicesPerByte(bits) === 2;
  const rowBytes = indices.type.shape[1];
  const byteAt = nibbles ? "p * " + u32(rowBytes) + " + (col >> 1u)" : `p * ${u32(rowBytes)} + col`;
  const index = nibbles
    ? `(u32(${load(indices.offset, "u8", byteAt)}) >> ((col & 1u) * 4u)) & 15u`
    : `u32(${load(indices.offset, "u8", byteAt)})`;
  const body = [
    `  let row = i / ${u32(n)};`,
    `  let col = i % ${u32(n)};`,
    "  var acc = 0.0;",
    `  for (var p = 0u; p < ${u32(k)}; p++) {`,
    `    let q = ${index};`,
    `    let w = select(0.0, ${load(table.offset, "f32", `min(q, ${u32(entries - 1)})`)}, q < ${u32(entries)});`,
    `    acc += ${load(x.offset, "f32", `row * ${u32(k)} + p`)} * w;`,
    "  }",
    "  return acc;",
  ].join("\n");
  return [elementMap(`codebookMatmul %${a.node.id}`, a.output, { body }, a.target)];
};

export const CODEBOOK_KERNELS: readonly WgslKernelRegistration[] = [
  { op: "codebookMatmul", dtypes: [signature(["f32", "u8", "f32"], "f32")], kernel: codebookMatmul },
];
