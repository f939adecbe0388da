// precision — reduced-precision storage: f32 values become f16 or bf16 (docs/PRECISION.md).
//
// Every f32 value of the graph is stored in 16 bits instead, and every kernel then computes in
// f32 from widened operands and rounds its result once to nearest even (the kernels' contract,
// ir/dtypes.ts "Storage vs compute"). The pass only changes dtypes; it adds `cast` nodes where a
// value crosses between the 16-bit and the f32 parts of the program:
//
//   mode "inference"  params (weights, running statistics) are retyped to 16 bits, so the weights
//                     file and the arena hold them in half the bytes; inputs and outputs stay
//                     f32 at the bundle's API (one cast each at the edges) unless `io` is the
//                     16-bit dtype.
//   mode "mixed"      (training, run on the forward graph before autodiff) params stay f32: the
//                     master weights the optimizer updates; each is cast to 16 bits once where
//                     the forward pass reads it, so autodiff's VJP of that cast hands the
//                     optimizer an f32 gradient (the 16-bit weight gradient widened). Activations,
//                     and therefore activation and weight gradients, are 16-bit.
//
// In both modes the ops in `keepF32` (the losses by default) and the ops whose records say
// `f32Only` compute in f32 on widened operands and give f32 results, so a loss and its reduction
// over the batch keep f32's range and digits.
// Ops with a dtype attribute that says f32 (const, cast, iota, oneHot) get the 16-bit dtype
// instead, so constants are rounded once, at compile time, to what the graph stores. Integer and
// bool values are left alone. Node ids are kept; a cast node is named `<dtype>/<value>` (e.g.
// `bf16/fc1.w`, `f32/7`), one per value and dtype.

import { GraphBuilder } from "../ir/builder.ts";
import type { Graph } from "../ir/graph.ts";
import type { AttrValue } from "../ir/op-def.ts";
import { getOp } from "../ir/ops.ts";
import { byteSize, type DType, type TensorType } from "../ir/types.ts";
import { LOSS_SCALE } from "./loss-scale.ts";
import type { Pass } from "./pass.ts";

export type HalfDType = "f16" | "bf16";
export const HALF_DTYPES: readonly HalfDType[] = ["f16", "bf16"];

export interface PrecisionOptions {
  /** The storage dtype of the program's f32 values; "f32" leaves the graph as it is. */
  dtype: "f32" | HalfDType;
  mode: "inference" | "mixed";
  /** Inference: the dtype of float inputs and outputs at the API (f32, or the 16-bit dtype itself). */
  io: "f32" | HalfDType;
  /** Ops computed in f32 from widened operands (their results f32). */
  keepF32: readonly string[];
  /**
   * Mixed: the initial loss scale, declaring the f32 state `amp/loss_scale` that autodiff starts
   * the backward pass from and the loss-scale pass adjusts (0: no loss scaling).
   */
  lossScale: number;
}

/** The loss ops: their value (a mean over the batch) and its gradient seed stay f32. */
export const LOSS_OPS: readonly string[] = ["softmaxCrossEntropy", "mse"];

/**
 * Mixed precision computes these in f32 too: `gather` reads the f32 master table itself (the
 * rows it picks are cast to 16 bits after), so its VJP, the embedding gradient `scatterAdd`, sums
 * straight into an f32 gradient, rather than into f32 scratch and a 16-bit result widened again.
 */
export const MIXED_F32_OPS: readonly string[] = [...LOSS_OPS, "gather"];

/** The name of the cast of `value` to `dtype`. */
export const castName = (dtype: DType, value: string) => `${dtype}/${value}`;

export const precision: Pass<PrecisionOptions> = {
  name: "precision",
  summary: "store f32 values as f16/bf16 (inference: weights too; mixed: f32 master weights), casts at the edges",
  defaults: { dtype: "f32", mode: "inference", io: "f32", keepF32: LOSS_OPS, lossScale: 0 },
  statistics: {
    "values-16bit": "values (inputs, params, nodes) stored in 16 bits after the pass",
    "casts-added": "cast nodes added between the 16-bit and the f32 parts",
    "bytes-saved": "bytes of the graph's values (every one counted once) saved by 16-bit storage",
  },
  run(g, opts) {
    if (opts.dtype === "f32") return { graph: g, stats: { "values-16bit": 0, "casts-added": 0, "bytes-saved": 0 } };
    if (opts.io !== "f32" && opts.io !== opts.dtype) throw new Error(`precision: io dtype ${opts.io} differs from the storage dtype ${opts.dtype}`);
    const graph = retype(g, opts.dtype, opts);
    const casts = graph.nodes.length - g.nodes.length;
    return { graph, stats: { "values-16bit": countHalf(graph, opts.dtype), "casts-added": casts, "bytes-saved": valueBytes(g) - valueBytes(graph) } };
  },
};

/** The graph with its f32 values stored as `low` (see the header). */
function retype(g: Graph, low: HalfDType, opts: PrecisionOptions): Graph {
  const b = new GraphBuilder(g.name);
  const keep = new Set(opts.keepF32);
  const isF32 = (t: TensorType) => t.dtype === "f32";
  const io = opts.mode === "inference" ? opts.io : "f32";
  for (const i of g.inputs) b.addInput(isF32(i.type) && io === low ? { ...i, type: { ...i.type, dtype: low } } : i);
  for (const p of g.params) b.addParam(isF32(p.type) && opts.mode === "inference" ? { ...p, type: { ...p.type, dtype: low } } : p);
  if (opts.mode === "mixed" && opts.lossScale > 0 && !b.has(LOSS_SCALE)) {
    b.addParam({ name: LOSS_SCALE, type: { dtype: "f32", shape: [] }, init: `fill(${opts.lossScale})`, trainable: false });
  }

  // The value of `v` in `dtype`: itself, or its cast (made once, where first needed).
  const casts = new Map<string, string>();
  const as = (v: string, dtype: DType): string => {
    if (b.typeOf(v).dtype === dtype) return v;
    const name = castName(dtype, v);
    if (!casts.has(name)) casts.set(name, b.op("cast", [v], { dtype }, undefined, name));
    return casts.get(name)!;
  };
  const original = new Map<string, TensorType>([...g.inputs, ...g.params].map((d) => [d.name, d.type]));
  for (const n of g.nodes) {
    const f32Op = keep.has(n.op) || getOp(n.op).f32Only === true;
    const want = f32Op ? "f32" : low;
    const inputs = n.inputs.map((v) => (isF32(original.get(v)!) ? as(v, want) : v));
    const attrs: Record<string, AttrValue> = { ...n.attrs };
    if (!f32Op && getOp(n.op).attrs?.dtype?.kind === "dtype" && attrs.dtype === "f32") attrs.dtype = low;
    b.op(n.op, inputs, attrs, n.loc, n.id);
    original.set(n.id, n.type);
  }
  for (const o of g.outputs) b.output(o.name, isF32(original.get(o.value)!) ? as(o.value, io) : o.value);
  for (const u of g.updates) b.update(u.param, as(u.value, b.typeOf(u.param).dtype));
  return b.build();
}

function countHalf(g: Graph, low: DType): number {
  return [...g.inputs, ...g.params].filter((d) => d.type.dtype === low).length + g.nodes.filter((n) => n.type.dtype === low).length;
}

function valueBytes(g: Graph): number {
  return [...g.inputs, ...g.params].reduce((s, d) => s + byteSize(d.type), 0) + g.nodes.reduce((s, n) => s + byteSize(n.type), 0);
}
