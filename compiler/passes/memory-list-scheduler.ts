// List scheduling for memory: builds a node order one node at a time, choosing among the ready
// nodes (all producers already placed) by how many bytes placing them frees minus how many they
// allocate. Used by the `schedule` pass, which tries several policies and keeps the best order.
//
// The memory model is the one the planner will see, so far as the order does not decide it:
// - buffers, not values: a pure alias (reshape, copy) and an in-place state update (stage 2 of the
//   `inplace` pass, given as `aliases`) share their operand's buffer, so they allocate nothing;
// - a buffer is freed when its last reader runs, unless it is pinned (inputs, params, outputs and
//   update values stay to the end);
// - in-place reuse of a dying temporary (stage 3) changes no buffer count after the step (the
//   operand's bytes are freed and the result's allocated either way), so it needs no modelling.
//
// Constraints besides data dependencies: a node that writes a param in place (the first link of a
// state-update chain) comes after every other reader of the param's old bytes, so the chain stays
// valid in the new order. Source nodes (constants, iotas) are placed just before their first
// consumer, so they never sit in memory waiting.

import type { Graph, Node } from "../ir/graph.ts";
import { bufferBytes } from "./liveness.ts";
import { isPureAlias } from "../ir/aliasing.ts";
import { memoPerGraph } from "./graph-memo.ts";

/**
 * How to choose among ready nodes. `greedy`: the best score (bytes freed minus allocated, with
 * lookahead). `eager`: the best score when it does not grow memory, else the ready node that came
 * first in the original order (that order is usually a good one; eager only pulls consumers
 * forward, e.g. an optimizer update right after its gradient is produced).
 */
export type SchedulePolicy = "greedy" | "eager";

export function listSchedule(g: Graph, aliases: ReadonlyMap<string, string>, policy: SchedulePolicy, lookahead: number): Node[] {
  return Array.from(listScheduleOrder(g, aliases, policy, lookahead), (i) => g.nodes[i]);
}

/** listSchedule's order as indices into `g.nodes`. */
export function listScheduleOrder(g: Graph, aliases: ReadonlyMap<string, string>, policy: SchedulePolicy, lookahead: number): Int32Array {
  const s = new SchedulerState(problemOf(g, aliases));
  const order: number[] = [];
  // Every step picks the ready node of the best score (ties: the first in the original order), or
  // under `eager` the first ready node when no score is positive. A score is a function of the
  // state a trial placement reads (score's `deps`), so it is kept until one of those parts of the
  // state changes in a way that can change it (commit's stale scores) and the choice is a heap's
  // top, not a scan of every ready node.
  const n = g.nodes.length;
  const version = new Int32Array(n);
  const dirty: number[] = [...s.ready];
  const isDirty = new Uint8Array(n);
  for (const i of dirty) isDirty[i] = 1;
  const best = new Heap<{ score: number; node: number; version: number }>((a, b) => a.score > b.score || (a.score === b.score && a.node < b.node));
  const first = new Heap<number>((a, b) => a < b);
  for (const i of s.ready) first.push(i);
  const stale = (j: number, v: number) => {
    if (v === version[j] && !isDirty[j] && s.ready.has(j)) {
      isDirty[j] = 1;
      dirty.push(j);
    }
  };
  const place = (i: number) => {
    for (const src of s.sourceOperands[i]) if (!s.emitted[src]) order.push(src);
    order.push(i);
    version[i]++;
    s.commit(i, stale);
    for (const next of s.newlyReady) {
      first.push(next);
      if (!isDirty[next]) {
        isDirty[next] = 1;
        dirty.push(next);
      }
    }
  };
  while (s.ready.size > 0) {
    for (const j of dirty) {
      isDirty[j] = 0;
      if (!s.ready.has(j)) continue;
      version[j]++;
      const score = s.score(j, lookahead, version[j]);
      best.push({ score, node: j, version: version[j] });
    }
    dirty.length = 0;
    while (best.top!.version !== version[best.top!.node]) best.pop();
    while (!s.ready.has(first.top!)) first.pop();
    const top = best.top!;
    place(policy === "eager" && top.score < 0 ? first.top! : top.node);
  }
  // Sources nothing reads (e.g. a constant output) go last.
  g.nodes.forEach((_, i) => {
    if (!s.emitted[i]) {
      order.push(i);
      s.emitted[i] = 1;
    }
  });
  if (order.length !== g.nodes.length) throw new Error(`schedule: placed ${order.length} of ${g.nodes.length} nodes (a dependency cycle?)`);
  return Int32Array.from(order);
}

