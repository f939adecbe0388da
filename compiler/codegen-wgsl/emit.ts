// The WGSL emitter: planned graphs in, compute passes out (no device needed; runner.ts runs them).
//
// Stages:
//   1. check   every value has an arena slot that fits and is word-aligned, every dtype has a
//              layout (wgsl.ts), and no node's result partly overlaps an operand (an exact
//              overlap only where passes/memory-aliasing.ts allows it: the kernels that may run
//              in place read element i before they write it)
//   2. kernels one or more passes per node from the op's kernel in kernels/index.ts, every
//              offset a constant in the shader text; a missing kernel is an error naming the op
//   3. updates copy passes `param <- value` at the end of each entry, ordered so no copy
//              overwrites the source of one still to come (skipped when the planner put both in
//              one slot)
//
// The plan is the one the WASM backend uses (bundleProgram / planEntries, or naivePlanAll in
// tests), so both backends share one arena layout and one weights file. The WGSL kernels need no
// workspace (tiles live in workgroup memory) except to stage a 16-bit result in f32
// (kernels/stage.ts): a node whose kernel declares one gets the plan's `workspaces[node.id]`.

import { valueTypes, type Graph } from "../ir/graph.ts";
import { byteSize, formatType, numel, type TensorType } from "../ir/types.ts";
import { arenaLayouts, overlaps, type EntryLayout, type ParamLayout } from "../ir/arena-layout.ts";
import { DEFAULT_TARGET, UnsupportedKernelError, type BufferRef, type WgslKernelTable, type WgslPass, type WgslTarget } from "./kernel.ts";
import { kernelFor, WGSL_KERNELS } from "./kernels/index.ts";
import { elementMap } from "./kernels/map.ts";
import { elementBytes, load } from "./wgsl.ts";

export interface WgslEntry {
  readonly graph: Graph;
  readonly exportName: string;
}

export interface EmitWgslOptions {
  readonly kernels?: WgslKernelTable;
  /** Device limits the kernels size their workgroups by (default: WebGPU's defaults). */
  readonly target?: WgslTarget;
}

export interface WgslLayout {
  /** Bytes the plan needs; the buffer is this rounded up to a multiple of 4. */
  readonly arena: number;
  readonly bufferBytes: number;
  readonly alignment: number;
  readonly params: readonly ParamLayout[];
  readonly entries: Readonly<Record<string, EntryLayout>>;
}

export interface WgslProgram {
  readonly layout: WgslLayout;
  /** Each entry's passes in dispatch order (nodes in schedule order, then the update copies). */
  readonly passes: Readonly<Record<string, readonly WgslPass[]>>;
}

export class WgslPlanError extends Error {
  override name = "WgslPlanError";
}

const { planOf, slotOf, entryLayout, sharedParams, checkOperandOverlaps } = arenaLayouts((message) => new WgslPlanError(message));

export function emitWgsl(graph: Graph, opts: EmitWgslOptions & { entry?: string } = {}): WgslProgram {
  return emitWgslEntries([{ graph, exportName: opts.entry ?? "forward" }], opts);
}

/** Several graphs over one shared arena, each an entry of its own passes. */
export function emitWgslEntries(entries: readonly WgslEntry[], opts: EmitWgslOptions = {}): WgslProgram {
  if (entries.length === 0) throw new WgslPlanError("emitWgslEntries: no entries");
  const kernels = opts.kernels ?? WGSL_KERNELS;
  const target = opts.target ?? DEFAULT_TARGET;
  const arena = Math.max(...entries.map((e) => planOf(e.graph).arena));
  const alignment = Math.max(...entries.map((e) => planOf(e.graph).alignment));
  const params = sharedParams(entries.map((e) => e.graph));
  const passes: Record<string, WgslPass[]> = {};
  const layouts: Record<string, EntryLayout> = {};
  for (const e of entries) {
    if (Object.hasOwn(passes, e.exportName)) throw new WgslPlanError(`two entries are named '${e.exportName}'`);
    checkGraph(e.graph);
    passes[e.exportName] = [...nodePasses(e.graph, kernels, target), ...updatePasses(e.graph, target)];
    layouts[e.exportName] = entryLayout(e.graph);
  }
  return { layout: { arena, bufferBytes: Math.max(4, Math.ceil(arena / 4) * 4), alignment, params, entries: layouts }, passes };
}

function checkGraph(g: Graph): void {
  const plan = planOf(g);
  if (plan.alignment % 4 !== 0) throw new WgslPlanError(`graph '${g.name}': the plan's alignment ${plan.alignment} is not a multiple of 4 bytes`);
  const t = valueTypes(g);
  const check = (value: string) => {
    const type = t.get(value)!;
    try {
      elementBytes(type.dtype);
    } catch (e) {
      throw new UnsupportedKernelError(`webgpu: %${value} is ${formatType(type)}: ${(e as Error).message}`);
    }
    const slot = slotOf(g, value);
    const bytes = byteSize(type);
    if (slot.offset % 4 !== 0 || slot.size < bytes || slot.offset + bytes > plan.arena) {
      throw new WgslPlanError(`graph '${g.name}': slot of %${value} (${formatType(type)}) is [${slot.offset}, +${slot.size}), unaligned or outside an arena of ${plan.arena}`);
    }
  };
  for (const d of [...g.inputs, ...g.params]) check(d.name);
  for (const n of g.nodes) check(n.id);
  checkOperandOverlaps(g);
}

function nodePasses(g: Graph, kernels: WgslKernelTable, target: WgslTarget): WgslPass[] {
  const t = valueTypes(g);
  const ref = (value: string): BufferRef => ({ offset: slotOf(g, value).offset, type: t.get(value)! });
  const passes: WgslPass[] = [];
  for (const node of g.nodes) {
    if (numel(node.type.shape) === 0) continue; // nothing to write
    const inputs = node.inputs.map(ref);
    const kernel = kernelFor(node, inputs.map((i) => i.type), kernels);
    const workspace = planOf(g).workspaces?.[node.id]?.offset;
    passes.push(...kernel({ node, inputs, output: ref(node.id), target, ...(workspace !== undefined ? { workspace } : {}) }));
  }
  return passes;
}

/** The end-of-entry copies `param <- value`, ordered so no copy overwrites a later one's source. */
function updatePasses(g: Graph, target: WgslTarget): WgslPass[] {
  const t = valueTypes(g);
  let pending = g.updates
    .map((u) => ({ param: u.param, type: t.get(u.param)!, dest: slotOf(g, u.param).offset, src: slotOf(g, u.value).offset }))
    .filter((c) => c.dest !== c.src && numel(c.type.shape) > 0);
  const region = (at: number, type: TensorType) => ({ start: at, end: at + byteSize(type) });
  const ordered: WgslPass[] = [];
  while (pending.length > 0) {
    const safe = pending.find((c) => pending.every((o) => o === c || !overlaps(region(c.dest, c.type), region(o.src, o.type))));
    if (!safe) throw new WgslPlanError(`graph '${g.name}': the updates of ${pending.map((c) => `'${c.param}'`).join(", ")} overwrite each other's new values`);
    const body = `  return ${load(safe.src, safe.type.dtype, "i")};`;
    ordered.push(elementMap(`update ${safe.param}`, { offset: safe.dest, type: safe.type }, { body }, target));
    pending = pending.filter((c) => c !== safe);
  }
  return ordered;
}
