// The compute cost the checkpoint pass trades memory against: floating-point operations per node,
// from its static shapes, by each op record's `flops` rule (ir/op-def.ts; the rules sit with the
// ops in ir/ops/*.ts). Contractions count 2 FLOPs per multiply-add — matmul, conv2d and conv2d's
// two transposes (conv2dBackpropInput/Filter, each as large as the forward convolution:
// kh*kw*C/groups multiply-adds per element of dy), their fused forms as the bare contraction;
// everything else (the default rule, `elementFlops`) one per element it reads or writes
// (elementwise, normalisation, reductions, layout copies), which is what makes them "cheap to
// recompute" next to a matmul or a convolution of the same output size. `graphFlops` sums a whole
// step (`mlc mem --train` and bench/checkpoint.ts divide the recomputed FLOPs by it).

import type { Graph, Node } from "../../ir/graph.ts";
import { valueTypes } from "../../ir/graph.ts";
import { opFlops } from "../../ir/op-def.ts";
import { getOp } from "../../ir/ops.ts";
import type { TensorType } from "../../ir/types.ts";

/** FLOPs of one node, by its op record's `flops` rule (op-def.ts); `typeOf` gives operand types. */
export function nodeFlops(n: Node, typeOf: (v: string) => TensorType): number {
  return opFlops(getOp(n.op), n, n.inputs.map(typeOf));
}

/** Sum of nodeFlops over every node of `g`; `only` restricts it to some nodes. */
export function graphFlops(g: Graph, only: (n: Node) => boolean = () => true): number {
  const types = valueTypes(g);
  const typeOf = (v: string): TensorType => {
    const t = types.get(v);
    if (!t) throw new Error(`graphFlops: no type for %${v} in '${g.name}'`);
    return t;
  };
  let total = 0;
  for (const n of g.nodes) if (only(n)) total += nodeFlops(n, typeOf);
  return total;
}
