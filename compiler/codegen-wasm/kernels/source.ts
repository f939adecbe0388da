// Kernels of the source ops: `const` (a filled tensor) and `iota` (each element its index along an
// axis). Both are computed from attributes alone, at every call: a const's slot may be shared
// with other values by the planner, so it cannot be baked into the module's data once.

import { roundTo } from "../../ir/dtype-round.ts";
import { attr } from "../../ir/op-def.ts";
import { byteSize, DTYPE_BYTES, normalizeAxis, numel, type DType } from "../../ir/types.ts";
import { signedTable } from "../../ir/dtypes.ts";
import type { BufferRef, KernelEmitter, KernelTable } from "../kernel.ts";
import type { Expr, FunctionBuilder, Local } from "../module.ts";
import { isFloatLane, storeLanes } from "./access.ts";
import { NUMERIC, STORED } from "../../ir/dtypes.ts";
import { Lanes } from "./lanes.ts";
import { emitMap } from "./map.ts";

/** The bytes of `value` stored as `dtype` are all equal to this byte, or null. */
function uniformByte(value: number, dtype: DType): number | null {
  if (DTYPE_BYTES[dtype] === 1) return value & 0xff;
  return Object.is(value, 0) ? 0 : null; // +0 in f32 and i32 is all zero bits; -0 is not
}

const constant: KernelEmitter = ({ f, node, output }) => {
  const dtype = output.type.dtype;
  // Rounded to the dtype here (f16/bf16 values are exact f32s), not through f32 on the way.
  const value = isFloatLane(dtype) ? roundTo(dtype, attr.num(node.attrs, "value")) : attr.num(node.attrs, "value");
  const byte = uniformByte(value, dtype);
  if (byte !== null) return [f.fill(output.offset, byte, byteSize(output.type))];
  return emitMap(f, [], output, (L) => (isFloatLane(dtype) ? L.c(value) : L.ic(value)));
};

/**
 * The output as [outer, dim, inner] around the axis: the first block (dim x inner elements,
 * element (j, i) = j) is written once and then copied to the other outer - 1 blocks.
 */
const iota: KernelEmitter = ({ f, node, output }) => {
  const shape = output.type.shape;
  const axis = normalizeAxis(attr.num(node.attrs, "axis"), shape.length);
  const dim = shape[axis];
  const inner = numel(shape.slice(axis + 1));
  const outer = numel(shape.slice(0, axis));
  const blockBytes = dim * inner * DTYPE_BYTES[output.type.dtype];
  const j = f.local("i32");
  const block = f.local("i32");
  return [
    f.forRange(j, 0, dim, 1, fillRow(f, output, j, inner)),
    f.forRange(block, 1, outer, 1, [
      f.copyAt(f.at(output.offset, f.get(block), blockBytes), f.i32.const(output.offset), f.i32.const(blockBytes)),
    ]),
  ];
};

/** Row j of the first block: `inner` copies of the value j in the output's dtype. */
function fillRow(f: FunctionBuilder, output: BufferRef, j: Local, inner: number): Expr[] {
  const dtype = output.type.dtype;
  const bytes = DTYPE_BYTES[dtype];
  const i = f.local("i32");
  const rowStart = () => f.i32.add(f.i32.const(output.offset), f.i32.mul(f.get(j), f.i32.const(inner * bytes)));
  if (bytes === 1) return [f.fillAt(rowStart(), f.get(j), f.i32.const(inner))];
  const value = isFloatLane(dtype) ? f.f32.convert_s.i32(f.get(j)) : f.get(j);
  const element = f.local(isFloatLane(dtype) ? "f32" : "i32");
  const L = new Lanes(f, 1);
  const store = storeLanes(L, dtype, f.i32.add(rowStart(), f.i32.mul(f.get(i), f.i32.const(bytes))), f.get(element));
  return [
    f.set(element, value),
    f.forRange(i, 0, inner, 1, [...L.body, store]),
  ];
}

export const SOURCE_KERNELS: KernelTable = signedTable("wasm source kernels", {
  source: [
    { op: "const", dtypes: STORED, kernel: constant },
    { op: "iota", dtypes: NUMERIC, kernel: iota },
  ],
});
