// Structured sparsity for the driver (`mlc build --sparse --weights W`, docs/COMPRESSION.md
// "Structured sparsity"): decides from the weights which output channels the sparsify pass
// removes, and computes the shrunk params' values.
//
// A channel c of a group (passes/sparsify/channel-groups.ts) is a candidate when every producer's
// weight column c is all zeros: then c is the same constant k at every position of every value of
// the group (zero after the producer, b after the bias add, relu(b) after a ReLU, beta after a
// batch norm of a constant, unchanged by pooling). The interpreter runs the graph once on seeded
// random inputs and reads k at each consumer's input (every position is checked to hold it; one
// that does not keeps its channel). Removing c is exact when k = 0, and when k != 0 and the
// consumer adds the same k * (sum of c's weight rows) to every output, which then goes into the
// consumer's bias: a dense layer (every row q*C + c of a flat view) or an unpadded convolution,
// followed by a bias add. A convolution with zero padding sees k only inside the image, which no
// bias reproduces, so there a channel with k != 0 is kept (as it is for a consumer with no bias).
// One channel of each group always stays, and a layer whose channel count is a multiple of 4 keeps
// a multiple of 4 (more of its zero channels stay when needed): the WASM kernels work on f32x4
// lanes of channels, and an odd count takes their slower remainder paths, which made a CNN with 5
// of 8 channels slower than the dense one with all 8.

import type { Graph } from "../ir/graph.ts";
import { initParam } from "../ir/init.ts";
import { interpret } from "../ir/interpreter.ts";
import { philox4x32, uniform01 } from "../ir/rng.ts";
import { byteSize, isFloat, numel, type TensorType } from "../ir/types.ts";
import { channelGroups, type ChannelGroup, type Consumer } from "../passes/sparsify/channel-groups.ts";
import { keptOf, sparseParamSlices, type AxisSlice } from "../passes/sparsify.ts";
import type { BlockSparsification } from "./block-sparse-weights.ts";

/** f32 lanes of a WASM SIMD vector: channel counts the kernels handle in whole vectors. */
const LANES = 4;

export interface SparseSpec {
  /** Values of the graph's params (a weights file's); the others take their seeded init. */
  readonly params?: Readonly<Record<string, ArrayLike<number>>>;
  readonly seed?: number;
}

export interface SparseLayerReport {
  readonly weight: string;
  readonly before: readonly number[];
  readonly after: readonly number[];
  /** Output channels whose weights are all zero, and how many of them were removed. */
  readonly zero: number;
  readonly removed: number;
  /** Why zero channels stayed, when some did. */
  readonly kept?: string;
}

export interface SparsityReport {
  readonly layers: readonly SparseLayerReport[];
  /** Every param whose shape changed. */
  readonly params: readonly { readonly name: string; readonly before: readonly number[]; readonly after: readonly number[] }[];
  readonly paramBytes: { readonly before: number; readonly after: number };
}

export interface Sparsification {
  /** The sparsify pass's options. */
  readonly remove: Readonly<Record<string, readonly number[]>>;
  /** The shrunk params' values (folded biases included), by name, with their new types. */
  readonly tensors: Readonly<Record<string, { type: TensorType; data: Float64Array }>>;
  readonly report: SparsityReport;
  /** The kernel chosen for each dense layer that stays (block-sparse-weights.ts), once compile ran it. */
  readonly blocks?: BlockSparsification;
}

