// Local repairs of a node order that greedy list scheduling (memory-list-scheduler.ts) and the
// order passes emit leave behind. Used by the `schedule` pass on every candidate order; the pass
// measures the repaired order exactly and keeps it only when its peak is lower.
//
// 1. Sink. A node whose result waits in memory before its first consumer moves down to just
//    after the last other reader of its operands (or just before its first consumer, if that
//    comes first), so its result is allocated when it is about to be read. Only nodes that are not
//    the last reader of any operand buffer move: their operands are live past their old position
//    anyway, and at most the one read last is extended by the moved node's own step. Example: the
//    input gradient of a convolution computed before the recompute chain that its filter gradient
//    needs; it waited across that chain, the backward's peak.
// 2. Consumers in in-place order. When a value has a consumer that could overwrite it in place
//    (ir/aliasing.ts) but another consumer with a smaller result reads it later, the later one
//    moves up to just before the in-place candidate, so the value dies there and its buffer is
//    reused. Example: a relu's mask `greater(x, 0)` computed after `relu(x)` kept x alive next to
//    relu's result; computed first, relu overwrites x.
//
// Moves keep every node after its operands' producers and before its consumers, and keep the
// readers of a parameter's old bytes before the node that overwrites them in place (the first
// link of a state-update chain, inplace.ts stage 2). Buffers are the stable alias classes (pure
// aliases and state updates); temporaries' in-place reuse is left to the exact measurement.

import type { Graph, Node } from "../ir/graph.ts";
import { byteSize } from "../ir/types.ts";
import { isPureAlias, mayReuseOperand } from "../ir/aliasing.ts";
import { memoPerGraph } from "./graph-memo.ts";

/** The order after both repairs (a new array; `nodes` is a topological order of `g`'s nodes). */
export function refineOrder(g: Graph, nodes: readonly Node[], aliases: ReadonlyMap<string, string>): Node[] {
  const c = contextOf(g, aliases);
  const order = Int32Array.from(nodes, (n) => c.valueIndex.get(n.id)!);
  return Array.from(refineOrderIndices(g, order, aliases), (i) => g.nodes[i]);
}

/**
 * refineOrder over indices into `g.nodes`: `order` lists each node's index once, in a topological
 * order; the result is the repaired order, a new array.
 */
export function refineOrderIndices(g: Graph, order: Int32Array, aliases: ReadonlyMap<string, string>): Int32Array {
  const state = new OrderState(contextOf(g, aliases), order);
  state.sinkWaitingResults();
  state.consumersInInplaceOrder();
  return state.order.order();
}

const NONE = -1;

/**
 * What the repairs read that no order changes, over value indices (nodes by their index in
 * `g.nodes`, then inputs and params): buffers (alias-class owners), pins, readers, sizes and fixed
 * nodes. The schedule pass repairs several orders of one graph: it is built once for them
 * (contextOf).
 */
class RefineContext {
  readonly nodes: readonly Node[];
  readonly valueIndex = new Map<string, number>();
  /** Each node's operands as value indices. */
  readonly inputs: Int32Array[];
  /** Each value's buffer: the owner of its alias class. */
  readonly owner: Int32Array;
  /** Buffers live to the end: inputs, params, outputs, update values. */
  readonly pinned: Uint8Array;
  readonly isParam: Uint8Array;
  /** Node indices reading each value directly (each node once, in graph order). */
  readonly valueReaders: number[][];
  /** Node indices reading each buffer: a node once per distinct operand it reads of the buffer. */
  readonly bufferReaders: number[][];
  /** Links of state-update chains stay where they are: moving one could put it before a reader of the old bytes. */
  readonly fixed: Uint8Array;
  readonly pureAlias: Uint8Array;
  readonly bytes: Float64Array;
  /** The param buffer each node overwrites in place (a state-update chain's link), or NONE. */
  readonly writesParam: Int32Array;
  /** Sources (constants) only this node reads: they move along with it. */
  readonly carried: Int32Array[];
  /** The distinct unpinned buffers of each node's operands, carried sources left out. */
  readonly operandBuffers: Int32Array[];
  /** The distinct buffers of each node's operands. */
  readonly allOperandBuffers: Int32Array[];
  /** The param buffers each node's operands are (their first writers bound how late it may go). */
  readonly paramBuffers: Int32Array[];
  /** Per buffer, whether each of its readers may overwrite it in place (repair 2), worked out on first use. */
  private readonly reusable = new Map<number, Uint8Array>();

