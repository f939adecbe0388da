// quantize-dense — post-training int8 quantization of dense layers (docs/IR.md "Post-training
// quantization"). Runs on an inference graph after the clean-up; the ranges come from
// calibration (driver/calibrate.ts), which runs the f32 graph this pass is given.
//
// A dense layer is `matmul(x, W)` with W an f32 [K, N] param that nothing else reads (no
// transposes), optionally followed by `add(·, b)` with b an f32 [N] param read only there. It
// becomes
//
//   %xq:u8   = quantize %x, <sx>, <zx> {dtype=u8}          per tensor, asymmetric (activations)
//   %acc:i32 = matmulInteger %xq, %W/q                       W/q: i8 [K,N], per-column symmetric
//   %acc2    = add %acc, %W/bias                              W/bias: i32 [N], b and -zx*colsum(Wq)
//   %y:f32   = dequantize %acc2, %W/scale, <0> {axis=-1}     W/scale: f32 [N] = sx * sw[n]
//
// where %y keeps the id of the layer's last node (the add, else the matmul), so its readers are
// unchanged. Where a layer's result goes only into the next quantized layer, directly or through
// a ReLU read only there, the dequantize (and the ReLU) and the next layer's quantize become one
//
//   %V/xq:u8 = requantize %acc2, %W/scale, <zv> {axis=-1, dtype=u8}   W/scale = fl(sx * sw[n]) / sv
//
// (V the next layer's weight): its clamp to [0, 255] around the next layer's zero point is the
// ReLU when that zero point is 0, which a ReLU's calibrated range always gives; with a ReLU and
// another zero point the layers stay apart. Elsewhere activations between layers stay f32. W and b
// leave the graph; W/q, W/scale and W/bias replace W in the param list. Their `init` is "zeros":
// their values are the calibration's (int8-params.ts), which the driver hands to the bundle's
// weights file or to the interpreter.
//
// Convolutions are the same rewrite with conv2d's integer twin: `conv2d(x, W)` with W an f32
// [kh, kw, C, O] param (its rows kh*kw*C are the K of the per-output-channel scales, O the N)
// becomes `convInteger(xq, W/q, {conv2d's attributes, inputZeroPoint = zx})`, which subtracts
// the zero point itself so the padding counts 0 (ir/ops/quant.ts): W/bias then holds b alone,
// with no zero-point correction. The bias add, dequantize, requantize links and ReLU merging are
// the dense layer's, and a link may also pass a max pool and a reshape (a CNN's conv-ReLU-pool
// stage into the next conv, its last stage through the flattening into the classifier):
//
//   %W/acc_pool:i32 = maxPool2d %W/acc {the pool's attributes}    max commutes with the bias add
//   %W/acc_bias     = add %W/acc_pool, %W/bias                     and the non-decreasing
//   %W/out_q:u8     = requantize %W/acc_bias, ...                  requantize
//   %V/xq:u8        = reshape %W/out_q {the reshape's shape}
//
// so the pool runs on the i32 accumulator (the bias add after it, on fewer elements) and only the
// u8 result is reshaped.
//
// Left as they are (reported by denseLayers as kept, with why): weights named in `skip`, grouped
// convolutions, weights read by anything but one matmul or conv2d as its right operand,
// transposed or batched matmuls, and 16-bit graphs. Batch norm is folded before this pass by
// fold-batch-norm (its running statistics, eval mode), so a conv or matmul followed by batch norm
// reaches here as one with a bias.

import { GraphBuilder } from "../ir/builder.ts";
import { useCounts, type Attrs, type Graph, type Node } from "../ir/graph.ts";
import type { ActivationParams } from "./quantize/int8-params.ts";
import type { Pass } from "./pass.ts";

export interface DenseLayer {
  /** The contraction: a matmul (x [..., K] W [K, N]) or a conv2d (x NHWC, W [kh, kw, C, O]). */
  readonly op: "matmul" | "conv2d";
  /** The contraction's id and its activation operand. */
  readonly node: string;
  readonly x: string;
  readonly weight: string;
  readonly bias?: string;
  /** The add of the bias, when one is folded. */
  readonly biasAdd?: string;
  /** Weight rows (K; kh*kw*C for a conv) and output channels (N). */
  readonly k: number;
  readonly n: number;
  /** The weight's shape: [K, N], or [kh, kw, C, O]. */
  readonly shape: readonly number[];
  /** A conv2d's attributes (stride, padding, pads, dilation, groups). */
  readonly conv?: Attrs;
}

export interface KeptWeight {
  readonly param: string;
  readonly reason: string;
}

export interface QuantizeDenseOptions {
  /** The activation parameters of each layer to quantize, by its weight's name. */
  layers: Readonly<Record<string, ActivationParams>>;
}

/**
 * A layer whose result requantizes straight into `next`'s input. Between them there may be a ReLU
 * (`relu`: merged into the requantize's clamp), a max pool (`pool`: moved onto the i32
 * accumulator, before the requantize) and a reshape last (`reshape`: applied to the u8 result).
 */
