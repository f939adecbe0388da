// The `fusedReduce` op (docs/IR.md, "Fused ops"): a reduction (sum, mean or max over axes) of an
// elementwise body evaluated per element, made by the `fuseReductions` pass from a reduction whose
// operand is an elementwise node or `fused` chain used by nothing else. The body's value, e.g.
// dy * xhat in batch norm's backward pass, is folded as it is computed and never gets a buffer.
//
// The element shape is the broadcast of the operands (the shape the unfused reduction read); the
// result is that shape reduced as `reduce` with `axes` and `keepDims` would. The reference
// evaluates the body and the reduction in float64 and rounds once (as `fused` does); no VJP
// (fusion runs after autodiff).

import type { Attrs } from "../graph.ts";
import type { OpDef, Tensor } from "../op-def.ts";
import { attr, elementFlops } from "../op-def.ts";
import { normalizeAxis, ShapeError, type Shape } from "../types.ts";
import { parseBody } from "./fused-body.ts";
import { bodyValues, bodyValueType } from "./fused.ts";
import { REDUCTION_OPS } from "./reduction.ts";

/** The reductions a `fusedReduce` may apply: those whose record says `fusion.reduceHead`. */
export const FUSED_REDUCTIONS: readonly string[] = REDUCTION_OPS.filter((op) => op.fusion?.reduceHead).map((op) => op.name);

/** The reduction record `reduce` names, and its attributes. */
function reduction(a: Attrs): { op: OpDef; attrs: Attrs } {
  const name = attr.str(a, "reduce");
  const op = REDUCTION_OPS.find((o) => o.name === name);
  if (!op || !FUSED_REDUCTIONS.includes(name)) {
    throw new ShapeError(`fusedReduce: reduce must be one of ${FUSED_REDUCTIONS.join(", ")}, got '${name}'`);
  }
  return { op, attrs: { axes: attr.ints(a, "axes"), keepDims: attr.bool(a, "keepDims") } };
}

const fusedReduce: OpDef = {
  name: "fusedReduce",
  summary: "a sum, mean or max over axes of a per-element body program (fused-body.ts), without a buffer for the body's values",
  kind: "reduction",
  operands: { variadic: "x", min: 1 },
  attrs: {
    body: { kind: "string", doc: "the per-element program over operands xI, temporaries tK and literals" },
    reduce: { kind: "string", oneOf: [...FUSED_REDUCTIONS], doc: "the reduction applied to the body's values" },
    axes: { kind: "ints", doc: "axes of the body's shape to reduce" },
    keepDims: { kind: "bool", default: false, doc: "keep reduced axes as size-1 dimensions" },
  },
  tolerance: 1e-5,
  infer(inputs, a) {
    parseBody(attr.str(a, "body"), inputs.length);
    const { op, attrs } = reduction(a);
    return op.infer([bodyValueType("fusedReduce", inputs)], attrs);
  },
  interpret(inputs, a, out) {
    const type = bodyValueType("fusedReduce", inputs.map((x) => x.type));
    const x: Tensor = { type, data: bodyValues(attr.str(a, "body"), inputs, type) };
    const { op, attrs } = reduction(a);
    return op.interpret([x], attrs, out);
  },
  // The default rule, stated: one per element of the largest of the result and the operands; the
  // body's steps are not counted (checkpoint cost; fused graphs come after checkpointing).
  flops: elementFlops,
};

/** Which axes of `shape` the `axes` attribute names. */
export function reducedAxisFlags(shape: Shape, axes: readonly number[]): boolean[] {
  const flags = new Array<boolean>(shape.length).fill(false);
  for (const a of axes) flags[normalizeAxis(a, shape.length)] = true;
  return flags;
}

/**
 * Whether at least two values fold into each result and the reduced axes are neighbours once
 * size-1 axes are dropped: the shape is then [outer, len, inner] around one reduced block.
 */
export function reducesOneBlock(shape: Shape, reduced: readonly boolean[]): boolean {
  const kinds = shape.map((d, i) => (d === 1 ? undefined : reduced[i])).filter((k) => k !== undefined);
  const first = kinds.indexOf(true);
  return first >= 0 && kinds.slice(first, kinds.lastIndexOf(true) + 1).every((k) => k);
}

/**
 * How an operand (broadcast to `shape`) lies relative to a one-block reduction of `shape`:
 *   along   the full shape
 *   across  constant along the reduced axes (size 1 there): one value per result, e.g. a
 *           per-channel statistic in a batch-norm reduction
 *   axis    constant along the kept axes: one value per position of the reduced block
 * undefined when it is none of these (it broadcasts along some but not all axes of one kind).
 */
export function operandLayout(operand: Shape, shape: Shape, reduced: readonly boolean[]): "along" | "across" | "axis" | undefined {
  const aligned = [...new Array<number>(shape.length - operand.length).fill(1), ...operand];
  if (aligned.every((d, i) => d === shape[i])) return "along";
  const constantOver = (overReduced: boolean) => aligned.every((d, i) => (reduced[i] === overReduced ? d === 1 || shape[i] === 1 : d === shape[i]));
  if (constantOver(true)) return "across";
  if (constantOver(false)) return "axis";
  return undefined;
}

export const FUSED_REDUCE_OPS: readonly OpDef[] = [fusedReduce];
