// The op table: the single source of truth for every op the compiler knows. Each record (shape
// rule, attribute schema, reference kernel; VJP once autodiff lands) lives in one of the group
// files under ./ops/, and this file gathers them into one registry keyed by name.

import type { OpDef } from "./op-def.ts";
import { ELEMENTWISE_OPS } from "./ops/elementwise.ts";
import { FUSED_OPS } from "./ops/fused.ts";
import { FUSED_CONTRACTION_OPS } from "./ops/fused-contraction.ts";
import { FUSED_REDUCE_OPS } from "./ops/fused-reduce.ts";
import { LAYOUT_OPS } from "./ops/layout.ts";
import { LAYOUT_GRAD_OPS } from "./ops/layout-grad.ts";
import { REDUCTION_OPS } from "./ops/reduction.ts";
import { NN_OPS } from "./ops/nn.ts";
import { NN_GRAD_OPS } from "./ops/nn-grad.ts";
import { PRUNE_OPS } from "./ops/prune.ts";
import { QUANT_OPS } from "./ops/quant.ts";
import { CODEBOOK_OPS } from "./ops/codebook.ts";
import { SOURCE_OPS } from "./ops/source.ts";
import { SPARSE_OPS } from "./ops/sparse.ts";

const ALL: readonly OpDef[] = [...SOURCE_OPS, ...ELEMENTWISE_OPS, ...LAYOUT_OPS, ...LAYOUT_GRAD_OPS, ...REDUCTION_OPS, ...NN_OPS, ...NN_GRAD_OPS, ...QUANT_OPS, ...CODEBOOK_OPS, ...PRUNE_OPS, ...SPARSE_OPS, ...FUSED_OPS, ...FUSED_CONTRACTION_OPS, ...FUSED_REDUCE_OPS];

export const OPS: ReadonlyMap<string, OpDef> = (() => {
  const m = new Map<string, OpDef>();
  for (const op of ALL) {
    if (m.has(op.name)) throw new Error(`op table: '${op.name}' is defined twice`);
    m.set(op.name, op);
  }
  return m;
})();

export class UnknownOpError extends Error {
  override name = "UnknownOpError";
}

/** The record for `name`, or an error that names the op. */
export function getOp(name: string): OpDef {
  const op = OPS.get(name);
  if (!op) throw new UnknownOpError(`unknown op '${name}'`);
  return op;
}
