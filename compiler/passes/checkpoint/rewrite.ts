// The graph rewrite behind every checkpoint policy: given the forward values to DROP (not kept
// for the backward pass), every backward use of a dropped value reads a recomputed copy instead.
// A copy is an ordinary node (same op, attributes and type, `recomputeOf` naming the original)
// placed right before the first backward node that needs it; its operands are kept values
// (checkpoints, inputs, params) or, recursively, copies. The forward pass itself is unchanged;
// dropped values just die earlier.
//
// How long a copy serves, by `regions`:
//   undefined  a dropped value is recomputed once; its copy serves every later backward use.
//              Memory falls when the backward visits the forward's segments in reverse (as
//              autodiff's sweep does): a segment's copies die with its backward.
//   a map      forward value -> region (its segment between cuts). Copies serve only while the
//              backward keeps asking for values of one region; asking for another region starts
//              afresh, so a dropped value reachable only through a long chain of dropped values
//              (a residual spine) is recomputed per region instead of the whole chain staying
//              alive: more (cheap) FLOPs, less memory. With `holdsAt`, the copies of the values
//              it names for both the region left and the one entered survive the fresh start (a
//              multi-level schedule's snapshots recomputed once and held for later regions,
//              chain-dp.ts). A cut counts as the region after its own: the one it is the input of.

import type { Graph, Node } from "../../ir/graph.ts";
import { valueTypes } from "../../ir/graph.ts";
import { nodeFlops } from "./cost.ts";

export interface Recomputed {
  readonly graph: Graph;
  /** Recompute nodes added, and their FLOPs. */
  readonly nodes: number;
  readonly flops: number;
  /**
   * The values the nodes after the forward pass read as they are (not recomputed): kept forward
   * values among them (checkpoint/live-bound.ts bounds the peak by those without the graph).
   */
  readonly readAfter: ReadonlySet<string>;
}

/** Forward nodes are the first `forwardCount` nodes of `g` (autodiff appends the backward). */
export function recompute(
  g: Graph,
  forwardCount: number,
  dropped: ReadonlySet<string>,
  regions?: ReadonlyMap<string, number>,
  holdsAt?: (region: number) => ReadonlySet<string>,
): Recomputed {
  let byCount = recomputers.get(g);
  if (!byCount) recomputers.set(g, (byCount = new Map()));
  let rewrite = byCount.get(forwardCount);
  if (!rewrite) byCount.set(forwardCount, (rewrite = recomputer(g, forwardCount)));
  return rewrite(dropped, regions, holdsAt);
}

/** The recomputer of each graph recompute() was asked about (graphs are never modified in place). */
const recomputers = new WeakMap<Graph, Map<number, Recompute>>();

export type Recompute = (dropped: ReadonlySet<string>, regions?: ReadonlyMap<string, number>, holdsAt?: (region: number) => ReadonlySet<string>) => Recomputed;

/**
 * `recompute` of one graph for many drop sets: what does not depend on the set (value types,
 * the forward nodes, the names taken, each node's FLOPs) is worked out once (the checkpoint
 * search rewrites the same step for every candidate).
 */
