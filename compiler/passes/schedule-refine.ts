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

class OrderState {
  nodes: Node[];
  private pos = new Map<string, number>();
  private readonly owner: (v: string) => string;
  /** Buffers (alias-class owners) live to the end: inputs, params, outputs, update values. */
  private readonly pinned = new Set<string>();
  /** Node ids reading each buffer (any member), and reading each value directly. */
  private readonly bufferReaders = new Map<string, string[]>();
  private readonly valueReaders = new Map<string, string[]>();
  /** Param buffer -> the node that first overwrites it in place (a state-update chain's start). */
  private readonly writerOf = new Map<string, string>();
  private readonly types = new Map<string, Node["type"]>();
  /** Links of state-update chains stay where they are: moving one could put it before a reader of the old bytes. */
  private readonly fixed: ReadonlySet<string>;

  constructor(private readonly g: Graph, nodes: readonly Node[], aliases: ReadonlyMap<string, string>) {
    this.nodes = [...nodes];
    this.owner = (v: string) => {
      for (let next = aliases.get(v); next !== undefined; next = aliases.get(v)) v = next;
      return v;
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
    const params = new Set(g.params.map((p) => p.name));
    this.reindex();
    for (const n of this.nodes) {
      const x = aliases.get(n.id);
      if (x === undefined || isPureAlias(n.op)) continue;
      const param = this.owner(x);
      if (!params.has(param)) continue;
      const known = this.writerOf.get(param);
      if (known === undefined || this.pos.get(n.id)! < this.pos.get(known)!) this.writerOf.set(param, n.id);
    }
    this.fixed = new Set([...g.nodes.filter((n) => aliases.has(n.id) && !isPureAlias(n.op)).map((n) => n.id)]);
  }

  private reindex(): void {
    this.pos = new Map(this.nodes.map((n, i) => [n.id, i] as const));
  }

  private move(from: number, to: number): void {
    const [n] = this.nodes.splice(from, 1);
    this.nodes.splice(to, 0, n);
    this.reindex();
  }

  /** The last position `n` may take once taken out of the order: before every writer of a param it reads. */
  private latestAllowed(n: Node): number {
    let limit = Infinity;
    for (const v of n.inputs) {
      const writer = this.writerOf.get(this.owner(v));
      // The writer shifts up by one when n (before it) is taken out.
      if (writer !== undefined && writer !== n.id) limit = Math.min(limit, this.pos.get(writer)! - 1);
    }
    return limit;
  }

  /** Last position of a reader of buffer `b` other than `except` (-1 when none). */
  private lastOtherRead(b: string, except: string): number {
    let last = -1;
    for (const r of this.bufferReaders.get(b) ?? []) if (r !== except) last = Math.max(last, this.pos.get(r)!);
    return last;
  }

  /** Repair 1, from the last node up, so consumers have settled before their producers move. */
  sinkWaitingResults(): void {
    for (const id of [...this.nodes].reverse().map((n) => n.id)) {
      const p = this.pos.get(id)!;
      const n = this.nodes[p];
      if (n.inputs.length === 0 || isPureAlias(n.op) || this.fixed.has(n.id) || this.pinned.has(this.owner(n.id))) continue;
      const consumers = (this.valueReaders.get(n.id) ?? []).map((r) => this.pos.get(r)!);
      if (consumers.length === 0) continue;
      const first = Math.min(...consumers);
      let target = first - 1; // just before the first consumer, once n is taken out
      let sinks = true;
      let lastOther = -1;
      // Sources (constants) read only by n move along with it.
      const carried = n.inputs.filter((v) => this.isSourceReadOnlyBy(v, n.id));
      for (const v of new Set(n.inputs.filter((v) => !carried.includes(v)).map(this.owner))) {
        if (this.pinned.has(v)) continue;
        const other = this.lastOtherRead(v, n.id);
        if (other < p) sinks = false; // n is this buffer's last reader: moving it would extend it
        lastOther = Math.max(lastOther, other);
      }
      if (!sinks) continue;
      // After removing n, the last other reader sits at lastOther - 1; n goes right after it.
      if (lastOther >= 0) target = Math.min(target, lastOther);
      target = Math.min(target, this.latestAllowed(n));
      if (target <= p) continue;
      this.move(p, target);
      for (const c of new Set(carried)) this.move(this.pos.get(c)!, this.pos.get(n.id)! - 1);
    }
  }

  private isSourceReadOnlyBy(v: string, reader: string): boolean {
    const p = this.pos.get(v);
    if (p === undefined || this.nodes[p].inputs.length > 0) return false;
    const readers = this.valueReaders.get(v) ?? [];
    return readers.length === 1 && readers[0] === reader && !this.pinned.has(this.owner(v));
  }

  /** Repair 2. */
  consumersInInplaceOrder(): void {
    for (const x of [...this.nodes.map((n) => n.id), ...this.g.inputs.map((i) => i.name)]) {
      const b = this.owner(x);
      if (this.pinned.has(b) || b !== x) continue;
      const readers = (this.bufferReaders.get(b) ?? []).map((r) => this.nodes[this.pos.get(r)!]);
      if (readers.length < 2) continue;
      const xType = this.types.get(x)!;
      const last = readers.reduce((a, r) => (this.pos.get(r.id)! > this.pos.get(a.id)! ? r : a));
      if (last.inputs.some((v, i) => v === x && mayReuseOperand(last, i, xType))) continue;
      const candidates = readers.filter((r) => r !== last && !this.fixed.has(r.id) && r.inputs.some((v, i) => v === x && mayReuseOperand(r, i, xType)));
      if (candidates.length === 0 || this.fixed.has(last.id) || isPureAlias(last.op)) continue;
      if (byteSize(last.type) >= byteSize(xType)) continue;
      const inplaceAt = Math.max(...candidates.map((r) => this.pos.get(r.id)!));
      // Every other reader must already come before the candidate, so that x dies there.
      if (readers.some((r) => r !== last && this.pos.get(r.id)! > inplaceAt)) continue;
      // `last` may move up to just before the candidate if its operands are all defined by then
      // (sources only it reads move along with it).
      const carried = last.inputs.filter((v) => this.isSourceReadOnlyBy(v, last.id));
      const ready = Math.max(-1, ...last.inputs.filter((v) => !carried.includes(v)).map((v) => this.pos.get(v) ?? -1));
      if (ready >= inplaceAt) continue;
      this.move(this.pos.get(last.id)!, inplaceAt);
      for (const c of new Set(carried)) {
        const at = this.pos.get(c)!;
        if (at > this.pos.get(last.id)!) this.move(at, this.pos.get(last.id)!);
      }
    }
  }
}

function push(m: Map<string, string[]>, k: string, v: string): void {
  const list = m.get(k);
  if (list) list.push(v);
  else m.set(k, [v]);
}