/** A binary heap; `before(a, b)`: a comes out first. */
class Heap<T> {
  private readonly items: T[] = [];
  constructor(private readonly before: (a: T, b: T) => boolean) {}

  get top(): T | undefined {
    return this.items[0];
  }

  push(x: T): void {
    const items = this.items;
    let i = items.length;
    items.push(x);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(x, items[parent])) break;
      items[i] = items[parent];
      i = parent;
    }
    items[i] = x;
  }

  pop(): void {
    const items = this.items;
    const last = items.pop()!;
    if (items.length === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= items.length) break;
      const c = l + 1 < items.length && this.before(items[l + 1], items[l]) ? l + 1 : l;
      if (!this.before(items[c], last)) break;
      items[i] = items[c];
      i = c;
    }
    items[i] = last;
  }
}

/**
 * Which scores (a ready node and its score's version) read which part of the scheduler's state,
 * so that placing a node marks stale only the scores it can change. The state is flags (a node
 * placed, a buffer allocated), which change once, and counters (a node's producers not placed, a
 * buffer's reads not placed), which only go down. A score reads a counter only through whether
 * the trial's own decrements bring it to zero, so it is stale once the counter is at most that
 * many, not at every decrement: a constant or a guard node shared by hundreds of ready nodes
 * would otherwise make all their scores stale at each of its reads (quadratic in the net's depth).
 */
class ScoreDependents {
  /** Flag key -> (node, version) pairs. */
  private readonly onFlag: number[][] = [];
  /** Counter key -> the largest value that makes them stale -> (node, version) pairs. */
  private readonly onCounter: Map<number, number[]>[] = [];

  flag(key: number, node: number, version: number): void {
    (this.onFlag[key] ??= []).push(node, version);
  }

  /** A score that decremented counter `key` (now `value`) `decrements` times and read it. */
  counter(key: number, value: number, decrements: number, node: number, version: number): void {
    // Every pair kept has a threshold below the counter's value: a decrement to v fires exactly v's.
    const threshold = Math.min(decrements, value - 1);
    if (threshold < 0) return;
    const byThreshold = (this.onCounter[key] ??= new Map());
    const pairs = byThreshold.get(threshold);
    if (pairs) pairs.push(node, version);
    else byThreshold.set(threshold, [node, version]);
  }

  flagSet(key: number, stale: (node: number, version: number) => void): void {
    const pairs = this.onFlag[key];
    if (pairs === undefined) return;
    for (let k = 0; k < pairs.length; k += 2) stale(pairs[k], pairs[k + 1]);
    this.onFlag[key] = [];
  }

  /** Counter `key` went from `from` to from - 1. */
  counterDecremented(key: number, from: number, stale: (node: number, version: number) => void): void {
    const byThreshold = this.onCounter[key];
    const pairs = byThreshold?.get(from - 1);
    if (pairs === undefined) return;
    for (let k = 0; k < pairs.length; k += 2) stale(pairs[k], pairs[k + 1]);
    byThreshold!.delete(from - 1);
  }
}

/** The journal's kinds of state: flags, then counters (SchedulerState.arrays). */
const EMITTED = 0;
const ALLOCATED = 1;
const WAITING = 2;
const REMAINING = 3;

/**
 * What list scheduling needs to know about a graph that no order changes: buffers (sizes, pins,
 * which each node writes and reads), dependency edges, consumers and the initial counters. The
 * schedule pass runs several policies on one graph: it is built once for them (problemOf).
 */
class ScheduleProblem {
  readonly nodes: number;
  readonly bufferOfNode: Int32Array;
  readonly operandBuffers: Int32Array[];
  /** Each node's own buffer and its distinct operand buffers: those placing it may free. */
  readonly touchedBuffers: Int32Array[];
  readonly size: Float64Array;
  readonly pinned: Uint8Array;
  /** Initially: inputs' and params' buffers. */
  readonly allocated: Uint8Array;
  /** Reads of each buffer's members. */
  readonly remaining: Int32Array;
  /** Producers and predecessors (non-source) of each node. */
  readonly waiting: Int32Array;
  readonly successors: number[][];
  /** Node indices that read each node's value (distinct, non-source). */
  readonly consumers: number[][];
  /** Source nodes each node reads (placed lazily with it). */
  readonly sourceOperands: number[][];
  readonly isSource: Uint8Array;

