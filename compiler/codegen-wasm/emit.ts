// The module assembler: planned graphs in, one WebAssembly module out.
//
// Stages:
//   1. check   every value has an arena slot that fits, every dtype has a storage layout, and
//              no node's result partly overlaps an operand (an exact overlap, which the in-place
//              pass creates, only where passes/memory-aliasing.ts allows it: reshape/copy, and
//              elementwise ops, whose kernels read element i before writing it)
//   2. kernels one function per node, emitted by the op's kernel from kernels/index.ts with
//              every buffer offset a constant; shared helpers (exp, Philox, ...) are added once;
//              a kernel that declares a workspace gets the plan's `memory.workspaces[node.id]`.
//              Nodes whose kernel code is the same up to where their buffers sit (op,
//              attributes, types, which buffers coincide: a deep net's repeated blocks) share one
//              template function taking the offsets as arguments (WasmModule.template), so a
//              module holds a few dozen kernels however deep the net, and binaryen optimises each
//              once; a kernel one node uses stays specialised to its constants
//   3. entries one exported function per graph that calls its node functions in schedule order
//              (templates with the node's offsets), then copies each `update` value into its
//              param's slot (skipped when the planner put them in the same slot)
//
// Several graphs may share one module and one arena (train_step and apply_update): their plans
// must agree on where each param/state lives, and the memory is sized to the largest arena.
// Layout (offsets, types) goes back to the caller, who writes inputs and reads outputs through
// typed views of the exported memory.

import type { Graph, Node } from "../ir/graph.ts";
import { byteSize, formatType, numel, type TensorType } from "../ir/types.ts";
import { arenaLayouts, overlaps, region } from "../ir/arena-layout.ts";
import { kernelWorkspaceBytes, UnsupportedKernelError, type BufferRef, type KernelArgs, type KernelEmitter, type KernelTable } from "./kernel.ts";
import { kernelFor, WASM_KERNELS } from "./kernels/index.ts";
import { WasmModule, type EmitOptions } from "./module.ts";
import { debugTable, type DebugTable } from "./debug.ts";

/** A graph and the name its entry point is exported under. */
export interface WasmEntry {
  readonly graph: Graph;
  readonly exportName: string;
}

export interface EmitWasmOptions extends EmitOptions {
  /** Export name of the single graph's entry function (emitWasm only; default "forward"). */
  readonly entry?: string;
  /** Kernel table to draw from (default: every kernel of kernels/index.ts). */
  readonly kernels?: KernelTable;
  /**
   * Which kernels become templates taking their buffers' offsets (WasmModule.template): those
   * that more than one node calls with the same code ("shared", the default), every one
   * ("always"), or none, each node getting a function specialised to its offsets ("never").
   */
  readonly templates?: "shared" | "always" | "never";
  /**
   * A debug module (debug.ts): every entry calls the imported probe around each kernel, and the
   * result carries the table of checks the bundle's runtime runs. Off: the module is unchanged.
   */
  readonly debug?: boolean;
}

import type { EntryLayout, ParamLayout } from "../ir/arena-layout.ts";
export type { BufferLayout, EntryLayout, OutputLayout, ParamLayout } from "../ir/arena-layout.ts";

export interface WasmLayout {
  /** Bytes the plan needs, and the memory's actual (page-rounded) size. */
  readonly arena: number;
  readonly memoryBytes: number;
  readonly alignment: number;
  readonly params: readonly ParamLayout[];
  readonly entries: Readonly<Record<string, EntryLayout>>;
}

export interface EmittedWasm {
  readonly wasm: Uint8Array;
  readonly layout: WasmLayout;
  /** Kernel functions emitted: templates (with the nodes calling them) and functions specialised to one node. */
  readonly kernels: { readonly templates: number; readonly templateCalls: number; readonly specialised: number };
  /** With `debug`: the checks the probe runs (debug.ts). */
  readonly debug?: DebugTable;
}

/** A plan that a kernel cannot run under (missing slot, overlap, disagreeing entries). */
export class WasmPlanError extends Error {
  override name = "WasmPlanError";
}

const { planOf, slotOf, entryLayout, sharedParams, checkOperandOverlaps } = arenaLayouts((message) => new WasmPlanError(message));


/** One graph, one exported entry function (`opts.entry`, default "forward"). */
export function emitWasm(graph: Graph, opts: EmitWasmOptions = {}): EmittedWasm {
  return emitWasmEntries([{ graph, exportName: opts.entry ?? "forward" }], opts);
}

