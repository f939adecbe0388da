// Codebook (weight-sharing) contraction: Deep Compression's k-means quantization of a dense
// layer's weights (docs/IR.md "Codebook quantization"). The weight W [K, N] is stored as small
// integer indices into a table of 2^bits f32 centroids, and
//
//   codebookMatmul(x [..., M, K] f32, indices u8, table f32 [2^bits], {bits, n}) = x · W,
//   W[k, j] = table[index(k, j)]
//
// codebookConv2d is conv2d's twin (groups 1): its filter [kh, kw, C, O] is stored the same way as
// the [kh*kw*C, O] matrix it is in memory (the rows of an im2col GEMM), `kernel` giving [kh, kw].
//
// Indices are packed by rows of W: with bits <= 4 two per byte (column 2c in the low nibble of
// byte c of the row, column 2c+1 in the high nibble; a row has ceil(N/2) bytes, the last high
// nibble unused when N is odd), with 5 to 8 bits one per byte. So `indices` is u8 [K, ceil(N/2)]
// or u8 [K, N], and `n` says N (which ceil(N/2) does not). An index past the table (a nibble of
// 8..15 with a 3-bit table) reads 0, in the interpreter and in every kernel.
//
// The op is one contraction rather than a decode op feeding matmul because the kernels must never
// hold a decoded f32 copy of W: the WASM GEMM decodes while it packs each block of B (that copy is
// the GEMM's own packing workspace, KC rows at a time), WGSL in the shader. Decoding is exact (a
// table lookup), so the tolerance is matmul's. Activations stay f32; the layer's bias add stays an
// f32 add after it.

import type { Attrs } from "../graph.ts";
import { attr, type OpDef } from "../op-def.ts";
import { formatType, numel, ShapeError, type TensorType } from "../types.ts";
import { noCotangents } from "../vjp-kit.ts";
import { CONV_ATTRS, convGeometry, filterTaps, NN_OPS } from "./nn.ts";

/** Bits of an index a codebook may have (the table holds 2^bits entries). */
export const CODEBOOK_BITS = { min: 1, max: 8 } as const;

/** Indices per byte of the packed index tensor. */
export const indicesPerByte = (bits: number): 1 | 2 => (bits <= 4 ? 2 : 1);

/** The packed index tensor's shape for a [k, n] weight. */
export function codebookIndexShape(k: number, n: number, bits: number): [number, number] {
  return [k, Math.ceil(n / indicesPerByte(bits))];
}

/** Packs indices (row-major [k, n], each < 2^bits) into the index tensor's bytes. */
export function packCodebookIndices(idx: ArrayLike<number>, k: number, n: number, bits: number): Uint8Array {
  const [, row] = codebookIndexShape(k, n, bits);
  const out = new Uint8Array(k * row);
  const per = indicesPerByte(bits);
  for (let p = 0; p < k; p++) {
    for (let j = 0; j < n; j++) {
      const v = idx[p * n + j];
      if (per === 2) out[p * row + (j >> 1)] |= (v & 15) << (4 * (j & 1));
      else out[p * row + j] = v;
    }
  }
  return out;
}

/** The index of W[p, j] in the packed bytes (of a row of `row` bytes). */
export function codebookIndexAt(bytes: ArrayLike<number>, row: number, p: number, j: number, bits: number): number {
  if (indicesPerByte(bits) === 1) return bytes[p * row + j];
  return (bytes[p * row + (j >> 1)] >> (4 * (j & 1))) & 15;
}

/** W decoded to float64, row-major [k, n] (the interpreter's and the tests' oracle). */
export function decodeCodebook(bytes: ArrayLike<number>, table: ArrayLike<number>, k: number, n: number, bits: number): Float64Array {
  const [, row] = codebookIndexShape(k, n, bits);
  const w = new Float64Array(k * n);
  for (let p = 0; p < k; p++) {
    for (let j = 0; j < n; j++) {
      const i = codebookIndexAt(bytes, row, p, j, bits);
      w[p * n + j] = i < table.length ? table[i] : 0;
    }
  }
  return w;
}

const BITS_ATTR = { kind: "int", doc: "bits per index (1..8): 2 indices per byte up to 4, 1 per byte above" } as const;

/** Checks bits, the table and the packed indices of a [k, n] weight; `what` describes the rows. */
function checkCodebook(op: string, indices: TensorType, table: TensorType, bits: number, k: number, n: number, what: string): void {
  if (!Number.isInteger(bits) || bits < CODEBOOK_BITS.min || bits > CODEBOOK_BITS.max) {
    throw new ShapeError(`${op}: bits must be an integer in [${CODEBOOK_BITS.min}, ${CODEBOOK_BITS.max}], got ${bits}`);
  }
  if (!Number.isInteger(n) || n < 0) throw new ShapeError(`${op}: n must be a non-negative integer, got ${n}`);
  if (table.dtype !== "f32" || table.shape.length !== 1 || table.shape[0] !== 2 ** bits) {
    throw new ShapeError(`${op}: table must be f32[${2 ** bits}] (2^bits centroids), got ${formatType(table)}`);
  }
  const want = codebookIndexShape(k, n, bits);
  if (indices.dtype !== "u8" || indices.shape.length !== 2 || indices.shape[0] !== want[0] || indices.shape[1] !== want[1]) {
    const how = indicesPerByte(bits) === 2 ? `two ${bits}-bit indices per byte` : "one index per byte";
    throw new ShapeError(`${op}: indices must be u8[${want.join(",")}] (${what} of ${n} columns, ${how}), got ${formatType(indices)}`);
  }
}