  constructor(g: Graph, aliases: ReadonlyMap<string, string>) {
    const n = (this.nodes = g.nodes.length);
    const index = new Map<string, number>();
    g.nodes.forEach((node, i) => index.set(node.id, i));
    const bufferIndex = new Map<string, number>();
    const bufferOfValue = new Map<string, number>();
    const sizes: number[] = [];
    const pinnedList: number[] = [];
    const bufferOf = (v: string) => {
      let b = bufferOfValue.get(v);
      if (b !== undefined) return b;
      let o = v;
      for (let next = aliases.get(o); next !== undefined; next = aliases.get(o)) o = next;
      b = bufferIndex.get(o);
      if (b === undefined) {
        b = sizes.length;
        bufferIndex.set(o, b);
        sizes.push(0);
        pinnedList.push(index.has(o) ? 0 : 1); // inputs and params
      }
      bufferOfValue.set(v, b);
      return b;
    };
    for (const i of g.inputs) sizes[bufferOf(i.name)] = bufferBytes(i.type);
    for (const p of g.params) sizes[bufferOf(p.name)] = bufferBytes(p.type);
    this.bufferOfNode = Int32Array.from(g.nodes, (node) => bufferOf(node.id));
    g.nodes.forEach((node, i) => {
      const b = this.bufferOfNode[i];
      sizes[b] = Math.max(sizes[b], bufferBytes(node.type));
    });
    for (const v of [...g.outputs.map((o) => o.value), ...g.updates.map((u) => u.value)]) pinnedList[bufferOf(v)] = 1;

    this.size = Float64Array.from(sizes);
    this.pinned = Uint8Array.from(pinnedList);
    this.allocated = new Uint8Array(sizes.length);
    for (const i of g.inputs) this.allocated[bufferOf(i.name)] = 1;
    for (const p of g.params) this.allocated[bufferOf(p.name)] = 1;
    this.remaining = new Int32Array(sizes.length);
    this.operandBuffers = g.nodes.map((node) => Int32Array.from(node.inputs, (v) => bufferOf(v)));
    for (const bs of this.operandBuffers) for (const b of bs) this.remaining[b]++;
    // Distinct, first seen first: the last node that listed each buffer.
    const listedBy = new Int32Array(sizes.length).fill(-1);
    const touched: number[] = [];
    this.touchedBuffers = g.nodes.map((_, i) => {
      touched.length = 0;
      for (const b of [this.bufferOfNode[i], ...this.operandBuffers[i]]) {
        if (listedBy[b] === i) continue;
        listedBy[b] = i;
        touched.push(b);
      }
      return Int32Array.from(touched);
    });

    const isSource = (this.isSource = Uint8Array.from(g.nodes, (node) => (node.inputs.length === 0 ? 1 : 0)));
    this.successors = g.nodes.map(() => []);
    this.consumers = g.nodes.map(() => []);
    this.sourceOperands = g.nodes.map(() => []);
    this.waiting = new Int32Array(n);
    // The last node each node was found an operand of: an operand read twice counts once.
    const seenBy = new Int32Array(n).fill(-1);
    g.nodes.forEach((node, i) => {
      for (const v of node.inputs) {
        const p = index.get(v);
        if (p === undefined || seenBy[p] === i) continue;
        seenBy[p] = i;
        this.consumers[p].push(i);
        if (isSource[p]) {
          this.sourceOperands[i].push(p);
        } else if (p !== i) {
          this.successors[p].push(i);
          this.waiting[i]++;
        }
      }
    });
    for (const [reader, writer] of stateWriteOrder(g, aliases, index)) {
      if (isSource[reader] || reader === writer || this.successors[reader].includes(writer)) continue;
      this.successors[reader].push(writer);
      this.waiting[writer]++;
    }
  }
}

/** The graph's ScheduleProblem under `aliases`, built once while both are the same objects. */
const problemOf = memoPerGraph((g, aliases) => new ScheduleProblem(g, aliases));

