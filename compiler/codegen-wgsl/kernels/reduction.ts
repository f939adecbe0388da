// Kernels of sum, mean and max over any set of axes, fusedReduce (the same folds over a fused
// body's values, computed as they are folded), and softmax / logSoftmax along one axis.
//
// A reduction's result element o folds the elements base(o) + off(r), r < R: base walks
// the kept axes and off the reduced ones, both unravelled with the input's strides (wgsl.ts's
// stridedIndex, neighbouring axes merged). Rows of 32 or more elements take one workgroup each
// (cooperate.ts: strided shares, then the workgroup fold, with subgroup operations where the
// device has them); shorter rows, and results of 1-byte dtypes (whose words several results
// share), take one invocation per result element.
// Integer sums and maxima compute in i32 (sums wrap, as the interpreter's rounding does).
//
// softmax / logSoftmax: one workgroup per row along the axis (outer x inner rows, stride inner):
// the row's max m, then s = sum of exp(x - m), then every element, as the interpreter computes.
// s is summed as 1 + rest (the max's own term exactly 1, other ties counted), and log s taken as
// log1p(rest) (math.ts): when one logit dominates, rest is tiny and log(1 + rest) would lose it
// to rounding, which logSoftmax's largest entry, -log s, shows. (Goldberg's log(u) * rest /
// (u - 1) does not survive SwiftShader's optimizer, which folds (1 + rest) - 1 to rest.)

import { attr } from "../../ir/op-def.ts";
import { broadcastAll } from "../../ir/ops/broadcast.ts";
import { parseBody } from "../../ir/ops/fused-body.ts";
import { splitAtAxis } from "../../ir/ops/operand-checks.ts";
import { normalizeAxis, numel, stridesOf, type DType } from "../../ir/types.ts";
import { signedTable } from "../../ir/dtypes.ts";
import type { WgslKernel, WgslKernelArgs, WgslKernelTable } from "../kernel.ts";
import { FLOATS, NUMERIC } from "../../ir/dtypes.ts";
import { computeType, elementBytes, f32, i32, load, stridedIndex, u32 } from "../wgsl.ts";
import { GROUP, MAX_F32, rowPass } from "./cooperate.ts";
import { bodyProgram } from "./elementwise.ts";
import { broadcastRead, elementMap } from "./map.ts";
import { mathLibrary } from "./math.ts";
import { staged } from "./stage.ts";

/** How a reduction folds in its compute type. */
interface Fold {
  readonly identity: string;
  combine(acc: string, v: string): string;
  /** The workgroup-wide fold of cooperate.ts. */
  readonly group: string;
}

function foldOf(op: string, dtype: DType): Fold {
  const float = computeType(dtype) === "f32";
  if (op === "max") {
    return float
      ? { identity: f32(-Infinity), combine: MAX_F32, group: "wg_max" }
      : { identity: i32(-(2 ** 31)), combine: (a, b) => `max(${a}, ${b})`, group: "wg_max_i" };
  }
  return float ? { identity: "0.0", combine: (a, b) => `${a} + ${b}`, group: "wg_sum" } : { identity: "0i", combine: (a, b) => `${a} + ${b}`, group: "wg_sum_i" };
}

/** The kept and reduced axes of an element shape under `axes`, as (shape, strides) pairs. */
function split(shape: readonly number[], axes: readonly number[]) {
  const strides = stridesOf(shape);
  const reduced = new Set(axes.map((a) => normalizeAxis(a, shape.length)));
  const kept = { shape: [] as number[], strides: [] as number[] };
  const red = { shape: [] as number[], strides: [] as number[] };
  shape.forEach((d, i) => {
    const part = reduced.has(i) ? red : kept;
    part.shape.push(d);
    part.strides.push(strides[i]);
  });
  return { kept, red, count: numel(red.shape) };
}

/** The values a reduction folds: `fn elem(e: u32) -> T` over the flat index of `shape`. */
interface Elements {
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly code: string;
}

