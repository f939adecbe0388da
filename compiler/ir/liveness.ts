// liveness — when each value of a graph needs memory, and how much. An analysis, not a pass.
//
// The schedule is the node order: node i runs at step i, and a graph of T nodes runs in steps
// [0, T). A value is live over a half-open interval of steps [def, last use + 1): it is written at
// its defining step and read until its last use, inclusive (a node's operands and result are live
// together while it runs). Some values are pinned beyond their uses:
//
// - graph inputs and persistent params/state are live for the whole program [0, T): the app fills
//   inputs before the step and may run it again on the same inputs; persistent state carries over
//   to the next step;
// - outputs and the values `update` records read are live until the end [def, T): the app reads
//   outputs after the step, and updates copy their values into the params when the step ends.
//
// Values that share a buffer (an alias class: pure aliases and in-place results, see
// aliasing.ts) become ONE buffer whose interval is the union of its members' — so a value
// that becomes a param's new value in place lives where the param lives, for the whole program.
//
// A node whose kernel needs scratch memory (a workspace: GEMM packs panels, convolutions build
// column buffers) adds one more buffer, live only during its own step [i, i + 1): nodes run one at
// a time, so workspaces overlap each other freely and any value not live at that step.
//
// Sizes are dtype × numel bytes rounded up to the arena alignment (16: one WASM SIMD vector), so a
// SIMD kernel may run its last vector in full without touching a neighbour's bytes.
//
// It lives in compiler/ir because the IR verifier checks plans against it (memory-check.ts);
// compiler/passes/liveness.ts re-exports it with the measures the passes add (max-live, naive).

import { aliasClasses, type AliasClasses } from "./aliasing.ts";
import { valueTypes, type Graph, type Node } from "./graph.ts";
import { alignUp, type PlanProblem } from "./plan-problem.ts";
import { byteSize, type TensorType } from "./types.ts";

/** The arena alignment: offsets and sizes are multiples of one 128-bit SIMD vector. */
export const ARENA_ALIGNMENT = 16;

/** Bytes a value of type `t` takes in the arena. */
export function bufferBytes(t: TensorType, alignment = ARENA_ALIGNMENT): number {
  return alignUp(byteSize(t), alignment);
}

/** Why a value is live beyond its uses (see the header). */
export type PinReason = "input" | "persistent" | "output" | "update";

export interface ValueLiveness {
  /** The step that writes it; 0 for inputs and params. */
  readonly def: number;
  /** The half-open interval of steps during which its bytes must be kept. */
  readonly lower: number;
  readonly upper: number;
  readonly pinned?: PinReason;
}

export interface Liveness {
  /** Number of steps T (at least 1, so that pinned intervals are never empty). */
  readonly steps: number;
  readonly values: ReadonlyMap<string, ValueLiveness>;
}

/** The live interval of every value under the graph's node order, ignoring aliasing. */
export function liveness(g: Graph): Liveness {
  const steps = Math.max(1, g.nodes.length);
  const lastRead = new Map<string, number>();
  g.nodes.forEach((n, step) => n.inputs.forEach((v) => lastRead.set(v, step)));
  const pins = new Map<string, PinReason>();
  for (const u of g.updates) pins.set(u.value, "update");
  for (const o of g.outputs) pins.set(o.value, "output");
  for (const p of g.params) pins.set(p.name, "persistent");
  for (const i of g.inputs) pins.set(i.name, "input");

  const values = new Map<string, ValueLiveness>();
  const whole = (name: string, pinned: PinReason) => values.set(name, { def: 0, lower: 0, upper: steps, pinned });
  for (const i of g.inputs) whole(i.name, "input");
  for (const p of g.params) whole(p.name, "persistent");
  g.nodes.forEach((n, step) => {
    const pinned = pins.get(n.id);
    const upper = pinned ? steps : (lastRead.get(n.id) ?? step) + 1;
    values.set(n.id, pinned ? { def: step, lower: step, upper, pinned } : { def: step, lower: step, upper });
  });
  return { steps, values };
}

/** One buffer of the memory problem: an alias class. */
export interface ClassBuffer {
  /** The class's root value (its first member; the input or param when it holds one). */
  readonly root: string;
  readonly members: readonly string[];
  /** Whether some member is pinned (live to the end), and why (the root's reason first). */
  readonly pinned?: PinReason;
}

/** Scratch bytes the kernel of `node` needs while it runs (0: none), given its operands' types. */
export type WorkspaceBytes = (node: Node, operandTypes: readonly TensorType[]) => number;

/** A node's workspace in the memory problem. */
export interface WorkspaceBuffer {
  readonly node: string;
  /** Index into problem.buffers. */
  readonly buffer: number;
}

/** The graph's memory as a planning problem: one buffer per alias class, then the workspaces. */
export interface MemoryProblem {
  readonly problem: PlanProblem;
  /** Parallel to the first classes.length entries of problem.buffers. */
  readonly classes: readonly ClassBuffer[];
  /** The workspace buffers, which follow the classes in problem.buffers (in node order). */
  readonly workspaces: readonly WorkspaceBuffer[];
  /** Index into problem.buffers of every value's buffer. */
  readonly bufferOf: ReadonlyMap<string, number>;
  readonly liveness: Liveness;
}

/** What a caller of memoryProblem already worked out for the same graph (the verifier). */
export interface KnownFacts {
  readonly classes?: AliasClasses;
  readonly types?: ReadonlyMap<string, TensorType>;
}

/**
 * The planning problem of `g`; with `workspaceBytes`, each node that needs scratch memory adds a
 * buffer live during its step only.
 */
export function memoryProblem(g: Graph, alignment = ARENA_ALIGNMENT, workspaceBytes?: WorkspaceBytes, known: KnownFacts = {}): MemoryProblem {
  const live = liveness(g);
  const { members } = known.classes ?? aliasClasses(g);
  const types = known.types ?? valueTypes(g);

  const buffers: PlanProblem["buffers"][number][] = [];
  const classes: ClassBuffer[] = [];
  const bufferOf = new Map<string, number>();
  for (const [root, vs] of members) {
    let lower = Infinity;
    let upper = -Infinity;
    let size = 0;
    let pinned: PinReason | undefined;
    for (const v of vs) {
      const l = live.values.get(v)!;
      lower = Math.min(lower, l.lower);
      upper = Math.max(upper, l.upper);
      // Members normally have one size (the in-place rules demand it); the largest keeps a
      // malformed graph's plan safe until the verifier reports it.
      size = Math.max(size, bufferBytes(types.get(v)!, alignment));
      pinned ??= l.pinned;
      bufferOf.set(v, buffers.length);
    }
    buffers.push({ id: root, lower, upper, size });
    classes.push({ root, members: vs, ...(pinned ? { pinned } : {}) });
  }
  const workspaces: WorkspaceBuffer[] = [];
  if (workspaceBytes) {
    g.nodes.forEach((n, step) => {
      const bytes = workspaceBytes(n, n.inputs.map((v) => types.get(v)!));
      if (bytes <= 0) return;
      workspaces.push({ node: n.id, buffer: buffers.length });
      // `#` never occurs in value names, so this id cannot collide with a class root.
      buffers.push({ id: `${n.id}#workspace`, lower: step, upper: step + 1, size: alignUp(bytes, alignment) });
    });
  }
  return { problem: { buffers, alignment }, classes, workspaces, bufferOf, liveness: live };
}

