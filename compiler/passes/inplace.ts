// inplace — let nodes write their result into an operand's buffer, recorded as `node.inplace`.
//
// Stages:
// 1. Pure aliases. Every node of an op whose record says `inplace: "alias"` (reshape, copy) shares
//    its operand's buffer (zero-copy): nothing is written, so sharing is safe whether or not the
//    operand is read later.
// 2. Persistent updates. For each `update %p = %v`, look for a chain of elementwise nodes from an
//    operand that IS p's buffer (p or a pure alias of it) to v, each link the only use of the
//    previous one. If nothing reads p's old value after the chain's first node, the whole chain
//    runs in p's buffer: `m_new = m*b1 + g*(1-b1)` overwrites m and `p_new = p - lr*d` overwrites
//    p, and the update at the end of the step becomes free.
// 3. Temporaries, in schedule order. An elementwise (`inplace: "overwrite"`) node reuses an
//    operand's buffer when that buffer dies at this node: no member of its alias class is read
//    later, and the class is not pinned (inputs, params, outputs and update values must survive to
//    the end of the step).
//
// The op rules (which operand may be reused: the op records' `inplace` field, combined with the
// element count and width check) live in compiler/ir/aliasing.ts. Decisions depend on the node
// order, so this pass runs after `schedule`; it leaves offsets to `plan`. Existing decisions are
// dropped and recomputed, and so is a memory plan (it would no longer match).

import type { Graph, Node } from "../ir/graph.ts";
import { bufferBytes } from "./liveness.ts";
import { isPureAlias, mayReuseOperand } from "../ir/aliasing.ts";
import type { Pass } from "./pass.ts";

export interface InplaceOptions {
  /** Let optimizer updates and other state updates write into the persistent buffer (stage 2). */
  persistent: boolean;
}

export const inplace: Pass<InplaceOptions> = {
  name: "inplace",
  summary: "write elementwise results into a dying operand's buffer, and state updates into the state",
  statistics: { "inplace-nodes": "nodes that write into an operand's buffer", "inplace-bytes": "bytes those results no longer take", "inplace-updates": "state updates written into the state itself" },
  defaults: { persistent: true },
  run(g, opts) {
    const decisions = inplaceDecisions(g, opts);
    const types = new Map(g.nodes.map((n) => [n.id, n.type] as const));
    let bytes = 0;
    const nodes = g.nodes.map((n): Node => {
      const operand = decisions.get(n.id);
      // An unchanged node stays the same object (what is remembered per node stays valid).
      if (operand === undefined && n.inplace === undefined) return n;
      const { inplace: _old, ...rest } = n;
      if (operand === undefined) return rest;
      bytes += bufferBytes(types.get(n.id)!);
      return { ...rest, inplace: operand };
    });
    const { memory: _plan, ...graph } = g;
    const ownerOf = (v: string): string => {
      for (let next = decisions.get(v); next !== undefined; next = decisions.get(v)) v = next;
      return v;
    };
    const updatesInPlace = g.updates.filter((u) => ownerOf(u.value) === u.param).length;
    return {
      graph: { ...graph, nodes },
      stats: { "inplace-nodes": decisions.size, "inplace-bytes": bytes, "inplace-updates": updatesInPlace },
    };
  },
};

/** The operand each node's result reuses, by node id, for the graph's current node order. */
export function inplaceDecisions(g: Graph, opts: InplaceOptions = inplace.defaults): Map<string, string> {
  const facts = factsOf(g);
  return decide(new Context(facts, facts.graphOrder()), opts).decisions;
}

/**
 * inplaceDecisions for many orders of `g`'s nodes (the schedule pass measures each candidate):
 * what does not depend on the order is worked out once.
 */
export function inplaceDecider(g: Graph, opts: InplaceOptions = inplace.defaults): (nodes: readonly Node[]) => Map<string, string> {
  const facts = factsOf(g);
  return (nodes) => decide(new Context(facts, Int32Array.from(nodes, (n) => facts.valueIndex.get(n.id)!)), opts).decisions;
}

/**
 * inplaceDecider over node indices: given an order of `g`'s nodes as their indices in `g.nodes`,
 * the operand each value's buffer joins, by value index (inputs, then params, then `g.nodes`;
 * -1: its own buffer).
 */
export function inplaceIndexDecider(g: Graph, opts: InplaceOptions = inplace.defaults): (order: Int32Array) => Int32Array {
  const facts = factsOf(g);
  return (order) => decide(new Context(facts, order.map((i) => i + facts.firstNode)), opts, false).into;
}

