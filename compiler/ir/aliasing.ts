// Which buffers may be shared: the op rules of in-place execution and the alias classes that the
// `inplace` pass's decisions (`node.inplace`) induce. Liveness, planning, scheduling, the arena
// layout and the verifier all read aliasing through this file, so there is one definition of it.
//
// Two kinds of sharing, declared by each op record's `inplace` field (op-def.ts):
// - "alias": `reshape` and `copy` leave the bytes as they are, so their result IS their operand's
//   buffer (zero-copy; no kernel runs).
// - "overwrite": an elementwise node computes element i of its result from element i of each
//   same-sized operand, so it may overwrite one of them as it goes, provided nothing reads that
//   operand afterwards. A kernel of an in-place node must read element i of every operand before it
//   writes element i of the result (every natural elementwise loop, scalar or SIMD, does).

import type { Graph, Node } from "./graph.ts";
import { getOp, OPS } from "./ops.ts";
import { DTYPE_BYTES, numel, type TensorType } from "./types.ts";

/** Whether `op`'s result is its operand's bytes, unchanged: it aliases it instead of copying. */
export function isPureAlias(op: string): boolean {
  return OPS.get(op)?.inplace === "alias";
}

/**
 * Whether `node` may write its result into the buffer of operand `index`: the op is a pure alias
 * (its only operand), or its record allows overwriting and the result has that operand's element
 * count and element width. Equal counts rule out an operand that is broadcast up; equal widths
 * rule out a `cast` that widens (writing 4-byte element i would clobber 2-byte elements 2i and
 * 2i+1 before they are read) and comparisons, whose bool result is narrower than their operands.
 */
export function mayReuseOperand(node: Node, index: number, operandType: TensorType): boolean {
  const rule = getOp(node.op).inplace;
  if (rule === "alias") return index === 0;
  if (rule !== "overwrite") return false;
  return numel(operandType.shape) === numel(node.type.shape) && DTYPE_BYTES[operandType.dtype] === DTYPE_BYTES[node.type.dtype];
}

/**
 * Alias classes: values that live in one buffer. A node with `inplace` joins its operand's class;
 * every other value is a class of its own. The class's name (its root) is its first member in
 * definition order, so a class holding an input or a param is named after it.
 */
export interface AliasClasses {
  /** The root of each value's class. */
  readonly rootOf: ReadonlyMap<string, string>;
  /** Members of each class by root, in definition order. */
  readonly members: ReadonlyMap<string, readonly string[]>;
}

export function aliasClasses(g: Graph): AliasClasses {
  const rootOf = new Map<string, string>();
  const members = new Map<string, string[]>();
  const own = (v: string) => {
    rootOf.set(v, v);
    members.set(v, [v]);
  };
  for (const i of g.inputs) own(i.name);
  for (const p of g.params) own(p.name);
  for (const n of g.nodes) {
    const root = n.inplace !== undefined ? rootOf.get(n.inplace) : undefined;
    if (root === undefined) {
      own(n.id);
    } else {
      rootOf.set(n.id, root);
      members.get(root)!.push(n.id);
    }
  }
  return { rootOf, members };
}
