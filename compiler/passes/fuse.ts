// fuse — collapse chains and trees of float elementwise ops (f32, or f16/bf16: one dtype per
// group) into single `fused` nodes, so each runs as one loop and its intermediates never get a
// buffer.
//
// Stages:
// 1. Groups, from the last node back. A fusable node (an op whose record says `fusion.chain`: the
//    unary math ops, gelu, add sub mul div pow maximum minimum, and where, whose bool condition
//    becomes a bool operand of the fused node; result and operands of one float dtype) not yet
//    taken is a group's root. An operand joins the root's group when it is a fusable node of the
//    root's shape (no intermediate is broadcast up: the loop computes each element once) whose
//    ONLY use is that one operand slot of a member. A value read by an output or an update has another use, so it
//    stays a real buffer; nothing is fused across an update. A group stops growing where it would
//    read more than `maxOperands` external values (all live at once when the fused node runs), or
//    more than `maxDyingOperands` result-sized values that only the group reads.
// 2. Bodies. Each group of two or more nodes becomes one `fused` node at the root's place with the
//    root's id, type and source location; its operands are the group's external inputs (each
//    once) and its body the members in post-order. One-element float `const` operands become
//    literals, unless dropping them would change the broadcast shape of the operands (then they
//    stay operands). Constants left without uses are removed.
//
// Members move to the root's place; that is valid SSA because their operands are defined before
// them. It can lengthen an external operand's live range (from the first member to the root),
// which the planner sees, as it sees the fused graph. Runs after autodiff and the optimizer (a
// fused node has no VJP) and before schedule/inplace/plan; in-place decisions and a memory plan
// on the input are dropped.

import type { Graph, Node } from "../ir/graph.ts";
import { useCounts, valueTypes } from "../ir/graph.ts";
import { OPS } from "../ir/ops.ts";
import { broadcastAll } from "../ir/ops/broadcast.ts";
import { formatBody, parseBody, type BodyArg, type BodyStep } from "../ir/ops/fused-body.ts";
import { roundTo } from "../ir/dtype-round.ts";
import { byteSize, isFloat, numel, sameShape, type TensorType } from "../ir/types.ts";
import type { Pass } from "./pass.ts";

export interface FuseOptions {
  /**
   * Most external operands (non-constant) a fused node may read. All of them are live at once when
   * it runs, where the unfused ops could consume them one by one, so wide fan-in can raise the
   * peak memory the planner sees; a group stops growing at this width. On the examples, 4 left
   * every planned arena no larger than unfused except the LSTM forward's (+2 KB, one [16,32]
   * buffer); with no cap the LSTM training step's arena grew by 18%.
   */
  maxOperands: number;
  /**
   * Most external operands of the result's size that nothing but the group reads (temporaries that
   * die at the fused node). Unfused, a chain consumes such values one at a time as they are
   * produced; fused, all of them are live together before the node runs. Example: a checkpointed
   * step recomputing a residual spine relu(relu(x + a) + b) ... where a, b, ... are batch norms
   * of kept convolution outputs: with 4, the ResNet's (depth 8) keep-the-convolutions policy
   * peaked 260 KB higher than with 2. With 2 the transformer's training arena is 5% smaller and
   * no example's arena grows (1 gives the same arenas as 2). A group already past the cap may
   * still absorb members that do not add such operands.
   */
  maxDyingOperands: number;
}

/** The statistics every fusion pass reports besides its own count (fusedResult). */
export const FUSION_STATISTICS = {
  "removed-buffers": "intermediate values that no longer get a buffer",
  "removed-bytes": "their bytes",
} as const;

export const fuse: Pass<FuseOptions> = {
  name: "fuse",
  summary: "collapse chains of float elementwise ops into single fused nodes without intermediate buffers",
  statistics: { "fused-nodes": "elementwise nodes absorbed into fused chains", ...FUSION_STATISTICS },
  defaults: { maxOperands: 4, maxDyingOperands: 2 },
  run(g, opts) {
    const types = valueTypes(g);
    const nodeOf = new Map(g.nodes.map((n) => [n.id, n] as const));
    const groups = findGroups(g, types, nodeOf, opts.maxOperands, opts.maxDyingOperands);
    const replaced = new Map<string, Node>();
    const absorbed = new Set<string>();
    // Constants turned into literals and widening casts read through: removed once unused.
    const inlined = new Set<string>();
    for (const { members, casts } of groups) {
      const fused = fusedNode(members, types, nodeOf, casts);
      if (!fused) continue;
      replaced.set(fused.node.id, fused.node);
      for (const m of members) if (m.id !== fused.node.id) absorbed.add(m.id);
      fused.inlined.forEach((c) => inlined.add(c));
      casts.forEach((c) => inlined.add(c));
    }
    let nodes = g.nodes.filter((n) => !absorbed.has(n.id)).map((n) => replaced.get(n.id) ?? n);
    const stillRead = readAmong(g, nodes, inlined);
    nodes = nodes.filter((n) => !(inlined.has(n.id) && !stillRead.has(n.id)));
    return fusedResult(g, nodes, { "fused-nodes": replaced.size });
  },
};