/** Every decision, as a map by node id and as the value index each value's buffer joins (-1: none); stage 3 joins the map only when `named`. */
function decide(ctx: Context, opts: InplaceOptions, named = true): { decisions: Map<string, string>; into: Int32Array } {
  const { decisions, into } = structuralDecisions(ctx, opts.persistent);
  ctx.reuseDyingOperands(decisions, into, named);
  return { decisions, into };
}

/**
 * Stages 1 and 2 only: pure aliases and in-place state updates. The scheduler keeps these valid
 * while it reorders (stage 3 depends on the order it is choosing).
 */
export function stableAliases(g: Graph): Map<string, string> {
  const facts = factsOf(g);
  return structuralDecisions(new Context(facts, facts.graphOrder()), true).decisions;
}

function structuralDecisions(ctx: Context, persistent: boolean): { decisions: Map<string, string>; into: Int32Array } {
  const decisions = new Map<string, string>();
  const into = new Int32Array(ctx.facts.types.length).fill(-1);
  // decisions reversed: the values deciding into each value (so a param's class is found from it)
  const sharers = new Map<string, string[]>();
  const decide = (id: string, operand: string) => {
    decisions.set(id, operand);
    push(sharers, operand, id);
  };
  const f = ctx.facts;
  const aliases = f.pureAliases();
  for (const [id, operand] of aliases.named) decide(id, operand);
  for (let k = 0; k < aliases.links.length; k += 2) into[aliases.links[k]] = aliases.links[k + 1];
  if (persistent) {
    // The chain found for an update depends on the decisions taken for the updates before it,
    // and only whether it is accepted depends on the order. On the path where every chain found
    // so far was accepted (the usual one), the chains are the same for every order of the
    // graph: remembered in the facts (`onPath`); once one is refused, they are searched again.
    let onPath = true;
    f.g.updates.forEach((u, k) => {
      let found = onPath ? f.pathChains[k] : undefined;
      if (found === undefined) {
        found = ctx.persistentChain(u.param, u.value, decisions, sharers) ?? null;
        if (onPath) f.pathChains[k] = found;
      }
      if (found === null) return;
      if (!ctx.accepts(found)) {
        onPath = false;
        return;
      }
      for (const [id, operand] of found.chain) decide(id, operand);
      for (let l = 0; l < found.links.length; l += 2) into[found.links[l]] = found.links[l + 1];
    });
  }
  return { decisions, into };
}

/**
 * A chain of (node, reused operand) that computes an update's value in its param's buffer, with
 * what whether it may run in a given order depends on: the value index of its first node, and of
 * every other reader of the param's old bytes (none for an empty chain, which needs no check).
 */
interface UpdateChain {
  readonly chain: ReadonlyArray<readonly [string, string]>;
  /** The chain as value indices: node, operand, node, operand, ... */
  readonly links: Int32Array;
  readonly start: number;
  readonly oldBytes: Int32Array;
}

function push(m: Map<string, string[]>, k: string, v: string): void {
  const list = m.get(k);
  if (list) list.push(v);
  else m.set(k, [v]);
}

/** What the stages need to know about a graph that no order changes (Context's `base`). */
class GraphFacts {
  /** Values (inputs, params, then nodes in the first order seen) -> index. */
  readonly valueIndex = new Map<string, number>();
  readonly nodeOf = new Map<string, Node>();
  readonly types: Node["type"][] = [];
  /** Number of node operands, outputs and updates that read each value. */
  readonly uses = new Map<string, number>();
  /** Values read by outputs or updates (they must survive to the end of the step), by index. */
  readonly readAtEnd: Uint8Array;
  readonly readAtEndNames = new Set<string>();
  readonly params: ReadonlySet<string>;
  /** Each node's operands as value indices, by the node's value index. */
  readonly operands: Int32Array[] = [];
  /** Values that are not nodes (inputs, params) come first: indices below this. */
  readonly firstNode: number;

  constructor(readonly g: Graph) {
    const add = (name: string, type: Node["type"]) => {
      this.valueIndex.set(name, this.types.length);
      this.types.push(type);
    };
    for (const i of g.inputs) add(i.name, i.type);
    for (const p of g.params) add(p.name, p.type);
    this.firstNode = this.types.length;
    for (const n of g.nodes) {
      add(n.id, n.type);
      this.nodeOf.set(n.id, n);
    }
    for (const n of g.nodes) {
      this.operands.push(Int32Array.from(n.inputs, (v) => this.valueIndex.get(v) ?? -1));
      for (const v of n.inputs) this.uses.set(v, (this.uses.get(v) ?? 0) + 1);
    }
    this.readAtEnd = new Uint8Array(this.types.length);
    for (const v of [...g.outputs.map((o) => o.value), ...g.updates.map((u) => u.value)]) {
      this.uses.set(v, (this.uses.get(v) ?? 0) + 1);
      this.readAtEndNames.add(v);
      const i = this.valueIndex.get(v);
      if (i !== undefined) this.readAtEnd[i] = 1;
    }
    this.params = new Set(g.params.map((p) => p.name));
  }

