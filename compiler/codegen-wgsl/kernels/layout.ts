// Kernels of the layout ops (reshape, copy, transpose, slice, concat, broadcastTo, pad) and of
// gather, oneHot and scatterAdd: each result element is read from where it comes from (gather
// form), through map.ts's elementMap, so byte-sized dtypes are written a word at a time and no
// two invocations ever write one element. Every index is specialised to the node's shapes.
//
// Out-of-range indices: the interpreter throws; a shader cannot, so gather yields 0 for them and
// scatterAdd ignores them (and oneHot gives an all-zero row, which is the op's own semantics).

import { attr } from "../../ir/op-def.ts";
import { normalizeAxis, numel, stridesOf } from "../../ir/types.ts";
import { signature, signedTable } from "../../ir/dtypes.ts";
import type { WgslKernel, WgslKernelArgs, WgslKernelTable } from "../kernel.ts";
import { FLOATS, STORED } from "../../ir/dtypes.ts";
import { computeType, load, u32 } from "../wgsl.ts";
import { broadcastRead, elementMap, stridedRead } from "./map.ts";

function product(dims: readonly number[]): number {
  return dims.reduce((p, d) => p * d, 1);
}

function map(a: WgslKernelArgs, body: string, helpers = "") {
  return [elementMap(`${a.node.op} %${a.node.id}`, a.output, { helpers, body }, a.target)];
}

const sameOrder: WgslKernel = (a) => map(a, `  return ${load(a.inputs[0].offset, a.inputs[0].type.dtype, "i")};`);

const transpose: WgslKernel = (a) => {
  const own = stridesOf(a.inputs[0].type.shape);
  const strides = attr.ints(a.node.attrs, "perm").map((p) => own[p]);
  return map(a, `  return ${stridedRead(a.inputs[0], a.output.type.shape, strides)};`);
};

const slice: WgslKernel = (a) => {
  const strides = stridesOf(a.inputs[0].type.shape);
  const offset = attr.ints(a.node.attrs, "begin").reduce((sum, b, axis) => sum + b * strides[axis], 0);
  return map(a, `  return ${stridedRead(a.inputs[0], a.output.type.shape, strides, "i", offset)};`);
};

const broadcastTo: WgslKernel = (a) => map(a, `  return ${broadcastRead(a.inputs[0], a.output.type.shape)};`);

const concat: WgslKernel = (a) => {
  const shape = a.output.type.shape;
  const axis = normalizeAxis(attr.num(a.node.attrs, "axis"), shape.length);
  const inner = product(shape.slice(axis + 1));
  const total = shape[axis];
  const lines = [`  let c = (i / ${u32(inner)}) % ${u32(total)};`, `  let o = i / ${u32(inner * total)};`, `  let r = i % ${u32(inner)};`];
  let start = 0;
  a.inputs.forEach((x, k) => {
    const len = x.type.shape[axis];
    const src = `(o * ${u32(len)} + (c - ${u32(start)})) * ${u32(inner)} + r`;
    const read = `return ${load(x.offset, x.type.dtype, src)};`;
    if (len > 0) lines.push(k === a.inputs.length - 1 ? `  ${read}` : `  if (c < ${u32(start + len)}) { ${read} }`);
    start += len;
  });
  if (a.inputs[a.inputs.length - 1].type.shape[axis] === 0) lines.push(`  return ${computeType(a.output.type.dtype)}(0);`);
  return map(a, lines.join("\n"));
};

const pad: WgslKernel = (a) => {
  const x = a.inputs[0];
  const outShape = a.output.type.shape;
  const before = attr.ints(a.node.attrs, "before");
  const outStrides = stridesOf(outShape);
  const xStrides = stridesOf(x.type.shape);
  const lines = ["  var src = 0u;"];
  outShape.forEach((dim, d) => {
    if (dim === 1 && x.type.shape[d] === 1) return;
    lines.push(`  let c${d} = (i / ${u32(outStrides[d])}) % ${u32(dim)};`);
    lines.push(`  if (c${d} < ${u32(before[d])} || c${d} >= ${u32(before[d] + x.type.shape[d])}) { return ${computeType(x.type.dtype)}(0); }`);
    lines.push(`  src += (c${d} - ${u32(before[d])}) * ${u32(xStrides[d])};`);
  });
  lines.push(`  return ${load(x.offset, x.type.dtype, "src")};`);
  return map(a, lines.join("\n"));
};

const gather: WgslKernel = (a) => {
  const [table, indices] = a.inputs;
  const shape = table.type.shape;
  const axis = normalizeAxis(attr.num(a.node.attrs, "axis"), shape.length);
  const dim = shape[axis];
  const inner = product(shape.slice(axis + 1));
  const count = numel(indices.type.shape);
  const zero = `${computeType(table.type.dtype)}(0)`;
  return map(a, `  let k = (i / ${u32(inner)}) % ${u32(count)};
  let o = i / ${u32(inner * count)};
  let index = ${load(indices.offset, "i32", "k")};
  if (index < 0i || index >= ${dim}i) { return ${zero}; }
  return ${load(table.offset, table.type.dtype, `(o * ${u32(dim)} + u32(index)) * ${u32(inner)} + i % ${u32(inner)}`)};`);
};

const oneHot: WgslKernel = (a) => {
  const depth = attr.num(a.node.attrs, "depth");
  const t = computeType(a.output.type.dtype);
  return map(a, `  let index = ${load(a.inputs[0].offset, "i32", `i / ${u32(depth)}`)};
  return select(${t}(0), ${t}(1), index == i32(i % ${u32(depth)}));`);
};

const scatterAdd: WgslKernel = (a) => {
  const [indices, updates] = a.inputs;
  const shape = a.output.type.shape;
  const axis = normalizeAxis(attr.num(a.node.attrs, "axis"), shape.length);
  const size = shape[axis];
  const inner = product(shape.slice(axis + 1));
  const count = numel(indices.type.shape);
  return map(a, `  let s = i32((i / ${u32(inner)}) % ${u32(size)});
  let base = (i / ${u32(inner * size)}) * ${u32(count * inner)} + i % ${u32(inner)};
  var total = 0.0;
  for (var k = 0u; k < ${u32(count)}; k++) {
    if (${load(indices.offset, "i32", "k")} == s) { total += ${load(updates.offset, updates.type.dtype, `base + k * ${u32(inner)}`)}; }
  }
  return total;`);
};

/** Moves of whole elements: every stored dtype (concat's operands all of it: a uniform signature). */
export const LAYOUT_KERNELS: WgslKernelTable = signedTable("wgsl layout kernels", {
  layout: [
    { op: "reshape", dtypes: STORED, kernel: sameOrder },
    { op: "copy", dtypes: STORED, kernel: sameOrder },
    { op: "transpose", dtypes: STORED, kernel: transpose },
    { op: "slice", dtypes: STORED, kernel: slice },
    { op: "concat", dtypes: STORED, kernel: concat },
    { op: "broadcastTo", dtypes: STORED, kernel: broadcastTo },
    { op: "pad", dtypes: STORED, kernel: pad },
    { op: "gather", dtypes: STORED.map((t) => signature([t, "i32"], t)), kernel: gather },
    { op: "oneHot", dtypes: STORED.map((t) => signature(["i32"], t)), kernel: oneHot },
    { op: "scatterAdd", dtypes: FLOATS.map((t) => signature(["i32", t], t)), kernel: scatterAdd },
  ],
});
