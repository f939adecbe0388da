// softmax and logSoftmax along any axis, numerically stable: the row's max m is subtracted before
// exp, so exp never overflows and the largest term is exactly 1.
//
//   softmax     e = exp(x - m) is stored as it is summed into s, then scaled by 1/s in place.
//   logSoftmax  (x - m) - log s. When one term dominates, s = 1 + d with d tiny, and log s ~ d
//               would be lost to rounding if s were formed first (f32 keeps 7 digits of 1 + d).
//               So d is summed on its own — every term but the maxima, plus (ties - 1) — and
//               log s = log1p(d). The loss kernel (loss.ts) shares this, as a confident
//               prediction's cross-entropy is exactly such a log s.
//
// SIMD runs along the axis when it is innermost, across the axis after it otherwise
// (reduction-axis-walk.ts). exp and log are the math library's shared helpers (math.ts).

import { attr } from "../../ir/op-def.ts";
import { resolveAxis, splitAtAxis } from "../../ir/ops/operand-checks.ts";
import { DTYPE_BYTES } from "../../ir/types.ts";
import type { KernelArgs, KernelEmitter, KernelRegistration } from "../kernel.ts";
import { FLOATS } from "../../ir/dtypes.ts";
import type { Expr } from "../module.ts";
import type { Lanes } from "./lanes.ts";
import { callMath } from "./math.ts";
import { arenaBuffer, walkAxis, type AxisWalk, type Lane, type Stat, type WalkBuffer } from "./reduction-axis-walk.ts";
import { foldArith } from "./reduction-fold.ts";

type Helper = KernelArgs["helper"];

/**
 * log1p(d) from log alone (Goldberg): with u = 1 + d rounded, log(u) * d / (u - 1) cancels the
 * rounding of u, and u == 1 means d is below half an ulp of 1, where log1p(d) = d.
 */
function log1p(L: Lanes, helper: Helper, d: () => Expr): Expr {
  const u = L.letF(L.add(L.c(1), d()));
  const ratio = L.div(L.mul(callMath(L, helper, "log", u()), d()), L.sub(u(), L.c(1)));
  return L.select(L.eq(u(), L.c(1)), d(), ratio);
}

/** The row's max m and log Σ exp(x - m), the latter as log1p of the sum less one (see header). */
export function logSumExp(walk: AxisWalk, xs: WalkBuffer, helper: Helper): { max: Stat; logSum: Stat } {
  const max = walk.fold("max", ({ load }) => load(xs));
  const isMax = (L: Lanes, x: Expr, m: Expr) => L.eq(x, m);
  const ties = walk.fold("sum", ({ L, load, stat }) => L.select(isMax(L, load(xs), stat(max)), L.c(1), L.c(0)));
  // A maximum contributes exp(0) - 1 = 0; an infinite maximum contributes exp(inf - inf) - 1 =
  // NaN, which makes the whole row NaN as the interpreter's does.
  const rest = walk.fold("sum", ({ L, load, stat }) => {
    const x = L.letF(load(xs));
    const m = L.letF(stat(max));
    const e = L.letF(callMath(L, helper, "exp", L.sub(x(), m())));
    return L.select(isMax(L, x(), m()), L.sub(e(), L.c(1)), e());
  });
  const logSum = walk.let(({ L, stat }) => log1p(L, helper, () => L.add(stat(rest), L.sub(stat(ties), L.c(1)))));
  return { max, logSum };
}

function softmaxKernel(log: boolean): KernelEmitter {
  const name = log ? "logSoftmax" : "softmax";
  return ({ f, node, inputs: [x], output, helper }: KernelArgs): Expr[] => {
    const axis = resolveAxis(name, attr.num(node.attrs, "axis"), x.type);
    const xs = arenaBuffer(f, "along", x.offset, x.type.dtype);
    const out = arenaBuffer(f, "along", output.offset, output.type.dtype);
    return walkAxis(f, splitAtAxis(x.type.shape, axis), foldArith("f32", name), [xs, out], (walk) => {
      if (log) {
        const { max, logSum } = logSumExp(walk, xs, helper);
        walk.each(({ L, load, store, stat }) => [store(out, L.sub(L.sub(load(xs), stat(max)), stat(logSum)))]);
        return;
      }
      const max = walk.fold("max", ({ load }) => load(xs));
      const exp = ({ L, load, stat }: Lane) => callMath(L, helper, "exp", L.sub(load(xs), stat(max)));
      // A 16-bit result cannot hold exp(x - m) between the passes without rounding it twice, so
      // its last pass computes the exponential again.
      const recompute = DTYPE_BYTES[output.type.dtype] < 4;
      const sum = walk.fold("sum", exp, recompute ? undefined : ({ store }, e) => [store(out, e)]);
      const inverse = walk.let(({ L, stat }) => L.div(L.c(1), stat(sum)));
      walk.each((lane) => [lane.store(out, lane.L.mul(recompute ? exp(lane) : lane.load(out), lane.stat(inverse)))]);
    });
  };
}

export const SOFTMAX_KERNELS: readonly KernelRegistration[] = [
  { op: "softmax", dtypes: FLOATS, kernel: softmaxKernel(false) },
  { op: "logSoftmax", dtypes: FLOATS, kernel: softmaxKernel(true) },
];
