// The memory half of the IR verifier (verifier.ts calls it): checks that in-place decisions and an
// arena plan recorded on a graph are sound, trusting neither the passes that made them nor the
// text they were parsed from.
//
// - In-place: the reused operand is one of the node's operands and the op may reuse it (same
//   element count and width, see aliasing.ts); replaying the schedule, no value is read
//   after its buffer was overwritten (outputs and updates read at the end of the step), nothing
//   writes into an input, and a param whose buffer is written ends the step holding its update.
// - Plan: every value has a slot whose size is its type's bytes rounded up to the alignment;
//   offsets are aligned; values share a slot exactly when they share an alias class; and, through
//   the planner's verifier, no two buffers live at the same time overlap and the arena is their end.
//   Node workspaces (memory.workspaces) join that check as buffers live during their node's step,
//   sized as the plan says: the plan is trusted for how much scratch a kernel needs (the backend
//   checks that when it emits), not for where it may put it.
//
// It shares the memory passes' definitions (aliasing.ts, liveness.ts, plan-verify.ts, all in
// compiler/ir), so there is one source of truth for them; compiler/passes/memory-verify.ts
// re-exports it.

import { aliasClasses, mayReuseOperand, isPureAlias, type AliasClasses } from "./aliasing.ts";
import { valueTypes, type Graph, type Node } from "./graph.ts";
import { bufferBytes, memoryProblem } from "./liveness.ts";
import { verifyPlan } from "./plan-verify.ts";
import { formatType, type TensorType } from "./types.ts";

/** Every memory problem of `g`; empty when its in-place decisions and plan are sound. */
export function memoryProblems(g: Graph): string[] {
  if (!g.memory && !g.nodes.some((n) => n.inplace !== undefined)) return [];
  const types = valueTypes(g);
  const problems = inplaceOperandProblems(g, types);
  if (problems.length > 0) return problems;
  const classes = aliasClasses(g);
  problems.push(...overwriteProblems(g, classes));
  if (g.memory) problems.push(...planProblems(g, types, classes));
  return problems;
}

function inplaceOperandProblems(g: Graph, types: ReadonlyMap<string, TensorType>): string[] {
  const problems: string[] = [];
  for (const n of g.nodes) {
    if (n.inplace === undefined) continue;
    const what = `node %${n.id} (${n.op})`;
    const indices = n.inputs.flatMap((v, i) => (v === n.inplace ? [i] : []));
    if (indices.length === 0) {
      problems.push(`${what}: inplace(%${n.inplace}) names a value that is not its operand`);
      continue;
    }
    const type = types.get(n.inplace);
    if (type && !indices.some((i) => mayReuseOperand(n, i, type))) {
      problems.push(`${what}: ${n.op} cannot write its ${formatType(n.type)} result into %${n.inplace}: ${formatType(type)}`);
    }
  }
  return problems;
}