  constructor(g: Graph, aliases: ReadonlyMap<string, string>) {
    const nodes = (this.nodes = g.nodes);
    const n = nodes.length;
    nodes.forEach((node, i) => this.valueIndex.set(node.id, i));
    for (const v of [...g.inputs, ...g.params]) this.valueIndex.set(v.name, this.valueIndex.size);
    const values = this.valueIndex.size;
    const index = (v: string) => this.valueIndex.get(v) ?? NONE;
    this.inputs = nodes.map((node) => Int32Array.from(node.inputs, index));
    if (this.inputs.some((ops) => ops.includes(NONE))) throw new Error("refineOrder: a node reads a value the graph does not define");
    this.owner = new Int32Array(values);
    for (const [name, i] of this.valueIndex) {
      let o = name;
      for (let next = aliases.get(o); next !== undefined; next = aliases.get(o)) o = next;
      this.owner[i] = index(o);
    }
    this.pinned = new Uint8Array(values);
    this.pinned.fill(1, n);
    for (const v of [...g.outputs.map((o) => o.value), ...g.updates.map((u) => u.value)]) {
      const i = index(v);
      if (i !== NONE) this.pinned[this.owner[i]] = 1;
    }
    this.isParam = new Uint8Array(values);
    for (const p of g.params) this.isParam[index(p.name)] = 1;
    this.valueReaders = Array.from({ length: values }, () => []);
    this.bufferReaders = Array.from({ length: values }, () => []);
    this.allOperandBuffers = [];
    // The last node seen reading each value, and each buffer: a node's distinct operands and buffers.
    const valueSeenBy = new Int32Array(values).fill(NONE);
    const bufferSeenBy = new Int32Array(values).fill(NONE);
    const buffers: number[] = [];
    nodes.forEach((_, r) => {
      buffers.length = 0;
      for (const v of this.inputs[r]) {
        if (valueSeenBy[v] === r) continue;
        valueSeenBy[v] = r;
        this.valueReaders[v].push(r);
        const b = this.owner[v];
        this.bufferReaders[b].push(r);
        if (bufferSeenBy[b] !== r) {
          bufferSeenBy[b] = r;
          buffers.push(b);
        }
      }
      this.allOperandBuffers.push(Int32Array.from(buffers));
    });
    this.pureAlias = Uint8Array.from(nodes, (node) => (isPureAlias(node.op) ? 1 : 0));
    this.fixed = Uint8Array.from(nodes, (node, i) => (aliases.has(node.id) && !this.pureAlias[i] ? 1 : 0));
    this.bytes = Float64Array.from(nodes, (node) => byteSize(node.type));
    this.writesParam = Int32Array.from(nodes, (node, i) => {
      const x = aliases.get(node.id);
      if (x === undefined || this.pureAlias[i]) return NONE;
      const param = this.owner[index(x)];
      return this.isParam[param] ? param : NONE;
    });
    this.carried = nodes.map((_, r) => this.inputs[r].filter((v) => this.isSourceReadOnlyBy(v, r)));
    bufferSeenBy.fill(NONE);
    this.operandBuffers = nodes.map((_, r) => {
      const carried = this.carried[r];
      buffers.length = 0;
      for (const v of this.inputs[r]) {
        const b = this.owner[v];
        if (carried.includes(v) || bufferSeenBy[b] === r) continue;
        bufferSeenBy[b] = r;
        if (!this.pinned[b]) buffers.push(b);
      }
      return Int32Array.from(buffers);
    });
    this.paramBuffers = nodes.map((_, r) => Int32Array.from(this.inputs[r].map((v) => this.owner[v]).filter((b) => this.isParam[b])));
  }

  /** A source node (no operands) whose only reader is `reader`, not pinned. */
  private isSourceReadOnlyBy(v: number, reader: number): boolean {
    if (v >= this.nodes.length || this.inputs[v].length > 0) return false;
    const readers = this.valueReaders[v];
    return readers.length === 1 && readers[0] === reader && !this.pinned[this.owner[v]];
  }

  /** For each reader of buffer x (a node that is its own buffer): whether it reads x directly and may overwrite it. */
  reusableBy(x: number): Uint8Array {
    let r = this.reusable.get(x);
    if (r === undefined) {
      const type = this.nodes[x].type;
      r = Uint8Array.from(this.bufferReaders[x], (reader) => {
        const node = this.nodes[reader];
        return this.inputs[reader].some((v, i) => v === x && mayReuseOperand(node, i, type)) ? 1 : 0;
      });
      this.reusable.set(x, r);
    }
    return r;
  }
}

/** The graph's RefineContext under `aliases`, built once while both are the same objects. */
const contextOf = memoPerGraph((g, aliases) => new RefineContext(g, aliases));

