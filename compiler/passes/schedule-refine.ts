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

/** The order after both repairs (a new array; `nodes` is a topological order of `g`'s nodes). */
export function refineOrder(g: Graph, nodes: readonly Node[], aliases: ReadonlyMap<string, string>): Node[] {
  const order = new OrderState(g, nodes, aliases);
  order.sinkWaitingResults();
  order.consumersInInplaceOrder();
  return order.nodes;
}

/**
 * What the repairs read that no order changes: nodes by id, buffers (alias-class owners), pins,
 * readers, types and fixed nodes. The schedule pass repairs several orders of one graph: it is
 * built once for them (contextOf).
 */
class RefineContext {
  readonly nodeOf = new Map<string, Node>();
  readonly owner: (v: string) => string;
  /** Buffers (alias-class owners) live to the end: inputs, params, outputs, update values. */
  readonly pinned = new Set<string>();
  /** Node ids reading each buffer (any member), and reading each value directly. */
  readonly bufferReaders = new Map<string, string[]>();
  readonly valueReaders = new Map<string, string[]>();
  readonly types = new Map<string, Node["type"]>();
  readonly params: ReadonlySet<string>;
  /** Links of state-update chains stay where they are: moving one could put it before a reader of the old bytes. */
  readonly fixed: ReadonlySet<string>;

  constructor(g: Graph, aliases: ReadonlyMap<string, string>) {
    for (const n of g.nodes) this.nodeOf.set(n.id, n);
    const owners = new Map<string, string>();
    this.owner = (v: string) => {
      let o = owners.get(v);
      if (o === undefined) {
        o = v;
        for (let next = aliases.get(o); next !== undefined; next = aliases.get(o)) o = next;
        owners.set(v, o);
      }
      return o;
    };
    for (const i of g.inputs) this.pinned.add(i.name);
    for (const p of g.params) this.pinned.add(p.name);
    for (const v of [...g.outputs.map((o) => o.value), ...g.updates.map((u) => u.value)]) this.pinned.add(this.owner(v));
    for (const n of g.nodes) {
      this.types.set(n.id, n.type);
      for (const v of new Set(n.inputs)) {
        push(this.valueReaders, v, n.id);
        push(this.bufferReaders, this.owner(v), n.id);
      }
    }
    this.params = new Set(g.params.map((p) => p.name));
    this.fixed = new Set([...g.nodes.filter((n) => aliases.has(n.id) && !isPureAlias(n.op)).map((n) => n.id)]);
  }
}

const contexts = new WeakMap<Graph, { aliases: ReadonlyMap<string, string>; context: RefineContext }>();

/** The graph's RefineContext under `aliases`, built once while both are the same objects. */
function contextOf(g: Graph, aliases: ReadonlyMap<string, string>): RefineContext {
  const known = contexts.get(g);
  if (known && known.aliases === aliases) return known.context;
  const context = new RefineContext(g, aliases);
  contexts.set(g, { aliases, context });
  return context;
}

class OrderState {
  private readonly order: OrderList;
  private readonly nodeOf: ReadonlyMap<string, Node>;
  private readonly owner: (v: string) => string;
  private readonly pinned: ReadonlySet<string>;
  private readonly bufferReaders: ReadonlyMap<string, readonly string[]>;
  private readonly valueReaders: ReadonlyMap<string, readonly string[]>;
  /** Param buffer -> the node that first overwrites it in place (a state-update chain's start). */
  private readonly writerOf = new Map<string, string>();
  private readonly types: ReadonlyMap<string, Node["type"]>;
  private readonly fixed: ReadonlySet<string>;

  constructor(private readonly g: Graph, nodes: readonly Node[], aliases: ReadonlyMap<string, string>) {
    const c = contextOf(g, aliases);
    ({ nodeOf: this.nodeOf, owner: this.owner, pinned: this.pinned, bufferReaders: this.bufferReaders, valueReaders: this.valueReaders, types: this.types, fixed: this.fixed } = c);
    this.order = new OrderList(nodes.map((n) => n.id));
    for (const n of nodes) {
      const x = aliases.get(n.id);
      if (x === undefined || isPureAlias(n.op)) continue;
      const param = this.owner(x);
      if (!c.params.has(param)) continue;
      const known = this.writerOf.get(param);
      if (known === undefined || this.pos(n.id) < this.pos(known)) this.writerOf.set(param, n.id);
    }
  }

  /** The nodes in their current order. */
  get nodes(): Node[] {
    return this.order.order().map((id) => this.nodeOf.get(id)!);
  }

