// sum, mean and max over any set of axes.
//
// The shape is first simplified: size-1 axes are dropped and neighbouring axes that are both
// reduced (or both kept) are merged, so e.g. a batch-norm style mean of [N,H,W,C] over [0,1,2]
// becomes one reduction of [N*H*W, C] over its first axis. What is left alternates kept and
// reduced groups. The last reduced group is walked by reduction-axis-walk.ts (SIMD along it when
// it is innermost, across the kept axis after it otherwise). When it is the only reduced group —
// nearly always — each output element is written once. Otherwise the output starts at the fold's
// identity and loops over the groups in front of it accumulate into it.

import { attr } from "../../ir/op-def.ts";
import type { Node } from "../../ir/graph.ts";
import { DTYPE_BYTES, normalizeAxis, numel, type DType, type Shape, type TensorType } from "../../ir/types.ts";
import { withWorkspace, type KernelArgs, type KernelEmitter, type KernelRegistration } from "../kernel.ts";
import { FLOATS, NUMERIC } from "../../ir/dtypes.ts";
import type { Expr, FunctionBuilder } from "../module.ts";
import { arenaBuffer, walkAxis, type WalkBuffer } from "./reduction-axis-walk.ts";
import { foldArith, type FoldArith, type FoldKind } from "./reduction-fold.ts";
import { constPtr, loopNest, type Level } from "./reduction-loops.ts";

interface Group {
  readonly size: number;
  readonly reduced: boolean;
}

/** The shape without size-1 axes, neighbours of the same kind merged. */
export function reductionGroups(shape: Shape, reduced: readonly boolean[]): Group[] {
  const groups: Group[] = [];
  shape.forEach((size, d) => {
    if (size === 1) return;
    const last = groups[groups.length - 1];
    if (last && last.reduced === reduced[d]) groups[groups.length - 1] = { size: last.size * size, reduced: last.reduced };
    else groups.push({ size, reduced: reduced[d] });
  });
  return groups;
}

type Reduction = "sum" | "mean" | "max";

function reducedFlags(shape: Shape, axes: readonly number[]): boolean[] {
  const flags = new Array<boolean>(shape.length).fill(false);
  for (const a of axes) flags[normalizeAxis(a, shape.length)] = true;
  return flags;
}

/** Whether a reduction of these types folds into an f32 scratch copy of its result (see accumulateGroups). */
function accumulatesInScratch(x: TensorType, out: TensorType, reduced: readonly boolean[]): boolean {
  if (DTYPE_BYTES[out.dtype] !== 2) return false;
  const groups = reductionGroups(x.shape, reduced);
  const last = groups.map((g) => g.reduced).lastIndexOf(true);
  return groups.slice(0, Math.max(0, last)).some((g) => g.reduced);
}

function scratchBytes(node: Node, [x]: readonly TensorType[], out: TensorType): number {
  return accumulatesInScratch(x, out, reducedFlags(x.shape, attr.ints(node.attrs, "axes"))) ? numel(out.shape) * 4 : 0;
}

/** A buffer of the kernel: where it is and what it stores. */
interface Buf {
  readonly offset: number;
  readonly dtype: DType;
}

function reduceKernel(reduction: Reduction): KernelEmitter {
  return withWorkspace(({ f, node, inputs: [x], output, workspace }: KernelArgs): Expr[] => {
    const dtype = x.type.dtype;
    const arith = foldArith(dtype, reduction);
    const shape = x.type.shape;
    const reduced = reducedFlags(shape, attr.ints(node.attrs, "axes"));
    const count = shape.reduce((n, d, i) => (reduced[i] ? n * d : n), 1);
    const outCount = numel(output.type.shape);
    // Reducing nothing (axes [] or only size-1 axes) leaves every value as it is.
    if (count === 1) return output.offset === x.offset ? [] : [f.copy(output.offset, x.offset, outCount * DTYPE_BYTES[dtype])];
    // An empty sum is 0; an empty mean is 0/0 (all-ones bytes are a NaN of every float dtype). max rejects empty axes.
    if (count === 0) return [f.fill(output.offset, reduction === "sum" ? 0 : 0xff, outCount * DTYPE_BYTES[dtype])];

    const groups = reductionGroups(shape, reduced);
    const last = groups.map((g) => g.reduced).lastIndexOf(true);
    const plan: GroupedReduction = {
      front: groups.slice(0, last),
      len: groups[last].size,
      inner: groups.slice(last + 1).reduce((n, g) => n * g.size, 1),
      kind: reduction === "max" ? "max" : "sum",
      outCount,
      divisor: reduction === "mean" ? count : 1,
    };
    const xb = { offset: x.offset, dtype };
    const out = { offset: output.offset, dtype: output.type.dtype };
    if (!plan.front.some((g) => g.reduced)) return reduceOnce(f, arith, xb, out, plan);
    if (!accumulatesInScratch(x.type, output.type, reduced)) return accumulateGroups(f, arith, xb, out, plan);
    if (workspace === undefined) throw new Error(`${node.op} %${node.id} needs a workspace and the plan gave none`);
    // 16-bit results: fold into f32 scratch, then round each result once as it is stored.
    const scratch = { offset: workspace, dtype: "f32" as const };
    return [...accumulateGroups(f, foldArith("f32", reduction), xb, scratch, plan), ...copyOut(f, arith, scratch, out, outCount)];
  }, scratchBytes);
}

