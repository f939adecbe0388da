// Channel groups: which values of an inference graph share one channel axis, so that removing a
// channel removes it from all of them at once (the sparsify pass, docs/COMPRESSION.md "Structured
// sparsity").
//
// A group starts at a producer, a matmul or conv2d whose weight is a param read only there
// (dense [in, out], convolution HWIO with groups=1): the result's last axis is the group's
// channels. Channelwise readers keep their result in the group: elementwise ops whose other
// operands are scalars or [C] params read only there (bias add, scale), batchNorm (gamma and beta
// sliced) and its running statistics (state sliced with them), max/avg pooling, reductions that
// keep the last axis, a reshape that keeps it last. A residual add of two group values joins their
// groups into one, so a channel leaves both sides or neither. A reshape that flattens the last
// axes into one ([N, H, W, C] -> [N, H*W*C]) gives a flat view whose element q*C + c is channel c.
// A concat along the last axis joins groups side by side (and values in no group, which keep every
// channel): a consumer reading it takes channel c of the group at offset o as its input o + c.
// A group ends at its consumers: the next matmul (rows of its weight, of a flat view too) or
// conv2d (input channels of its weight), again with a param weight read only there, directly or
// through such a concat. Any other reader (a graph output, a softmax over channels, an op reading
// a concat, a weight shared by two layers) blocks the group: it keeps every channel.
//
// This is structure only; which channels are zero and whether a removed channel's constant value
// folds into a consumer's bias is decided from the weights (driver/sparsify-weights.ts).

import { useCounts, type Graph, type Node } from "../../ir/graph.ts";
import { getOp } from "../../ir/ops.ts";
import { isFloat, normalizeAxis, numel, type TensorType } from "../../ir/types.ts";

/** A param indexed by the group's channels along `axis`. */
export interface ChannelParam {
  readonly param: string;
  readonly axis: number;
}

export interface Producer {
  readonly node: string;
  readonly weight: string;
  /** The weight's output-channel axis (1 for dense, 3 for HWIO). */
  readonly axis: number;
}

export interface Consumer {
  readonly node: string;
  readonly kind: "matmul" | "conv2d";
  readonly weight: string;
  /** The weight's input axis whose entries are the group's channels (0 dense rows, 2 HWIO). */
  readonly axis: number;
  /** The operand it reads (a group value or a flat view). */
  readonly value: string;
  /** Positions per channel along that axis: H*W for a flattened [N,H,W,C], else 1. */
  readonly inner: number;
  /** Input channels per position (the group's C, or a concat's total) and where the group's start. */
  readonly stride: number;
  readonly offset: number;
  /** The bias param added right after (single reader, read only there), if any. */
  readonly bias?: string;
  /** A convolution without padding: a constant input channel adds the same to every output. */
  readonly unpadded: boolean;
}

export interface ChannelGroup {
  readonly id: number;
  readonly channels: number;
  readonly producers: Producer[];
  readonly consumers: Consumer[];
  readonly params: ChannelParam[];
  /** Values whose last axis is the group's channels. */
  readonly values: string[];
  /** Flat views: value -> positions per channel. */
  readonly flats: Map<string, number>;
  /** Reshape nodes whose `shape` attribute names the channel count (last entry). */
  readonly reshapes: Map<string, number>;
  blocked?: string;
}

export interface ChannelGroups {
  readonly groups: readonly ChannelGroup[];
  /** The group of each value (group values and flat views). */
  readonly groupOf: ReadonlyMap<string, ChannelGroup>;
}

interface Ctx {
  readonly g: Graph;
  readonly uses: Map<string, number>;
  readonly types: Map<string, TensorType>;
  readonly params: Map<string, { trainable: boolean; type: TensorType }>;
  readonly readers: Map<string, Node[]>;
  groupOf: Map<string, ChannelGroup>;
  groups: ChannelGroup[];
  /** Concats along the last axis: their groups' segments and the total width. */
  joins: Map<string, Join>;
}

