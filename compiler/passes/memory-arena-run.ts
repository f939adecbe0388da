// Runs a planned graph the way generated code will: every value lives at its slot in ONE arena
// (an ArrayBuffer of `memory.arena` bytes), stored in its dtype's bytes. Each node reads its
// operands from the arena, computes with the op's reference kernel, and writes its result into
// its slot — over a dead operand when it is in place, over dead values of earlier steps when the
// planner reused their bytes. At the end of the step each `update` copies its value into the
// param's slot (free when the value already lives there).
//
// So a wrong plan or a wrong in-place decision (a value overwritten while it is still to be read)
// gives different numbers than the reference interpreter, which keeps every value apart. Tests use
// this as the end-to-end check of the memory passes; backends can use it as their reference.

import type { ArenaSlot, Graph } from "../ir/graph.ts";
import { roundArray } from "../ir/dtype-round.ts";
import { initParam } from "../ir/init.ts";
import type { Tensor } from "../ir/op-def.ts";
import { getOp } from "../ir/ops.ts";
import { DTYPE_INFO } from "../ir/dtypes.ts";
import { numel, type DType, type TensorType } from "../ir/types.ts";

export interface ArenaRunOptions {
  /** Values of params/state by name; the others start from their seeded initializer. */
  readonly params?: Readonly<Record<string, ArrayLike<number>>>;
  readonly seed?: number;
}

export interface ArenaRunResult {
  readonly outputs: Record<string, Tensor>;
  /** Each updated param's value, read back from its own slot after the end-of-step copies. */
  readonly updates: Record<string, Tensor>;
}

/** Runs `g` (which must carry a memory plan) in native precision inside one arena. */
export function runInArena(g: Graph, inputs: Readonly<Record<string, ArrayLike<number>>>, opts: ArenaRunOptions = {}): ArenaRunResult {
  if (!g.memory) throw new Error(`runInArena: graph '${g.name}' has no memory plan (run the plan pass first)`);
  const { slots } = g.memory;
  const arena = new ArrayBuffer(g.memory.arena);
  // Garbage everywhere (all-ones bytes: NaN for floats, -1 for integers), so reading bytes no
  // one wrote shows up.
  new Uint8Array(arena).fill(0xff);
  const types = new Map<string, TensorType>();
  const slotOf = (v: string): ArenaSlot => {
    const slot = slots[v];
    if (!slot) throw new Error(`runInArena: %${v} has no slot`);
    return slot;
  };
  const store = (v: string, type: TensorType, data: ArrayLike<number>) => {
    types.set(v, type);
    write(arena, slotOf(v), type, roundArray(type.dtype, Float64Array.from(data)));
  };
  const load = (v: string): Tensor => ({ type: types.get(v)!, data: read(arena, slotOf(v), types.get(v)!) });

  for (const i of g.inputs) {
    if (!Object.hasOwn(inputs, i.name)) throw new Error(`runInArena: missing input '${i.name}'`);
    store(i.name, i.type, inputs[i.name]);
  }
  for (const p of g.params) store(p.name, p.type, (opts.params && Object.hasOwn(opts.params, p.name) ? opts.params[p.name] : undefined) ?? initParam(p, opts.seed ?? 0));
  for (const n of g.nodes) {
    const operands = n.inputs.map(load);
    store(n.id, n.type, getOp(n.op).interpret(operands, n.attrs, n.type));
  }

  const outputs: Record<string, Tensor> = Object.create(null);
  for (const o of g.outputs) outputs[o.name] = load(o.value);
  // The copies of a step's end happen together: read every new value, then write them all.
  const newValues = g.updates.map((u) => [u.param, load(u.value)] as const);
  for (const [param, t] of newValues) write(arena, slotOf(param), t.type, t.data);
  const updates: Record<string, Tensor> = Object.create(null);
  for (const [param] of newValues) updates[param] = load(param);
  return { outputs, updates };
}

function write(arena: ArrayBuffer, slot: ArenaSlot, type: TensorType, data: Float64Array): void {
  const n = numel(type.shape);
  if (data.length !== n) throw new Error(`runInArena: a ${type.dtype} value of ${n} elements got ${data.length}`);
  const view = viewOf(arena, slot.offset, type.dtype, n);
  const { toStored } = DTYPE_INFO[type.dtype];
  for (let i = 0; i < n; i++) view[i] = toStored(data[i]);
}

function read(arena: ArrayBuffer, slot: ArenaSlot, type: TensorType): Float64Array {
  const n = numel(type.shape);
  const view = viewOf(arena, slot.offset, type.dtype, n);
  const { fromStored } = DTYPE_INFO[type.dtype];
  return Float64Array.from(view, fromStored);
}

/** The slot's elements through the dtype's typed array (f16/bf16: raw 16-bit patterns). */
function viewOf(arena: ArrayBuffer, offset: number, dtype: DType, n: number) {
  return new DTYPE_INFO[dtype].array(arena, offset, n);
}