/** Several graphs over one shared arena, each exported as its own entry function. */
export function emitWasmEntries(entries: readonly WasmEntry[], opts: EmitWasmOptions = {}): EmittedWasm {
  if (entries.length === 0) throw new WasmPlanError("emitWasmEntries: no entries");
  const names = new Set<string>();
  for (const e of entries) {
    if (names.has(e.exportName)) throw new WasmPlanError(`two entries are exported as '${e.exportName}'`);
    names.add(e.exportName);
  }
  const params = sharedParams(entries.map((e) => e.graph));
  const arena = Math.max(...entries.map((e) => planOf(e.graph).arena));
  const alignment = Math.max(...entries.map((e) => planOf(e.graph).alignment));
  for (const e of entries) checkGraph(e.graph);

  const module = new WasmModule(arena);
  try {
    const defined = new Set<string>();
    const helper: KernelArgs["helper"] = (name, define) => {
      if (!defined.has(name)) {
        defined.add(name);
        define(module);
      }
      return name;
    };
    const layouts: Record<string, EntryLayout> = {};
    const sites = entries.map((e) => kernelSites(e.graph, opts.kernels ?? WASM_KERNELS));
    const uses = new Map<string, number>();
    for (const s of sites.flat()) uses.set(s.key, (uses.get(s.key) ?? 0) + 1);
    const templates = new Templates(module, helper, (key) => (opts.templates === "always" ? true : opts.templates === "never" ? false : (uses.get(key) ?? 0) > 1));
    const counts = { templates: 0, templateCalls: 0, specialised: 0 };
    entries.forEach((e, k) => {
      const c = emitEntry(module, e, sites[k], templates, helper, opts.debug ? k : undefined);
      counts.templateCalls += c.templateCalls;
      counts.specialised += c.specialised;
      layouts[e.exportName] = entryLayout(e.graph);
    });
    counts.templates = templates.count;
    const wasm = module.emit(opts);
    const debug = opts.debug ? { debug: debugTable(entries.map((e, k) => ({ ...e, kernelNodes: sites[k].map((s) => s.index) })), module.memoryBytes) } : {};
    return { wasm, layout: { arena, memoryBytes: module.memoryBytes, alignment, params, entries: layouts }, kernels: counts, ...debug };
  } finally {
    module.dispose();
  }
}

function checkGraph(g: Graph): void {
  const plan = planOf(g);
  const check = (value: string, type: TensorType) => {
    const slot = slotOf(g, value);
    const bytes = byteSize(type);
    if (slot.size < bytes || slot.offset < 0 || slot.offset + bytes > plan.arena) {
      throw new WasmPlanError(`graph '${g.name}': slot of %${value} (${formatType(type)}, ${bytes} bytes) is [${slot.offset}, +${slot.size}) in an arena of ${plan.arena}`);
    }
  };
  for (const i of g.inputs) check(i.name, i.type);
  for (const p of g.params) check(p.name, p.type);
  for (const n of g.nodes) check(n.id, n.type);
  checkOperandOverlaps(g);
}

/**
 * One node's kernel call: the kernel, its buffers, and the key of its code up to where the
 * buffers sit (op, attributes, types, which buffers coincide, workspace bytes).
 */
interface KernelSite {
  readonly index: number;
  readonly node: Node;
  readonly kernel: KernelEmitter;
  readonly inputs: readonly BufferRef[];
  readonly output: BufferRef;
  readonly workspace?: number;
  /** The distinct buffer offsets (inputs, output, workspace, first seen first) and each one's bytes. */
  readonly bases: readonly number[];
  readonly sizes: readonly number[];
  readonly key: string;
}

function kernelSites(graph: Graph, kernels: KernelTable): KernelSite[] {
  const types = new Map<string, TensorType>([...graph.inputs, ...graph.params].map((d) => [d.name, d.type]));
  const ref = (value: string): BufferRef => ({ offset: slotOf(graph, value).offset, type: types.get(value)! });
  const sites: KernelSite[] = [];
  graph.nodes.forEach((node, index) => {
    types.set(node.id, node.type);
    if (numel(node.type.shape) === 0) return; // nothing to write
    const inputs = node.inputs.map(ref);
    const operandTypes = inputs.map((i) => i.type);
    const kernel = kernelFor(node, operandTypes, kernels);
    const output = ref(node.id);
    const workspaceBytes = kernelWorkspaceBytes(kernel, node, operandTypes);
    const workspace = workspaceOf(graph, node, workspaceBytes, [...inputs, output]);
    const buffers = [...inputs.map((b) => [b.offset, byteSize(b.type)]), [output.offset, byteSize(output.type)], ...(workspace === undefined ? [] : [[workspace, workspaceBytes]])];
    const bases: number[] = [];
    const sizes: number[] = [];
    const pattern = buffers.map(([offset, bytes]) => {
      let k = bases.indexOf(offset);
      if (k < 0) {
        k = bases.push(offset) - 1;
        sizes.push(0);
      }
      sizes[k] = Math.max(sizes[k], bytes);
      return k;
    });
    // JSON.stringify([op, attrs, type, operandTypes, pattern, workspaceBytes]), with each type's
    // and attribute set's text made once per object (a value's type is every consumer's operand type).
    const key = `[${JSON.stringify(node.op)},${jsonOf(node.attrs)},${jsonOf(node.type)},[${operandTypes.map(jsonOf).join(",")}],${JSON.stringify(pattern)},${JSON.stringify(workspaceBytes)}]`;
    sites.push({ index, node, kernel, inputs, output, ...(workspace === undefined ? {} : { workspace }), bases, sizes, key });
  });
  return sites;
}

/** JSON text of immutable IR objects (types, attribute sets), made once per object. */
const jsonTexts = new WeakMap<object, string>();