const codebookMatmul: OpDef = {
  name: "codebookMatmul",
  summary: "x[..., M, K] (f32) times a weight [K, N] stored as packed u8 indices into an f32 table of 2^bits centroids",
  kind: "contraction",
  operands: ["x", "indices", "table"],
  attrs: {
    bits: BITS_ATTR,
    n: { kind: "int", doc: "N, the weight's columns" },
  },
  tolerance: 1e-4,
  // Computes in f32 whatever the storage: under --precision its x is widened (the table is f32).
  f32Only: true,
  infer([x, indices, table], attrs) {
    if (x.dtype !== "f32") throw new ShapeError(`codebookMatmul: x must be f32, got ${formatType(x)}`);
    if (x.shape.length < 2) throw new ShapeError(`codebookMatmul: x must have rank >= 2 ([..., M, K]), got ${formatType(x)}`);
    const k = x.shape[x.shape.length - 1];
    const n = attr.num(attrs, "n");
    checkCodebook("codebookMatmul", indices, table, attr.num(attrs, "bits"), k, n, `K ${k} rows`);
    return { dtype: "f32", shape: [...x.shape.slice(0, -1), n] };
  },
  interpret([x, indices, table], attrs, out) {
    const bits = attr.num(attrs, "bits");
    const n = attr.num(attrs, "n");
    const k = x.type.shape[x.type.shape.length - 1];
    const w = decodeCodebook(indices.data, table.data, k, n, bits);
    const rows = numel(x.type.shape.slice(0, -1));
    const result = new Float64Array(numel(out.shape));
    for (let i = 0; i < rows; i++) {
      for (let p = 0; p < k; p++) {
        const xip = x.data[i * k + p];
        for (let j = 0; j < n; j++) result[i * n + j] += xip * w[p * n + j];
      }
    }
    return result;
  },
  // Inference only: the weights are fixed indices and centroids (no straight-through rule here).
  vjp: noCotangents,
  // 2 per multiply-add, as matmul (the decode is a table lookup per weight, not counted).
  flops(node, [x]) {
    return 2 * numel(node.type.shape) * x.shape[x.shape.length - 1];
  },
};

/** The filter [kh, kw, C, O] a codebookConv2d decodes, as a stand-in type for conv2d's rules. */
function codebookFilter(op: string, x: TensorType, attrs: Attrs): TensorType {
  const kernel = attr.ints(attrs, "kernel");
  if (kernel.length !== 2 || kernel.some((d) => !Number.isInteger(d) || d < 1)) throw new ShapeError(`${op}: kernel must be [kh, kw], two sizes >= 1, got [${kernel.join(",")}]`);
  if (attr.num(attrs, "groups") !== 1) throw new ShapeError(`${op}: only groups = 1 (got ${attr.num(attrs, "groups")})`);
  if (x.dtype !== "f32") throw new ShapeError(`${op}: x must be f32, got ${formatType(x)}`);
  if (x.shape.length !== 4) throw new ShapeError(`${op}: x must be NHWC (rank 4), got ${formatType(x)}`);
  return { dtype: "f32", shape: [kernel[0], kernel[1], x.shape[3], attr.num(attrs, "n")] };
}

const CONV2D = NN_OPS.find((op) => op.name === "conv2d")!;

const codebookConv2d: OpDef = {
  name: "codebookConv2d",
  summary: "2-D convolution (groups 1) of x NHWC (f32) with a filter [kh, kw, C, O] stored as packed u8 indices (rows kh*kw*C) into an f32 table",
  kind: "contraction",
  operands: ["x", "indices", "table"],
  attrs: {
    ...CONV_ATTRS,
    bits: BITS_ATTR,
    kernel: { kind: "ints", doc: "[kh, kw], the filter's window" },
    n: { kind: "int", doc: "O, the filter's output channels" },
  },
  tolerance: 1e-4,
  f32Only: true,
  infer([x, indices, table], attrs) {
    const w = codebookFilter("codebookConv2d", x, attrs);
    checkCodebook("codebookConv2d", indices, table, attr.num(attrs, "bits"), filterTaps(w.shape), w.shape[3], `kh*kw*C = ${filterTaps(w.shape)} rows`);
    return convGeometry("codebookConv2d", x, w, attrs).out;
  },
  interpret([x, indices, table], attrs, out) {
    const w = codebookFilter("codebookConv2d", x.type, attrs);
    const data = decodeCodebook(indices.data, table.data, filterTaps(w.shape), w.shape[3], attr.num(attrs, "bits"));
    const { bits: _b, kernel: _k, n: _n, ...conv } = attrs;
    return CONV2D.interpret([x, { type: w, data }], conv, out);
  },
  vjp: noCotangents,
  flops: (node, [x]) => 2 * numel(node.type.shape) * filterTaps(codebookFilter("codebookConv2d", x, node.attrs).shape),
};

/** The operand types of a codebookMatmul, for tests and kernels: [x, indices, table]. */
export function codebookOperandTypes(xShape: readonly number[], n: number, bits: number): [TensorType, TensorType, TensorType] {
  const k = xShape[xShape.length - 1];
  return [{ dtype: "f32", shape: [...xShape] }, { dtype: "u8", shape: codebookIndexShape(k, n, bits) }, { dtype: "f32", shape: [2 ** bits] }];
}

export const CODEBOOK_OPS: readonly OpDef[] = [codebookMatmul, codebookConv2d];
