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

/**
 * How to choose among ready nodes. `greedy`: the best score (bytes freed minus allocated, with
 * lookahead). `eager`: the best score when it does not grow memory, else the ready node that came
 * first in the original order (that order is usually a good one; eager only pulls consumers
 * forward, e.g. an optimizer update right after its gradient is produced).
 */
export type SchedulePolicy = "greedy" | "eager";

export function listSchedule(g: Graph, aliases: ReadonlyMap<string, string>, policy: SchedulePolicy, lookahead: number): Node[] {
  const s = new SchedulerState(g, aliases);
  const order: number[] = [];
  // Every step picks the ready node of the best score (ties: the first in the original order), or
  // under `eager` the first ready node when no score is positive. A score is a function of the
  // state a trial placement reads (score's `deps`), so it is kept until one of those parts of the
  // state changes (commit's changed keys) and the choice is a heap's top, not a scan of every
  // ready node.
  const n = g.nodes.length;
  const version = new Int32Array(n);
  const dependents: number[][] = [];
  const dirty: number[] = [...s.ready];
  const isDirty = new Uint8Array(n);
  for (const i of dirty) isDirty[i] = 1;
  const best = new Heap<{ score: number; node: number; version: number }>((a, b) => a.score > b.score || (a.score === b.score && a.node < b.node));
  const first = new Heap<number>((a, b) => a < b);
  for (const i of s.ready) first.push(i);
  const place = (i: number) => {
    for (const src of s.sourceOperands[i]) if (!s.emitted[src]) order.push(src);
    order.push(i);
    version[i]++;
    for (const key of s.commit(i)) {
      const waiting = dependents[key];
      if (waiting === undefined) continue;
      for (let k = 0; k < waiting.length; k += 2) {
        const j = waiting[k];
        if (waiting[k + 1] === version[j] && !isDirty[j] && s.ready.has(j)) {
          isDirty[j] = 1;
          dirty.push(j);
        }
      }
      dependents[key] = [];
    }
    for (const next of s.newlyReady) {
      first.push(next);
      if (!isDirty[next]) {
        isDirty[next] = 1;
        dirty.push(next);
      }
    }
  };
  const deps: number[] = [];
  while (s.ready.size > 0) {
    for (const j of dirty) {
      isDirty[j] = 0;
      if (!s.ready.has(j)) continue;
      deps.length = 0;
      const score = s.score(j, lookahead, deps);
      version[j]++;
      best.push({ score, node: j, version: version[j] });
      for (const key of deps) (dependents[key] ??= []).push(j, version[j]);
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
  return order.map((i) => g.nodes[i]);
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
  private readonly size: Float64Array;
  private readonly pinned: Uint8Array;
  private readonly allocated: Uint8Array;
  /** Reads of each buffer's members not placed yet. */
  private readonly remaining: Int32Array;
  /** Producers and predecessors (non-source) not placed yet. */
  private readonly waiting: Int32Array;
  private readonly successors: number[][];
  /** Node indices that read each node's value (distinct, non-source). */
  private readonly consumers: number[][];
  private journal: Array<[Int32Array | Uint8Array, number, number]> = [];
  private readonly isSource: boolean[];

  constructor(g: Graph, aliases: ReadonlyMap<string, string>) {
    const n = g.nodes.length;
    const index = new Map(g.nodes.map((node, i) => [node.id, i] as const));
    const owner = (v: string) => {
      for (let next = aliases.get(v); next !== undefined; next = aliases.get(v)) v = next;
      return v;
    };
    const bufferIndex = new Map<string, number>();
    const sizes: number[] = [];
    const pinnedList: number[] = [];
    const bufferOf = (v: string) => {
      const o = owner(v);
      let b = bufferIndex.get(o);
      if (b === undefined) {
        b = sizes.length;
        bufferIndex.set(o, b);
        sizes.push(0);
        pinnedList.push(index.has(o) ? 0 : 1); // inputs and params
      }
      return b;
    };
    for (const i of g.inputs) sizes[bufferOf(i.name)] = bufferBytes(i.type);
    for (const p of g.params) sizes[bufferOf(p.name)] = bufferBytes(p.type);
    for (const node of g.nodes) sizes[bufferOf(node.id)] = Math.max(sizes[bufferOf(node.id)], bufferBytes(node.type));
    for (const v of [...g.outputs.map((o) => o.value), ...g.updates.map((u) => u.value)]) pinnedList[bufferOf(v)] = 1;

    this.size = Float64Array.from(sizes);
    this.pinned = Uint8Array.from(pinnedList);
    this.allocated = new Uint8Array(sizes.length);
    for (const i of g.inputs) this.allocated[bufferOf(i.name)] = 1;
    for (const p of g.params) this.allocated[bufferOf(p.name)] = 1;
    this.remaining = new Int32Array(sizes.length);
    this.bufferOfNode = Int32Array.from(g.nodes, (node) => bufferOf(node.id));
    this.operandBuffers = g.nodes.map((node) => Int32Array.from(node.inputs, (v) => bufferOf(v)));
    for (const bs of this.operandBuffers) for (const b of bs) this.remaining[b]++;

    this.isSource = g.nodes.map((node) => node.inputs.length === 0);
    this.emitted = new Uint8Array(n);
    this.sourceOperands = g.nodes.map((node) => [...new Set(node.inputs.map((v) => index.get(v)).filter((p) => p !== undefined && this.isSource[p]))] as number[]);
    this.successors = g.nodes.map(() => []);
    this.consumers = g.nodes.map(() => []);
    this.waiting = new Int32Array(n);
    const edge = (from: number, to: number) => {
      if (this.isSource[from] || from === to || this.successors[from].includes(to)) return;
      this.successors[from].push(to);
      this.waiting[to]++;
    };
    g.nodes.forEach((node, i) => {
      for (const v of node.inputs) {
        const p = index.get(v);
        if (p === undefined) continue;
        edge(p, i);
        if (!this.consumers[p].includes(i)) this.consumers[p].push(i);
      }
    });
    for (const [reader, writer] of stateWriteOrder(g, aliases, index)) edge(reader, writer);
    g.nodes.forEach((_, i) => {
      if (!this.isSource[i] && this.waiting[i] === 0) this.ready.add(i);
    });
  }

  /**
   * Places node i for good (with its unplaced source operands). Returns the keys (stateKey) of
   * the state that changed: scores that read them are stale.
   */
  commit(i: number): number[] {
    this.advance(i);
    const changed = this.journal.map(([array, at]) => this.stateKey(array, at)).filter((key) => key >= 0);
    this.journal = [];
    this.ready.delete(i);
    this.newlyReady.length = 0;
    for (const next of this.successors[i]) {
      if (this.waiting[next] === 0) {
        this.ready.add(next);
        this.newlyReady.push(next);
      }
    }
    return changed;
  }

  /**
   * Scores read two kinds of state: per node (emitted, waiting), keyed by its index, and per
   * buffer (allocated, remaining), keyed by nodes + its index. A pinned buffer's remaining reads
   * never matter (it is never freed): -1, no key.
   */
  private stateKey(array: Int32Array | Uint8Array, at: number): number {
    if (array === this.emitted || array === this.waiting) return at;
    if (array === this.remaining && this.pinned[at]) return -1;
    return this.emitted.length + at;
  }

  /** Places node i (and its unplaced source operands); returns the change in live bytes after it. */
  private advance(i: number): number {
    let delta = 0;
    for (const src of this.sourceOperands[i]) if (!this.emitted[src]) delta += this.place(src);
    delta += this.place(i);
    for (const next of this.successors[i]) this.set(this.waiting, next, this.waiting[next] - 1);
    return delta;
  }

  /**
   * Bytes freed minus allocated by placing node i, then, up to `lookahead` times, the single
   * consumer of the last node placed when it becomes ready; the best running total counts, so a
   * node that allocates a buffer its consumer frees right away is not penalised.
   */
  score(i: number, lookahead: number, deps?: number[]): number {
    const mark = this.journal.length;
    this.reads = deps;
    let total = -this.advance(i);
    let best = total;
    for (let k = 0, cur = i; k < lookahead; k++) {
      const next = this.consumers[cur];
      if (next.length === 1) deps?.push(next[0]);
      if (next.length !== 1 || this.emitted[next[0]] || this.waiting[next[0]] !== 0) break;
      cur = next[0];
      total -= this.advance(cur);
      best = Math.max(best, total);
    }
    this.reads = undefined;
    if (deps) for (let k = mark; k < this.journal.length; k++) {
      const [array, at] = this.journal[k];
      const key = this.stateKey(array, at);
      if (key >= 0) deps.push(key);
    }
    this.undo(mark);
    return best;
  }

  /** While scoring with `deps`: the state keys read besides those written (the journal's). */
  private reads: number[] | undefined;

  private place(i: number): number {
    this.set(this.emitted, i, 1);
    let delta = 0;
    const own = this.bufferOfNode[i];
    if (!this.allocated[own]) {
      this.set(this.allocated, own, 1);
      delta += this.size[own];
    }
    if (this.reads && !this.pinned[own]) this.reads.push(this.emitted.length + own);
    const touched = new Set<number>([own]);
    for (const b of this.operandBuffers[i]) {
      this.set(this.remaining, b, this.remaining[b] - 1);
      touched.add(b);
    }
    for (const b of touched) if (this.remaining[b] === 0 && !this.pinned[b]) delta -= this.size[b];
    return delta;
  }

  private set(array: Int32Array | Uint8Array, i: number, value: number): void {
    this.journal.push([array, i, array[i]]);
    array[i] = value;
  }

  private undo(mark: number): void {
    while (this.journal.length > mark) {
      const [array, i, old] = this.journal.pop()!;
      array[i] = old;
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
