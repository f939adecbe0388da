// Kernels of the layout ops (docs/IR.md, "Layout", and `pad`): exact moves of elements, each one
// strided copy (strided-copy.ts) described by the op's geometry. gather and scatterAdd live with
// the reduction kernels.
//
// reshape and copy are bytes-for-bytes moves: nothing at all when the planner gave the result its
// operand's slot (the in-place pass marks them), one memory.copy otherwise. The others read their
// operand in an order that differs from the write order, so they must not run in place (emit.ts
// refuses such plans).

import { broadcastStrides } from "../../ir/ops/broadcast.ts";
import { attr } from "../../ir/op-def.ts";
import { byteSize, DTYPE_BYTES, normalizeAxis, numel, stridesOf } from "../../ir/types.ts";
import { signature, signedTable } from "../../ir/dtypes.ts";
import type { KernelEmitter, KernelTable } from "../kernel.ts";
import type { Expr } from "../module.ts";
import { isFloatLane, storeLanes } from "./access.ts";
import { STORED } from "../../ir/dtypes.ts";
import { Lanes } from "./lanes.ts";
import { emitStridedCopy } from "./strided-copy.ts";

const move: KernelEmitter = ({ f, inputs: [x], output }) =>
  x.offset === output.offset ? [] : [f.copy(output.offset, x.offset, byteSize(output.type))];

const transpose: KernelEmitter = ({ f, node, inputs: [x], output }) => {
  const own = stridesOf(x.type.shape);
  const src = { offset: x.offset, strides: attr.ints(node.attrs, "perm").map((p) => own[p]) };
  const dst = { offset: output.offset, strides: stridesOf(output.type.shape) };
  return emitStridedCopy(f, output.type.shape, src, dst, DTYPE_BYTES[x.type.dtype]);
};

const slice: KernelEmitter = ({ f, node, inputs: [x], output }) => {
  const strides = stridesOf(x.type.shape);
  const bytes = DTYPE_BYTES[x.type.dtype];
  const start = attr.ints(node.attrs, "begin").reduce((sum, b, axis) => sum + b * strides[axis], 0);
  const src = { offset: x.offset + start * bytes, strides };
  return emitStridedCopy(f, output.type.shape, src, { offset: output.offset, strides: stridesOf(output.type.shape) }, bytes);
};

const broadcastTo: KernelEmitter = ({ f, inputs: [x], output }) => {
  const src = { offset: x.offset, strides: broadcastStrides(x.type.shape, output.type.shape) };
  const dst = { offset: output.offset, strides: stridesOf(output.type.shape) };
  return emitStridedCopy(f, output.type.shape, src, dst, DTYPE_BYTES[x.type.dtype]);
};

/** Each operand is a box of the output starting at its running position along the axis. */
const concat: KernelEmitter = ({ f, node, inputs, output }) => {
  const shape = output.type.shape;
  const axis = normalizeAxis(attr.num(node.attrs, "axis"), shape.length);
  const strides = stridesOf(shape);
  const bytes = DTYPE_BYTES[output.type.dtype];
  let position = 0;
  return inputs.flatMap((x) => {
    const dst = { offset: output.offset + position * strides[axis] * bytes, strides };
    position += x.type.shape[axis];
    return emitStridedCopy(f, x.type.shape, { offset: x.offset, strides: stridesOf(x.type.shape) }, dst, bytes);
  });
};

/** Zeros, then x copied into the interior box. */
const pad: KernelEmitter = ({ f, node, inputs: [x], output }) => {
  const strides = stridesOf(output.type.shape);
  const bytes = DTYPE_BYTES[x.type.dtype];
  const start = attr.ints(node.attrs, "before").reduce((sum, w, axis) => sum + w * strides[axis], 0);
  const dst = { offset: output.offset + start * bytes, strides };
  return [
    f.fill(output.offset, 0, byteSize(output.type)),
    ...emitStridedCopy(f, x.type.shape, { offset: x.offset, strides: stridesOf(x.type.shape) }, dst, bytes),
  ];
};

/** Zeros, then a one at each in-range index (an out-of-range index leaves its row zero, as TF). */
const oneHot: KernelEmitter = ({ f, node, inputs: [indices], output }) => {
  const depth = attr.num(node.attrs, "depth");
  const count = numel(indices.type.shape);
  const dtype = output.type.dtype;
  const bytes = DTYPE_BYTES[dtype];
  const k = f.local("i32");
  const index = f.local("i32");
  const row = (): Expr => f.i32.add(f.i32.const(output.offset), f.i32.mul(f.get(k), f.i32.const(depth * bytes)));
  const at = f.i32.add(row(), f.i32.mul(f.get(index), f.i32.const(bytes)));
  const L = new Lanes(f, 1);
  const one = [storeLanes(L, dtype, at, isFloatLane(dtype) ? f.f32.const(1) : f.i32.const(1))];
  return [
    f.fill(output.offset, 0, byteSize(output.type)),
    f.forRange(k, 0, count, 1, [
      f.set(index, f.loadI32(f.at(indices.offset, f.get(k), 4))),
      // Unsigned compare: negative indices become huge and fail it too.
      f.if(f.i32.lt_u(f.get(index), f.i32.const(depth)), [...L.body, ...one]),
    ]),
  ];
};

/** Moves of whole elements: every stored dtype (concat's operands all of it: a uniform signature). */
export const LAYOUT_KERNELS: KernelTable = signedTable("wasm layout kernels", {
  layout: [
    { op: "reshape", dtypes: STORED, kernel: move },
    { op: "copy", dtypes: STORED, kernel: move },
    { op: "transpose", dtypes: STORED, kernel: transpose },
    { op: "slice", dtypes: STORED, kernel: slice },
    { op: "concat", dtypes: STORED, kernel: concat },
    { op: "broadcastTo", dtypes: STORED, kernel: broadcastTo },
    { op: "pad", dtypes: STORED, kernel: pad },
    { op: "oneHot", dtypes: STORED.map((t) => signature(["i32"], t)), kernel: oneHot },
  ],
});
