// quantize-codebook — codebook (k-means weight-sharing) quantization of dense layers
// (`--quantize codebookN`, docs/IR.md "Codebook quantization"). Runs on an inference graph after
// the clean-up; the tables and indices are the driver's (driver/codebook.ts, k-means over each
// weight's values: passes/quantize/kmeans.ts).
//
// A dense layer (quantize-dense.ts `denseLayers`: `matmul(x, W)`, W an f32 [K, N] param read only
// there, untransposed) becomes
//
//   %y:f32 = codebookMatmul %x, %W/indices, %W/codebook {bits, n=N}
//
// with the matmul's id, so everything after it is unchanged: the bias add stays an f32 add (and
// fuse-epilogues leaves it unfused: codebookMatmul takes no epilogue), activations stay f32. W
// leaves the graph; W/indices (u8 [K, ceil(N/2)] for bits <= 4, u8 [K, N] above) and W/codebook
// (f32 [2^bits]) take its place in the param list, with `init` "zeros": their values are the
// driver's, which it hands to the bundle's weights file or the interpreter.
//
// A convolution `conv2d(x, W)` (groups 1, W an f32 [kh, kw, C, O] param read only there) becomes
// `codebookConv2d(x, W/indices, W/codebook, {conv2d's attributes, bits, kernel=[kh, kw], n=O})`,
// its indices packed as the [kh*kw*C, O] matrix W is in memory. The weights quantize-dense keeps
// (`skip`, read twice, transposed, grouped convolutions, 16-bit) stay f32 here too.

import { GraphBuilder } from "../ir/builder.ts";
import { codebookIndexShape } from "../ir/ops/codebook.ts";
import { denseLayers, type DenseLayer, type KeptWeight } from "./quantize-dense.ts";
import type { Pass } from "./pass.ts";

export interface QuantizeCodebookOptions {
  /** Bits per index of each layer to quantize, by its weight's name. */
  layers: Readonly<Record<string, number>>;
}

/** The names of a codebook layer's params (the weight `w`'s). */
export const codebookParamNames = (w: string) => ({ indices: `${w}/indices`, table: `${w}/codebook` });

/** The dense and convolution layers this pass can rewrite, and the weights it leaves f32 with why (quantize-dense's). */
export function codebookLayers(g: Parameters<typeof denseLayers>[0], skip: readonly string[] = []): { layers: DenseLayer[]; kept: KeptWeight[] } {
  return denseLayers(g, skip);
}

export const quantizeCodebook: Pass<QuantizeCodebookOptions> = {
  name: "quantize-codebook",
  summary: "dense and conv2d layers' weights to packed k-means indices and an f32 centroid table (codebookMatmul, codebookConv2d); activations and biases stay f32",
  defaults: { layers: {} },
  statistics: {
    "layers-codebooked": "matmuls and conv2ds rewritten to codebookMatmul and codebookConv2d",
    "param-bytes-saved": "bytes of f32 weights removed minus those of the u8 indices and f32 tables added",
  },
  run(g, opts) {
    const chosen = codebookLayers(g).layers.filter((l) => Object.hasOwn(opts.layers, l.weight));
    if (chosen.length === 0) return { graph: g, stats: { "layers-codebooked": 0, "param-bytes-saved": 0 } };
    const byNode = new Map(chosen.map((l) => [l.node, l]));
    const b = new GraphBuilder(g.name);
    for (const i of g.inputs) b.addInput(i);
    let saved = 0;
    for (const p of g.params) {
      const layer = chosen.find((l) => l.weight === p.name);
      if (!layer) { b.addParam(p); continue; }
      const bits = opts.layers[p.name];
      const names = codebookParamNames(p.name);
      const shape = codebookIndexShape(layer.k, layer.n, bits);
      b.addParam({ name: names.indices, type: { dtype: "u8", shape }, init: "zeros", trainable: false, ...(p.loc ? { loc: p.loc } : {}) });
      b.addParam({ name: names.table, type: { dtype: "f32", shape: [2 ** bits] }, init: "zeros", trainable: false });
      saved += layer.k * layer.n * 4 - shape[0] * shape[1] - 4 * 2 ** bits;
    }
    for (const n of g.nodes) {
      const layer = byNode.get(n.id);
      if (!layer) { b.op(n.op, n.inputs, n.attrs, n.loc, n.id); continue; }
      const names = codebookParamNames(layer.weight);
      const bits = opts.layers[layer.weight];
      if (layer.conv) b.op("codebookConv2d", [layer.x, names.indices, names.table], { ...layer.conv, bits, kernel: layer.shape.slice(0, 2), n: layer.n }, n.loc, n.id);
      else b.op("codebookMatmul", [layer.x, names.indices, names.table], { bits, n: layer.n }, n.loc, n.id);
    }
    for (const o of g.outputs) b.output(o.name, o.value);
    for (const u of g.updates) b.update(u.param, u.value);
    return { graph: b.build(), stats: { "layers-codebooked": chosen.length, "param-bytes-saved": saved } };
  },
};
