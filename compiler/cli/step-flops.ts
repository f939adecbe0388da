// The FLOPs of a whole graph (`mlc mem --train` divides the checkpoint pass's recomputed FLOPs by
// the training step's total to give "extra FLOPs %"). Per node it is the checkpoint pass's own
// cost model (passes/checkpoint/cost.ts `nodeFlops`), except for conv2d's two transposes: that
// model counts them one FLOP per element, like elementwise ops, whereas each is a convolution as
// large as the forward one: 2 FLOPs per multiply-add, kh*kw*C/groups multiply-adds per element of
// dy. Counting them as cheap would make a convolutional net's step look ~3x smaller than it is and
// its recomputation overhead ~3x larger.

import type { Graph, Node } from "../ir/graph.ts";
import { valueTypes } from "../ir/graph.ts";
import { numel, type TensorType } from "../ir/types.ts";
import { nodeFlops } from "../passes/checkpoint/cost.ts";

/** FLOPs of one node, with conv2dBackpropInput/Filter counted as the convolutions they are. */
export function stepNodeFlops(n: Node, typeOf: (v: string) => TensorType): number {
  if (n.op === "conv2dBackpropInput") {
    // operands (dy, w); w is [kh, kw, C/groups, O]
    const dy = typeOf(n.inputs[0]).shape;
    const w = typeOf(n.inputs[1]).shape;
    return 2 * numel(dy) * w[0] * w[1] * w[2];
  }
  if (n.op === "conv2dBackpropFilter") {
    // operands (x, dy); the result is the filter's gradient, [kh, kw, C/groups, O]
    const dy = typeOf(n.inputs[1]).shape;
    const w = n.type.shape;
    return 2 * numel(dy) * w[0] * w[1] * w[2];
  }
  return nodeFlops(n, typeOf);
}

/** Sum of stepNodeFlops over every node of `g`; `only` restricts it to some nodes. */
export function graphFlops(g: Graph, only: (n: Node) => boolean = () => true): number {
  const types = valueTypes(g);
  const typeOf = (v: string): TensorType => {
    const t = types.get(v);
    if (!t) throw new Error(`graphFlops: no type for %${v} in '${g.name}'`);
    return t;
  };
  let total = 0;
  for (const n of g.nodes) if (only(n)) total += stepNodeFlops(n, typeOf);
  return total;
}