class OrderState {
  readonly order: OrderList;
  /** Param buffer -> the node that first overwrites it in place (a state-update chain's start). */
  private readonly writerOf: Int32Array;

  constructor(
    private readonly c: RefineContext,
    nodes: Int32Array,
  ) {
    this.order = new OrderList(nodes, c.nodes.length);
    this.writerOf = new Int32Array(c.owner.length).fill(NONE);
    for (const i of nodes) {
      const param = c.writesParam[i];
      if (param !== NONE && this.writerOf[param] === NONE) this.writerOf[param] = i;
    }
  }

  /** A number that orders node `i` among the others (not its index); -1 for values that are not nodes. */
  private pos(i: number): number {
    return i >= 0 && i < this.c.nodes.length ? this.order.label(i) : -1;
  }

  /**
   * The node just before which node `r` may go at the latest once taken out of the order: the
   * first writer of a param it reads (NONE: none).
   */
  private latestAllowed(r: number): number {
    let limit = NONE;
    for (const b of this.c.paramBuffers[r]) {
      const writer = this.writerOf[b];
      if (writer !== NONE && writer !== r && (limit === NONE || this.pos(writer) < this.pos(limit))) limit = writer;
    }
    return limit;
  }

  /**
   * The last two readers of each buffer (NONE: none), kept while repair 1 runs (it only moves
   * nodes later: a moved reader may overtake them, and no other reader moves). Built on first use.
   */
  private last?: Int32Array;
  private second?: Int32Array;

  /** The last reader of buffer `b` other than node `except` (NONE when none). */
  private lastOtherRead(b: number, except: number): number {
    if (this.last === undefined) {
      const last = (this.last = new Int32Array(this.c.owner.length).fill(NONE));
      const second = (this.second = new Int32Array(this.c.owner.length).fill(NONE));
      this.c.bufferReaders.forEach((readers, buffer) => {
        for (const r of readers) {
          if (last[buffer] === NONE || this.pos(r) > this.pos(last[buffer])) {
            second[buffer] = last[buffer];
            last[buffer] = r;
          } else if (second[buffer] === NONE || this.pos(r) > this.pos(second[buffer])) second[buffer] = r;
        }
      });
    }
    return this.last[b] === except ? this.second![b] : this.last[b];
  }

  /** After reader `r` moved later: the last two readers of the buffers it reads. */
  private movedLater(r: number): void {
    const last = this.last;
    const second = this.second;
    if (last === undefined || second === undefined) return;
    for (const b of this.c.allOperandBuffers[r]) {
      if (last[b] === NONE || last[b] === r) continue;
      if (this.pos(r) > this.pos(last[b])) {
        second[b] = last[b];
        last[b] = r;
      } else if (second[b] !== r && (second[b] === NONE || this.pos(r) > this.pos(second[b]))) second[b] = r;
    }
  }

  /** Repair 1, from the last node up, so consumers have settled before their producers move. */
  sinkWaitingResults(): void {
    const c = this.c;
    const ids = this.order.order();
    for (let k = ids.length - 1; k >= 0; k--) {
      const i = ids[k];
      const p = this.pos(i);
      if (c.inputs[i].length === 0 || c.pureAlias[i] || c.fixed[i] || c.pinned[c.owner[i]]) continue;
      const consumers = c.valueReaders[i];
      if (consumers.length === 0) continue;
      let first = consumers[0];
      for (const r of consumers) if (this.pos(r) < this.pos(first)) first = r;
      // i goes right after `anchor`: at the latest just before its first consumer
      let anchor = this.order.prev(first);
      let sinks = true;
      let lastOther = NONE;
      for (const b of c.operandBuffers[i]) {
        const other = this.lastOtherRead(b, i);
        if (other === NONE || this.pos(other) < p) sinks = false; // i is this buffer's last reader: moving it would extend it
        else if (lastOther === NONE || this.pos(other) > this.pos(lastOther)) lastOther = other;
      }
      if (!sinks) continue;
      // or right after the last other reader of its operands, if that comes first
      if (lastOther !== NONE && this.pos(lastOther) < this.pos(anchor)) anchor = lastOther;
      // and before every writer of a param it reads
      const writer = this.latestAllowed(i);
      if (writer !== NONE) {
        const before = this.order.prev(writer);
        if (before === NONE) continue;
        if (this.pos(before) < this.pos(anchor)) anchor = before;
      }
      if (this.pos(anchor) <= p) continue;
      this.order.remove(i);
      this.order.insertAfter(anchor, i);
      this.movedLater(i);
      for (const s of new Set(c.carried[i])) {
        this.order.remove(s);
        this.order.insertBefore(i, s);
      }
    }
    this.last = this.second = undefined;
  }