export interface RequantizeLink {
  readonly next: DenseLayer;
  readonly relu?: string;
  readonly pool?: Node;
  readonly reshape?: Node;
}

/**
 * The layers (by weight) among `layers` whose result feeds only the next one's input, directly or
 * through a chain of single-reader ReLU, max pool and reshape nodes (see the header; with a ReLU
 * only when that input's zero point is 0). Max pooling commutes with the requantize, which is
 * non-decreasing (its multiplier is positive), and with the ReLU; the reshape must come last, as
 * the requantize's per-channel axis is the last one of the un-reshaped result.
 */
export function requantizeLinks(g: Graph, layers: readonly DenseLayer[], acts: Readonly<Record<string, ActivationParams>>): Map<string, RequantizeLink> {
  const uses = useCounts(g);
  const readerOf = new Map<string, Node>();
  for (const n of g.nodes) for (const v of n.inputs) readerOf.set(v, n);
  const byNode = new Map(layers.map((l) => [l.node, l]));
  const links = new Map<string, RequantizeLink>();
  for (const l of layers) {
    let v = l.biasAdd ?? l.node;
    let relu: string | undefined;
    let pool: Node | undefined;
    let reshape: Node | undefined;
    for (;;) {
      const r = uses.get(v) === 1 ? readerOf.get(v) : undefined;
      if (!r) break;
      const next = byNode.get(r.id);
      if (next && next.x === v) {
        if (!relu || acts[next.weight]?.zeroPoint === 0) links.set(l.weight, { next, ...(relu ? { relu } : {}), ...(pool ? { pool } : {}), ...(reshape ? { reshape } : {}) });
        break;
      }
      if (r.op === "relu" && !relu) relu = r.id;
      else if (r.op === "maxPool2d" && !pool && !reshape) pool = r;
      else if (r.op === "reshape" && !reshape) reshape = r;
      else break;
      v = r.id;
    }
  }
  return links;
}

/** The names of a quantized layer's params (the weight `w`'s). */
export const quantParamNames = (w: string) => ({ q: `${w}/q`, scale: `${w}/scale`, bias: `${w}/bias` });

/** The dense and convolution layers of `g` this pass can quantize, and the weights it leaves f32 with why. */
export function denseLayers(g: Graph, skip: readonly string[] = []): { layers: DenseLayer[]; kept: KeptWeight[] } {
  const uses = useCounts(g);
  const params = new Map(g.params.map((p) => [p.name, p]));
  const readers = new Map<string, Node[]>();
  for (const n of g.nodes) for (const v of n.inputs) readers.set(v, [...(readers.get(v) ?? []), n]);
  const layers: DenseLayer[] = [];
  const kept: KeptWeight[] = [];
  const seen = new Set<string>();
  for (const n of g.nodes) {
    if (n.op !== "matmul" && n.op !== "conv2d") continue;
    const [x, w] = n.inputs;
    const p = params.get(w);
    if (!p || seen.has(w)) continue;
    seen.add(w);
    const why = (reason: string) => kept.push({ param: w, reason });
    if (skip.includes(w)) { why("--quantize-skip"); continue; }
    if (p.type.dtype !== "f32") { why(`${p.type.dtype} weight: only f32 graphs are quantized`); continue; }
    if (n.op === "matmul" && (p.type.shape.length !== 2 || n.attrs.transposeA || n.attrs.transposeB)) { why("not a [K, N] weight of an untransposed matmul"); continue; }
    if (n.op === "conv2d" && n.attrs.groups !== undefined && n.attrs.groups !== 1) { why("grouped convolution: only groups = 1 is quantized"); continue; }
    if ((uses.get(w) ?? 0) !== 1) { why("read by more than one node"); continue; }
    if (n.type.shape.length < 2) { why("not a dense layer"); continue; }
    const shape = p.type.shape;
    const nOut = shape[shape.length - 1];
    const k = shape.slice(0, -1).reduce((a, d) => a * d, 1);
    const after = readers.get(n.id) ?? [];
    let bias: string | undefined;
    let biasAdd: string | undefined;
    if (after.length === 1 && (uses.get(n.id) ?? 0) === 1 && after[0].op === "add") {
      const add = after[0];
      const other = add.inputs[0] === n.id ? add.inputs[1] : add.inputs[0];
      const b = params.get(other);
      if (b && add.inputs[0] !== add.inputs[1] && b.type.dtype === "f32" && b.type.shape.length === 1 && b.type.shape[0] === nOut
        && (uses.get(other) ?? 0) === 1 && !skip.includes(other)) {
        bias = other;
        biasAdd = add.id;
      }
    }
    const conv = n.op === "conv2d" ? { conv: { ...n.attrs } } : {};
    layers.push({ op: n.op, node: n.id, x, weight: w, k, n: nOut, shape: [...shape], ...conv, ...(bias ? { bias, biasAdd } : {}) });
  }
  return { layers, kept };
}

