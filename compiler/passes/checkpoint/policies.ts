// Which forward values to keep for the backward pass (the rest are recomputed; rewrite.ts).
//
//   droppable  forward values except those an output or update reads (live to the end anyway;
//              also through a gate appended after the backward, endOfStepValues):
//              the backward's own uses and, through them, the recompute chains read them
//   cuts       the chain structure of the forward pass: values that are the ONLY forward value
//              live across their position (a layer's output in an MLP, a residual block's output,
//              a transformer block's output). Keeping a cut makes everything before it
//              unnecessary for recomputing anything after it.
//   sqrt       keep about sqrt(#cuts) evenly spaced cuts, drop every other droppable value
//              (Chen et al. 2016: O(sqrt n) memory for one extra forward pass).
//   keep(C, t) keep the cuts C (every k-th, or those a chain schedule holds) and every droppable
//              value whose recompute costs at least `t` FLOPs per byte it occupies (contractions:
//              matmul, conv), drop the rest, and a prefix of the expensive ones (spillOrder). `auto` searches this family
//              (checkpoint.ts).

import type { Graph } from "../../ir/graph.ts";
import { valueTypes } from "../../ir/graph.ts";
import { byteSize, type TensorType } from "../../ir/types.ts";
import { nodeFlops } from "./cost.ts";

export interface ForwardAnalysis {
  /** Droppable forward values in forward order, with their FLOPs per byte. A dropped value is
   * recomputed only where the backward pass (or another recompute) needs it. */
  readonly droppable: readonly { id: string; flopsPerByte: number }[];
  /** Cut values in forward order (a subset of the forward nodes). */
  readonly cuts: readonly string[];
  /** Forward node -> its segment: the number of cuts before it (a cut ends its segment). */
  readonly segments: ReadonlyMap<string, number>;
  /** Forward node -> the forward nodes that read it. */
  readonly users: ReadonlyMap<string, readonly string[]>;
  /** The largest FLOPs per byte among the droppable values (the contractions'). */
  readonly costliest: number;
}

export function analyseForward(g: Graph, forwardCount: number): ForwardAnalysis {
  const forward = g.nodes.slice(0, forwardCount);
  const types = valueTypes(g);
  const typeOf = (v: string): TensorType => types.get(v)!;
  const index = new Map(forward.map((n, i) => [n.id, i] as const));
  const endOfStep = endOfStepValues(g, forwardCount);
  const droppable = forward
    .filter((n) => !endOfStep.has(n.id))
    .map((n) => ({ id: n.id, flopsPerByte: nodeFlops(n, typeOf) / Math.max(1, byteSize(n.type)) }));

  // Last forward use of each forward value.
  const lastUse = new Map<string, number>();
  forward.forEach((n, i) => n.inputs.forEach((v) => index.has(v) && lastUse.set(v, i)));
  // c is a cut when no non-constant forward value defined before it is read after it: the
  // running maximum of earlier values' last uses has not passed c's position.
  const cuts: string[] = [];
  let reach = -1;
  // Constants and values read at the end of the step (running statistics, the loss) are kept
  // whatever the policy, so they never prevent a cut.
  const alwaysKept = (n: Graph["nodes"][number]) => n.op === "const" || endOfStep.has(n.id);
  forward.forEach((n, i) => {
    if (!alwaysKept(n) && reach <= i && (lastUse.get(n.id) ?? -1) > i) cuts.push(n.id);
    if (!alwaysKept(n)) reach = Math.max(reach, lastUse.get(n.id) ?? -1);
  });
  const segments = new Map<string, number>();
  const cutSet = new Set(cuts);
  let segment = 0;
  for (const n of forward) {
    segments.set(n.id, segment);
    if (cutSet.has(n.id)) segment++;
  }
  const users = new Map<string, string[]>();
  for (const n of forward) {
    for (const v of n.inputs) {
      if (!index.has(v)) continue;
      const list = users.get(v);
      if (list) list.push(n.id);
      else users.set(v, [n.id]);
    }
  }
  const costliest = droppable.reduce((most, d) => Math.max(most, d.flopsPerByte), -Infinity);
  return { droppable, cuts, segments, users, costliest };
}

