// Where the tensors of planned graphs live in their one arena, as the backends' bundles describe
// it to the runtime: each entry's inputs and outputs, and the params/state every entry shares.
// Backend-neutral (codegen-wasm and codegen-wgsl emit the same layout from the same plans, so one
// weights file serves both); each backend names its own error class for a graph whose plan does
// not give what is asked.

import { mayReuseOperand } from "./aliasing.ts";
import type { ArenaSlot, Graph } from "./graph.ts";
import { byteSize, type DType, type Shape, type TensorType } from "./types.ts";

/** Where one tensor lives in the arena. */
export interface BufferLayout {
  readonly name: string;
  readonly offset: number;
  readonly bytes: number;
  readonly dtype: DType;
  readonly shape: Shape;
}

export interface ParamLayout extends BufferLayout {
  readonly init: string;
  readonly trainable: boolean;
}

/** A named output: `name` is the output's name, `value` the graph value it reads. */
export interface OutputLayout extends BufferLayout {
  readonly value: string;
}

export interface EntryLayout {
  readonly graph: string;
  readonly inputs: readonly BufferLayout[];
  readonly outputs: readonly OutputLayout[];
  /** Params/state the entry rewrites; after a call their slots hold the new values. */
  readonly updates: readonly string[];
}

/** Bytes [start, end) of the arena. */
export interface Region {
  readonly start: number;
  readonly end: number;
}

export function region(offset: number, bytes: number): Region {
  return { start: offset, end: offset + bytes };
}

export function overlaps(a: Region, b: Region): boolean {
  return a.start < b.end && b.start < a.end;
}

/** The layout readers of planned graphs, raising `fail(message)` where a plan lacks something. */
export function arenaLayouts(fail: (message: string) => Error) {
  const planOf = (g: Graph) => {
    if (!g.memory) throw fail(`graph '${g.name}' has no memory plan (run the planner, or naivePlan, first)`);
    return g.memory;
  };
  const slotOf = (g: Graph, value: string): ArenaSlot => {
    const slot = planOf(g).slots[value];
    if (!slot) throw fail(`graph '${g.name}': value %${value} has no arena slot`);
    return slot;
  };
  const bufferLayout = (g: Graph, name: string, value: string, type: TensorType): BufferLayout =>
    ({ name, offset: slotOf(g, value).offset, bytes: byteSize(type), dtype: type.dtype, shape: type.shape });
  const entryLayout = (g: Graph): EntryLayout => {
    const types = new Map<string, TensorType>();
    for (const d of [...g.inputs, ...g.params]) types.set(d.name, d.type);
    for (const n of g.nodes) types.set(n.id, n.type);
    return {
      graph: g.name,
      inputs: g.inputs.map((i) => bufferLayout(g, i.name, i.name, i.type)),
      outputs: g.outputs.map((o) => ({ ...bufferLayout(g, o.name, o.value, types.get(o.value)!), value: o.value })),
      updates: g.updates.map((u) => u.param),
    };
  };
  /** Every param/state of every graph, once; graphs that share a param must share its slot. */
  const sharedParams = (graphs: readonly Graph[]): ParamLayout[] => {
    const byName = new Map<string, ParamLayout>();
    for (const graph of graphs) {
      for (const p of graph.params) {
        const layout = { ...bufferLayout(graph, p.name, p.name, p.type), init: p.init, trainable: p.trainable };
        const seen = byName.get(p.name);
        if (!seen) byName.set(p.name, layout);
        else if (seen.offset !== layout.offset || seen.bytes !== layout.bytes || seen.dtype !== layout.dtype) {
          throw fail(`entries disagree on param '${p.name}': offset ${seen.offset} vs ${layout.offset}, ${seen.dtype}[${seen.shape}] vs ${layout.dtype}[${layout.shape}]`);
        }
      }
    }
    return [...byName.values()];
  };
  /**
   * No node's result may partly overlap an operand; an exact overlap (the in-place pass's doing)
   * only where aliasing.ts allows it: pure aliases, and elementwise ops, whose kernels read
   * element i before they write it.
   */
  const checkOperandOverlaps = (g: Graph): void => {
    const types = new Map<string, TensorType>([...g.inputs, ...g.params].map((d) => [d.name, d.type]));
    for (const n of g.nodes) {
      const out = region(slotOf(g, n.id).offset, byteSize(n.type));
      n.inputs.forEach((v, index) => {
        const operand = region(slotOf(g, v).offset, byteSize(types.get(v)!));
        if (!overlaps(out, operand)) return;
        const exact = out.start === operand.start && out.end === operand.end;
        if (!exact || !mayReuseOperand(n, index, types.get(v)!)) {
          throw fail(`graph '${g.name}': the result of ${n.op} %${n.id} ${exact ? "overwrites" : "partly overlaps"} its operand %${v} in the arena`);
        }
      });
      types.set(n.id, n.type);
    }
  };
  return { planOf, slotOf, bufferLayout, entryLayout, sharedParams, checkOperandOverlaps };
}