export function recomputer(g: Graph, forwardCount: number): Recompute {
  const forward = g.nodes.slice(0, forwardCount);
  const forwardById = new Map(forward.map((n) => [n.id, n] as const));
  const ends = [...g.outputs.map((o) => o.value), ...g.updates.map((u) => u.value)];
  const types = valueTypes(g);
  const typeOf = (v: string) => types.get(v)!;
  const flopsOf = new Map<string, number>();
  const nodeFlopsOf = (n: Node) => flopsOf.get(n.id) ?? flopsOf.set(n.id, nodeFlops(n, typeOf)).get(n.id)!;
  const graphNames = new Set<string>([...g.inputs.map((i) => i.name), ...g.params.map((p) => p.name), ...g.nodes.map((n) => n.id)]);
  const backward = g.nodes.slice(forwardCount);
  const lastOfSegments = new WeakMap<ReadonlyMap<string, number>, Map<number, string>>();
  // What a rewrite adds (its FLOPs and node count) is known without building its nodes; the
  // search needs the nodes of only the candidates it measures, so they are built when first read.
  return (dropped, regions, holdsAt) => {
    const counted = rewrite(dropped, regions, holdsAt, false);
    let graph: Graph | undefined;
    return {
      nodes: counted.nodes,
      flops: counted.flops,
      readAfter: counted.readAfter,
      get graph() {
        return (graph ??= rewrite(dropped, regions, holdsAt, true).graph!);
      },
    };
  };

  /** The rewrite; `build` false only counts what it adds (no nodes, no graph). */
  function rewrite(
    dropped: ReadonlySet<string>, regions: ReadonlyMap<string, number> | undefined, holdsAt: ((region: number) => ReadonlySet<string>) | undefined, build: boolean,
  ): { graph?: Graph; nodes: number; flops: number; readAfter: Set<string> } {
    for (const v of dropped) if (!forwardById.has(v)) throw new Error(`checkpoint: %${v} is not a forward node, so it cannot be recomputed`);
    for (const r of ends) {
      if (dropped.has(r)) throw new Error(`checkpoint: %${r} is read by an output or update at the end of the step; it cannot be dropped`);
    }
    const added = new Set<string>();
    const taken = (id: string) => graphNames.has(id) || added.has(id);
    // The first free name of `${v}.r`, `${v}.r2`, `${v}.r3`, …: names are only ever taken, so
    // the search for v's next one resumes where its last ended (a value recomputed in every
    // region of a deep net gets hundreds of copies).
    const nextSuffix = new Map<string, number>();
    const fresh = (v: string) => {
      let id = `${v}.r`;
      if (taken(id)) {
        let k = nextSuffix.get(v) ?? 2;
        while (taken(`${v}.r${k}`)) k++;
        id = `${v}.r${k}`;
        nextSuffix.set(v, k + 1);
      }
      added.add(id);
      return id;
    };
    const nodes: Node[] = [...forward];
    const copies = new Map<string, string>();
    let region: number | undefined;
    let flops = 0;
    let count = 0;
    const readAfter = new Set<string>();
    const use = (v: string): string => {
      if (!dropped.has(v)) {
        readAfter.add(v);
        return v;
      }
      const copy = copies.get(v);
      if (copy !== undefined) return copy;
      const node = forwardById.get(v)!;
      const inputs = node.inputs.map(use);
      flops += nodeFlopsOf(node);
      count++;
      if (!build) {
        copies.set(v, v);
        return v;
      }
      const { inplace: _decision, ...original } = node;
      const id = fresh(v);
      nodes.push({ ...original, id, inputs, recomputeOf: v });
      copies.set(v, id);
      return id;
    };
    // A cut ends its segment and is the input of the next: the backward reads it for the next
    // segment's gradients (a block's input, for its filter gradient; the relu mask of a block's
    // output), so it belongs to that region, as the chain schedule's state x_k belongs to step k.
    // Counting it in its own would switch regions and back in the middle of a region's backward,
    // dropping and recomputing the region's copies twice over.
    let lastOfSegment = regions ? lastOfSegments.get(regions) : undefined;
    if (regions && !lastOfSegment) {
      lastOfSegment = new Map<number, string>();
      for (const n of forward) lastOfSegment.set(regions.get(n.id)!, n.id);
      lastOfSegments.set(regions, lastOfSegment);
    }
    // (The last segment ends at the loss, not at a cut: its last node stays in it.)
    const regionOf = (v: string): number => {
      const r = regions!.get(v)!;
      return lastOfSegment!.get(r) === v && lastOfSegment!.has(r + 1) ? r + 1 : r;
    };
    const request = (v: string): string => {
      const entered = regions && dropped.has(v) ? regionOf(v) : undefined;
      if (entered !== undefined && entered !== region) {
        // A copy survives only when the schedule holds it across: held in the region left and in
        // the one entered. One the new region holds but the old did not is recomputed there, as
        // the schedule does; keeping the older copy would hold it through the old region too.
        const heldBefore = region === undefined ? undefined : holdsAt?.(region);
        const held = holdsAt?.(entered);
        for (const key of [...copies.keys()]) if (!held?.has(key) || !heldBefore?.has(key)) copies.delete(key);
        region = entered;
      }
      return use(v);
    };
    for (const n of backward) {
      const inputs = n.inputs.map(request);
      if (build) nodes.push(inputs.some((v, i) => v !== n.inputs[i]) ? { ...n, inputs } : n);
    }
    if (!build) return { nodes: count, flops, readAfter };
    const { memory: _plan, ...rest } = g;
    return { graph: { ...rest, nodes }, nodes: count, flops, readAfter };
  }
}