function jsonOf(x: object): string {
  let text = jsonTexts.get(x);
  if (text === undefined) {
    text = JSON.stringify(x);
    jsonTexts.set(x, text);
  }
  return text;
}

/**
 * Kernel templates (WasmModule.template) by key: a kernel that more than one node calls with the
 * same code up to its buffers' offsets is emitted once, taking the offsets as arguments; the
 * others are emitted specialised to their offsets, as are kernels the template check refuses.
 */
class Templates {
  private readonly names = new Map<string, string | null>();
  count = 0;

  constructor(
    private readonly module: WasmModule,
    private readonly helper: KernelArgs["helper"],
    private readonly wanted: (key: string) => boolean,
  ) {}

  /** The template `site` calls, or undefined when it gets a function of its own. */
  of(site: KernelSite): string | undefined {
    if (!this.wanted(site.key)) return undefined;
    let name = this.names.get(site.key);
    if (name === undefined) {
      const candidate = `kernel${this.names.size}_${site.node.op}`;
      const defined = this.module.template(candidate, site.sizes, (f, bases) => {
        const at = (offset: number) => bases[site.bases.indexOf(offset)];
        const inputs = site.inputs.map((b) => ({ offset: at(b.offset), type: b.type }));
        const output = { offset: at(site.output.offset), type: site.output.type };
        const workspace = site.workspace === undefined ? {} : { workspace: at(site.workspace) };
        return site.kernel({ f, node: site.node, inputs, output, helper: this.helper, ...workspace });
      });
      name = defined ? candidate : null;
      if (defined) this.count++;
      this.names.set(site.key, name);
    }
    return name ?? undefined;
  }
}

function emitEntry(module: WasmModule, { graph, exportName }: WasmEntry, sites: readonly KernelSite[], templates: Templates, helper: KernelArgs["helper"], probe: number | undefined) {
  const calls: { name: string; args: readonly number[] }[] = [];
  let templateCalls = 0;
  for (const site of sites) {
    const template = templates.of(site);
    if (template !== undefined) {
      calls.push({ name: template, args: site.bases });
      templateCalls++;
      continue;
    }
    const { node, kernel, inputs, output, workspace } = site;
    const name = `${exportName}/${site.index}_${node.op}`;
    module.func(name, (f) => kernel({ f, node, inputs, output, helper, ...(workspace === undefined ? {} : { workspace }) }));
    calls.push({ name, args: [] });
  }
  const types = new Map<string, TensorType>([...graph.inputs, ...graph.params].map((d) => [d.name, d.type]));
  for (const n of graph.nodes) types.set(n.id, n.type);
  module.entry(exportName, calls.map((c) => ({ func: c.name, args: c.args })), updateCopies(graph, types), probe);
  return { templateCalls, specialised: calls.length - templateCalls };
}

/** The offset of `node`'s workspace when its kernel needs `bytes` of one, checked against the plan. */
function workspaceOf(g: Graph, node: Node, bytes: number, buffers: readonly BufferRef[]): number | undefined {
  if (bytes === 0) return undefined;
  const workspaces = planOf(g).workspaces;
  const slot = workspaces && Object.hasOwn(workspaces, node.id) ? workspaces[node.id] : undefined;
  const where = `graph '${g.name}': ${node.op} %${node.id} needs a ${bytes}-byte workspace`;
  if (!slot) throw new WasmPlanError(`${where} and the plan gives it none (plan with wasmWorkspaceBytes)`);
  if (slot.size < bytes || slot.offset % 16 !== 0 || slot.offset + bytes > planOf(g).arena) {
    throw new WasmPlanError(`${where}; its slot [${slot.offset}, +${slot.size}) is too small, unaligned or outside the arena`);
  }
  const scratch = region(slot.offset, bytes);
  if (buffers.some((b) => overlaps(scratch, region(b.offset, byteSize(b.type))))) {
    throw new WasmPlanError(`${where}; its slot overlaps the node's own operands or result`);
  }
  return slot.offset;
}

interface Copy {
  readonly dest: number;
  readonly src: number;
  readonly bytes: number;
  readonly param: string;
}

/**
 * The end-of-step copies `param <- value`, ordered so that no copy overwrites the source of one
 * still to come (a planner may reuse a param's slot for another update's value).
 */
function updateCopies(g: Graph, types: ReadonlyMap<string, TensorType>): Copy[] {
  let pending: Copy[] = g.updates
    .map((u) => ({ dest: slotOf(g, u.param).offset, src: slotOf(g, u.value).offset, bytes: byteSize(types.get(u.param)!), param: u.param }))
    .filter((c) => c.dest !== c.src && c.bytes > 0);
  const ordered: Copy[] = [];
  while (pending.length > 0) {
    const safe = pending.find((c) => pending.every((o) => o === c || !overlaps(region(c.dest, c.bytes), region(o.src, o.bytes))));
    if (!safe) {
      throw new WasmPlanError(`graph '${g.name}': the updates of ${pending.map((c) => `'${c.param}'`).join(", ")} overwrite each other's new values`);
    }
    ordered.push(safe);
    pending = pending.filter((c) => c !== safe);
  }
  return ordered;
}