/** Scheduling state with an undo journal, so scores can be computed by trying moves. */
class SchedulerState {
  readonly ready = new Set<number>();
  /** Nodes the last commit made ready. */
  readonly newlyReady: number[] = [];
  readonly emitted: Uint8Array;
  /** Source nodes each node reads (placed lazily with it). */
  readonly sourceOperands: number[][];
  private readonly bufferOfNode: Int32Array;
  private readonly operandBuffers: Int32Array[];
  private readonly touchedBuffers: Int32Array[];
  private readonly size: Float64Array;
  private readonly pinned: Uint8Array;
  private readonly allocated: Uint8Array;
  /** Reads of each buffer's members not placed yet. */
  private readonly remaining: Int32Array;
  /** Producers and predecessors (non-source) not placed yet. */
  private readonly waiting: Int32Array;
  private readonly successors: number[][];
  private readonly consumers: number[][];
  /** Indexed by EMITTED, ALLOCATED, WAITING, REMAINING. */
  private readonly arrays: readonly (Int32Array | Uint8Array)[];
  /** (kind, index, old value) triples of every write since the last commit. */
  private journal: number[] = [];
  private readonly dependents = new ScoreDependents();
  /** Per counter key (nodes, then buffers): a trial's decrements (score's scratch, zero between). */
  private readonly decrements: Int32Array;
  /** While scoring: (kind, index) pairs of the state read. */
  private reads: number[] | undefined;
  /** Scratch of score (its reads, and the counter keys it decremented), reused from call to call. */
  private readonly readsScratch: number[] = [];
  private readonly decrementedScratch: number[] = [];

  constructor(p: ScheduleProblem) {
    ({ sourceOperands: this.sourceOperands, bufferOfNode: this.bufferOfNode, operandBuffers: this.operandBuffers, touchedBuffers: this.touchedBuffers } = p);
    ({ size: this.size, pinned: this.pinned, successors: this.successors, consumers: this.consumers } = p);
    this.allocated = p.allocated.slice();
    this.remaining = p.remaining.slice();
    this.waiting = p.waiting.slice();
    this.emitted = new Uint8Array(p.nodes);
    for (let i = 0; i < p.nodes; i++) if (!p.isSource[i] && this.waiting[i] === 0) this.ready.add(i);
    this.arrays = [this.emitted, this.allocated, this.waiting, this.remaining];
    this.decrements = new Int32Array(p.nodes + p.size.length);
  }

  /** Flags and counters share one key space each: nodes first, then buffers. */
  private key(kind: number, at: number): number {
    return kind === EMITTED || kind === WAITING ? at : this.emitted.length + at;
  }

  /**
   * Places node i for good (with its unplaced source operands), and calls `stale` with every
   * (node, version) whose score read state that changed so that the score may differ.
   */
  commit(i: number, stale: (node: number, version: number) => void): void {
    this.advance(i);
    const journal = this.journal;
    this.journal = [];
    this.ready.delete(i);
    this.newlyReady.length = 0;
    for (const next of this.successors[i]) {
      if (this.waiting[next] === 0) {
        this.ready.add(next);
        this.newlyReady.push(next);
      }
    }
    for (let k = 0; k < journal.length; k += 3) {
      const kind = journal[k];
      const at = journal[k + 1];
      if (kind === EMITTED || kind === ALLOCATED) this.dependents.flagSet(this.key(kind, at), stale);
      else if (kind === WAITING || !this.pinned[at]) this.dependents.counterDecremented(this.key(kind, at), journal[k + 2], stale);
    }
  }

  /** Places node i (and its unplaced source operands); returns the change in live bytes after it. */
  private advance(i: number): number {
    let delta = 0;
    for (const src of this.sourceOperands[i]) {
      this.reads?.push(EMITTED, src);
      if (!this.emitted[src]) delta += this.place(src);
    }
    delta += this.place(i);
    for (const next of this.successors[i]) this.decrement(WAITING, next);
    return delta;
  }