/** Finds the removable channels of `graph` (a cleaned f32 inference graph) and shrinks the params. */
export function sparsifyModel(graph: Graph, spec: SparseSpec): Sparsification {
  const values: Record<string, Float64Array> = Object.create(null);
  for (const p of graph.params) values[p.name] = spec.params && Object.hasOwn(spec.params, p.name) ? Float64Array.from(spec.params[p.name]) : initParam(p, spec.seed ?? 0);
  const types = new Map(graph.params.map((p) => [p.name, p.type]));
  const { groups } = channelGroups(graph);

  // Candidates: channels every producer of the group has all zero.
  const zero = new Map<ChannelGroup, number[]>();
  for (const grp of groups) {
    const zs = keptOf(grp.channels, []).filter((c) => grp.producers.every((p) => zeroColumn(values[p.weight], types.get(p.weight)!.shape, c)));
    if (zs.length > 0) zero.set(grp, zs);
  }
  const why = new Map<ChannelGroup, string>();
  const remove: Record<string, number[]> = Object.create(null);
  const folds: { consumer: Consumer; k: Map<number, number> }[] = [];
  const live = [...zero].filter(([grp]) => {
    if (grp.blocked) why.set(grp, grp.blocked);
    return !grp.blocked;
  });
  if (live.length > 0) {
    const run = interpret(graph, randomInputs(graph, spec.seed ?? 0), { params: values, keepValues: true });
    for (const [grp, candidates] of live) {
      let chosen = candidates;
      const consts = grp.consumers.map((c) => ({ consumer: c, k: new Map<number, number>() }));
      for (const { consumer, k } of consts) {
        const data = run.values!.get(consumer.value)!.data;
        chosen = chosen.filter((c) => {
          const v = constantChannel(data, consumer.stride, consumer.offset + c);
          if (v === undefined) return note(why, grp, `channel ${c} is not constant at %${consumer.node}`);
          if (v !== 0 && !(consumer.unpadded && consumer.bias)) return note(why, grp, `nonzero constant into ${consumer.kind} %${consumer.node} ${consumer.unpadded ? "without a bias" : "with padding"}`);
          if (v !== 0) k.set(c, v);
          return true;
        });
      }
      if (chosen.length === grp.channels) chosen = chosen.slice(0, -1);
      // A layer of 4k channels keeps 4k' of them: the kernels' f32x4 lanes (see the header).
      if (grp.channels % LANES === 0) {
        const over = (grp.channels - chosen.length) % LANES;
        if (over !== 0) {
          chosen = chosen.slice(0, Math.max(0, chosen.length - (LANES - over)));
          note(why, grp, `kept so that a multiple of ${LANES} channels stay (SIMD lanes)`);
        }
      }
      if (chosen.length === 0) continue;
      for (const p of grp.producers) remove[p.weight] = chosen;
      const keep = new Set(chosen);
      for (const { consumer, k } of consts) {
        for (const c of [...k.keys()]) if (!keep.has(c)) k.delete(c);
        if (k.size > 0) folds.push({ consumer, k });
      }
    }
  }
  for (const f of folds) foldIntoBias(values, types, f.consumer, f.k);

  const slices = sparseParamSlices(graph, remove);
  const tensors: Record<string, { type: TensorType; data: Float64Array }> = Object.create(null);
  const params: { name: string; before: readonly number[]; after: readonly number[] }[] = [];
  for (const [name, s] of slices) {
    const t = types.get(name)!;
    const sliced = sliceTensor(values[name], t.shape, s);
    tensors[name] = { type: { dtype: t.dtype, shape: sliced.shape }, data: sliced.data };
    params.push({ name, before: t.shape, after: sliced.shape });
  }
  // Biases that took a fold but lost no channels are new values too.
  for (const f of folds) {
    const b = f.consumer.bias!;
    if (!Object.hasOwn(tensors, b)) tensors[b] = { type: types.get(b)!, data: values[b] };
  }
  const layers: SparseLayerReport[] = [];
  for (const grp of groups) {
    for (const p of grp.producers) {
      const before = types.get(p.weight)!.shape;
      const shape = types.get(p.weight)!.shape;
      const zs = keptOf(grp.channels, []).filter((c) => zeroColumn(values[p.weight], shape, c)).length;
      const removed = remove[p.weight]?.length ?? 0;
      const common = zero.get(grp)?.length ?? 0;
      const others = grp.producers.filter((q) => q !== p).map((q) => q.weight);
      const reason =
        removed >= zs ? undefined
        : common < zs ? `its channels are shared with ${others.join(", ")} (residual adds): only channels zero in all of them go`
        : why.get(grp) ?? "one channel of a layer always stays";
      layers.push({ weight: p.weight, before, after: tensors[p.weight]?.type.shape ?? before, zero: zs, removed, ...(reason ? { kept: reason } : {}) });
    }
  }
  const bytesBefore = graph.params.reduce((s, p) => s + byteSize(p.type), 0);
  const bytesAfter = graph.params.reduce((s, p) => s + byteSize(Object.hasOwn(tensors, p.name) ? tensors[p.name].type : p.type), 0);
  return { remove, tensors, report: { layers, params, paramBytes: { before: bytesBefore, after: bytesAfter } } };
}

/** Adds a reason why some zero channels of `grp` stay (each reason once). */
function note(why: Map<ChannelGroup, string>, grp: ChannelGroup, text: string): false {
  const had = why.get(grp);
  if (!had) why.set(grp, text);
  else if (!had.split("; ").includes(text)) why.set(grp, `${had}; ${text}`);
  return false;
}

/** Whether column c of the weight's last axis is all zeros. */
function zeroColumn(w: Float64Array, shape: readonly number[], c: number): boolean {
  const n = shape[shape.length - 1];
  for (let i = c; i < w.length; i += n) if (w[i] !== 0) return false;
  return true;
}