interface Join {
  readonly segments: { readonly grp: ChannelGroup; readonly offset: number }[];
  readonly width: number;
}

type Handler = (n: Node, ctx: Ctx) => void;

/** The channel groups of `g` (an inference graph after the clean-up). */
export function channelGroups(g: Graph): ChannelGroups {
  const types = new Map<string, TensorType>();
  for (const i of g.inputs) types.set(i.name, i.type);
  for (const p of g.params) types.set(p.name, p.type);
  for (const n of g.nodes) types.set(n.id, n.type);
  const readers = new Map<string, Node[]>();
  for (const n of g.nodes) for (const v of n.inputs) readers.set(v, [...(readers.get(v) ?? []), n]);
  const ctx: Ctx = { g, uses: useCounts(g), types, params: new Map(g.params.map((p) => [p.name, p])), readers, groupOf: new Map(), groups: [], joins: new Map() };
  for (const n of g.nodes) (HANDLERS[n.op] ?? elementwiseOr(blockReader))(n, ctx);
  for (const o of g.outputs) block(ctx, o.value, `output '${o.name}'`);
  for (const u of g.updates) {
    const grp = ctx.groupOf.get(u.value);
    if (grp && !grp.params.some((p) => p.param === u.param)) block(ctx, u.value, `update of ${u.param}`);
  }
  const live = [...new Set(ctx.groupOf.values())];
  return { groups: live, groupOf: ctx.groupOf };
}

/** A weight the pass may slice: a float param read by this one node only. */
function ownWeight(ctx: Ctx, v: string, rank: number): boolean {
  const p = ctx.params.get(v);
  return !!p && p.type.shape.length === rank && isFloat(p.type.dtype) && ctx.uses.get(v) === 1;
}

/** A [C] (or [1,...,1,C]) float param read only by this node. */
function channelParam(ctx: Ctx, v: string, channels: number): boolean {
  const p = ctx.params.get(v);
  if (!p || !isFloat(p.type.dtype) || ctx.uses.get(v) !== 1) return false;
  const s = p.type.shape;
  return s.length >= 1 && s[s.length - 1] === channels && numel(s) === channels;
}

function block(ctx: Ctx, v: string, why: string): void {
  const grp = ctx.groupOf.get(v);
  if (grp && !grp.blocked) grp.blocked = why;
  for (const s of ctx.joins.get(v)?.segments ?? []) if (!s.grp.blocked) s.grp.blocked = why;
}

function blockReader(n: Node, ctx: Ctx): void {
  for (const v of n.inputs) block(ctx, v, `read by ${n.op} %${n.id}`);
}

function newGroup(ctx: Ctx, channels: number): ChannelGroup {
  const grp: ChannelGroup = { id: ctx.groups.length, channels, producers: [], consumers: [], params: [], values: [], flats: new Map(), reshapes: new Map() };
  ctx.groups.push(grp);
  return grp;
}

function join(ctx: Ctx, v: string, grp: ChannelGroup): void {
  grp.values.push(v);
  ctx.groupOf.set(v, grp);
}

/** Merges group b into a (a residual add): every value, param, producer and consumer of b. */
function merge(ctx: Ctx, a: ChannelGroup, b: ChannelGroup): ChannelGroup {
  if (a === b) return a;
  a.producers.push(...b.producers);
  a.consumers.push(...b.consumers);
  a.params.push(...b.params);
  for (const v of b.values) join(ctx, v, a);
  for (const [v, q] of b.flats) {
    a.flats.set(v, q);
    ctx.groupOf.set(v, a);
  }
  for (const [r, q] of b.reshapes) a.reshapes.set(r, q);
  if (b.blocked && !a.blocked) a.blocked = b.blocked;
  return a;
}

/** A group value read whole (not a flat view), or undefined. */
function fullGroup(ctx: Ctx, v: string): ChannelGroup | undefined {
  const grp = ctx.groupOf.get(v);
  return grp && !grp.flats.has(v) ? grp : undefined;
}