  /**
   * Bytes freed minus allocated by placing node i, then, up to `lookahead` times, the single
   * consumer of the last node placed when it becomes ready; the best running total counts, so a
   * node that allocates a buffer its consumer frees right away is not penalised. With `version`,
   * the score is recorded as (i, version) against the state it read (commit's `stale`).
   */
  score(i: number, lookahead: number, version?: number): number {
    const mark = this.journal.length;
    if (version !== undefined) this.readsScratch.length = 0;
    const reads: number[] | undefined = (this.reads = version === undefined ? undefined : this.readsScratch);
    let total = -this.advance(i);
    let best = total;
    for (let k = 0, cur = i; k < lookahead; k++) {
      const next = this.consumers[cur];
      if (next.length !== 1) break;
      reads?.push(EMITTED, next[0], WAITING, next[0]);
      if (this.emitted[next[0]] || this.waiting[next[0]] !== 0) break;
      cur = next[0];
      total -= this.advance(cur);
      best = Math.max(best, total);
    }
    this.reads = undefined;
    if (reads) {
      const journal = this.journal;
      const decremented = this.decrementedScratch;
      decremented.length = 0;
      for (let k = mark; k < journal.length; k += 3) {
        if (journal[k] < WAITING) continue;
        const key = this.key(journal[k], journal[k + 1]);
        if (this.decrements[key]++ === 0) decremented.push(key);
      }
      this.undo(mark);
      for (let k = 0; k < reads.length; k += 2) {
        const kind = reads[k];
        const at = reads[k + 1];
        const key = this.key(kind, at);
        const value = this.arrays[kind][at];
        if (kind === EMITTED || kind === ALLOCATED) {
          if (value === 0) this.dependents.flag(key, i, version!);
        } else if (this.decrements[key] >= 0) {
          this.dependents.counter(key, value, this.decrements[key], i, version!);
          if (this.decrements[key] === 0) decremented.push(key);
          this.decrements[key] = -1; // registered once
        }
      }
      for (const key of decremented) this.decrements[key] = 0;
    } else {
      this.undo(mark);
    }
    return best;
  }

  private place(i: number): number {
    this.set(EMITTED, i, 1);
    let delta = 0;
    const own = this.bufferOfNode[i];
    this.reads?.push(ALLOCATED, own);
    if (!this.allocated[own]) {
      this.set(ALLOCATED, own, 1);
      delta += this.size[own];
    }
    for (const b of this.operandBuffers[i]) this.decrement(REMAINING, b);
    for (const b of this.touchedBuffers[i]) {
      if (this.pinned[b]) continue;
      this.reads?.push(REMAINING, b);
      if (this.remaining[b] === 0) delta -= this.size[b];
    }
    return delta;
  }

  private set(kind: number, i: number, value: number): void {
    const array = this.arrays[kind];
    this.journal.push(kind, i, array[i]);
    array[i] = value;
  }

  private decrement(kind: number, i: number): void {
    this.set(kind, i, this.arrays[kind][i] - 1);
  }

  private undo(mark: number): void {
    const journal = this.journal;
    while (journal.length > mark) {
      const old = journal.pop()!;
      const i = journal.pop()!;
      const kind = journal.pop()!;
      this.arrays[kind][i] = old;
    }
  }
}

/**
 * (reader, writer) pairs: the writer overwrites a param's bytes in place (the first link of a
 * state-update chain), the reader reads those bytes' old contents, so it must run first.
 */
function stateWriteOrder(g: Graph, aliases: ReadonlyMap<string, string>, index: ReadonlyMap<string, number>): Array<[number, number]> {
  // Values that are a param's old bytes: the param and pure aliases of such values.
  const oldBytesOf = new Map<string, string>(g.params.map((p) => [p.name, p.name]));
  for (const n of g.nodes) {
    if (isPureAlias(n.op) && oldBytesOf.has(n.inputs[0])) oldBytesOf.set(n.id, oldBytesOf.get(n.inputs[0])!);
  }
  const writerOf = new Map<string, number>();
  for (const n of g.nodes) {
    const x = aliases.get(n.id);
    if (x !== undefined && !isPureAlias(n.op) && oldBytesOf.has(x)) writerOf.set(oldBytesOf.get(x)!, index.get(n.id)!);
  }
  const pairs: Array<[number, number]> = [];
  g.nodes.forEach((n, i) => {
    for (const v of n.inputs) {
      const param = oldBytesOf.get(v);
      const writer = param === undefined ? undefined : writerOf.get(param);
      if (writer !== undefined && writer !== i) pairs.push([i, writer]);
    }
  });
  return pairs;
}
