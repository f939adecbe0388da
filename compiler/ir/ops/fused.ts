// The `fused` op (docs/IR.md, "Fused ops"): a chain or tree of float elementwise ops collapsed
// by the `fuse` pass into one node, so a backend runs it as one loop with no intermediate
// buffers. Its operands are the chain's external inputs; its `body` attribute (fused-body.ts) says
// what to compute per element, with the elementwise records' own element functions.
//
// Precision: the reference kernel evaluates the whole body in float64 and the interpreter rounds
// once, at the end, whereas the unfused graph rounds after every op. Results therefore differ by
// f32 rounding of the intermediates, the budget the op tolerances already allow a backend.
//
// No VJP: fusion runs after autodiff and the optimizer, on the graphs that are emitted, so a fused
// node is never differentiated; autodiff's "has no VJP rule" error names it if one ever is.

import type { OpDef, Tensor } from "../op-def.ts";
import { attr, elementFlops } from "../op-def.ts";
import { formatType, isFloat, numel, ShapeError, type TensorType } from "../types.ts";
import { FLOATS, HALVES, type DTypeSignature, type DTypeSpec } from "../dtypes.ts";
import { expandTo } from "./broadcast.ts";
import { broadcastFor } from "./elementwise-kit.ts";
import { conditionOperands, evaluateBody, parseBody } from "./fused-body.ts";

const fused: OpDef = {
  name: "fused",
  summary: "a fused chain of float elementwise ops, evaluated per element from its body program",
  kind: "elementwise",
  operands: { variadic: "x", min: 1 },
  attrs: {
    body: { kind: "string", doc: "the per-element program over operands xI, temporaries tK and literals (fused-body.ts)" },
  },
  tolerance: 1e-5,
  infer(inputs, a) {
    const steps = parseBody(attr.str(a, "body"), inputs.length);
    return bodyValueType("fused", inputs, conditionOperands("fused", steps, (i) => inputs[i].dtype === "bool"));
  },
  interpret(inputs, a, out) {
    return bodyValues(attr.str(a, "body"), inputs, out);
  },
  // The default rule, stated: one per element of the largest of the result and the operands; the
  // body's steps are not counted (checkpoint cost; fused graphs come after checkpointing).
  flops: elementFlops,
  inplace: "overwrite",
};

/**
 * The type of a body's values (fused, fusedReduce): their broadcast shape, and the operands' one
 * float dtype; or f32 when operands are f32 and 16-bit floats (the `fuse` pass absorbs the
 * widening casts of 16-bit values into f32 chains: widening is exact, so the body reads the
 * 16-bit operand itself). f16 beside bf16 without f32 has no common dtype. `conditions`: the
 * operands the body reads as bool conditions (where's), which take no part in the dtype.
 */
export function bodyValueType(op: string, inputs: readonly TensorType[], conditions: ReadonlySet<number> = new Set()): TensorType {
  const values = inputs.filter((_, i) => !conditions.has(i));
  const dtypes = new Set(values.map((t) => t.dtype));
  const mixed = dtypes.size > 1;
  if (values.length === 0 || ![...dtypes].every(isFloat) || (mixed && !dtypes.has("f32"))) {
    throw new ShapeError(`${op}: operands must share one float dtype, or be f32 and 16-bit floats (besides bool conditions), got ${inputs.map(formatType).join(", ")}`);
  }
  return { dtype: mixed ? "f32" : values[0].dtype, shape: broadcastFor(op, inputs) };
}

/** A body's value in float64 at every element of `type`, the operands broadcast to its shape. */
export function bodyValues(body: string, inputs: readonly Tensor[], type: TensorType): Float64Array {
  const steps = parseBody(body, inputs.length);
  const operands = inputs.map((x) => expandTo(x.data, x.type.shape, type.shape));
  const result = new Float64Array(numel(type.shape));
  const element = new Array<number>(operands.length);
  for (let i = 0; i < result.length; i++) {
    for (let k = 0; k < operands.length; k++) element[k] = operands[k][i];
    result[i] = evaluateBody(steps, element);
  }
  return result;
}

export const FUSED_OPS: readonly OpDef[] = [fused];

/**
 * The dtypes both backends' `fused` kernels take: f32 bodies may read 16-bit operands (widening
 * casts the fuse pass absorbed), 16-bit bodies read their own dtype, and either may read bool
 * conditions (where's).
 */
export const FUSED_SIGNATURES: DTypeSpec = [
  { operands: [], rest: [...FLOATS, "bool"], result: "f32" },
  ...HALVES.map((h): DTypeSignature => ({ operands: [], rest: [h, "bool"], result: h })),
];