  /** Repair 2. Inputs are pinned, so only nodes' values are considered. */
  consumersInInplaceOrder(): void {
    const c = this.c;
    for (const x of this.order.order()) {
      if (c.pinned[x] || c.owner[x] !== x) continue;
      const readers = c.bufferReaders[x];
      if (readers.length < 2) continue;
      const reusable = c.reusableBy(x);
      let lastAt = 0;
      for (let k = 1; k < readers.length; k++) if (this.pos(readers[k]) > this.pos(readers[lastAt])) lastAt = k;
      const last = readers[lastAt];
      if (reusable[lastAt]) continue;
      if (c.fixed[last] || c.pureAlias[last]) continue;
      let inplaceAt = NONE;
      for (let k = 0; k < readers.length; k++) {
        const r = readers[k];
        if (r === last || c.fixed[r] || !reusable[k]) continue;
        if (inplaceAt === NONE || this.pos(r) > this.pos(inplaceAt)) inplaceAt = r;
      }
      if (inplaceAt === NONE) continue;
      if (c.bytes[last] >= c.bytes[x]) continue;
      // Every other reader must already come before the candidate, so that x dies there.
      if (readers.some((r) => r !== last && this.pos(r) > this.pos(inplaceAt))) continue;
      // `last` may move up to just before the candidate if its operands are all defined by then
      // (sources only it reads move along with it).
      const carried = c.carried[last];
      let ready = -1;
      for (const v of c.inputs[last]) if (!carried.includes(v)) ready = Math.max(ready, this.pos(v));
      if (ready >= this.pos(inplaceAt)) continue;
      this.order.remove(last);
      this.order.insertBefore(inplaceAt, last);
      for (const s of new Set(carried)) {
        if (this.pos(s) > this.pos(last)) {
          this.order.remove(s);
          this.order.insertBefore(last, s);
        }
      }
    }
  }
}

/**
 * A sequence of node indices with O(1) moves and order comparisons (order maintenance): a doubly
 * linked list whose members carry increasing labels; an insertion takes the midpoint of its
 * neighbours' labels, and the labels are spread out again when two neighbours leave no room.
 */
class OrderList {
  private static readonly SPACING = 2 ** 32;
  private readonly labels: Float64Array;
  private readonly before: Int32Array;
  private readonly after: Int32Array;
  private head: number;

  /** `ids`: every index below `size` once, in their first order. */
  constructor(ids: Int32Array, size: number) {
    this.labels = new Float64Array(size);
    this.before = new Int32Array(size);
    this.after = new Int32Array(size);
    ids.forEach((id, k) => {
      this.labels[id] = (k + 1) * OrderList.SPACING;
      this.before[id] = k > 0 ? ids[k - 1] : NONE;
      this.after[id] = k + 1 < ids.length ? ids[k + 1] : NONE;
    });
    this.head = ids.length > 0 ? ids[0] : NONE;
  }

  /** The member's label (increasing along the sequence). */
  label(id: number): number {
    return this.labels[id];
  }

  prev(id: number): number {
    return this.before[id];
  }

  order(): Int32Array {
    const out = new Int32Array(this.labels.length);
    let k = 0;
    for (let i = this.head; i >= 0; i = this.after[i]) out[k++] = i;
    return out;
  }

  remove(i: number): void {
    const p = this.before[i];
    const n = this.after[i];
    if (p < 0) this.head = n;
    else this.after[p] = n;
    if (n >= 0) this.before[n] = p;
  }

  insertAfter(a: number, i: number): void {
    this.link(a, i, this.after[a]);
  }

  insertBefore(a: number, i: number): void {
    this.link(this.before[a], i, a);
  }

  private link(p: number, i: number, n: number): void {
    this.before[i] = p;
    this.after[i] = n;
    if (p < 0) this.head = i;
    else this.after[p] = i;
    if (n >= 0) this.before[n] = i;
    const lo = p < 0 ? 0 : this.labels[p];
    const hi = n < 0 ? lo + 2 * OrderList.SPACING : this.labels[n];
    const mid = Math.floor((lo + hi) / 2);
    if (mid > lo && mid < hi) this.labels[i] = mid;
    else this.relabel();
  }

  private relabel(): void {
    let k = 1;
    for (let i = this.head; i >= 0; i = this.after[i]) this.labels[i] = k++ * OrderList.SPACING;
  }
}
