// finite-gate — the in-graph "is every value finite" check and the conditional update that a
// training step uses to skip itself, shared by the passes that skip steps: loss-scale (an f16
// gradient overflowed: skip and halve the scale) and nonfinite-guard (the loss or a gradient is
// NaN/Inf: skip and count). One check and one gate, so a step built with both has one of each.
//
//   check  |sum of every element of every checked value| < f32 max: false once one element is inf
//          or NaN (either makes its sum, and the total, inf or NaN). The sums are of the values
//          themselves: a probe like sum(v * 0), exact in IEEE arithmetic, is folded to 0 by GPU
//          shader compilers that assume no NaN/Inf (WGSL allows it; SwiftShader does it inside a
//          fused reduction), and a sum of runtime values cannot be folded. The price: finite
//          values whose sum passes f32's range (1e38; an f16 value's sum, 65504) count as
//          non-finite too: a step that large is skipped as well.
//   gate   each state update `p <- new` becomes `p <- where(ok, new, p)`: a skipped step writes
//          every state back bit for bit as it was.
//   local  the updates the forward pass itself makes (batch norm's running statistics) are gated
//          by their own new value's check instead of the step's (`gateForwardUpdates`): waiting
//          for the loss would tie every one of them to the end of the forward pass.

import type { GraphBuilder } from "../ir/builder.ts";
import type { StateUpdate } from "../ir/graph.ts";
import { isFloat } from "../ir/types.ts";
import { scalar } from "../ir/vjp-kit.ts";

/** The id of the bool[] node that is true when every checked value is finite. */
export const FINITE = "step/finite";

const F32_MAX = 3.4028234663852886e38;

/**
 * Adds the check over `values` (any float dtypes and shapes) as the bool[] node `id`; returns it.
 * With no values the step is always finite (a const true).
 */
export function allFinite(b: GraphBuilder, values: readonly string[], id = FINITE): string {
  const f32 = (x: number) => scalar(b, x, "f32");
  if (values.length === 0) return b.op("less", [f32(0), f32(1)], {}, undefined, id);
  const sums = values.map((v) => {
    const { dtype, shape } = b.typeOf(v);
    const s = shape.length === 0 ? v : b.op("sum", [v], { axes: shape.map((_, i) => i) });
    return dtype === "f32" ? s : b.op("cast", [s], { dtype: "f32" });
  });
  const total = sums.reduce((acc, s) => b.op("add", [acc, s]));
  return b.op("less", [b.op("abs", [total]), f32(F32_MAX)], {}, undefined, id);
}

/** Records each update as `where(ok, value, param)`: when `ok` is false the state keeps its value. */
export function gateUpdates(b: GraphBuilder, ok: string, updates: readonly StateUpdate[]): void {
  for (const u of updates) b.update(u.param, b.op("where", [ok, u.value, u.param]));
}

/**
 * `where(ok, value, otherwise)`: the value on a finite step, else a constant of its dtype. The
 * optimizer gates what enters its update rules this way (the effective gradient to 0, the
 * learning rate to 0, decay and moment factors to 1), so a skipped step is an identity that still
 * runs in place over its state: gating each update's result instead would keep every new value
 * in a buffer of its own until `ok` is known, after the last gradient.
 */
export function gated(b: GraphBuilder, ok: string, value: string, otherwise: number): string {
  return b.op("where", [ok, value, scalar(b, otherwise, b.typeOf(value).dtype)]);
}

/**
 * Gates the updates already in a train step before the optimizer adds its own: each float state
 * (batch norm's running statistics) by the check of its own new value, `where(finite(new), new,
 * old)`, so it keeps no activation waiting for the loss (a running statistic folds in its batch's
 * mean or variance, which a non-finite value in the batch makes non-finite, so it is never
 * poisoned; a NaN that arises only after it leaves it updated with finite values); every other
 * state (the dropout counter `rng.step`, an integer) by `ok`, so a skipped step draws no mask.
 * The check of a float state is named `<state>/finite`.
 */
export function gateForwardUpdates(b: GraphBuilder, ok: string, updates: readonly StateUpdate[]): void {
  for (const u of updates) {
    const own = isFloat(b.typeOf(u.value).dtype) ? allFinite(b, [u.value], `${u.param}/finite`) : ok;
    b.update(u.param, b.op("where", [own, u.value, u.param]));
  }
}
