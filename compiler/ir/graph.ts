// The IR graph: inputs, persistent params/state, nodes in schedule order, named outputs and
// end-of-step updates of persistent state.
//
// SSA: every node defines exactly one value, named by its `id`; a value is defined once and is
// used only after its definition. Graph inputs and params are values too (their names are the
// user's names, e.g. `x` or `fc256.w`); node ids are short integers (`7`) or, for values a later
// stage needs to find by name, paths such as `grad/fc256.w`.

import type { AttrValue } from "./op-def.ts";
import type { TensorType } from "./types.ts";

export interface SourceLoc {
  readonly file: string;
  readonly line: number;
  readonly col: number;
}

export type Attrs = Readonly<Record<string, AttrValue>>;

export interface InputDecl {
  readonly name: string;
  readonly type: TensorType;
  readonly loc?: SourceLoc;
}

/**
 * A persistent buffer that lives across steps. `trainable` params get gradients; the others are
 * state (batch-norm running statistics, optimizer moments, step counters).
 */
export interface ParamDecl {
  readonly name: string;
  readonly type: TensorType;
  /** Initializer spelling: `zeros`, `ones`, `he_normal`, `glorot_uniform`, `normal(0.02)`, `uniform(0.1)`. */
  readonly init: string;
  readonly trainable: boolean;
  readonly loc?: SourceLoc;
}

export interface Node {
  readonly id: string;
  readonly op: string;
  readonly inputs: readonly string[];
  /** Complete attributes: the op's defaults are filled in when the node is built. */
  readonly attrs: Attrs;
  readonly type: TensorType;
  readonly loc?: SourceLoc;
  /** Set by the in-place pass: the operand whose buffer this node's result overwrites. */
  readonly inplace?: string;
  /**
   * Set by the checkpoint pass on a node that recomputes forward value `recomputeOf` during the
   * backward pass (same op, attributes and type; operands are stored or recomputed values).
   */
  readonly recomputeOf?: string;
}

/** Where a value lives in the arena, in bytes. */
export interface ArenaSlot {
  readonly offset: number;
  readonly size: number;
}

/** The result of planning: one arena, every value's slot (in-place values share their operand's). */
export interface MemoryPlan {
  readonly arena: number;
  readonly alignment: number;
  readonly slots: Readonly<Record<string, ArenaSlot>>;
  /**
   * Scratch memory of the nodes whose kernels need some (GEMM packs panels, convolutions build
   * column buffers), by node id. A workspace is live only while its node runs.
   */
  readonly workspaces?: Readonly<Record<string, ArenaSlot>>;
}

export interface GraphOutput {
  readonly name: string;
  readonly value: string;
}

/** At the end of a step, persistent `param` takes the value `value` (in place after planning). */
export interface StateUpdate {
  readonly param: string;
  readonly value: string;
}

export interface Graph {
  readonly name: string;
  readonly inputs: readonly InputDecl[];
  readonly params: readonly ParamDecl[];
  readonly nodes: readonly Node[];
  readonly outputs: readonly GraphOutput[];
  readonly updates: readonly StateUpdate[];
  /** Present after planning. */
  readonly memory?: MemoryPlan;
}

/** The type of every value in the graph, by name. */
export function valueTypes(g: Graph): Map<string, TensorType> {
  const types = new Map<string, TensorType>();
  for (const i of g.inputs) types.set(i.name, i.type);
  for (const p of g.params) types.set(p.name, p.type);
  for (const n of g.nodes) types.set(n.id, n.type);
  return types;
}

/** Number of uses of each value (node operands, outputs and updates all count). */
export function useCounts(g: Graph): Map<string, number> {
  const uses = new Map<string, number>();
  for (const n of g.nodes) for (const v of n.inputs) uses.set(v, (uses.get(v) ?? 0) + 1);
  for (const o of g.outputs) uses.set(o.value, (uses.get(o.value) ?? 0) + 1);
  for (const u of g.updates) uses.set(u.value, (uses.get(u.value) ?? 0) + 1);
  return uses;
}

export function findOutput(g: Graph, name: string): GraphOutput | undefined {
  return g.outputs.find((o) => o.name === name);
}

/** Names may contain letters, digits and `_ . / -`; they are printed after a `%`. */
export const VALUE_NAME = /^[A-Za-z0-9_.\/-]+$/;

export function isValidName(name: string): boolean {
  return VALUE_NAME.test(name);
}
