// layerNorm, batchNorm and batchNormRunningStat, each an algorithm over one axis for
// reduction-axis-walk.ts. Statistics are computed as the interpreter computes them: the mean
// first, then the mean of squared deviations from it (two passes, no E[x^2] - E[x]^2
// cancellation), in float32 with blocked sums.
//
//   layerNorm             over `axis`: x as [outer, len, inner], gamma/beta indexed along it
//   batchNorm             channels last: x as [1, rows, C], statistics per channel over the rows
//   batchNormRunningStat  the same per-channel statistic, blended into the running value

import { attr } from "../../ir/op-def.ts";
import { numel } from "../../ir/types.ts";
import { resolveAxis, splitAtAxis } from "../../ir/ops/operand-checks.ts";
import type { KernelArgs, KernelEmitter, KernelRegistration } from "../kernel.ts";
import { FLOATS } from "../../ir/dtypes.ts";
import type { Expr } from "../module.ts";
import { arenaBuffer, walkAxis, type AxisWalk, type Lane, type Stat, type WalkBuffer } from "./reduction-axis-walk.ts";
import { foldArith } from "./reduction-fold.ts";

/** The mean of x along the walk. */
function meanOf(walk: AxisWalk, xs: WalkBuffer, count: number): Stat {
  const sum = walk.fold("sum", ({ load }) => load(xs));
  return walk.let(({ L, stat }) => L.div(stat(sum), L.c(count)));
}

/** The mean of x along the walk and the sum of squared deviations from it. */
function meanAndSquares(walk: AxisWalk, xs: WalkBuffer, count: number): { mean: Stat; squares: Stat } {
  const mean = meanOf(walk, xs, count);
  const squares = walk.fold("sum", ({ L, load, stat }) => {
    const d = L.letF(L.sub(load(xs), stat(mean)));
    return L.mul(d(), d());
  });
  return { mean, squares };
}

/** 1 / sqrt(variance + eps), the variance being squares / count (biased, as the ops define it). */
function inverseStd({ L, stat }: Lane, squares: Stat, count: number, eps: number): Expr {
  return L.div(L.c(1), L.sqrt(L.add(L.div(stat(squares), L.c(count)), L.c(eps))));
}

const layerNorm: KernelEmitter = ({ f, node, inputs: [x, gamma, beta], output }: KernelArgs): Expr[] => {
  const axis = resolveAxis("layerNorm", attr.num(node.attrs, "axis"), x.type);
  const eps = attr.num(node.attrs, "eps");
  const view = splitAtAxis(x.type.shape, axis);
  const xs = arenaBuffer(f, "along", x.offset, x.type.dtype);
  const out = arenaBuffer(f, "along", output.offset, output.type.dtype);
  const g = arenaBuffer(f, "axis", gamma.offset, gamma.type.dtype);
  const b = arenaBuffer(f, "axis", beta.offset, beta.type.dtype);
  return walkAxis(f, view, foldArith("f32", "layerNorm"), [xs, out, g, b], (walk) => {
    const { mean, squares } = meanAndSquares(walk, xs, view.len);
    const rstd = walk.let((lane) => inverseStd(lane, squares, view.len, eps));
    walk.each(({ L, load, store, stat }) =>
      [store(out, L.add(L.mul(L.mul(L.sub(load(xs), stat(mean)), stat(rstd)), load(g)), load(b)))],
    );
  });
};

/** x as [1, rows, C]: the statistics of each channel run down the rows. */
function channelsLast(shape: readonly number[]) {
  const channels = shape[shape.length - 1];
  return { outer: 1, len: channels === 0 ? 0 : numel(shape) / channels, inner: channels };
}

const batchNorm: KernelEmitter = ({ f, node, inputs: [x, gamma, beta], output }: KernelArgs): Expr[] => {
  const eps = attr.num(node.attrs, "eps");
  const view = channelsLast(x.type.shape);
  const xs = arenaBuffer(f, "along", x.offset, x.type.dtype);
  const out = arenaBuffer(f, "along", output.offset, output.type.dtype);
  const g = arenaBuffer(f, "across", gamma.offset, gamma.type.dtype);
  const b = arenaBuffer(f, "across", beta.offset, beta.type.dtype);
  return walkAxis(f, view, foldArith("f32", "batchNorm"), [xs, out, g, b], (walk) => {
    const { mean, squares } = meanAndSquares(walk, xs, view.len);
    const scale = walk.let((lane) => lane.L.mul(lane.load(g), inverseStd(lane, squares, view.len, eps)));
    const shift = walk.let(({ load }) => load(b));
    walk.each(({ L, load, store, stat }) => [store(out, L.add(L.mul(L.sub(load(xs), stat(mean)), stat(scale)), stat(shift)))]);
  });
};

/** (1 - momentum) * running + momentum * stat, stat the batch mean or the unbiased variance. */
const batchNormRunningStat: KernelEmitter = ({ f, node, inputs: [x, running], output }: KernelArgs): Expr[] => {
  const momentum = attr.num(node.attrs, "momentum");
  const variance = attr.str(node.attrs, "stat") === "var";
  const view = channelsLast(x.type.shape);
  const xs = arenaBuffer(f, "along", x.offset, x.type.dtype);
  const old = arenaBuffer(f, "across", running.offset, running.type.dtype);
  const out = arenaBuffer(f, "across", output.offset, output.type.dtype);
  return walkAxis(f, view, foldArith("f32", "batchNormRunningStat"), [xs, old, out], (walk) => {
    const { mean, squares } = variance ? meanAndSquares(walk, xs, view.len) : { mean: meanOf(walk, xs, view.len), squares: null };
    walk.final(({ L, load, store, stat }) => {
      const batch = squares ? L.div(stat(squares), L.c(view.len - 1)) : stat(mean);
      return [store(out, L.add(L.mul(L.c(1 - momentum), load(old)), L.mul(L.c(momentum), batch)))];
    });
  });
};

export const NORM_KERNELS: readonly KernelRegistration[] = [
  { op: "layerNorm", dtypes: FLOATS, kernel: layerNorm },
  { op: "batchNorm", dtypes: FLOATS, kernel: batchNorm },
  { op: "batchNormRunningStat", dtypes: FLOATS, kernel: batchNormRunningStat },
];