/** Channel c's one value across a tensor whose element i is channel i % channels, or undefined. */
function constantChannel(data: ArrayLike<number>, channels: number, c: number): number | undefined {
  const v = data[c];
  for (let i = c; i < data.length; i += channels) if (!Object.is(data[i], v)) return undefined;
  return Number.isFinite(v) ? v : undefined;
}

/** Adds what removed constant channels contributed to every output into the consumer's bias. */
function foldIntoBias(values: Record<string, Float64Array>, types: Map<string, TensorType>, c: Consumer, k: ReadonlyMap<number, number>): void {
  const shape = types.get(c.weight)!.shape;
  const w = values[c.weight];
  const n = shape[shape.length - 1];
  const rowsIn = shape[c.axis];
  const taps = numel(shape) / (rowsIn * n);
  const delta = new Float64Array(n);
  for (const [ch, kv] of k) {
    for (let q = 0; q < c.inner; q++) {
      const row = q * c.stride + c.offset + ch;
      for (let t = 0; t < taps; t++) {
        const base = (t * rowsIn + row) * n;
        for (let o = 0; o < n; o++) delta[o] += kv * w[base + o];
      }
    }
  }
  const b = values[c.bias!];
  const bias = new Float64Array(b.length);
  for (let o = 0; o < n; o++) bias[o] = Math.fround(b[o] + delta[o]);
  values[c.bias!] = bias;
}

/** The entries of `data` (row-major `shape`) that every slice keeps. */
export function sliceTensor(data: ArrayLike<number>, shape: readonly number[], slices: readonly AxisSlice[]): { shape: number[]; data: Float64Array } {
  const keep: (readonly number[])[] = shape.map((d) => Array.from({ length: d }, (_, i) => i));
  for (const s of slices) keep[s.axis] = s.keep;
  const outShape = keep.map((k) => k.length);
  const strides = shape.map((_, i) => numel(shape.slice(i + 1)));
  const out = new Float64Array(numel(outShape));
  const idx = new Array<number>(shape.length).fill(0);
  for (let o = 0; o < out.length; o++) {
    let src = 0;
    for (let a = 0; a < shape.length; a++) src += keep[a][idx[a]] * strides[a];
    out[o] = data[src];
    for (let a = shape.length - 1; a >= 0; a--) {
      if (++idx[a] < outShape[a]) break;
      idx[a] = 0;
    }
  }
  return { shape: outShape, data: out };
}

/** Seeded inputs in [-1, 1) for float inputs, zeros for the others (only read, never checked). */
function randomInputs(g: Graph, seed: number): Record<string, Float64Array> {
  const out: Record<string, Float64Array> = Object.create(null);
  g.inputs.forEach((i, n) => {
    const data = new Float64Array(numel(i.type.shape));
    if (isFloat(i.type.dtype)) {
      for (let e = 0; e < data.length; e += 4) {
        const bits = philox4x32([e, n, 0, 0], [seed >>> 0, 0x5a5a]);
        for (let j = 0; j < 4 && e + j < data.length; j++) data[e + j] = 2 * uniform01(bits[j]) - 1;
      }
    }
    out[i.name] = data;
  });
  return out;
}

/** A report as a table: one row per layer with zero channels or a changed shape, and the bytes. */
export function formatSparsityReport(r: SparsityReport): string {
  const shape = (s: readonly number[]) => `[${s.join(",")}]`;
  const rows = r.layers.filter((l) => l.zero > 0 || l.removed > 0);
  const lines = ["structured sparsity (--sparse):"];
  if (rows.length === 0) lines.push("  no output channel has all-zero weights; nothing removed");
  else {
    const w = Math.max(6, ...rows.map((l) => l.weight.length));
    const sw = Math.max(6, ...rows.map((l) => shape(l.before).length));
    lines.push(`  ${"weight".padEnd(w)}  ${"before".padEnd(sw)}  ${"after".padEnd(sw)}  zero  removed`);
    for (const l of rows) lines.push(`  ${l.weight.padEnd(w)}  ${shape(l.before).padEnd(sw)}  ${shape(l.after).padEnd(sw)}  ${String(l.zero).padStart(4)}  ${String(l.removed).padStart(7)}${l.kept ? `  (kept ${l.zero - l.removed}: ${l.kept})` : ""}`);
  }
  const others = r.params.filter((p) => !rows.some((l) => l.weight === p.name));
  if (others.length > 0) lines.push(`  also shrunk: ${others.map((p) => `${p.name} ${shape(p.before)} -> ${shape(p.after)}`).join(", ")}`);
  const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
  const { before, after } = r.paramBytes;
  lines.push(`  params ${kib(before)} -> ${kib(after)} (${kib(before - after)} saved, ${(before / after).toFixed(2)}x smaller)`);
  return lines.join("\n");
}
