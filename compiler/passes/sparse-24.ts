// sparse-two-four — dense layers whose constant weight is 2:4 (at most two nonzeros in every group of
// four input rows of a channel) run the 2:4 kernel where the driver found it faster
// (docs/COMPRESSION.md "2:4 kernels"; driver/block-sparse-weights.ts decides). Runs after
// block-sparse, on the same candidates (passes/block-sparse.ts blockSparseCandidates):
//
//   %y = matmul %x, %W                       W: f32 [K, N] param (or a pointwise conv2d's [1,1,K,N])
// becomes
//   %y = sparse24Matmul %x, %W/values, %W/index
//
// with W/values (f32 [N, K/2]) and W/index (u8 [N, K/2]) in W's place (ir/sparse24.ts), their
// values packed by the driver into the bundle's weights file.

import { GraphBuilder } from "../ir/builder.ts";
import type { Graph } from "../ir/graph.ts";
import { byteSize } from "../ir/types.ts";
import { blockSparseCandidates } from "./block-sparse.ts";
import type { Pass } from "./pass.ts";

export interface Sparse24Options {
  /** The weights to run 2:4. */
  weights: readonly string[];
}

/** The names the rewritten layer's params take. */
export function sparse24Names(weight: string): { values: string; index: string } {
  return { values: `${weight}/values`, index: `${weight}/index` };
}

export const sparse24: Pass<Sparse24Options> = {
  name: "sparse-two-four",
  summary: "dense layers whose constant weight is 2:4 and where the driver found the 2:4 kernel faster: matmul by W becomes sparse24Matmul by W's kept half (values, index)",
  defaults: { weights: [] },
  statistics: {
    "layers-two-four": "matmuls (and pointwise convolutions) rewritten to sparse24Matmul",
    "param-bytes-before": "bytes of every param before",
    "param-bytes-after": "bytes of every param after",
  },
  run(g: Graph, { weights }) {
    const before = g.params.reduce((s, p) => s + byteSize(p.type), 0);
    const chosen = blockSparseCandidates(g).filter((c) => weights.includes(c.weight));
    const named = weights.filter((w) => !chosen.some((c) => c.weight === w && c.k % 4 === 0));
    if (named.length > 0) throw new Error(`sparse-two-four: ${named.join(", ")} is not the f32 [K, N] weight (K a multiple of 4) of one matmul or pointwise convolution`);
    if (chosen.length === 0) return { graph: g, stats: { "layers-two-four": 0, "param-bytes-before": before, "param-bytes-after": before } };
    const byWeight = new Map(chosen.map((c) => [c.weight, c]));
    const byNode = new Map(chosen.map((c) => [c.node, c]));
    const b = new GraphBuilder(g.name);
    for (const i of g.inputs) b.addInput(i);
    for (const p of g.params) {
      const c = byWeight.get(p.name);
      if (!c) { b.addParam(p); continue; }
      const names = sparse24Names(p.name);
      const loc = p.loc ? { loc: p.loc } : {};
      b.addParam({ name: names.values, type: { dtype: "f32", shape: [c.n, c.k / 2] }, init: "zeros", trainable: false, ...loc });
      b.addParam({ name: names.index, type: { dtype: "u8", shape: [c.n, c.k / 2] }, init: "zeros", trainable: false, ...loc });
    }
    for (const n of g.nodes) {
      const c = byNode.get(n.id);
      if (!c) { b.op(n.op, n.inputs, n.attrs as Record<string, never>, n.loc, n.id); continue; }
      const names = sparse24Names(c.weight);
      b.op("sparse24Matmul", [c.x, names.values, names.index], {}, n.loc, n.id);
    }
    for (const o of g.outputs) b.output(o.name, o.value);
    for (const u of g.updates) b.update(u.param, u.value);
    const graph = b.build();
    const after = graph.params.reduce((s, p) => s + byteSize(p.type), 0);
    return { graph, stats: { "layers-two-four": chosen.length, "param-bytes-before": before, "param-bytes-after": after } };
  },
};
