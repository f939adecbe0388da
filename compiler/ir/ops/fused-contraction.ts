// Contractions with a fused elementwise epilogue (docs/IR.md, "Fused ops"): `fusedMatmul` and
// `fusedConv2d` compute matmul / conv2d and then, per result element, the `epilogue` program
// (fused-body.ts) before the element is stored — bias-add, activation, scaling, a residual add.
// The `fuseEpilogues` pass creates them; the product never gets a buffer of its own.
//
// Operands: the head's two operands (matmul's a, b; conv2d's x, w), then the epilogue's extra
// operands, each broadcast to the result's shape. In the epilogue, `x0` is the product's element
// and `xI` (I >= 1) the I-th extra operand, i.e. node operand I + 1. Attributes: the head's own
// plus `epilogue`.
//
// Precision: as `fused`, the reference evaluates the product and the epilogue in float64 and
// rounds once; a backend rounds the product to f32 first. The head's tolerance covers both.
//
// No VJP: the pass runs after autodiff, on the graphs that are emitted.

import type { Attrs } from "../graph.ts";
import type { OpDef } from "../op-def.ts";
import { attr, opFlops } from "../op-def.ts";
import { broadcastShapes, formatType, numel, sameShape, ShapeError } from "../types.ts";
import { expandTo } from "./broadcast.ts";
import { evaluateBody, parseBody } from "./fused-body.ts";
import { NN_OPS } from "./nn.ts";

/** The contractions whose record names a fused form (`fusion.epilogueOp`). */
const HEADS: readonly OpDef[] = NN_OPS.filter((op) => op.fusion?.epilogueOp !== undefined);

/** The name of the fused op whose head is `head`, for the heads that have one. */
export const EPILOGUE_OPS: Readonly<Record<string, string>> = Object.fromEntries(HEADS.map((op) => [op.name, op.fusion!.epilogueOp!]));

/** The head's attributes: the fused node's without `epilogue`. */
export function headAttrs(a: Attrs): Attrs {
  const { epilogue: _body, ...rest } = a;
  return rest;
}

function withEpilogue(head: OpDef): OpDef {
  const headName = head.name;
  const name = head.fusion!.epilogueOp!;
  return {
    name,
    summary: `${headName} whose result elements pass through an elementwise epilogue (bias, activation, residual) before they are stored`,
    kind: "contraction",
    operands: { variadic: "x", min: 2 },
    attrs: {
      ...head.attrs,
      epilogue: { kind: "string", doc: "per-element program over the product x0 and the extra operands x1, x2, ... (fused-body.ts)" },
    },
    tolerance: head.tolerance,
    infer(inputs, a) {
      const out = head.infer(inputs.slice(0, 2), headAttrs(a));
      for (const [k, t] of inputs.slice(2).entries()) {
        let shape: number[] | undefined;
        try {
          shape = broadcastShapes(t.shape, out.shape);
        } catch { /* reported below */ }
        if (t.dtype !== out.dtype || !shape || !sameShape(shape, out.shape)) {
          throw new ShapeError(`${name}: epilogue operand x${k + 1} is ${formatType(t)}; expected ${out.dtype} broadcasting to the product ${formatType(out)}`);
        }
      }
      parseBody(attr.str(a, "epilogue"), inputs.length - 1);
      return out;
    },
    interpret(inputs, a, out) {
      const product = head.interpret(inputs.slice(0, 2), headAttrs(a), out);
      const extras = inputs.slice(2).map((x) => expandTo(x.data, x.type.shape, out.shape));
      const steps = parseBody(attr.str(a, "epilogue"), inputs.length - 1);
      const element = new Array<number>(1 + extras.length);
      const result = new Float64Array(numel(out.shape));
      for (let i = 0; i < result.length; i++) {
        element[0] = product[i];
        for (let k = 0; k < extras.length; k++) element[k + 1] = extras[k][i];
        result[i] = evaluateBody(steps, element);
      }
      return result;
    },
    // The head's: the epilogue's steps are not counted (one per product element at most).
    flops: (node, operandTypes) => opFlops(head, node, operandTypes.slice(0, 2)),
  };
}

export const FUSED_CONTRACTION_OPS: readonly OpDef[] = HEADS.map(withEpilogue);
