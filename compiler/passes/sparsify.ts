// sparsify — structured sparsity (docs/COMPRESSION.md "Structured sparsity"): removes output
// channels physically, giving a smaller dense model. Runs on an inference graph after the
// clean-up. Which channels go is decided from the weights by the driver
// (driver/sparsify-weights.ts: channels whose weight columns are all zero, whose constant value
// every consumer can take exactly); this pass applies that choice to the graph's structure.
//
// For each channel group (sparsify/channel-groups.ts) whose producers' weights are named in
// `remove`, every value of the group loses those channels along its last axis: the producers'
// weights lose output columns, the group's [C] params (bias, batch-norm gamma/beta, running
// statistics) lose entries, a reshape that flattens [N, H, W, C] into [N, H*W*C] flattens
// [N, H, W, C'] instead, and the consumers' weights lose the matching input rows (for a flat view
// every row q*C + c of a removed channel c) or input channels (HWIO axis 2). Param names stay;
// only their shapes change. The values of the shrunk params (sliced, with folded biases) come from
// the driver too (`sparseParamSlices` says which entries stay).

import { GraphBuilder } from "../ir/builder.ts";
import type { Graph } from "../ir/graph.ts";
import { byteSize, type TensorType } from "../ir/types.ts";
import { channelGroups, type ChannelGroup, type ChannelGroups } from "./sparsify/channel-groups.ts";
import type { Pass } from "./pass.ts";

export interface SparsifyOptions {
  /** Output channels to remove, by the producing layer's weight name (every producer of a group alike). */
  remove: Readonly<Record<string, readonly number[]>>;
}

/** Which entries of `axis` a shrunk param keeps (in order). */
export interface AxisSlice {
  readonly axis: number;
  readonly keep: readonly number[];
}

/** The removed channels of each group: its producers' entry of `remove` (they must agree). */
export function removedChannels(groups: ChannelGroups, remove: SparsifyOptions["remove"]): Map<ChannelGroup, number[]> {
  const out = new Map<ChannelGroup, number[]>();
  for (const grp of groups.groups) {
    const named = grp.producers.filter((p) => Object.hasOwn(remove, p.weight));
    if (named.length === 0) continue;
    const set = [...new Set(remove[named[0].weight])].sort((a, b) => a - b);
    if (grp.blocked) throw new Error(`sparsify: the channels of ${named[0].weight} cannot be removed (${grp.blocked})`);
    if (named.length !== grp.producers.length || named.some((p) => [...new Set(remove[p.weight])].sort((a, b) => a - b).join() !== set.join())) {
      throw new Error(`sparsify: ${grp.producers.map((p) => p.weight).join(", ")} share their channels (a residual add) and must lose the same ones`);
    }
    if (set.some((c) => !Number.isInteger(c) || c < 0 || c >= grp.channels)) throw new Error(`sparsify: ${named[0].weight}: channel outside 0..${grp.channels - 1}`);
    if (set.length >= grp.channels) throw new Error(`sparsify: ${named[0].weight}: cannot remove every channel`);
    if (set.length > 0) out.set(grp, set);
  }
  return out;
}

/** How each shrunk param is sliced: per axis, the entries it keeps. */
export function sparseParamSlices(g: Graph, remove: SparsifyOptions["remove"]): Map<string, AxisSlice[]> {
  return slicesOf(g, removedChannels(channelGroups(g), remove));
}

// A consumer reading a concat of several groups loses rows for each of them on one axis: the
// removed entries are gathered per (param, axis) first.
function slicesOf(g: Graph, removed: ReadonlyMap<ChannelGroup, readonly number[]>): Map<string, AxisSlice[]> {
  const gone = new Map<string, Map<number, Set<number>>>();
  const drop = (param: string, axis: number, entries: Iterable<number>) => {
    const byAxis = gone.get(param) ?? new Map<number, Set<number>>();
    gone.set(param, byAxis);
    const set = byAxis.get(axis) ?? new Set<number>();
    byAxis.set(axis, set);
    for (const e of entries) set.add(e);
  };
  for (const [grp, channels] of removed) {
    for (const p of grp.params) drop(p.param, p.axis, channels);
    for (const c of grp.consumers) {
      const rows: number[] = [];
      for (let q = 0; q < c.inner; q++) for (const k of channels) rows.push(q * c.stride + c.offset + k);
      drop(c.weight, c.axis, rows);
    }
  }
  const shapes = new Map(g.params.map((p) => [p.name, p.type.shape]));
  const out = new Map<string, AxisSlice[]>();
  for (const [param, byAxis] of gone) {
    out.set(param, [...byAxis].sort(([a], [b]) => a - b).map(([axis, set]) => ({ axis, keep: keptOf(shapes.get(param)![axis], [...set]) })));
  }
  return out;
}

export function keptOf(channels: number, gone: readonly number[]): number[] {
  const drop = new Set(gone);
  return Array.from({ length: channels }, (_, i) => i).filter((i) => !drop.has(i));
}

function shrunkType(t: TensorType, slices: readonly AxisSlice[]): TensorType {
  const shape = [...t.shape];
  for (const s of slices) shape[s.axis] = s.keep.length;
  return { dtype: t.dtype, shape };
}

export const sparsify: Pass<SparsifyOptions> = {
  name: "sparsify",
  summary: "removes zero output channels physically: producers lose output channels, their biases, batch norms, pools, flattens and the next layers' input rows shrink with them",
  defaults: { remove: {} },
  statistics: {
    "channels-removed": "output channels removed, over all layers",
    "layers-shrunk": "matmul/conv2d layers that lost output channels",
    "params-shrunk": "params whose shape changed",
    "param-bytes-before": "bytes of every param before",
    "param-bytes-after": "bytes of every param after",
  },
  run(g, { remove }) {
    const groups = channelGroups(g);
    const removed = removedChannels(groups, remove);
    const slices = slicesOf(g, removed);
    const before = g.params.reduce((s, p) => s + byteSize(p.type), 0);
    if (removed.size === 0) return { graph: g, stats: { "channels-removed": 0, "layers-shrunk": 0, "params-shrunk": 0, "param-bytes-before": before, "param-bytes-after": before } };

    const b = new GraphBuilder(g.name);
    for (const i of g.inputs) b.addInput(i);
    for (const p of g.params) b.addParam(slices.has(p.name) ? { ...p, type: shrunkType(p.type, slices.get(p.name)!) } : p);
    for (const n of g.nodes) {
      const grp = groups.groupOf.get(n.id);
      const inner = grp?.reshapes.get(n.id);
      const gone = grp ? removed.get(grp) : undefined;
      let attrs = n.attrs;
      if (grp && inner !== undefined && gone) {
        const spec = [...(n.attrs.shape as readonly number[])];
        spec[spec.length - 1] = inner * (grp.channels - gone.length);
        attrs = { ...n.attrs, shape: spec };
      }
      b.op(n.op, n.inputs, attrs as Record<string, never>, n.loc, n.id);
    }
    for (const o of g.outputs) b.output(o.name, o.value);
    for (const u of g.updates) b.update(u.param, u.value);
    const graph = b.build();
    const after = graph.params.reduce((s, p) => s + byteSize(p.type), 0);
    const channels = [...removed.values()].reduce((s, r) => s + r.length, 0);
    const layers = [...removed.keys()].reduce((s, grp) => s + grp.producers.length, 0);
    return { graph, stats: { "channels-removed": channels, "layers-shrunk": layers, "params-shrunk": slices.size, "param-bytes-before": before, "param-bytes-after": after } };
  },
};
