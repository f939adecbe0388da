// The pruneMask kernel (ir/ops/prune.ts): on a step that recomputes the mask, the k smallest
// scores (IEEE totalOrder on their f32 bits, ties by lower index) become 0 and the rest 1; on
// other steps the old mask is kept (copied, or nothing when the result took its buffer).
//
// The k-th smallest key is found without sorting, by bisection on its bits from the top: a
// candidate prefix is kept when fewer than k keys lie below it, so 32 counting sweeps over the
// scores (four keys per i32x4 compare) give the key T with #(key < T) < k <= #(key <= T). A last
// sweep in index order writes 0 for keys below T and for the first k - #(key < T) keys equal to
// T. Every score is read before element i of the result is written, and element i only from
// score i, so the result may take the scores' buffer too.

import { numel } from "../../ir/types.ts";
import { signature, signedTable } from "../../ir/dtypes.ts";
import type { KernelEmitter, KernelTable } from "../kernel.ts";
import type { Expr, FunctionBuilder } from "../module.ts";

/** totalOrder key of f32 bits (i32): bits ^ (sign ? 0xffffffff : 0x80000000). */
function scalarKey(f: FunctionBuilder, bits: Expr, copy: Expr): Expr {
  return f.i32.xor(bits, f.i32.or(f.i32.shr_s(copy, f.i32.const(31)), f.i32.const(0x80000000 | 0)));
}

const pruneMask: KernelEmitter = ({ f, inputs: [scores, k, mask, update], output }) => {
  const n = numel(scores.type.shape);
  const vectors = Math.floor(n / 4);
  const i = f.local("i32");
  const bit = f.local("i32");
  const need = f.local("i32");
  const prefix = f.local("i32");
  const candidate = f.local("i32");
  const count = f.local("i32");
  const bits = f.local("i32");
  const key = f.local("i32");
  const ties = f.local("i32");
  const vbits = f.local("v128");
  const acc = f.local("v128");
  const scoreBits = (index: Expr) => f.loadI32(f.at(scores.offset, index, 4));

  /** count = #(key < bound) over every score (bound unsigned). */
  const countBelow = (bound: () => Expr): Expr[] => {
    const lanes = [0, 1, 2, 3].map((lane) => f.i32x4.extract_lane(f.get(acc), lane));
    return [
      f.set(acc, f.v128.const(new Array(16).fill(0))),
      f.forRange(i, 0, vectors, 1, [
        f.set(vbits, f.loadV128(f.at(scores.offset, f.get(i), 16))),
        f.set(acc, f.i32x4.sub(f.get(acc), f.i32x4.lt_u(
          f.v128.xor(f.get(vbits), f.v128.or(f.i32x4.shr_s(f.get(vbits), f.i32.const(31)), f.i32x4.splat(f.i32.const(0x80000000 | 0)))),
          f.i32x4.splat(bound()),
        ))),
      ]),
      f.set(count, f.i32.add(f.i32.add(lanes[0], lanes[1]), f.i32.add(lanes[2], lanes[3]))),
      f.forRange(i, vectors * 4, n, 1, [
        f.set(bits, scoreBits(f.get(i))),
        f.set(count, f.i32.add(f.get(count), f.i32.lt_u(scalarKey(f, f.get(bits), f.get(bits)), bound()))),
      ]),
    ];
  };

  const select: Expr[] = [
    // need = clamp(k, 0, n)
    f.set(need, f.loadI32(f.i32.const(k.offset))),
    f.set(need, f.select(f.i32.lt_s(f.get(need), f.i32.const(0)), f.i32.const(0), f.get(need))),
    f.set(need, f.select(f.i32.gt_s(f.get(need), f.i32.const(n)), f.i32.const(n), f.get(need))),
    f.set(prefix, f.i32.const(0)),
    f.set(ties, f.i32.const(0)),
    f.if(f.i32.gt_s(f.get(need), f.i32.const(0)), [
      // Bits 31 … 0 of the need-th smallest key.
      f.forRange(bit, 0, 32, 1, [
        f.set(candidate, f.i32.or(f.get(prefix), f.i32.shl(f.i32.const(1), f.i32.sub(f.i32.const(31), f.get(bit))))),
        ...countBelow(() => f.get(candidate)),
        f.if(f.i32.lt_u(f.get(count), f.get(need)), [f.set(prefix, f.get(candidate))]),
      ]),
      ...countBelow(() => f.get(prefix)),
      f.set(ties, f.i32.sub(f.get(need), f.get(count))),
    ]),
    // Index order: below T pruned; equal to T pruned while ties remain. With need 0 nothing is
    // below key 0 and no ties remain: all ones.
    f.forRange(i, 0, n, 1, [
      f.set(bits, scoreBits(f.get(i))),
      f.set(key, scalarKey(f, f.get(bits), f.get(bits))),
      f.if(
        f.i32.or(
          f.i32.and(f.i32.ne(f.get(need), f.i32.const(0)), f.i32.lt_u(f.get(key), f.get(prefix))),
          f.i32.and(f.i32.eq(f.get(key), f.get(prefix)), f.i32.gt_s(f.get(ties), f.i32.const(0))),
        ),
        [
          f.storeF32(f.at(output.offset, f.get(i), 4), f.f32.const(0)),
          f.if(f.i32.eq(f.get(key), f.get(prefix)), [f.set(ties, f.i32.sub(f.get(ties), f.i32.const(1)))]),
        ],
        [f.storeF32(f.at(output.offset, f.get(i), 4), f.f32.const(1))],
      ),
    ]),
  ];
  const keep = output.offset === mask.offset ? [] : [f.copy(output.offset, mask.offset, 4 * n)];
  return [f.if(f.i32.eqz(f.loadI32(f.i32.const(update.offset))), keep.length > 0 ? keep : [f.nop()], select)];
};

export const PRUNE_KERNELS: KernelTable = signedTable("wasm prune kernels", {
  pruneMask: [{ op: "pruneMask", dtypes: [signature(["f32", "i32", "f32", "i32"], "f32")], kernel: pruneMask }],
});
