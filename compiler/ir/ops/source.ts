// Source ops other than `const`: tensors computed from attributes alone.

import type { OpDef } from "../op-def.ts";
import { attr } from "../op-def.ts";
import { noCotangents } from "../vjp-kit.ts";
import { formatShape, normalizeAxis, numel, ShapeError, stridesOf } from "../types.ts";

/** iota (XLA's name): each element is its own index along `axis`; e.g. masks built by comparing two iotas. */
const iota: OpDef = {
  name: "iota",
  summary: "element = its index along `axis` (e.g. causal masks from comparing two iotas)",
  kind: "source",
  operands: [],
  attrs: {
    shape: { kind: "ints", doc: "result shape" },
    axis: { kind: "int", doc: "axis whose index is the value" },
    dtype: { kind: "dtype", default: "i32" },
  },
  tolerance: 0,
  vjp: noCotangents,
  infer(_, a) {
    const shape = attr.ints(a, "shape");
    if (shape.some((d) => !Number.isInteger(d) || d < 0)) throw new ShapeError(`iota: bad shape ${formatShape(shape)}`);
    try {
      normalizeAxis(attr.num(a, "axis"), shape.length);
    } catch (e) {
      throw new ShapeError(`iota: ${(e as Error).message} (shape ${formatShape(shape)})`);
    }
    if (attr.dtype(a, "dtype") === "bool") throw new ShapeError("iota: dtype bool cannot hold indices");
    return { dtype: attr.dtype(a, "dtype"), shape: [...shape] };
  },
  interpret(_, a, out) {
    const axis = normalizeAxis(attr.num(a, "axis"), out.shape.length);
    const stride = stridesOf(out.shape)[axis];
    const dim = out.shape[axis];
    const data = new Float64Array(numel(out.shape));
    for (let i = 0; i < data.length; i++) data[i] = Math.floor(i / stride) % dim;
    return data;
  },
};

export const SOURCE_OPS: readonly OpDef[] = [iota];
