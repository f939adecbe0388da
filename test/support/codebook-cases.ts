// Graphs of codebookMatmul cases for the backend kernel tests (test/codegen-wasm/
// wasm-codebook.test.ts, test/codegen-wgsl/wgsl-codebook.test.ts): "exact" values (x in quarters
// of [-1, 1], centroids in 1024ths of [-2, 2], K <= 600: every f32 partial sum is exact in any
// order, so a kernel must equal the interpreter bit for bit) or "random" f32 ones; index bytes
// take every value, so nibbles past a 3-bit table and bytes past a 5..7-bit one occur (they read 0).

import { GraphBuilder } from "../../compiler/ir/builder.ts";
import { codebookIndexShape } from "../../compiler/ir/ops/codebook.ts";

/** Deterministic integers in [0, range) (an LCG). */
function ints(n: number, seed: number, range: number): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % range;
  });
}
const numel = (shape: readonly number[]) => shape.reduce((p, d) => p * d, 1);

export type CodebookCase = readonly [xShape: number[], n: number, bits: number];

/** One graph with a codebookMatmul per case (inputs x<c>, i<c>, t<c>; output y<c>). */
export function codebookGraph(cases: readonly CodebookCase[], values: "exact" | "random") {
  const b = new GraphBuilder(`codebook_${values}`);
  const inputs: Record<string, number[]> = {};
  cases.forEach(([xShape, n, bits], c) => {
    const k = xShape[xShape.length - 1];
    const x = b.addInput({ name: `x${c}`, type: { dtype: "f32", shape: xShape } });
    const idxShape = codebookIndexShape(k, n, bits);
    const idx = b.addInput({ name: `i${c}`, type: { dtype: "u8", shape: idxShape } });
    const table = b.addInput({ name: `t${c}`, type: { dtype: "f32", shape: [2 ** bits] } });
    inputs[`x${c}`] = values === "exact" ? ints(numel(xShape), 3 + c, 9).map((v) => (v - 4) / 4) : ints(numel(xShape), 3 + c, 100001).map((v) => Math.fround(v / 50000 - 1));
    // Every byte value: nibbles past a 3-bit table and bytes past a 5..7-bit one included.
    inputs[`i${c}`] = ints(numel(idxShape), 101 + c, 256);
    inputs[`t${c}`] = values === "exact" ? ints(2 ** bits, 57 + c, 4097).map((v) => (v - 2048) / 1024) : ints(2 ** bits, 57 + c, 100001).map((v) => Math.fround(v / 25000 - 2));
    b.output(`y${c}`, b.op("codebookMatmul", [x, idx, table], { bits, n }));
  });
  return { graph: b.build(), inputs };
}

/**
 * Shapes [x, N] around the 4x8 tile, odd K, batch axes, K past one 256-deep block; and 1 to 3 rows
 * (the unpacked path for 4-bit indices) with N around its 16-column blocks.
 */
export const CODEBOOK_SHAPES: readonly (readonly [number[], number])[] = [
  [[4, 8], 8], [[1, 1], 1], [[3, 5], 7], [[5, 3], 9], [[7, 15], 17], [[8, 9], 16], [[9, 33], 23], [[13, 64], 31],
  [[70, 19], 12], [[2, 3, 5, 21], 10], [[6, 300], 13], [[2, 2, 6], 40],
  [[1, 37], 19], [[2, 16], 48], [[3, 9], 33], [[1, 300], 16], [[1, 3, 20], 35], [[2, 1], 15],
];

export type CodebookConvCase = readonly [xShape: number[], kernel: [number, number], out: number, bits: number, attrs: Record<string, string | number[]>];

/** One graph with a codebookConv2d per case (inputs x<c>, i<c>, t<c>; output y<c>), values as codebookGraph's. */
export function codebookConvGraph(cases: readonly CodebookConvCase[], values: "exact" | "random") {
  const b = new GraphBuilder(`codebook_conv_${values}`);
  const inputs: Record<string, number[]> = {};
  cases.forEach(([xShape, [kh, kw], o, bits, attrs], c) => {
    const k = kh * kw * xShape[3];
    const x = b.addInput({ name: `x${c}`, type: { dtype: "f32", shape: xShape } });
    const idxShape = codebookIndexShape(k, o, bits);
    const idx = b.addInput({ name: `i${c}`, type: { dtype: "u8", shape: idxShape } });
    const table = b.addInput({ name: `t${c}`, type: { dtype: "f32", shape: [2 ** bits] } });
    inputs[`x${c}`] = values === "exact" ? ints(numel(xShape), 3 + c, 9).map((v) => (v - 4) / 4) : ints(numel(xShape), 3 + c, 100001).map((v) => Math.fround(v / 50000 - 1));
    inputs[`i${c}`] = ints(numel(idxShape), 101 + c, 256);
    inputs[`t${c}`] = values === "exact" ? ints(2 ** bits, 57 + c, 4097).map((v) => (v - 2048) / 1024) : ints(2 ** bits, 57 + c, 100001).map((v) => Math.fround(v / 25000 - 2));
    b.output(`y${c}`, b.op("codebookConv2d", [x, idx, table], { ...attrs, bits, kernel: [kh, kw], n: o }));
  });
  return { graph: b.build(), inputs };
}

/** Convolutions: padding same and valid, explicit pads, stride 2, dilation, 1x1, odd channels and O, batch 2, depth past 256. */
export const CODEBOOK_CONVS = (bits: number): CodebookConvCase[] => [
  [[2, 6, 5, 3], [3, 3], 5, bits, { padding: "same" }],
  [[1, 7, 7, 1], [3, 3], 8, bits, { padding: "valid" }],
  [[1, 9, 8, 4], [3, 2], 17, bits, { stride: [2, 2], padding: "explicit", pads: [1, 0, 2, 1] }],
  [[1, 8, 8, 2], [3, 3], 3, bits, { padding: "same", dilation: [2, 2] }],
  [[2, 4, 4, 6], [1, 1], 9, bits, { padding: "valid" }],
  [[1, 5, 5, 40], [3, 3], 7, bits, { padding: "same" }],
  [[1, 14, 14, 8], [3, 3], 16, bits, { padding: "same" }],
];
