// How tests compare results stored in 16 bits (f16, bf16) with the interpreter's. The interpreter
// computes a node in float64 and rounds it once to its dtype; a kernel computes in f32 and rounds
// once. The two roundings of one value differ only where the f32 result and the float64 one
// straddle a rounding boundary of the 16-bit format, so a result must be the interpreter's or one
// ulp from it: relative 2^-10 for f16, 2^-7 for bf16, and below f16's least normal 2^-14 the
// absolute 2^-24 of its subnormals (the floor), on top of the op's own f32 budget.

import type { Graph } from "../../compiler/ir/graph.ts";
import type { HalfDType } from "../../compiler/passes/precision.ts";
import { graphTolerance, type CompareOptions } from "./wasm-harness.ts";

export const HALVES: readonly HalfDType[] = ["f16", "bf16"];

/** One unit in the last place, relative, of each 16-bit format; and where its subnormals start. */
export const HALF_ULP: Readonly<Record<HalfDType, number>> = { f16: 2 ** -10, bf16: 2 ** -7 };
export const HALF_MIN_NORMAL: Readonly<Record<HalfDType, number>> = { f16: 2 ** -14, bf16: 2 ** -126 };

/** The comparison of a graph's 16-bit results: its ops' budget plus one ulp of the format. */
export function halfCompare(g: Graph, dtype: HalfDType, floor?: number): CompareOptions {
  return { tolerance: graphTolerance(g) + HALF_ULP[dtype], floor: Math.max(floor ?? 0, HALF_MIN_NORMAL[dtype]) };
}
