// finite-gate — the in-graph "is every value finite" check and the conditional update that a
// training step uses to skip itself, shared by the passes that skip steps: loss-scale (an f16
// gradient overflowed: skip and halve the scale) and nonfinite-guard (the loss or a gradient is
// NaN/Inf: skip and count). One check and one gate, so a step built with both has one of each.
//
//   check  sum(v * 0) over every element of every checked value, added up: 0 while every element
//          is finite, NaN once one is inf or NaN (inf * 0 and NaN * 0 are NaN, and NaN survives
//          every addition). Unlike |sum(v)| < f32 max it has no false alarm when finite values
//          add up past the dtype's range (an f16 gradient's sum overflows at 65504), and it costs
//          the same: one read of each value, fused into its reduction.
//   gate   each state update `p <- new` becomes `p <- where(ok, new, p)`: a skipped step writes
//          every state back bit for bit as it was.

import type { GraphBuilder } from "../ir/builder.ts";
import type { StateUpdate } from "../ir/graph.ts";
import { scalar } from "../ir/vjp-kit.ts";

/** The id of the bool[] node that is true when every checked value is finite. */
export const FINITE = "step/finite";

/**
 * Adds the check over `values` (any float dtypes and shapes) as the bool[] node `id`; returns it.
 * With no values the step is always finite (a const true).
 */
export function allFinite(b: GraphBuilder, values: readonly string[], id = FINITE): string {
  const zero = scalar(b, 0, "f32");
  if (values.length === 0) return b.op("equal", [zero, zero], {}, undefined, id);
  const sums = values.map((v) => {
    const { dtype, shape } = b.typeOf(v);
    const probe = b.op("mul", [v, scalar(b, 0, dtype)]);
    const s = shape.length === 0 ? probe : b.op("sum", [probe], { axes: shape.map((_, i) => i) });
    return dtype === "f32" ? s : b.op("cast", [s], { dtype: "f32" });
  });
  const total = sums.reduce((acc, s) => b.op("add", [acc, s]));
  return b.op("equal", [total, zero], {}, undefined, id);
}

/** Records each update as `where(ok, value, param)`: when `ok` is false the state keeps its value. */
export function gateUpdates(b: GraphBuilder, ok: string, updates: readonly StateUpdate[]): void {
  for (const u of updates) b.update(u.param, b.op("where", [ok, u.value, u.param]));
}