/**
 * The fused graph with `nodes`, without a memory plan or in-place decisions (they may name
 * absorbed values; `inplace` recomputes them on the fused graph) or checkpoint recompute marks
 * (an original may have been absorbed, or fused differently from its copy), and the pass
 * statistics: `counts` plus the buffers and bytes of the nodes that disappeared.
 */
export function fusedResult(g: Graph, nodes: readonly Node[], counts: Record<string, number>) {
  const kept = new Set(nodes.map((n) => n.id));
  const removed = g.nodes.filter((n) => !kept.has(n.id));
  const { memory: _plan, ...rest } = g;
  return {
    graph: { ...rest, nodes: nodes.map((n) => (n.inplace === undefined && n.recomputeOf === undefined ? n : withoutMarks(n))) },
    stats: {
      ...counts,
      "removed-buffers": removed.length,
      "removed-bytes": removed.reduce((sum, n) => sum + byteSize(n.type), 0),
    },
  };
}

function withoutMarks({ inplace: _decision, recomputeOf: _mark, ...n }: Node): Node {
  return n;
}

/**
 * `nodes` without the one-element constants that fusion turned into literals and that nothing
 * reads any more (`uses`: the use counts before fusion; constants unused before stay).
 */
export function withoutInlinedConstants(g: Graph, nodes: readonly Node[], uses: ReadonlyMap<string, number>): Node[] {
  const literals = new Set<string>();
  for (const n of nodes) if (n.op === "const" && uses.has(n.id) && constLiteral(n) !== undefined) literals.add(n.id);
  const left = readAmong(g, nodes, literals);
  return nodes.filter((n) => !(literals.has(n.id) && !left.has(n.id)));
}

/** Which of `values` the graph `g` with `nodes` reads (an operand, output or update). */
function readAmong(g: Graph, nodes: readonly Node[], values: ReadonlySet<string>): Set<string> {
  const read = new Set<string>();
  if (values.size === 0) return read;
  for (const n of nodes) for (const v of n.inputs) if (values.has(v)) read.add(v);
  for (const o of g.outputs) if (values.has(o.value)) read.add(o.value);
  for (const u of g.updates) if (values.has(u.value)) read.add(u.value);
  return read;
}

/**
 * A node that may be a step of a fused body: its op record says `fusion.chain`, and its result and
 * operands are of one float dtype (f32, or f16/bf16: the kernels compute the body in f32 and
 * round once). With `conditions`, also an op with a bool condition operand (where: its record's
 * `fusion.condition`), which only `fuse`'s `fused` nodes take; the other fusion passes' kernels
 * read floats only.
 */
export function isFusable(n: Node, types: ReadonlyMap<string, TensorType>, conditions = false): boolean {
  const dtype = n.type.dtype;
  const fusion = OPS.get(n.op)?.fusion;
  if (fusion?.chain !== true || !isFloat(dtype) || (fusion.condition !== undefined && !conditions)) return false;
  return n.inputs.every((v, k) => types.get(v)!.dtype === (k === fusion.condition ? "bool" : dtype));
}

/**
 * A cast of a 16-bit float to f32: exact, so an f32 group reads the 16-bit value itself and the
 * f32 copy needs no buffer (mixed precision's weight gradients on their way to the optimizer).
 */
function isWidening(n: Node, types: ReadonlyMap<string, TensorType>): boolean {
  if (n.op !== "cast" || n.type.dtype !== "f32") return false;
  const from = types.get(n.inputs[0])!.dtype;
  return from === "f16" || from === "bf16";
}

/** A group: its members (root first) and the widening casts its members read through. */
interface Group {
  readonly members: Node[];
  readonly casts: ReadonlySet<string>;
}

