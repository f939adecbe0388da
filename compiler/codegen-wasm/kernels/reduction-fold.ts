// The arithmetic of a fold (sum or max) for each element type the arena stores, on top of the
// shared `Lanes` (lanes.ts): floats fold as f32/f32x4, integer types widened to i32/i32x4 (as
// access.ts loads them), so an i8 sum wraps exactly where the interpreter's stored result does.

import type { DType } from "../../ir/types.ts";
import type { Expr, FunctionBuilder, Local, WasmType } from "../module.ts";
import { isFloatLane } from "./access.ts";
import { NUMERIC } from "../../ir/dtypes.ts";
import type { Lanes } from "./lanes.ts";

export type FoldKind = "sum" | "max";

/** How a fold of one element type computes: at either width, and across the four lanes. */
export interface FoldArith {
  readonly dtype: DType;
  /** Wasm type of a value at this width. */
  type(L: Lanes): WasmType;
  /** The value a fold starts from: 0, or the least value of the type for a max. */
  identity(L: Lanes, kind: FoldKind): Expr;
  /** a ∘ b; both are read from locals (an integer max reads them twice). */
  combine(L: Lanes, kind: FoldKind, a: Local, b: Local): Expr;
  /** The four lanes of a v128 local folded into one scalar: (l0 ∘ l1) ∘ (l2 ∘ l3). */
  acrossLanes(f: FunctionBuilder, kind: FoldKind, v: Local): Expr;
}

/** The dtypes a fold computes on: f32 and the integers (ir/dtypes.ts NUMERIC). */
const FOLDABLE: ReadonlySet<DType> = new Set(NUMERIC);

export function foldArith(dtype: DType, op: string): FoldArith {
  // The kernel tables register folds for these dtypes only; anything else is a registration bug.
  if (!FOLDABLE.has(dtype)) throw new Error(`wasm-simd: ${op} was registered for ${dtype}, which has no fold`);
  const float = isFloatLane(dtype);
  const combineScalars = (f: FunctionBuilder, kind: FoldKind, a: Expr, b: Expr): Expr => {
    if (float) return kind === "sum" ? f.f32.add(a, b) : f.f32.max(a, b);
    if (kind === "sum") return f.i32.add(a, b);
    // No scalar integer max in wasm: select on a comparison, each operand in a local.
    const ta = f.local("i32");
    const tb = f.local("i32");
    // select evaluates its two values before its condition, so the tees run first.
    return f.select(f.i32.gt_s(f.get(ta), f.get(tb)), f.tee(ta, a), f.tee(tb, b));
  };
  return {
    dtype,
    type: (L) => (float ? L.floatType : L.intType),
    identity: (L, kind) => (float ? L.c(kind === "sum" ? 0 : -Infinity) : L.ic(kind === "sum" ? 0 : -2147483648)),
    combine: (L, kind, a, b) => {
      const get = (l: Local) => () => L.f.get(l);
      if (float) return kind === "sum" ? L.add(get(a)(), get(b)()) : L.max(get(a)(), get(b)());
      return kind === "sum" ? L.iadd(get(a)(), get(b)()) : L.imax(get(a), get(b));
    },
    acrossLanes: (f, kind, v) => {
      const lane = (i: number) => (float ? f.f32x4.extract_lane(f.get(v), i) : f.i32x4.extract_lane(f.get(v), i));
      return combineScalars(f, kind, combineScalars(f, kind, lane(0), lane(1)), combineScalars(f, kind, lane(2), lane(3)));
    },
  };
}