  /** Stage 2's chain per update on the path where every chain was accepted (null: none); see structuralDecisions. */
  readonly pathChains: (UpdateChain | null | undefined)[] = [];
  private aliases?: { named: ReadonlyArray<readonly [string, string]>; links: Int32Array };

  /** Stage 1: every pure alias (node id, operand), and as value indices (node, operand, ...). */
  pureAliases(): { named: ReadonlyArray<readonly [string, string]>; links: Int32Array } {
    if (this.aliases === undefined) {
      const named = this.g.nodes.filter((n) => isPureAlias(n.op)).map((n) => [n.id, n.inputs[0]] as const);
      this.aliases = { named, links: this.links(named) };
    }
    return this.aliases;
  }

  /** (value, value) pairs as value indices, flattened. */
  links(pairs: ReadonlyArray<readonly [string, string]>): Int32Array {
    const out = new Int32Array(2 * pairs.length);
    pairs.forEach(([a, b], k) => {
      out[2 * k] = this.valueIndex.get(a)!;
      out[2 * k + 1] = this.valueIndex.get(b)!;
    });
    return out;
  }

  /** The graph's own order, as value indices. */
  graphOrder(): Int32Array {
    return Int32Array.from(this.g.nodes, (_, i) => this.firstNode + i);
  }
}

const knownFacts = new WeakMap<Graph, GraphFacts>();

/** The graph's facts, worked out once per graph object (graphs are immutable). */
function factsOf(g: Graph): GraphFacts {
  let f = knownFacts.get(g);
  if (f === undefined) {
    f = new GraphFacts(g);
    knownFacts.set(g, f);
  }
  return f;
}

/**
 * What the stages need to know about the graph in one order of its nodes: the order-independent
 * facts (shared by every order of the same graph), each node's step and each value's last read.
 */
class Context {
  /** Each value's step (by value index; -1: not a node). */
  private readonly step: Int32Array;
  /** The last step whose node reads each value (by value index; -1: no node reads it). */
  private readonly lastReadAt: Int32Array;

  /** `order`: the nodes' value indices in schedule order. */
  constructor(
    readonly facts: GraphFacts,
    private readonly order: Int32Array,
  ) {
    const f = facts;
    this.step = new Int32Array(f.types.length).fill(-1);
    this.lastReadAt = new Int32Array(f.types.length).fill(-1);
    order.forEach((v, i) => {
      this.step[v] = i;
      for (const x of f.operands[v - f.firstNode]) if (x >= 0) this.lastReadAt[x] = i;
    });
  }

  /** The value that owns `v`'s buffer under the decisions so far. */
  owner(v: string, decisions: ReadonlyMap<string, string>): string {
    for (let next = decisions.get(v); next !== undefined; next = decisions.get(v)) v = next;
    return v;
  }

  /**
   * Stage 2: the chain of (node, reused operand) that computes `value` in `param`'s buffer, or
   * undefined when there is none or it would clobber a value still to be read.
   */
  persistentChain(param: string, value: string, decisions: ReadonlyMap<string, string>, sharers: ReadonlyMap<string, readonly string[]>): UpdateChain | undefined {
    const f = this.facts;
    if (!f.params.has(param) || !f.nodeOf.has(value)) return undefined;
    if (this.owner(value, decisions) === param) return { chain: [], links: new Int32Array(0), start: -1, oldBytes: new Int32Array(0) }; // already p's bytes (a pure alias of p)
    if (!this.isUnplaced(value, decisions)) return undefined;
    const chain: Array<[string, string]> = [];
    if (!this.findChain(param, value, decisions, chain)) return undefined;
    chain.reverse();
    // Every other reader of p's old bytes (p or a pure alias of it) must come before the chain
    // writes into them (accepts); outputs and updates read at the end, after every write.
    // p's old bytes are the values whose owner is p: p and those deciding into it, transitively.
    const old = [param];
    for (let k = 0; k < old.length; k++) old.push(...(sharers.get(old[k]) ?? []));
    for (const v of old) if (f.readAtEndNames.has(v)) return undefined;
    return { chain, links: f.links(chain), start: f.valueIndex.get(chain[0][0])!, oldBytes: Int32Array.from(old, (v) => f.valueIndex.get(v)!) };
  }