  /** A number that orders node `id` among the others (not its index); -1 for values that are not nodes. */
  private pos(id: string): number {
    return this.order.label(id);
  }

  /**
   * The node just before which `n` may go at the latest once taken out of the order: the first
   * writer of a param it reads (undefined: none).
   */
  private latestAllowed(n: Node): string | undefined {
    let limit: string | undefined;
    for (const v of n.inputs) {
      const writer = this.writerOf.get(this.owner(v));
      if (writer !== undefined && writer !== n.id && (limit === undefined || this.pos(writer) < this.pos(limit))) limit = writer;
    }
    return limit;
  }

  /** The last reader of buffer `b` other than `except` (undefined when none). */
  private lastOtherRead(b: string, except: string): string | undefined {
    const [last, second] = this.lastReaders(b);
    return last === except ? second : last;
  }

  /**
   * The last two readers of each buffer, kept while repair 1 runs (it only moves nodes later: a
   * moved reader may overtake them, and no other reader moves). Built on first use.
   */
  private lastTwo?: Map<string, [string | undefined, string | undefined]>;

  private lastReaders(b: string): [string | undefined, string | undefined] {
    this.lastTwo ??= new Map([...this.bufferReaders].map(([buffer, readers]) => {
      let last: string | undefined;
      let second: string | undefined;
      for (const r of readers) {
        if (last === undefined || this.pos(r) > this.pos(last)) [last, second] = [r, last];
        else if (second === undefined || this.pos(r) > this.pos(second)) second = r;
      }
      return [buffer, [last, second]];
    }));
    return this.lastTwo.get(b) ?? [undefined, undefined];
  }

  /** After reader `r` moved later: the last two readers of the buffers it reads. */
  private movedLater(r: Node): void {
    for (const b of new Set(r.inputs.map(this.owner))) {
      const top = this.lastTwo?.get(b);
      if (!top || top[0] === r.id) continue;
      if (this.pos(r.id) > this.pos(top[0]!)) [top[0], top[1]] = [r.id, top[0]];
      else if (top[1] !== r.id && (top[1] === undefined || this.pos(r.id) > this.pos(top[1]))) top[1] = r.id;
    }
  }

  /** Repair 1, from the last node up, so consumers have settled before their producers move. */
  sinkWaitingResults(): void {
    for (const id of this.order.order().reverse()) {
      const p = this.pos(id);
      const n = this.nodeOf.get(id)!;
      if (n.inputs.length === 0 || isPureAlias(n.op) || this.fixed.has(n.id) || this.pinned.has(this.owner(n.id))) continue;
      const consumers = this.valueReaders.get(n.id) ?? [];
      if (consumers.length === 0) continue;
      const first = consumers.reduce((a, r) => (this.pos(r) < this.pos(a) ? r : a));
      // n goes right after `anchor`: at the latest just before its first consumer
      let anchor = this.order.prev(first)!;
      let sinks = true;
      let lastOther: string | undefined;
      // Sources (constants) read only by n move along with it.
      const carried = n.inputs.filter((v) => this.isSourceReadOnlyBy(v, n.id));
      for (const v of new Set(n.inputs.filter((v) => !carried.includes(v)).map(this.owner))) {
        if (this.pinned.has(v)) continue;
        const other = this.lastOtherRead(v, n.id);
        if (other === undefined || this.pos(other) < p) sinks = false; // n is this buffer's last reader: moving it would extend it
        else if (lastOther === undefined || this.pos(other) > this.pos(lastOther)) lastOther = other;
      }
      if (!sinks) continue;
      // or right after the last other reader of its operands, if that comes first
      if (lastOther !== undefined && this.pos(lastOther) < this.pos(anchor)) anchor = lastOther;
      // and before every writer of a param it reads
      const writer = this.latestAllowed(n);
      if (writer !== undefined) {
        const before = this.order.prev(writer);
        if (before === undefined) continue;
        if (this.pos(before) < this.pos(anchor)) anchor = before;
      }
      if (this.pos(anchor) <= p) continue;
      this.order.remove(n.id);
      this.order.insertAfter(anchor, n.id);
      this.movedLater(n);
      for (const c of new Set(carried)) {
        this.order.remove(c);
        this.order.insertBefore(n.id, c);
      }
    }
    this.lastTwo = undefined;
  }