/** Stage 1: the groups of two or more nodes (or one that reads through a widening cast), each listed root first. */
function findGroups(g: Graph, types: ReadonlyMap<string, TensorType>, nodeOf: ReadonlyMap<string, Node>, maxOperands: number, maxDyingOperands: number): Group[] {
  const uses = useCounts(g);
  const taken = new Set<string>();
  const groups: Group[] = [];
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const root = g.nodes[i];
    if (taken.has(root.id) || !isFusable(root, types, true)) continue;
    const members = [root];
    taken.add(root.id);
    // The group's external operands so far (constants that become literals do not count).
    const isOperand = (v: string) => { const n = nodeOf.get(v); return !n || constLiteral(n) === undefined; };
    const external = new Set(root.inputs.filter(isOperand));
    // Result-sized values only the group reads: they die at the fused node.
    const size = numel(root.type.shape);
    const dyingCount = (xs: Iterable<string>) => [...xs].filter((x) => uses.get(x) === 1 && nodeOf.has(x) && numel(types.get(x)!.shape) === size).length;
    for (let k = 0; k < members.length; k++) {
      for (const v of members[k].inputs) {
        const n = nodeOf.get(v);
        if (!n || taken.has(v) || uses.get(v) !== 1 || !isFusable(n, types, true) || !sameShape(n.type.shape, root.type.shape)) continue;
        const widened = new Set([...external].filter((x) => x !== v));
        for (const x of n.inputs) if (isOperand(x)) widened.add(x);
        if (widened.size > maxOperands) continue;
        const dying = dyingCount(widened);
        if (dying > maxDyingOperands && dying > dyingCount(external)) continue;
        external.clear();
        widened.forEach((x) => external.add(x));
        members.push(n);
        taken.add(v);
      }
    }
    // Widening casts the members read (any number of uses: the cast stays while others need it),
    // kept as they are when the group would then have no f32 operand (its value type is f32).
    const casts = new Set<string>();
    if (root.type.dtype === "f32") {
      for (const m of members) for (const v of m.inputs) if (nodeOf.has(v) && isWidening(nodeOf.get(v)!, types)) casts.add(v);
      const reads = new Set(members.flatMap((m) => m.inputs).filter((v) => !members.some((m) => m.id === v)).map((v) => (casts.has(v) ? nodeOf.get(v)!.inputs[0] : v)));
      const widths = [...reads].filter(isOperand).map((v) => types.get(v)!.dtype);
      if (!widths.includes("f32") || reads.size > maxOperands) casts.clear();
    }
    if (members.length > 1 || casts.size > 0) groups.push({ members, casts });
  }
  return groups;
}

/** Stage 2: the fused node of one group, or undefined when its operands cannot give its shape. */
function fusedNode(members: readonly Node[], types: ReadonlyMap<string, TensorType>, nodeOf: ReadonlyMap<string, Node>, casts: ReadonlySet<string>) {
  const root = members[0];
  for (const inlineConsts of [true, false]) {
    const built = buildBody(members, nodeOf, inlineConsts, casts);
    const shapes = built.operands.map((v) => types.get(v)!.shape);
    // A body needs a float operand for its dtype (not only bool conditions).
    if (built.operands.every((v) => types.get(v)!.dtype === "bool") || !sameShape(broadcastAll(shapes), root.type.shape)) continue;
    const node: Node = {
      id: root.id,
      op: "fused",
      inputs: built.operands,
      attrs: { body: formatBody(built.steps) },
      type: root.type,
      ...(root.loc ? { loc: root.loc } : {}),
    };
    return { node, inlined: built.inlined };
  }
  return undefined;
}

function buildBody(members: readonly Node[], nodeOf: ReadonlyMap<string, Node>, inlineConsts: boolean, casts: ReadonlySet<string> = new Set()) {
  const inGroup = new Set(members.map((m) => m.id));
  const operands: string[] = [];
  const inlined: string[] = [];
  const steps: BodyStep[] = [];
  const argOf = (v: string): BodyArg => {
    const n = nodeOf.get(v);
    if (n && inGroup.has(v)) return { kind: "temp", index: emit(n) };
    // A widening cast: the body reads the 16-bit value (widened exactly on load).
    if (n && casts.has(v)) return argOf(n.inputs[0]);
    const literal = inlineConsts && n ? constLiteral(n) : undefined;
    if (literal !== undefined) {
      inlined.push(v);
      return { kind: "literal", value: literal };
    }
    if (!operands.includes(v)) operands.push(v);
    return { kind: "operand", index: operands.indexOf(v) };
  };
  // Post-order: a member's operands are computed before it (each member is used once, so once).
  const emit = (n: Node): number => {
    const args = n.inputs.map(argOf);
    const step: BodyStep = n.op === "gelu" ? { op: n.op, approximate: n.attrs.approximate as string, args } : { op: n.op, args };
    steps.push(step);
    return steps.length - 1;
  };
  emit(members[0]);
  return { operands, steps, inlined };
}

/** The value of a one-element float constant as stored (rounded to its dtype), else undefined. */
export function constLiteral(n: Node): number | undefined {
  if (n.op !== "const" || !isFloat(n.type.dtype) || numel(n.type.shape) !== 1) return undefined;
  return roundTo(n.type.dtype, n.attrs.value as number);
}

/**
 * The per-element program of `n` — a `fused` node's body, or a single fusable op as a one-step
 * body (one-element f32 constants as literals) — and the operands its `xI` name.
 */
export function bodyOf(n: Node, nodeOf: ReadonlyMap<string, Node>): { operands: string[]; steps: BodyStep[] } {
  if (n.op === "fused") return { operands: [...n.inputs], steps: parseBody(String(n.attrs.body), n.inputs.length) };
  const operands: string[] = [];
  const args = n.inputs.map((v): BodyArg => {
    const producer = nodeOf.get(v);
    const literal = producer ? constLiteral(producer) : undefined;
    if (literal !== undefined) return { kind: "literal", value: literal };
    if (!operands.includes(v)) operands.push(v);
    return { kind: "operand", index: operands.indexOf(v) };
  });
  const step: BodyStep = n.op === "gelu" ? { op: n.op, approximate: n.attrs.approximate as string, args } : { op: n.op, args };
  return { operands, steps: [step] };
}
