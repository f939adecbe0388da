// blockSparseMatmul (ir/ops/sparse.ts, format in ir/block-sparse.ts), as the WASM kernel
// (codegen-wasm/kernels/block-sparse.ts) skips zero blocks: one invocation per result element
// y[m, c] walks only the kept blocks of c's block column j = c / 4, reading lane c % 4 of each
// block's weights and x[m, rows[p]]. The structure is checked when a weights file is loaded
// (runtime/bundle-io.js), so the loop bounds and row indices stay inside their tensors.

import { attr } from "../../ir/op-def.ts";
import { BLOCK_COLS } from "../../ir/block-sparse.ts";
import type { WgslKernel, WgslKernelRegistration } from "../kernel.ts";
import { load, u32 } from "../wgsl.ts";
import { elementMap } from "./map.ts";

const blockSparseMatmul: WgslKernel = (a) => {
  const [x, values, rows, starts] = a.inputs;
  const n = attr.num(a.node.attrs, "n");
  const k = x.type.shape[x.type.shape.length - 1];
  const body = [
    `  let row = i / ${u32(n)};`,
    `  let col = i % ${u32(n)};`,
    `  let j = col / ${u32(BLOCK_COLS)};`,
    `  let lane = col % ${u32(BLOCK_COLS)};`,
    `  let end = u32(${load(starts.offset, "i32", "j + 1u")});`,
    "  var acc = 0.0;",
    `  for (var p = u32(${load(starts.offset, "i32", "j")}); p < end; p++) {`,
    `    let r = u32(${load(rows.offset, "i32", "p")});`,
    `    acc += ${load(x.offset, "f32", `row * ${u32(k)} + r`)} * ${load(values.offset, "f32", `p * ${u32(BLOCK_COLS)} + lane`)};`,
    "  }",
    "  return acc;",
  ].join("\n");
  return [elementMap(`blockSparseMatmul %${a.node.id}`, a.output, { body }, a.target)];
};

export const SPARSE_KERNELS: readonly WgslKernelRegistration[] = [
  { op: "blockSparseMatmul", dtypes: [{ operands: ["f32", "f32", "i32", "i32"], result: "f32" }], kernel: blockSparseMatmul },
];
