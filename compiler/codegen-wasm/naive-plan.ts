// The simplest correct memory plan: every value gets its own aligned slot, laid out one after
// another in the order inputs, params/state, nodes. No liveness, no sharing, except that a node
// marked `inplace` writes over its operand's slot (that is what the mark means). Kernels that need
// scratch memory (KernelEmitter.workspaceBytes) all get one region at the end, sized for the
// hungriest: nodes run one at a time, so their workspaces never need to coexist. Tests use this
// plan to exercise kernels before the real planner (compiler/passes/plan.ts) runs, and it is a
// fallback when planning is switched off.

import type { ArenaSlot, Graph, Node } from "../ir/graph.ts";
import { byteSize, type TensorType } from "../ir/types.ts";
import type { KernelTable } from "./kernel.ts";
import { WASM_KERNELS } from "./kernels/index.ts";
import { kernelTableWorkspaceBytes } from "./workspace.ts";

function alignUp(x: number, alignment: number): number {
  return Math.ceil(x / alignment) * alignment;
}

/** `graph` with a `memory` in which every value owns a fresh `alignment`-aligned slot. */
/** A kernel table, or a function giving a node's workspace bytes (another backend's, e.g. webgpu's). */
export type WorkspaceSource = KernelTable | ((node: Node, operandTypes: readonly TensorType[]) => number);

export function naivePlan(graph: Graph, alignment = 16, kernels: WorkspaceSource = WASM_KERNELS): Graph {
  return naivePlanAll([graph], alignment, kernels)[0];
}

/**
 * One arena for several graphs that run in the same module (e.g. train_step and apply_update):
 * params/state with the same name share one slot, everything else gets its own. Each graph's
 * `arena` is the end of its own slots; the module is sized to the largest.
 *
 * Slot sizes are rounded up to the alignment (the plan verifier's rule); the shared workspace
 * region comes first, at offset 0, so that every arena ends at a value's slot.
 */
export function naivePlanAll(graphs: readonly Graph[], alignment = 16, kernels: WorkspaceSource = WASM_KERNELS): Graph[] {
  let end = 0;
  const take = (bytes: number): ArenaSlot => {
    const slot = { offset: end, size: alignUp(bytes, alignment) };
    end += slot.size;
    return slot;
  };

  const needs = graphs.map((g) => workspaceNeeds(g, kernels));
  const workspace = take(Math.max(0, ...needs.flatMap((n) => [...n.values()])));

  const persistent = new Map<string, ArenaSlot>();
  for (const g of graphs) {
    for (const p of g.params) if (!persistent.has(p.name)) persistent.set(p.name, take(byteSize(p.type)));
  }

  return graphs.map((g, k) => {
    const slots: Record<string, ArenaSlot> = Object.create(null);
    for (const i of g.inputs) slots[i.name] = take(byteSize(i.type));
    for (const p of g.params) slots[p.name] = persistent.get(p.name)!;
    for (const n of g.nodes) slots[n.id] = n.inplace !== undefined ? slots[n.inplace] : take(byteSize(n.type));
    const workspaces: Record<string, ArenaSlot> = Object.create(null);
    for (const [id, bytes] of needs[k]) workspaces[id] = { offset: workspace.offset, size: alignUp(bytes, alignment) };
    const arena = Math.max(0, ...Object.values(slots).map((s) => s.offset + s.size));
    return { ...g, memory: { arena, alignment, slots, ...(needs[k].size > 0 ? { workspaces } : {}) } };
  });
}

/** Workspace bytes of each node of `g` whose kernel asks for some. */
function workspaceNeeds(g: Graph, kernels: WorkspaceSource): Map<string, number> {
  const types = new Map<string, TensorType>([...g.inputs, ...g.params].map((d) => [d.name, d.type]));
  const needs = new Map<string, number>();
  const bytesOf = typeof kernels === "function" ? kernels : kernelTableWorkspaceBytes(kernels);
  for (const n of g.nodes) {
    const bytes = bytesOf(n, n.inputs.map((v) => types.get(v)!));
    if (bytes > 0) needs.set(n.id, bytes);
    types.set(n.id, n.type);
  }
  return needs;
}