export const quantizeDense: Pass<QuantizeDenseOptions> = {
  name: "quantize-dense",
  summary: "dense and conv2d layers to int8: u8 activations per tensor, i8 weights per output channel, i32 accumulation, requantized from layer to layer, f32 results",
  defaults: { layers: {} },
  statistics: {
    "layers-quantized": "matmuls and conv2ds (with their bias add) rewritten to quantize → matmulInteger|convInteger → add → dequantize",
    "layers-requantized": "of those, layers whose result requantizes straight into the next one's input (no f32 between)",
    "param-bytes-saved": "bytes of params removed (f32 W and b) minus those added (i8 W/q, f32 W/scale, i32 W/bias)",
  },
  run(g, opts) {
    const chosen = denseLayers(g).layers.filter((l) => Object.hasOwn(opts.layers, l.weight));
    if (chosen.length === 0) return { graph: g, stats: { "layers-quantized": 0, "layers-requantized": 0, "param-bytes-saved": 0 } };
    const byNode = new Map(chosen.map((l) => [l.node, l]));
    const folded = new Set(chosen.flatMap((l) => (l.biasAdd ? [l.biasAdd] : [])));
    const removed = new Set(chosen.flatMap((l) => (l.bias ? [l.weight, l.bias] : [l.weight])));
    const b = new GraphBuilder(g.name);
    for (const i of g.inputs) b.addInput(i);
    let saved = 0;
    for (const p of g.params) {
      if (!removed.has(p.name)) { b.addParam(p); continue; }
      saved += p.type.shape.reduce((s, d) => s * d, 1) * 4;
      const layer = chosen.find((l) => l.weight === p.name);
      if (!layer) continue;
      const names = quantParamNames(p.name);
      b.addParam({ name: names.q, type: { dtype: "i8", shape: [...layer.shape] }, init: "zeros", trainable: false, ...(p.loc ? { loc: p.loc } : {}) });
      b.addParam({ name: names.scale, type: { dtype: "f32", shape: [layer.n] }, init: "zeros", trainable: false });
      b.addParam({ name: names.bias, type: { dtype: "i32", shape: [layer.n] }, init: "zeros", trainable: false });
      saved -= layer.k * layer.n + 8 * layer.n;
    }
    const links = requantizeLinks(g, chosen, opts.layers);
    const fed = new Set([...links.values()].map((k) => k.next.weight));
    const between = new Set([...links.values()].flatMap((k) => [k.relu, k.pool?.id, k.reshape?.id].filter((x): x is string => x !== undefined)));
    for (const n of g.nodes) {
      if (folded.has(n.id) || between.has(n.id)) continue;
      const layer = byNode.get(n.id);
      if (!layer) { b.op(n.op, n.inputs, n.attrs, n.loc, n.id); continue; }
      const act = opts.layers[layer.weight];
      const names = quantParamNames(layer.weight);
      const rank = n.type.shape.length;
      // Named after the weight: fresh integer ids could take one a later node of `g` has.
      const id = (what: string, w = layer.weight) => `${w}/${what}`;
      let xq = id("xq");
      if (!fed.has(layer.weight)) {
        const sx = b.op("const", [], { value: act.scale, dtype: "f32", shape: [] }, n.loc, id("x_scale"));
        const zx = b.op("const", [], { value: act.zeroPoint, dtype: "i32", shape: [] }, n.loc, id("x_zero_point"));
        xq = b.op("quantize", [layer.x, sx, zx], { axis: null, dtype: act.dtype }, n.loc, id("xq"));
      }
      const acc = layer.conv
        ? b.op("convInteger", [xq, names.q], { ...layer.conv, inputZeroPoint: act.zeroPoint }, n.loc, id("acc"))
        : b.op("matmulInteger", [xq, names.q], {}, n.loc, id("acc"));
      const link = links.get(layer.weight);
      // A pool on the link goes first: max commutes with adding a per-channel constant too, and
      // the bias add then runs on the pooled (smaller) accumulator.
      const pooled = link?.pool ? b.op("maxPool2d", [acc], link.pool.attrs, link.pool.loc, id("acc_pool")) : acc;
      const withBias = b.op("add", [pooled, names.bias], {}, n.loc, id("acc_bias"));
      if (link) {
        const nextAct = opts.layers[link.next.weight];
        const zv = b.op("const", [], { value: nextAct.zeroPoint, dtype: "i32", shape: [layer.n] }, n.loc, id("out_zero_point"));
        const xq = id("xq", link.next.weight);
        const requantized = b.op("requantize", [withBias, names.scale, zv], { axis: rank - 1, dtype: nextAct.dtype }, n.loc, link.reshape ? id("out_q") : xq);
        if (link.reshape) b.op("reshape", [requantized], link.reshape.attrs, link.reshape.loc, xq);
        continue;
      }
      const zero = b.op("const", [], { value: 0, dtype: "i32", shape: [layer.n] }, n.loc, id("zero"));
      b.op("dequantize", [withBias, names.scale, zero], { axis: rank - 1 }, n.loc, layer.biasAdd ?? n.id);
    }
    for (const o of g.outputs) b.output(o.name, o.value);
    for (const u of g.updates) b.update(u.param, u.value);
    return { graph: b.build(), stats: { "layers-quantized": chosen.length, "layers-requantized": links.size, "param-bytes-saved": saved } };
  },
};
