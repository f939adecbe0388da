// The debug build (`mlc build --debug`): what the runtime checks between kernels, as a table.
//
// In a debug module every entry point calls one imported function, `mlc_debug.probe(entry,
// event)`, before its first kernel, after each kernel and after its end-of-step copies
// (module.ts `entry(..., probe)`); the bundle's runtime/bundle-debug.js runs the event's actions
// from this table over the module's memory:
//
//   start    every byte that is not an input or a param/state of any entry is filled with the
//            poison word; the entry's inputs and params are snapshotted
//   before   each operand the kernel reads must be byte-equal to its snapshot (taken when it was
//            written) and, for computed values, free of the poison word; the dead slot its
//            result is about to take (and its workspace) must still be all poison
//   after    the result must be free of the poison word (else the kernel left bytes unwritten),
//            and is snapshotted; the workspace and every slot whose lifetime ended at this step
//            are poisoned again
//   end      outputs, inputs and params not updated are checked like operands; every byte that
//            is dead at the end (all but inputs, params and this entry's outputs and updates)
//            must still be all poison
//
// So a plan that lets two live values overlap fails before the second is written (its slot holds
// live data, not poison) or when the first is read (its snapshot differs); a kernel that writes
// outside its buffers fails where those bytes are next checked: a live value's read, the next
// dead slot written there, or the end-of-entry sweep. Lifetimes come from the entry's own
// liveness (compiler/ir/liveness.ts), never from the plan under test.
//
// Values read before they are written are accounted for: inputs, params and state (optimizer
// moments, accumulators, the loss scale) are never poisoned, since the app or the previous step
// wrote them; an in-place result's slot (its class started at an earlier step) is not expected
// to be poison. Without --debug nothing here runs and the module is the same bytes.

import type { Graph } from "../ir/graph.ts";
import { memoryProblem } from "../ir/liveness.ts";
import { byteSize, formatType, type TensorType } from "../ir/types.ts";

/**
 * The poison word: a signalling f32 NaN with payload 0x25A5A5 (no arithmetic produces a
 * signalling NaN), as i32 2141562277, as f16 lanes 0xA5A5 and a NaN. Filled by 32-bit words, so
 * every aligned word of a dead region holds it.
 */
export const POISON_WORD = 0x7fa5a5a5;

/** The module and function the probe is imported as. */
export const DEBUG_IMPORT = { module: "mlc_debug", base: "probe" } as const;

/** [offset, bytes] */
export type Span = readonly [number, number];

/** A value the checks name: its name, type (for messages), arena offset, its bytes and its slot's. */
export type DebugValue = readonly [name: string, type: string, offset: number, bytes: number, slotBytes: number, source: "input" | "param" | "node"];

/** A kernel call: the node's id, op, index in the schedule, the value it writes, its workspace. */
export type DebugKernel = readonly [node: string, op: string, step: number, output: number, workspace: Span | null, loc: string | null];

/** What one probe call does, in this order: after-kernel part, start, before-kernel part, end. */
export interface DebugEvent {
  /** The kernel that just ran (index into kernels), and the value it wrote (checked, snapshotted). */
  after?: number;
  /** Slots to fill with poison (released values, the workspace) and the values they held. */
  release?: Span[];
  dead?: number[];
  /** Entry start: poison every byte not kept, snapshot these values (inputs, params). */
  start?: number[];
  /** The kernel about to run; the values it (or the copies, or the app) reads. */
  before?: number;
  read?: number[];
  /** Dead slots about to be written: must hold poison. `owner` is a value index, -1 a workspace. */
  fresh?: [offset: number, bytes: number, owner: number][];
  /** End of the entry: bytes that must hold poison. */
  sweep?: Span[];
}

export interface DebugEntry {
  readonly name: string;
  readonly values: DebugValue[];
  readonly kernels: DebugKernel[];
  /** events[0] runs before the first kernel, events[k + 1] after kernel k, the last after the copies. */
  readonly events: DebugEvent[];
}

/** The table a debug bundle carries (MLC_DEBUG in name.js). */
export interface DebugTable {
  readonly poison: number;
  readonly memoryBytes: number;
  /** Never poisoned: every entry's inputs and params/state. */
  readonly keep: Span[];
  /** The complement of `keep` in the memory: poisoned at every entry's start. */
  readonly scratch: Span[];
  /** By the probe's entry argument. */
  readonly entries: DebugEntry[];
}

/** An entry as the table needs it: its planned graph and which nodes call a kernel (by index). */
export interface DebugEntrySource {
  readonly graph: Graph;
  readonly exportName: string;
  readonly kernelNodes: readonly number[];
}

/** The debug table of planned entries sharing one memory of `memoryBytes`. */
export function debugTable(entries: readonly DebugEntrySource[], memoryBytes: number): DebugTable {
  const keep: Span[] = [];
  for (const { graph: g } of entries) {
    for (const name of [...g.inputs.map((i) => i.name), ...g.params.map((p) => p.name)]) keep.push(spanOf(g.memory!.slots[name]));
  }
  const kept = union(keep);
  return {
    poison: POISON_WORD,
    memoryBytes,
    keep: kept,
    scratch: complement(kept, memoryBytes),
    entries: entries.map((e) => debugEntry(e, kept, memoryBytes)),
  };
}