  private isSourceReadOnlyBy(v: string, reader: string): boolean {
    const node = this.nodeOf.get(v);
    if (node === undefined || node.inputs.length > 0) return false;
    const readers = this.valueReaders.get(v) ?? [];
    return readers.length === 1 && readers[0] === reader && !this.pinned.has(this.owner(v));
  }

  /** Repair 2. */
  consumersInInplaceOrder(): void {
    for (const x of [...this.order.order(), ...this.g.inputs.map((i) => i.name)]) {
      const b = this.owner(x);
      if (this.pinned.has(b) || b !== x) continue;
      const readers = (this.bufferReaders.get(b) ?? []).map((r) => this.nodeOf.get(r)!);
      if (readers.length < 2) continue;
      const xType = this.types.get(x)!;
      const last = readers.reduce((a, r) => (this.pos(r.id) > this.pos(a.id) ? r : a));
      if (last.inputs.some((v, i) => v === x && mayReuseOperand(last, i, xType))) continue;
      const candidates = readers.filter((r) => r !== last && !this.fixed.has(r.id) && r.inputs.some((v, i) => v === x && mayReuseOperand(r, i, xType)));
      if (candidates.length === 0 || this.fixed.has(last.id) || isPureAlias(last.op)) continue;
      if (byteSize(last.type) >= byteSize(xType)) continue;
      const inplaceAt = candidates.reduce((a, r) => (this.pos(r.id) > this.pos(a.id) ? r : a));
      // Every other reader must already come before the candidate, so that x dies there.
      if (readers.some((r) => r !== last && this.pos(r.id) > this.pos(inplaceAt.id))) continue;
      // `last` may move up to just before the candidate if its operands are all defined by then
      // (sources only it reads move along with it).
      const carried = last.inputs.filter((v) => this.isSourceReadOnlyBy(v, last.id));
      const ready = Math.max(-1, ...last.inputs.filter((v) => !carried.includes(v)).map((v) => this.pos(v)));
      if (ready >= this.pos(inplaceAt.id)) continue;
      this.order.remove(last.id);
      this.order.insertBefore(inplaceAt.id, last.id);
      for (const c of new Set(carried)) {
        if (this.pos(c) > this.pos(last.id)) {
          this.order.remove(c);
          this.order.insertBefore(last.id, c);
        }
      }
    }
  }
}

/**
 * A sequence of ids with O(1) moves and order comparisons (order maintenance): a doubly linked
 * list whose members carry increasing labels; an insertion takes the midpoint of its neighbours'
 * labels, and the labels are spread out again when two neighbours leave no room.
 */
class OrderList {
  private static readonly SPACING = 2 ** 32;
  private readonly ids: readonly string[];
  private readonly slot = new Map<string, number>();
  private readonly labels: Float64Array;
  private readonly before: Int32Array;
  private readonly after: Int32Array;
  private head: number;

  constructor(ids: readonly string[]) {
    const n = ids.length;
    this.ids = ids;
    ids.forEach((id, i) => this.slot.set(id, i));
    this.labels = Float64Array.from(ids, (_, i) => (i + 1) * OrderList.SPACING);
    this.before = Int32Array.from(ids, (_, i) => i - 1);
    this.after = Int32Array.from(ids, (_, i) => (i + 1 < n ? i + 1 : -1));
    this.head = n > 0 ? 0 : -1;
  }

  /** The member's label (increasing along the sequence); -1 for an id that is not a member. */
  label(id: string): number {
    const i = this.slot.get(id);
    return i === undefined ? -1 : this.labels[i];
  }

  prev(id: string): string | undefined {
    const p = this.before[this.slot.get(id)!];
    return p < 0 ? undefined : this.ids[p];
  }

  order(): string[] {
    const out: string[] = [];
    for (let i = this.head; i >= 0; i = this.after[i]) out.push(this.ids[i]);
    return out;
  }

  remove(id: string): void {
    const i = this.slot.get(id)!;
    const p = this.before[i];
    const n = this.after[i];
    if (p < 0) this.head = n;
    else this.after[p] = n;
    if (n >= 0) this.before[n] = p;
  }

  insertAfter(anchor: string, id: string): void {
    const a = this.slot.get(anchor)!;
    this.link(a, this.slot.get(id)!, this.after[a]);
  }

  insertBefore(anchor: string, id: string): void {
    const a = this.slot.get(anchor)!;
    this.link(this.before[a], this.slot.get(id)!, a);
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

function push(m: Map<string, string[]>, k: string, v: string): void {
  const list = m.get(k);
  if (list) list.push(v);
  else m.set(k, [v]);
}
