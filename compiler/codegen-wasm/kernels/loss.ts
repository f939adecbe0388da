// Loss kernels: each folds to one f32 scalar.
//
//   mse                  one blocked sum of (a - b)^2 over every element, SIMD along them.
//   softmaxCrossEntropy  per row of C logits, log Σ exp(x - m) + (m - x[label]) with the
//                        log-sum-exp of reduction-softmax.ts (accurate for confident rows, whose
//                        loss is tiny), summed over the rows and divided by their count.
//
// A label outside [0, C) traps (`unreachable`), as the interpreter throws: reading x[label] there
// would read another tensor's memory. The unsigned comparison also catches negative labels.

import { signature } from "../../ir/dtypes.ts";
import { DTYPE_BYTES, numel } from "../../ir/types.ts";
import type { KernelArgs, KernelEmitter, KernelRegistration } from "../kernel.ts";
import type { Expr } from "../module.ts";
import { loadScalar, storeLanes } from "./access.ts";
import { FLOATS } from "../../ir/dtypes.ts";
import { Lanes } from "./lanes.ts";
import { arenaBuffer, walkAxis } from "./reduction-axis-walk.ts";
import { foldArith } from "./reduction-fold.ts";
import { logSumExp } from "./reduction-softmax.ts";

/** mean((a - b)^2) over every element. */
const mse: KernelEmitter = ({ f, inputs: [a, b], output }: KernelArgs): Expr[] => {
  const count = numel(a.type.shape);
  const as = arenaBuffer(f, "along", a.offset, a.type.dtype);
  const bs = arenaBuffer(f, "along", b.offset, b.type.dtype);
  const out = arenaBuffer(f, "across", output.offset, output.type.dtype);
  return walkAxis(f, { outer: 1, len: count, inner: 1 }, foldArith("f32", "mse"), [as, bs, out], (walk) => {
    const squares = walk.fold("sum", ({ L, load }) => {
      const d = L.letF(L.sub(load(as), load(bs)));
      return L.mul(d(), d());
    });
    walk.final(({ L, store, stat }) => [store(out, L.div(stat(squares), L.c(count)))]);
  });
};

const softmaxCrossEntropy: KernelEmitter = ({ f, inputs: [logits, labels], output, helper }: KernelArgs): Expr[] => {
  const shape = logits.type.shape;
  const classes = shape[shape.length - 1];
  const rows = numel(labels.type.shape);
  const xs = arenaBuffer(f, "along", logits.offset, logits.type.dtype);
  // Labels are one i32 per row: an across buffer, read by address since the walk computes in f32.
  const ys = arenaBuffer(f, "across", labels.offset, labels.type.dtype);
  const total = f.local("f32");
  const rowLosses = walkAxis(f, { outer: rows, len: classes, inner: 1 }, foldArith("f32", "softmaxCrossEntropy"), [xs, ys], (walk) => {
    const { max, logSum } = logSumExp(walk, xs, helper);
    walk.final(({ L, stat, address }) => {
      const label = f.local("i32");
      const eb = DTYPE_BYTES[logits.type.dtype];
      // The label is read (and checked) before the picked logit, whose widening (access.ts) may
      // add statements of its own to L.body.
      L.body.push(f.set(label, f.loadI32(address(ys))), f.if(f.i32.ge_u(f.get(label), f.i32.const(classes)), [f.unreachable()]));
      const picked = loadScalar(L, logits.type.dtype, f.i32.add(address(xs), f.i32.shl(f.get(label), f.i32.const(Math.log2(eb)))));
      return [f.set(total, L.add(f.get(total), L.add(stat(logSum), L.sub(stat(max), picked))))];
    });
  });
  const L = new Lanes(f, 1);
  const store = storeLanes(L, output.type.dtype, f.i32.const(output.offset), f.f32.div(f.get(total), f.f32.const(rows)));
  return [f.set(total, f.f32.const(0)), ...rowLosses, ...L.body, store];
};

/**
 * Every float dtype of the operands (16-bit ones fold in f32); mse's result has its operands'
 * dtype (rounded once), softmaxCrossEntropy's is f32 whatever the logits' (the op record's rule).
 */
export const LOSS_KERNELS: readonly KernelRegistration[] = [
  { op: "mse", dtypes: FLOATS.map((t) => signature([t, t], t)), kernel: mse },
  { op: "softmaxCrossEntropy", dtypes: FLOATS.map((t) => signature([t, "i32"], "f32")), kernel: softmaxCrossEntropy },
];