  /** Whether `c` may run in this order: no reader of the param's old bytes comes after its first node. */
  accepts(c: UpdateChain): boolean {
    if (c.chain.length === 0) return true;
    const start = this.step[c.start];
    for (const v of c.oldBytes) if (this.lastReadAt[v] > start) return false;
    return true;
  }

  /**
   * Depth-first from `v` back towards `param`'s bytes, appending (node, reused operand) links in
   * reverse order. Pure aliases (stage 1) on the way are transparent: they share their operand's
   * buffer already.
   */
  private findChain(param: string, v: string, decisions: ReadonlyMap<string, string>, chain: Array<[string, string]>): boolean {
    const f = this.facts;
    const node = f.nodeOf.get(v)!;
    if (bufferBytes(node.type) !== bufferBytes(f.types[f.valueIndex.get(param)!])) return false;
    const candidates = isPureAlias(node.op) ? [0] : node.inputs.map((_, i) => i);
    for (const i of candidates) {
      const x = node.inputs[i];
      if (!mayReuseOperand(node, i, f.types[f.valueIndex.get(x)!])) continue;
      const mark = chain.length;
      if (!isPureAlias(node.op)) chain.push([node.id, x]);
      if (this.owner(x, decisions) === param) return true;
      if (this.isChainLink(x, decisions) && this.findChain(param, x, decisions, chain)) return true;
      chain.length = mark;
    }
    return false;
  }

  /** A node value read exactly once (by the next link), not at the end, and not placed yet. */
  private isChainLink(x: string, decisions: ReadonlyMap<string, string>): boolean {
    const f = this.facts;
    return f.nodeOf.has(x) && f.uses.get(x) === 1 && !f.readAtEndNames.has(x) && this.isUnplaced(x, decisions);
  }

  /** Not sharing a buffer yet, except as a pure alias (which the chain may pass through). */
  private isUnplaced(x: string, decisions: ReadonlyMap<string, string>): boolean {
    return !decisions.has(x) || isPureAlias(this.facts.nodeOf.get(x)!.op);
  }

  /**
   * Stage 3, in schedule order, for the nodes stages 1 and 2 left undecided (`into`: their
   * decisions as value indices). Adds its decisions to `into`, and to `decisions` when `named`.
   */
  reuseDyingOperands(decisions: Map<string, string>, into: Int32Array, named: boolean): void {
    const f = this.facts;
    const values = f.types.length;
    // Each value's buffer owner (the root of its alias class) under the decisions so far, with
    // the paths compressed: a decision joins a class root (an undecided node) to another class.
    const parent = new Int32Array(values).fill(-1);
    const root = (v: number): number => {
      let r = v;
      for (let next = parent[r] >= 0 ? parent[r] : into[r]; next >= 0; next = parent[r] >= 0 ? parent[r] : into[r]) r = next;
      for (let x = v; x !== r; ) {
        const next = parent[x] >= 0 ? parent[x] : into[x];
        parent[x] = r;
        x = next;
      }
      return r;
    };
    // Per alias-class root: the last step that reads any member (liveness.ts: `steps` for values
    // read at the end or pinned for good, inputs and params never die; else the last read, or the
    // defining step when nothing reads it).
    const steps = Math.max(1, this.order.length);
    const classEnd = new Float64Array(values).fill(-1);
    for (let v = 0; v < values; v++) {
      const end = f.readAtEnd[v] || this.step[v] < 0 ? steps : this.lastReadAt[v] >= 0 ? this.lastReadAt[v] : this.step[v];
      const r = root(v);
      classEnd[r] = Math.max(classEnd[r], end);
    }
    this.order.forEach((self, step) => {
      if (into[self] >= 0) return;
      const operands = f.operands[self - f.firstNode];
      for (let i = 0; i < operands.length; i++) {
        const x = operands[i];
        const r = root(x);
        if (classEnd[r] !== step) continue;
        const n = f.g.nodes[self - f.firstNode];
        if (!mayReuseOperand(n, i, f.types[x])) continue;
        if (named) decisions.set(n.id, n.inputs[i]);
        into[self] = x;
        const own = classEnd[self];
        classEnd[self] = -1;
        classEnd[r] = Math.max(step, own);
        return;
      }
    });
  }
}