interface GroupedReduction {
  /** The groups in front of the last reduced one, outermost first. */
  readonly front: readonly Group[];
  /** Size of the last reduced group, and of everything (kept) after it. */
  readonly len: number;
  readonly inner: number;
  readonly kind: FoldKind;
  readonly outCount: number;
  /** What the result is divided by: the element count for a mean, else 1. */
  readonly divisor: number;
}

/** One reduced group: [outer, len, inner] -> [outer, inner], every result written once. */
function reduceOnce(f: FunctionBuilder, arith: FoldArith, x: Buf, output: Buf, plan: GroupedReduction): Expr[] {
  const { len, inner, kind, divisor } = plan;
  const outer = plan.front.reduce((n, g) => n * g.size, 1);
  const xs = arenaBuffer(f, "along", x.offset, x.dtype);
  const out = arenaBuffer(f, "across", output.offset, output.dtype);
  return walkAxis(f, { outer, len, inner }, arith, [xs, out], (walk) => {
    const s = walk.fold(kind, (lane) => lane.load(xs));
    walk.final(({ L, stat, store }) => [store(out, divisor === 1 ? stat(s) : L.div(stat(s), L.c(divisor)))]);
  });
}

/** `count` elements of `from` stored as `to`'s dtype (rounded once). */
function copyOut(f: FunctionBuilder, arith: FoldArith, from: Buf, to: Buf, count: number): Expr[] {
  const src = arenaBuffer(f, "along", from.offset, from.dtype);
  const dst = arenaBuffer(f, "along", to.offset, to.dtype);
  return walkAxis(f, { outer: 1, len: count, inner: 1 }, arith, [src, dst], (walk) => walk.each(({ load, store }) => [store(dst, load(src))]));
}

/**
 * Several reduced groups: output := identity; for every index of the front groups, fold the last
 * reduced group and combine it into the output; then divide in place for a mean. The output is
 * read back between folds, so a 16-bit result folds into an f32 scratch copy first (reduceKernel).
 */
function accumulateGroups(f: FunctionBuilder, arith: FoldArith, x: Buf, output: Buf, plan: GroupedReduction): Expr[] {
  const { front, len, inner, kind, outCount, divisor } = plan;
  const xb = DTYPE_BYTES[x.dtype];
  const ob = DTYPE_BYTES[output.dtype];
  const all = arenaBuffer(f, "along", output.offset, output.dtype);
  const init = walkAxis(f, { outer: 1, len: outCount, inner: 1 }, arith, [all], (walk) =>
    walk.each(({ L, store }) => [store(all, arith.identity(L, kind))]),
  );
  // Byte strides of each front group in x, and in the output for the kept ones.
  const levels: Level[] = [];
  let xStride = len * inner;
  let outStride = inner;
  for (let g = front.length - 1; g >= 0; g--) {
    const { size, reduced } = front[g];
    levels.unshift({ count: size, strides: [xStride * xb, reduced ? 0 : outStride * ob] });
    xStride *= size;
    if (!reduced) outStride *= size;
  }
  const fold = loopNest(f, [constPtr(f, x.offset), constPtr(f, output.offset)], levels, ([xp, op]) => {
    const xs: WalkBuffer = { layout: "along", dtype: x.dtype, start: xp };
    const out: WalkBuffer = { layout: "across", dtype: output.dtype, start: op };
    return walkAxis(f, { outer: 1, len, inner }, arith, [xs, out], (walk) => {
      const s = walk.fold(kind, (lane) => lane.load(xs));
      walk.final(({ L, load, store, stat }) => {
        const before = f.local(arith.type(L));
        const folded = f.local(arith.type(L));
        return [f.set(before, load(out)), f.set(folded, stat(s)), store(out, arith.combine(L, kind, before, folded))];
      });
    });
  });
  const divide =
    divisor === 1
      ? []
      : walkAxis(f, { outer: 1, len: outCount, inner: 1 }, arith, [all], (walk) =>
          walk.each(({ L, load, store }) => [store(all, L.div(load(all), L.c(divisor)))]),
        );
  return [...init, ...fold, ...divide];
}

export const REDUCTION_AXES_KERNELS: readonly KernelRegistration[] = [
  { op: "sum", dtypes: NUMERIC, kernel: reduceKernel("sum") },
  { op: "mean", dtypes: FLOATS, kernel: reduceKernel("mean") },
  { op: "max", dtypes: NUMERIC, kernel: reduceKernel("max") },
];