/** sum / mean / max over `axes` of the elements, for sum, mean, max and fusedReduce. */
function reduce(a: WgslKernelArgs, op: string, elements: Elements, axes: readonly number[]) {
  const out = a.output;
  const { dtype } = elements;
  const { kept, red, count } = split(elements.shape, axes);
  const fold = foldOf(op, dtype);
  const t = computeType(dtype);
  const finish = (acc: string) => (op === "mean" ? `${acc} / ${f32(count)}` : acc);
  const element = (r: string, base: string) => `elem(${base} + ${stridedIndex(r, red.shape, red.strides)})`;
  const label = `${a.node.op} %${a.node.id}`;
  if (count < 32 || elementBytes(out.type.dtype) !== 4) {
    const body = `  let base = ${stridedIndex("i", kept.shape, kept.strides)};
  var acc: ${t} = ${fold.identity};
  for (var r = 0u; r < ${u32(count)}; r++) { acc = ${fold.combine("acc", element("r", "base"))}; }
  return ${finish("acc")};`;
    return [elementMap(label, out, { helpers: elements.code, body }, a.target)];
  }
  const store = t === "f32" ? "st_f32" : "st_i32";
  const body = `  let base = ${stridedIndex("o", kept.shape, kept.strides)};
  var acc: ${t} = ${fold.identity};
  for (var r = lid; r < ${u32(count)}; r += ${u32(GROUP)}) { acc = ${fold.combine("acc", element("r", "base"))}; }
  let total = ${fold.group}(acc, lid);
  if (lid == 0u) { ${store}(${u32(out.offset / 4)} + o, ${finish("total")}); }`;
  return [rowPass(label, numel(out.type.shape), body, elements.code, a.target)];
}

const axisReduction = (op: "sum" | "mean" | "max"): WgslKernel => (a) => {
  const x = a.inputs[0];
  const t = computeType(x.type.dtype);
  const code = `fn elem(e: u32) -> ${t} { return ${load(x.offset, x.type.dtype, "e")}; }\n`;
  return reduce(a, op, { shape: x.type.shape, dtype: x.type.dtype, code }, attr.ints(a.node.attrs, "axes"));
};

/** fusedReduce: the body (fused-body.ts) evaluated per element, folded as it is computed. */
const fusedReduce: WgslKernel = (a) => {
  const shape = broadcastAll(a.inputs.map((x) => x.type.shape));
  const program = bodyProgram(parseBody(attr.str(a.node.attrs, "body"), a.inputs.length), a.inputs.map((x) => broadcastRead(x, shape, "e")));
  const code = `${mathLibrary(program.math)}fn elem(e: u32) -> f32 {\n${program.stmts}\n  return ${program.result};\n}\n`;
  return reduce(a, attr.str(a.node.attrs, "reduce"), { shape, dtype: "f32", code }, attr.ints(a.node.attrs, "axes"));
};

/** Row geometry along one axis: row o starts at rowBase(o) and steps by `stride`. */
export function rowsAlong(shape: readonly number[], axis: number) {
  const { outer, len, inner } = splitAtAxis(shape, axis);
  const rowBase = inner === 1 ? `o * ${u32(len)}` : `(o / ${u32(inner)}) * ${u32(len * inner)} + o % ${u32(inner)}`;
  return { rows: outer * inner, len, stride: inner, rowBase };
}

const softmax = (log: boolean): WgslKernel => (a) => {
  const x = a.inputs[0];
  const axis = normalizeAxis(attr.num(a.node.attrs, "axis"), x.type.shape.length);
  const { rows, len, stride, rowBase } = rowsAlong(x.type.shape, axis);
  const at = (j: string) => `base + ${j} * ${u32(stride)}`;
  const read = (j: string) => load(x.offset, x.type.dtype, at(j));
  const value = log ? `${read("j")} - m - log_s` : `m_exp(${read("j")} - m) / s`;
  const body = `  let base = ${rowBase};
  var mx = ${f32(-Infinity)};
  for (var j = lid; j < ${u32(len)}; j += ${u32(GROUP)}) { mx = ${MAX_F32("mx", read("j"))}; }
  let m = wg_max(mx, lid);
  var acc = 0.0;
  var ties = 0.0;
  for (var j = lid; j < ${u32(len)}; j += ${u32(GROUP)}) {
    let d = ${read("j")} - m;
    if (d == 0.0) { ties += 1.0; } else { acc += m_exp(d); }
  }
  let rest = wg_sum(acc, lid) + (wg_sum(ties, lid) - 1.0);
  let s = 1.0 + rest;
  let log_s = m_log1p(rest);
  for (var j = lid; j < ${u32(len)}; j += ${u32(GROUP)}) { st_f32(${u32(a.output.offset / 4)} + ${at("j")}, ${value}); }`;
  return [rowPass(`${a.node.op} %${a.node.id}`, rows, body, mathLibrary(["exp", "log", "log1p"]), a.target)];
};

export const REDUCTION_KERNELS: WgslKernelTable = signedTable("wgsl reduction kernels", {
  reduction: [
    { op: "sum", dtypes: NUMERIC, kernel: axisReduction("sum") },
    { op: "mean", dtypes: FLOATS, kernel: axisReduction("mean") },
    { op: "max", dtypes: NUMERIC, kernel: axisReduction("max") },
    { op: "softmax", dtypes: FLOATS, kernel: staged(softmax(false)) },
    { op: "logSoftmax", dtypes: FLOATS, kernel: staged(softmax(true)) },
    { op: "fusedReduce", dtypes: FLOATS, kernel: fusedReduce },
  ],
});

