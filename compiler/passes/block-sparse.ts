// block-sparse — dense layers whose constant weight is mostly zero blocks run the block-sparse
// kernel (docs/COMPRESSION.md "Block-sparse kernels"). Runs on an inference graph after the
// clean-up (and after sparsify, on what stays irregular). Which weights qualify is decided from
// their values by the driver (driver/block-sparse-weights.ts: the measured density rule); this
// pass applies the choice to the graph:
//
//   %y = matmul %x, %W                       W: f32 [K, N] param
// becomes
//   %y = blockSparseMatmul %x, %W/values, %W/rows, %W/starts {n=N}
//
// with %y keeping its id, W leaving the param list and W/values (f32 [B, 4]), W/rows (i32 [B]) and
// W/starts (i32 [ceil(N/4)+1]) taking its place (ir/block-sparse.ts; B, the kept block count, is
// the option's number for W). Their init is "zeros": the values come from the driver, which packs
// them into the bundle's weights file. A candidate is a matmul without transposes whose right
// operand is a 2-D f32 param that nothing else reads, or a pointwise convolution (1x1, stride 1,
// no padding, one group) whose HWIO weight [1, 1, C, O] is such a param: over NHWC x it is the
// same product of each pixel's C channels by a [C, O] matrix (blockSparseCandidates).

import { GraphBuilder } from "../ir/builder.ts";
import { BLOCK_COLS, blockColumns } from "../ir/block-sparse.ts";
import { useCounts, valueTypes, type Graph, type Node } from "../ir/graph.ts";
import { convGeometry } from "../ir/ops/nn.ts";
import { byteSize, numel, type TensorType } from "../ir/types.ts";
import type { Pass } from "./pass.ts";

export interface BlockSparseOptions {
  /** Kept 1x4 blocks of each weight to rewrite, by weight name. */
  layers: Readonly<Record<string, number>>;
}

/** A dense layer the pass can rewrite: the matmul's id, its activation and weight, and W's [K, N]. */
export interface BlockSparseCandidate {
  readonly node: string;
  readonly x: string;
  readonly weight: string;
  readonly k: number;
  readonly n: number;
  /** Rows of x (every axis but the last): the M of the product. */
  readonly rows: number;
}

/** The names the rewritten layer's params take. */
export function blockSparseNames(weight: string): { values: string; rows: string; starts: string } {
  return { values: `${weight}/values`, rows: `${weight}/rows`, starts: `${weight}/starts` };
}

/**
 * A 1x1 convolution with stride 1, no padding and one group is a matmul of every pixel's channels
 * by W [1, 1, C, O] viewed as [C, O], which is what blockSparseMatmul computes over NHWC x.
 */
function pointwise(n: Node, types: ReadonlyMap<string, TensorType>): boolean {
  if (n.attrs.groups !== 1) return false;
  const { win } = convGeometry("conv2d", types.get(n.inputs[0])!, types.get(n.inputs[1])!, n.attrs);
  return win.strideH === 1 && win.strideW === 1 && win.padTop + win.padBottom + win.padLeft + win.padRight === 0;
}

export function blockSparseCandidates(g: Graph): BlockSparseCandidate[] {
  const params = new Map(g.params.map((p) => [p.name, p]));
  const uses = useCounts(g);
  const out: BlockSparseCandidate[] = [];
  const types = valueTypes(g);
  for (const n of g.nodes) {
    const w = params.get(n.inputs[1]);
    if (!w || w.type.dtype !== "f32" || uses.get(w.name) !== 1) continue;
    const s = w.type.shape;
    if (n.op === "matmul" && !n.attrs.transposeA && !n.attrs.transposeB && s.length === 2) {
      out.push({ node: n.id, x: n.inputs[0], weight: w.name, k: s[0], n: s[1], rows: numel(types.get(n.inputs[0])!.shape) / s[0] });
    } else if (n.op === "conv2d" && s.length === 4 && s[0] === 1 && s[1] === 1 && pointwise(n, types)) {
      out.push({ node: n.id, x: n.inputs[0], weight: w.name, k: s[2], n: s[3], rows: numel(types.get(n.inputs[0])!.shape) / s[2] });
    }
  }
  return out;
}

export const blockSparse: Pass<BlockSparseOptions> = {
  name: "block-sparse",
  summary: "dense layers whose constant weight the driver found mostly zero 1x4 blocks: matmul by W becomes blockSparseMatmul by W's kept blocks (values, rows, starts)",
  defaults: { layers: {} },
  statistics: {
    "layers-block-sparse": "matmuls rewritten to blockSparseMatmul",
    "param-bytes-before": "bytes of every param before",
    "param-bytes-after": "bytes of every param after (the kept blocks, their rows and column starts in place of each W)",
  },
  run(g, { layers }) {
    const before = g.params.reduce((s, p) => s + byteSize(p.type), 0);
    const chosen = blockSparseCandidates(g).filter((c) => Object.hasOwn(layers, c.weight));
    const named = Object.keys(layers).filter((w) => !chosen.some((c) => c.weight === w));
    if (named.length > 0) throw new Error(`block-sparse: ${named.join(", ")} is not the f32 [K, N] weight of one matmul (only such a weight can be stored as blocks)`);
    if (chosen.length === 0) return { graph: g, stats: { "layers-block-sparse": 0, "param-bytes-before": before, "param-bytes-after": before } };
    const byWeight = new Map(chosen.map((c) => [c.weight, c]));
    const byNode = new Map(chosen.map((c) => [c.node, c]));
    const b = new GraphBuilder(g.name);
    for (const i of g.inputs) b.addInput(i);
    for (const p of g.params) {
      const c = byWeight.get(p.name);
      if (!c) { b.addParam(p); continue; }
      const blocks = layers[p.name];
      const names = blockSparseNames(p.name);
      const loc = p.loc ? { loc: p.loc } : {};
      b.addParam({ name: names.values, type: { dtype: "f32", shape: [blocks, BLOCK_COLS] }, init: "zeros", trainable: false, ...loc });
      b.addParam({ name: names.rows, type: { dtype: "i32", shape: [blocks] }, init: "zeros", trainable: false, ...loc });
      b.addParam({ name: names.starts, type: { dtype: "i32", shape: [blockColumns(c.n) + 1] }, init: "zeros", trainable: false, ...loc });
    }
    for (const n of g.nodes) {
      const c = byNode.get(n.id);
      if (!c) { b.op(n.op, n.inputs, n.attrs as Record<string, never>, n.loc, n.id); continue; }
      const names = blockSparseNames(c.weight);
      b.op("blockSparseMatmul", [c.x, names.values, names.rows, names.starts], { n: c.n }, n.loc, n.id);
    }
    for (const o of g.outputs) b.output(o.name, o.value);
    for (const u of g.updates) b.update(u.param, u.value);
    const graph = b.build();
    const after = graph.params.reduce((s, p) => s + byteSize(p.type), 0);
    return { graph, stats: { "layers-block-sparse": chosen.length, "param-bytes-before": before, "param-bytes-after": after } };
  },
};