/** Replays the schedule with a version per buffer: a write makes every older view of it stale. */
function overwriteProblems(g: Graph, { rootOf }: AliasClasses): string[] {
  if (!g.nodes.some((n) => n.inplace !== undefined)) return [];
  const problems: string[] = [];
  const current = new Map<string, number>(); // by class root
  const writer = new Map<string, string>(); // last node that wrote each class
  const versionOf = new Map<string, number>(); // of each value
  /** Whether `v`'s buffer was overwritten since `v` was written (its reader is then reported). */
  const stale = (v: string): boolean => {
    const root = rootOf.get(v);
    return root !== undefined && versionOf.get(v) !== current.get(root);
  };
  const read = (v: string, reader: string) => {
    if (stale(v)) problems.push(`${reader} reads %${v}, but node %${writer.get(rootOf.get(v)!)} overwrote its buffer in place before`);
  };
  for (const v of [...g.inputs.map((i) => i.name), ...g.params.map((p) => p.name)]) {
    current.set(v, 0);
    versionOf.set(v, 0);
  }
  for (const n of g.nodes) {
    // Each operand once (a value read twice is one read); no set per node.
    n.inputs.forEach((v, k) => {
      if (n.inputs.indexOf(v) === k && stale(v)) read(v, `node %${n.id} (${n.op})`);
    });
    const root = rootOf.get(n.id)!;
    if (n.inplace === undefined || root === n.id) {
      current.set(n.id, 0);
      versionOf.set(n.id, 0);
    } else if (isPureAlias(n.op)) {
      versionOf.set(n.id, versionOf.get(n.inplace)!);
    } else {
      current.set(root, current.get(root)! + 1);
      versionOf.set(n.id, current.get(root)!);
      writer.set(root, n.id);
    }
  }
  for (const o of g.outputs) read(o.value, `output '${o.name}'`);
  for (const u of g.updates) read(u.value, `update %${u.param}`);
  for (const i of g.inputs) {
    if (current.get(i.name)! > 0) problems.push(`node %${writer.get(i.name)} writes into the buffer of input %${i.name}`);
  }
  for (const p of g.params) {
    if (current.get(p.name)! === 0) continue;
    const u = g.updates.find((x) => x.param === p.name);
    const holdsUpdate = u !== undefined && rootOf.get(u.value) === p.name && versionOf.get(u.value) === current.get(p.name);
    if (!holdsUpdate) {
      problems.push(`node %${writer.get(p.name)} overwrites %${p.name} in place, but %${p.name}'s buffer does not end the step holding its update`);
    }
  }
  return problems;
}

function planProblems(g: Graph, types: ReadonlyMap<string, TensorType>, aliasing: AliasClasses): string[] {
  const { rootOf } = aliasing;
  const { arena, alignment, slots, workspaces = {} } = g.memory!;
  if (!Number.isInteger(alignment) || alignment < 1) return [`memory: the alignment must be a positive integer, got ${alignment}`];
  if (!Number.isSafeInteger(arena) || arena < 0) return [`memory: the arena must be a non-negative integer, got ${arena}`];
  const problems: string[] = [];
  for (const name of Object.keys(slots)) {
    if (!types.has(name)) problems.push(`memory: a slot is given for unknown value %${name}`);
  }
  for (const [v, type] of types) {
    const slot = slots[v];
    if (!slot) {
      problems.push(`%${v} has no arena slot`);
      continue;
    }
    const want = bufferBytes(type, alignment);
    if (slot.size !== want) problems.push(`%${v}: ${formatType(type)} needs a ${want}-byte slot, got ${slot.size}`);
    const root = rootOf.get(v)!;
    const rootSlot = slots[root];
    if (root !== v && rootSlot && rootSlot.offset !== slot.offset) {
      problems.push(`%${v} shares %${root}'s buffer (in place) but its slot is at ${slot.offset}, not ${rootSlot.offset}`);
    }
  }
  const nodeIds = new Set(g.nodes.map((n) => n.id));
  for (const [id, slot] of Object.entries(workspaces)) {
    if (!nodeIds.has(id)) problems.push(`memory: a workspace is given for %${id}, which is not a node`);
    else if (!Number.isSafeInteger(slot.size) || slot.size <= 0 || slot.size % alignment !== 0) {
      problems.push(`memory: the workspace of %${id} must be a positive multiple of ${alignment} bytes, got ${slot.size}`);
    }
  }
  if (problems.length > 0) return problems;
  // One buffer per alias class at its root's offset, then the workspaces; the planner's verifier
  // finds overlaps.
  const workspaceBytes = (n: Node) => (Object.hasOwn(workspaces, n.id) ? workspaces[n.id].size : 0);
  const { problem, classes, workspaces: scratch } = memoryProblem(g, alignment, workspaceBytes, { classes: aliasing, types });
  const offsets = [...classes.map((c) => slots[c.root].offset), ...scratch.map((w) => workspaces[w.node].offset)];
  for (const v of verifyPlan(problem, { offsets, arena })) problems.push(`memory: ${v.message}`);
  return problems;
}
