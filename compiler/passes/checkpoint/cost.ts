// The compute cost the checkpoint pass trades memory against: floating-point operations per node,
// from its static shapes. Contractions count 2 FLOPs per multiply-add — matmul, conv2d and conv2d's
// two transposes (conv2dBackpropInput/Filter, each as large as the forward convolution: kh*kw*C/groups
// multiply-adds per element of dy); everything else one per element it reads or writes
// (elementwise, normalisation, reductions, layout copies), which is what makes them "cheap to
// recompute" next to a matmul or a convolution of the same output size. `graphFlops` sums a whole
// step (`mlc mem --train` and bench/checkpoint.ts divide the recomputed FLOPs by it).

import type { Graph, Node } from "../../ir/graph.ts";
import { valueTypes } from "../../ir/graph.ts";
import { attr } from "../../ir/op-def.ts";
import { getOp } from "../../ir/ops.ts";
import { numel, type TensorType } from "../../ir/types.ts";

/** FLOPs of one node; `typeOf` gives operand types. */
export function nodeFlops(n: Node, typeOf: (v: string) => TensorType): number {
  const out = numel(n.type.shape);
  const head = n.op === "fusedMatmul" ? "matmul" : n.op === "fusedConv2d" ? "conv2d" : n.op;
  if (head === "matmul") {
    const a = typeOf(n.inputs[0]);
    const k = attr.bool(n.attrs, "transposeA") ? a.shape[a.shape.length - 2] : a.shape[a.shape.length - 1];
    return 2 * out * k;
  }
  if (head === "conv2d") {
    const w = typeOf(n.inputs[1]).shape; // [kh, kw, C/groups, O]
    return 2 * out * w[0] * w[1] * w[2];
  }
  if (head === "conv2dBackpropInput") {
    const [dy, w] = n.inputs.map((v) => typeOf(v).shape); // (dy, w), w [kh, kw, C/groups, O]
    return 2 * numel(dy) * w[0] * w[1] * w[2];
  }
  if (head === "conv2dBackpropFilter") {
    const dy = typeOf(n.inputs[1]).shape; // (x, dy); the result is the filter's gradient
    return 2 * numel(dy) * n.type.shape[0] * n.type.shape[1] * n.type.shape[2];
  }
  if (getOp(n.op).kind === "source") return out;
  // Reductions and norms read every input element; elementwise ops write every output element.
  return Math.max(out, ...n.inputs.map((v) => numel(typeOf(v).shape)));
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
