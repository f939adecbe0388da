// sparse24Matmul (ir/ops/sparse.ts, format in ir/sparse24.ts), as the WASM kernel
// (codegen-wasm/kernels/sparse24.ts) reads only the kept half: one invocation per result element
// y[m, c] sums, per group of four input rows, its two kept weights times the x elements at their
// rows (index, checked to be 0..3 when a weights file is loaded).

import type { WgslKernel, WgslKernelRegistration } from "../kernel.ts";
import { load, u32 } from "../wgsl.ts";
import { elementMap } from "./map.ts";

const sparse24Matmul: WgslKernel = (a) => {
  const [x, values, index] = a.inputs;
  const k = x.type.shape[x.type.shape.length - 1];
  const n = values.type.shape[0];
  const pick = (i: number) => {
    const at = `col * ${u32(k / 2)} + 2u * g + ${u32(i)}`;
    return `${load(x.offset, "f32", `row * ${u32(k)} + 4u * g + u32(${load(index.offset, "u8", at)})`)} * ${load(values.offset, "f32", at)}`;
  };
  const body = [
    `  let row = i / ${u32(n)};`,
    `  let col = i % ${u32(n)};`,
    "  var acc = 0.0;",
    `  for (var g = 0u; g < ${u32(k / 4)}; g++) {`,
    `    acc += ${pick(0)} + ${pick(1)};`,
    "  }",
    "  return acc;",
  ].join("\n");
  return [elementMap(`sparse24Matmul %${a.node.id}`, a.output, { body }, a.target)];
};

export const SPARSE24_KERNELS: readonly WgslKernelRegistration[] = [
  { op: "sparse24Matmul", dtypes: [{ operands: ["f32", "f32", "u8"], result: "f32" }], kernel: sparse24Matmul },
];