function debugEntry({ graph: g, exportName, kernelNodes }: DebugEntrySource, kept: readonly Span[], memoryBytes: number): DebugEntry {
  const plan = g.memory!;
  const { classes, problem, bufferOf } = memoryProblem(g, plan.alignment);
  const values: DebugValue[] = [];
  const index = new Map<string, number>();
  const add = (name: string, type: TensorType, source: DebugValue[5]) => {
    index.set(name, values.length);
    const slot = plan.slots[name];
    values.push([name, formatType(type), slot.offset, byteSize(type), slot.size, source]);
  };
  for (const i of g.inputs) add(i.name, i.type, "input");
  for (const p of g.params) add(p.name, p.type, "param");
  for (const n of g.nodes) add(n.id, n.type, "node");

  // Classes that end at each step (not pinned), with their members.
  const endsAt = new Map<number, number[]>();
  classes.forEach((c, k) => {
    if (c.pinned) return;
    const last = problem.buffers[k].upper - 1;
    endsAt.set(last, [...(endsAt.get(last) ?? []), k]);
  });
  const classStart = (v: string) => problem.buffers[bufferOf.get(v)!].lower;

  const kernels: DebugKernel[] = kernelNodes.map((i) => {
    const n = g.nodes[i];
    const ws = plan.workspaces && Object.hasOwn(plan.workspaces, n.id) ? spanOf(plan.workspaces[n.id]) : null;
    return [n.id, n.op, i, index.get(n.id)!, ws, n.loc ? `${n.loc.file}:${n.loc.line}:${n.loc.col}` : null];
  });
  const sized = (names: readonly string[]) => names.filter((v) => values[index.get(v)!][3] > 0).map((v) => index.get(v)!);

  const events: DebugEvent[] = [{ start: sized([...g.inputs.map((i) => i.name), ...g.params.map((p) => p.name)]) }];
  let step = 0; // the first node step whose releases are still to be placed
  // Releases of steps [.., through], flushed into the next event.
  const release = (event: DebugEvent, through: number) => {
    const spans: Span[] = [];
    const dead: number[] = [];
    for (; step <= through; step++) {
      for (const k of endsAt.get(step) ?? []) {
        const slot = spanOf(plan.slots[classes[k].root]);
        if (slot[1] > 0) spans.push(slot);
        dead.push(...sized(classes[k].members));
      }
    }
    if (spans.length > 0) event.release = [...(event.release ?? []), ...spans];
    if (dead.length > 0) event.dead = dead;
  };
  // The kernel `k` is next: its operands are read, its fresh result slot and workspace written.
  const before = (event: DebugEvent, k: number) => {
    const [, , i, output, ws] = kernels[k];
    const n = g.nodes[i];
    release(event, i - 1);
    event.before = k;
    event.read = sized([...new Set(n.inputs)]);
    const fresh: [number, number, number][] = [];
    const slot = spanOf(plan.slots[n.id]);
    if (classStart(n.id) === i && slot[1] > 0) fresh.push([slot[0], slot[1], output]);
    if (ws) fresh.push([ws[0], ws[1], -1]);
    if (fresh.length > 0) event.fresh = fresh;
  };
  // No kernel is next: the end-of-step copies read the update values.
  const beforeCopies = (event: DebugEvent) => {
    release(event, g.nodes.length - 1);
    event.read = sized([...new Set(g.updates.map((u) => u.value))]);
  };

  if (kernels.length > 0) before(events[0], 0);
  else beforeCopies(events[0]);
  kernels.forEach(([, , , , ws], k) => {
    const event: DebugEvent = { after: k, ...(ws ? { release: [ws] } : {}) };
    if (k + 1 < kernels.length) before(event, k + 1);
    else beforeCopies(event);
    events.push(event);
  });

  // After the copies: what the app reads or the next step needs must be intact; all else poison.
  const updated = new Set(g.updates.map((u) => u.param));
  const liveAtEnd: Span[] = [...kept];
  classes.forEach((c, k) => {
    if (c.pinned) liveAtEnd.push(spanOf(plan.slots[c.root]));
  });
  events.push({
    read: sized([...new Set([...g.outputs.map((o) => o.value), ...g.inputs.map((i) => i.name), ...g.params.map((p) => p.name).filter((p) => !updated.has(p))])]),
    sweep: complement(union(liveAtEnd), memoryBytes),
  });
  return { name: exportName, values, kernels, events };
}

function spanOf(slot: { readonly offset: number; readonly size: number }): Span {
  return [slot.offset, slot.size];
}

/** Sorted, merged spans. */
function union(spans: readonly Span[]): Span[] {
  const sorted = spans.filter((s) => s[1] > 0).map((s) => [s[0], s[0] + s[1]] as [number, number]).sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const [start, end] of sorted) {
    const last = out[out.length - 1];
    if (last && start <= last[1]) last[1] = Math.max(last[1], end);
    else out.push([start, end]);
  }
  return out.map(([start, end]) => [start, end - start]);
}

/** The bytes of [0, total) outside the sorted, merged `spans`. */
function complement(spans: readonly Span[], total: number): Span[] {
  const out: Span[] = [];
  let at = 0;
  for (const [offset, bytes] of spans) {
    if (offset > at) out.push([at, offset - at]);
    at = Math.max(at, offset + bytes);
  }
  if (at < total) out.push([at, total - at]);
  return out;
}