/** The bias param added to `node`'s result by its single reader, if that is `add(node, b[N])`. */
function biasAfter(ctx: Ctx, node: Node, channels: number): string | undefined {
  const rs = ctx.readers.get(node.id) ?? [];
  if (rs.length !== 1 || ctx.uses.get(node.id) !== 1) return undefined;
  const r = rs[0];
  if (r.op !== "add" || r.inputs[0] !== node.id) return undefined;
  const b = r.inputs[1];
  const p = ctx.params.get(b);
  return p && channelParam(ctx, b, channels) && p.type.shape.length === 1 ? b : undefined;
}

/** matmul / conv2d: a consumer of its input's group, and the producer of a new group. */
function contraction(kind: "matmul" | "conv2d"): Handler {
  return (n, ctx) => {
    const [x, w] = n.inputs;
    const rank = kind === "matmul" ? 2 : 4;
    const plain = kind === "matmul" ? n.attrs.transposeA === false && n.attrs.transposeB === false : n.attrs.groups === 1;
    const ok = plain && ownWeight(ctx, w, rank);
    const inAxis = kind === "matmul" ? 0 : 2;
    block(ctx, w, `weight of ${n.op} %${n.id}`);
    const grp = ctx.groupOf.get(x);
    const joined = ctx.joins.get(x);
    if (grp || joined) {
      const wShape = ctx.types.get(w)!.shape;
      const inner = grp?.flats.get(x) ?? 1;
      const stride = joined ? joined.width : grp!.channels;
      if (!ok || wShape[inAxis] !== stride * inner || (kind === "matmul" ? ctx.types.get(x)!.shape.length !== 2 : inner !== 1)) block(ctx, x, `read by ${n.op} %${n.id}`);
      else {
        const bias = biasAfter(ctx, n, n.type.shape[n.type.shape.length - 1]);
        const pads = n.attrs.pads as readonly number[] | undefined;
        const unpadded = kind === "matmul" || n.attrs.padding === "valid" || (n.attrs.padding === "explicit" && !!pads && pads.every((p) => p === 0)) || (wShape[0] === 1 && wShape[1] === 1);
        const consumer = { node: n.id, kind, weight: w, axis: inAxis, value: x, inner, stride, ...(bias ? { bias } : {}), unpadded };
        for (const s of joined ? joined.segments : [{ grp: grp!, offset: 0 }]) s.grp.consumers.push({ ...consumer, offset: s.offset });
      }
    }
    if (!ok || (kind === "matmul" && n.type.shape.length !== 2)) return;
    const out = newGroup(ctx, n.type.shape[n.type.shape.length - 1]);
    out.producers.push({ node: n.id, weight: w, axis: rank - 1 });
    out.params.push({ param: w, axis: rank - 1 });
    join(ctx, n.id, out);
  };
}

/**
 * An elementwise op: its result joins the group of its full-shape group operands (several are
 * merged) when every other operand is a scalar or a [C] param read only here (then sliced).
 */
function elementwiseOr(otherwise: Handler): Handler {
  return (n, ctx) => {
    const def = getOp(n.op);
    if (def.kind !== "elementwise" || def.random || n.inputs.length === 0) return otherwise(n, ctx);
    const shape = n.type.shape;
    const channels = shape[shape.length - 1];
    let grp: ChannelGroup | undefined;
    const sliced: string[] = [];
    let foreign = false;
    for (const v of n.inputs) {
      const t = ctx.types.get(v)!;
      const own = fullGroup(ctx, v);
      if (own && t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i])) grp = grp ? merge(ctx, grp, own) : own;
      else if (numel(t.shape) === 1 && !ctx.groupOf.has(v)) continue;
      else if (shape.length > 0 && channelParam(ctx, v, channels)) sliced.push(v);
      else foreign = true;
    }
    if (!grp) return blockReader(n, ctx);
    if (foreign) return blockReader(n, ctx);
    for (const p of sliced) grp.params.push({ param: p, axis: ctx.types.get(p)!.shape.length - 1 });
    join(ctx, n.id, grp);
  };
}

