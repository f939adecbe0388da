// Strided reads: the one loop behind broadcasting, transpose and slice in the reference
// interpreter. Each of them reads its operand through a view `in[offset + sum_d i_d * stride_d]`
// over the output's index space: broadcasting uses stride 0 on expanded axes, transpose permutes
// the operand's strides, slice adds an offset. Walking the output in row-major order with an
// odometer keeps the input index up to date with one add per element (amortized), with no
// per-element allocation, which matters for the 100k-element tensors of real models.

import { numel, type Shape } from "../types.ts";

/** For each output flat index, the input flat index `offset + sum_d i_d * strides[d]`. */
export function stridedIndexMap(outShape: Shape, strides: readonly number[], offset = 0): Int32Array {
  const n = numel(outShape);
  const map = new Int32Array(n);
  const rank = outShape.length;
  const counter = new Int32Array(rank);
  let index = offset;
  for (let i = 0; i < n; i++) {
    map[i] = index;
    for (let d = rank - 1; d >= 0; d--) {
      index += strides[d];
      if (++counter[d] < outShape[d]) break;
      index -= strides[d] * outShape[d];
      counter[d] = 0;
    }
  }
  return map;
}

/** Copies the strided view of `data` described by (outShape, strides, offset) into a new array. */
export function readStrided(data: Float64Array, outShape: Shape, strides: readonly number[], offset = 0): Float64Array {
  const map = stridedIndexMap(outShape, strides, offset);
  const out = new Float64Array(map.length);
  for (let i = 0; i < map.length; i++) out[i] = data[map[i]];
  return out;
}