/**
 * The forward values read at the end of the step: those an output or update reads, and the new
 * value of a gated update `where(ok, new, state)` (finite-gate.ts: a running statistic skipped
 * when non-finite), whose gate is appended after the backward pass yet is as much the end of the
 * step as the update itself. Dropping one would recompute its forward chain (a batch norm's
 * input) for a value the step keeps anyway.
 */
function endOfStepValues(g: Graph, forwardCount: number): Set<string> {
  const ends = new Set([...g.outputs.map((o) => o.value), ...g.updates.map((u) => u.value)]);
  const forward = new Set(g.nodes.slice(0, forwardCount).map((n) => n.id));
  const byId = new Map(g.nodes.map((n) => [n.id, n] as const));
  for (const u of g.updates) {
    const n = byId.get(u.value);
    if (n?.op === "where" && n.inputs[2] === u.param && forward.has(n.inputs[1])) ends.add(n.inputs[1]);
  }
  return ends;
}

/** Every k-th cut (k = Infinity: none). */
export function everyKthCut(a: ForwardAnalysis, every: number): Set<string> {
  const kept = new Set<string>();
  if (Number.isFinite(every)) {
    // Cuts k, 2k, ... counted from the end: the last segments are backpropagated first, so the
    // step's tail (closest to the loss) needs no recomputation before it.
    for (let i = a.cuts.length - 1; i >= 0; i -= every) kept.add(a.cuts[i]);
  }
  return kept;
}

/**
 * The values to drop when keeping `keptCuts` and the values costing >= `threshold` FLOPs/byte,
 * except `spilled` (a prefix of spillOrder(a, threshold)), which are dropped although expensive.
 */
export function dropSet(a: ForwardAnalysis, keptCuts: ReadonlySet<string>, threshold: number, spilled: readonly string[] = []): Set<string> {
  const dropped = new Set(a.droppable.filter((d) => !keptCuts.has(d.id) && d.flopsPerByte < threshold).map((d) => d.id));
  for (const id of spilled) if (!keptCuts.has(id)) dropped.add(id);
  return dropped;
}

/**
 * The order in which to drop expensive values (>= `threshold` FLOPs/byte) too. First those that
 * feed no cut through cheap values only: with the other expensive values kept, recomputing a cut
 * (a residual block's output, needed again in every later region) never passes through them, so
 * each is recomputed once, for its own segment's backward (a block's first conv). Then the rest.
 * Each group in bit-reversed forward order, so any prefix is spread evenly over the network.
 */
export function spillOrder(a: ForwardAnalysis, threshold: number): SpillOrder {
  const expensive = a.droppable.filter((d) => d.flopsPerByte >= threshold).map((d) => d.id);
  const cheap = new Set(a.droppable.filter((d) => d.flopsPerByte < threshold).map((d) => d.id));
  const cuts = new Set(a.cuts);
  const feedsCut = (start: string): boolean => {
    const seen = new Set<string>();
    const stack = [...(a.users.get(start) ?? [])];
    while (stack.length > 0) {
      const v = stack.pop()!;
      if (cuts.has(v)) return true;
      if (seen.has(v) || !cheap.has(v)) continue;
      seen.add(v);
      stack.push(...(a.users.get(v) ?? []));
    }
    return false;
  };
  const spread = (ids: readonly string[]) => {
    const bits = Math.max(1, Math.ceil(Math.log2(Math.max(2, ids.length))));
    const reversed = (i: number) => parseInt(i.toString(2).padStart(bits, "0").split("").reverse().join(""), 2);
    return Array.from({ length: 2 ** bits }, (_, i) => reversed(i)).filter((i) => i < ids.length).map((i) => ids[i]);
  };
  const offSpine = spread(expensive.filter((e) => !cuts.has(e) && !feedsCut(e)));
  return { order: [...offSpine, ...spread(expensive.filter((e) => cuts.has(e) || feedsCut(e)))], offSpine: offSpine.length };
}

export interface SpillOrder {
  readonly order: readonly string[];
  /** How many of the first values in `order` feed no cut through cheap values (each is recomputed once). */
  readonly offSpine: number;
}

/** Chen's sqrt(n) policy: about sqrt(#cuts) evenly spaced cuts kept, every other droppable value dropped. */
export function sqrtDropSet(a: ForwardAnalysis): Set<string> {
  const every = Math.max(1, Math.round(Math.sqrt(a.cuts.length)));
  return dropSet(a, everyKthCut(a, every), Infinity);
}