/** An op whose result keeps operand 0's channels last; `paramsFrom` operands are [C] params. */
function channelwise(paramsFrom: number): Handler {
  return (n, ctx) => {
    const grp = fullGroup(ctx, n.inputs[0]);
    if (!grp) return blockReader(n, ctx);
    const last = n.type.shape[n.type.shape.length - 1];
    const rest = n.inputs.slice(paramsFrom);
    if (last !== grp.channels || !rest.every((p) => channelParam(ctx, p, grp.channels))) return blockReader(n, ctx);
    for (const p of rest) grp.params.push({ param: p, axis: ctx.types.get(p)!.shape.length - 1 });
    join(ctx, n.id, grp);
  };
}

/** sum/mean/max over axes that leave the last one. */
const reduction: Handler = (n, ctx) => {
  const x = ctx.types.get(n.inputs[0])!;
  const axes = (n.attrs.axes as readonly number[]).map((a) => normalizeAxis(a, x.shape.length));
  if (axes.includes(x.shape.length - 1)) return blockReader(n, ctx);
  channelwise(1)(n, ctx);
};

/** A reshape that keeps the last axis, or flattens the trailing axes into one (a flat view). */
const reshape: Handler = (n, ctx) => {
  const grp = fullGroup(ctx, n.inputs[0]);
  if (!grp) return blockReader(n, ctx);
  const inShape = ctx.types.get(n.inputs[0])!.shape;
  const outShape = n.type.shape;
  const spec = n.attrs.shape as readonly number[];
  if (spec[spec.length - 1] === -1) return blockReader(n, ctx);
  const last = outShape[outShape.length - 1];
  if (last === grp.channels && numel(outShape.slice(0, -1)) === numel(inShape.slice(0, -1))) {
    grp.reshapes.set(n.id, 1);
    return join(ctx, n.id, grp);
  }
  // [a..., b..., C] -> [a..., prod(b..., C)]: the leading axes unchanged.
  const lead = outShape.length - 1;
  const flattens = lead < inShape.length && inShape.slice(0, lead).every((d, i) => d === outShape[i]) && numel(inShape.slice(lead)) === last;
  if (!flattens) return blockReader(n, ctx);
  const inner = last / grp.channels;
  grp.reshapes.set(n.id, inner);
  grp.flats.set(n.id, inner);
  ctx.groupOf.set(n.id, grp);
  // A flat view is read only by dense consumers (contraction checks it); anything else blocks.
  for (const r of ctx.readers.get(n.id) ?? []) if (r.op !== "matmul") block(ctx, n.id, `flattened value read by ${r.op} %${r.id}`);
};

/** A concat along the last axis of group values (and others): a join its consumers read. */
const concat: Handler = (n, ctx) => {
  const rank = n.type.shape.length;
  if (normalizeAxis(n.attrs.axis as number, rank) !== rank - 1) return blockReader(n, ctx);
  const segments: Join["segments"] = [];
  let offset = 0;
  for (const v of n.inputs) {
    const grp = fullGroup(ctx, v);
    if (grp) segments.push({ grp, offset });
    else if (ctx.groupOf.has(v) || ctx.joins.has(v)) return blockReader(n, ctx);
    const shape = ctx.types.get(v)!.shape;
    offset += shape[shape.length - 1];
  }
  if (segments.length > 0) ctx.joins.set(n.id, { segments, width: offset });
};

const HANDLERS: Readonly<Record<string, Handler>> = {
  matmul: contraction("matmul"),
  conv2d: contraction("conv2d"),
  batchNorm: channelwise(1),
  batchNormRunningStat: channelwise(1),
  maxPool2d: channelwise(1),
  avgPool2d: channelwise(1),
  sum: reduction,
  mean: reduction,
  max: reduction,
  reshape,
  concat,
};
