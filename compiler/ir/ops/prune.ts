// Pruning op records (docs/IR.md "Pruning"; docs/COMPRESSION.md "Pruning while training"):
// pruneMask, which the training step's `prune` pass uses to recompute a weight's mask in-graph.
//
//   pruneMask(scores: f32, k: i32 scalar, mask: f32 (scores' shape), update: i32 scalar) -> f32
//
// With update != 0 the result is 1 everywhere but at the k smallest scores (k clamped to
// [0, size]), which are 0; among equal scores the lower flat index goes first, as mlc prune's
// masks (ir/prune-masks.ts) and so torch.nn.utils.prune's on distinct magnitudes. Scores are
// ordered as IEEE 754 totalOrder on their f32 bits (-NaN < -inf < ... < -0 < +0 < ... < +inf <
// +NaN), one order the interpreter and every kernel share, NaN included. With update == 0 the
// result is `mask` unchanged: the step keeps its mask between the scheduled recomputations, and
// a kernel skips the selection then. Scores are magnitudes (|w|) or a channel's or block's norm:
// an element mask takes |w| of the weight's shape, a channel mask the [N] norms of its columns.

import type { OpDef } from "../op-def.ts";
import { formatType, numel, ShapeError, type TensorType } from "../types.ts";
import { noCotangents } from "../vjp-kit.ts";

/** The f32 bits of `v` as an unsigned key whose order is IEEE totalOrder. */
export function totalOrderKey(v: number): number {
  KEY_VIEW.setFloat32(0, v);
  const bits = KEY_VIEW.getUint32(0);
  return (bits & 0x80000000 ? ~bits : bits | 0x80000000) >>> 0;
}
const KEY_VIEW = new DataView(new ArrayBuffer(4));

/**
 * The pruned positions of `scores`: the k smallest by totalOrderKey, ties by lower index first.
 * Returns 1 (kept) or 0 (pruned) per element.
 */
export function smallestKMask(scores: ArrayLike<number>, k: number): Float64Array {
  const n = scores.length;
  const keys = Float64Array.from({ length: n }, (_, i) => totalOrderKey(scores[i]));
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => keys[a] - keys[b] || a - b);
  const out = new Float64Array(n).fill(1);
  const pruned = Math.max(0, Math.min(n, Math.trunc(k)));
  for (let r = 0; r < pruned; r++) out[order[r]] = 0;
  return out;
}

function requireScalarI32(what: string, t: TensorType): void {
  if (t.dtype !== "i32" || numel(t.shape) !== 1 || t.shape.length > 1) {
    throw new ShapeError(`pruneMask: ${what} must be an i32 scalar (shape [] or [1]), got ${formatType(t)}`);
  }
}

const pruneMask: OpDef = {
  name: "pruneMask",
  summary: "with update != 0: 1 but 0 at the k smallest scores (totalOrder, lower index first on ties); else mask unchanged",
  kind: "other",
  operands: ["scores", "k", "mask", "update"],
  attrs: {},
  tolerance: 0,
  infer([scores, k, mask, update]) {
    if (scores.dtype !== "f32") throw new ShapeError(`pruneMask: scores must be f32, got ${formatType(scores)}`);
    requireScalarI32("k", k);
    if (mask.dtype !== "f32" || mask.shape.length !== scores.shape.length || mask.shape.some((d, i) => d !== scores.shape[i])) {
      throw new ShapeError(`pruneMask: mask must be f32 of the scores' shape ${formatType(scores)}, got ${formatType(mask)}`);
    }
    requireScalarI32("update", update);
    return mask;
  },
  interpret([scores, k, mask, update]) {
    if (update.data[0] === 0) return Float64Array.from(mask.data);
    return smallestKMask(scores.data, k.data[0]);
  },
  // A mask: no gradient reaches the scores, k or the old mask.
  vjp: noCotangents,
  // Masks belong to f32 master weights (pruning runs on the optimizer's f32 updates).
  f32Only: true,
  // The selection reads the scores once per bit of the key (kernels bisect on it).
  flops(node) {
    return 33 * numel(node.type.shape);
  },
  // Element i of the result is written after every read of the scores but element i's, and
  // from the old mask's element i only: it may take the old mask's (or the scores') buffer.
  inplace: "overwrite",
};

export const PRUNE_OPS: readonly OpDef[] = [pruneMask];
