// The IR text printer. The format is specified in docs/IR.md; `parser.ts` is its exact inverse,
// so `printGraph(parseGraph(printGraph(g))) === printGraph(g)` for every well-formed graph.
//
// After the memory passes, a graph also shows its arena (`memory arena=N align=A`, the first body
// line), each value's slot after its type (`@arena[offset+size]`) and each in-place node's reused
// operand after its attributes (`inplace(%x)`), then the node's workspace when its kernel has one
// (`scratch@arena[offset+size]`).
//
// Printing never throws: a malformed graph (the verifier's business) still prints, so it can be
// shown in a diagnostic. Names that the format cannot carry bare are printed JSON-quoted, which
// the parser then rejects with a clear message instead of misreading them.

import type { ArenaSlot, Attrs, Graph, InputDecl, Node, ParamDecl, SourceLoc } from "./graph.ts";
import { isValidName } from "./graph.ts";
import type { AttrValue } from "./op-def.ts";
import { formatType } from "./types.ts";

export interface PrintOptions {
  /** Print `# file:line:col` comments where a location is known (default true). */
  readonly locations?: boolean;
}

/** Location comments start after this many characters when the line is short enough (readability). */
const LOCATION_COLUMN = 58;
const INDENT = "  ";

/** Graph names and output names print bare when they look like this, JSON-quoted otherwise. */
const BARE_NAME = /^[A-Za-z0-9_.\/-]+$/;
/** Initializer spellings print bare when they look like `zeros` or `normal(0.02)`. */
export const BARE_INIT = /^[A-Za-z_][A-Za-z0-9_]*(\([A-Za-z0-9_.+\-,]*\))?$/;
/** Files in locations print bare unless they hold characters that would confuse a reader. */
const BARE_FILE = /^[^\s"#]+$/;

export function printGraph(g: Graph, opts: PrintOptions = {}): string {
  const withLoc = opts.locations ?? true;
  const lines: string[] = [`graph ${printName(g.name)} {`];
  const body = (text: string, loc: SourceLoc | undefined, recomputeOf?: string) => {
    if (recomputeOf !== undefined) lines.push(withComment(INDENT + text, printRecompute(recomputeOf, withLoc ? loc : undefined)));
    else lines.push(withLoc && loc ? withLocation(INDENT + text, loc) : INDENT + text);
  };

  const slots = g.memory?.slots;
  const slotOf = (v: string) => (slots && Object.hasOwn(slots, v) ? slots[v] : undefined);
  if (g.memory) body(printMemoryHeader(g.memory.arena, g.memory.alignment), undefined);
  for (const i of g.inputs) body(printInput(i, slotOf(i.name)), i.loc);
  for (const p of g.params) body(printParam(p, slotOf(p.name)), p.loc);
  const workspaces = g.memory?.workspaces;
  const workspaceOf = (id: string) => (workspaces && Object.hasOwn(workspaces, id) ? workspaces[id] : undefined);
  for (const n of g.nodes) body(printNode(n, { slot: slotOf(n.id), workspace: workspaceOf(n.id) }), n.loc, n.recomputeOf);
  for (const o of g.outputs) body(`output ${printName(o.name)} = ${printValueRef(o.value)}`, undefined);
  for (const u of g.updates) body(`update ${printValueRef(u.param)} = ${printValueRef(u.value)}`, undefined);
  lines.push("}");
  return lines.join("\n") + "\n";
}

export function printInput(i: InputDecl, slot?: ArenaSlot): string {
  return `input ${printValueRef(i.name)}: ${formatType(i.type)}${printSlot(slot)}`;
}

export function printParam(p: ParamDecl, slot?: ArenaSlot): string {
  const init = BARE_INIT.test(p.init) ? p.init : JSON.stringify(p.init);
  return `${p.trainable ? "param" : "state"} ${printValueRef(p.name)}: ${formatType(p.type)}${printSlot(slot)} init=${init}`;
}

/** `memory arena=N align=A`: the first body line of a planned graph. */
export function printMemoryHeader(arena: number, alignment: number): string {
  return `memory arena=${printNumber(arena)} align=${printNumber(alignment)}`;
}

/** ` @arena[offset+size]`, or "" for a value without a slot. */
export function printSlot(slot: ArenaSlot | undefined): string {
  return slot ? ` @arena[${printNumber(slot.offset)}+${printNumber(slot.size)}]` : "";
}

/**
 * `%id:dtype[dims] @arena[o+s] = op %a, %b {k=v, ...} inplace(%a) scratch@arena[o+s]` (the slot
 * when given, the reused operand when the node is in place, the workspace when given). With `locations`, the node's `# file:line:col`
 * follows after one space (printGraph aligns them instead).
 */
export function printNode(n: Node, opts: { locations?: boolean; slot?: ArenaSlot; workspace?: ArenaSlot } = {}): string {
  let text = `${printValueRef(n.id)}:${formatType(n.type)}${printSlot(opts.slot)} = ${n.op}`;
  if (n.inputs.length > 0) text += " " + n.inputs.map(printValueRef).join(", ");
  const attrs = printAttrs(n.attrs);
  if (attrs) text += " " + attrs;
  if (n.inplace !== undefined) text += ` inplace(${printValueRef(n.inplace)})`;
  if (opts.workspace) text += ` scratch${printSlot(opts.workspace).trimStart()}`;
  if (opts.locations && n.loc) text += " " + printLocation(n.loc);
  return text;
}

/** `%name`; a name the format cannot carry is shown JSON-quoted (and will not parse). */
export function printValueRef(name: string): string {
  return isValidName(name) ? `%${name}` : `%${JSON.stringify(name)}`;
}

/** `{k=v, ...}` in the attribute object's key order, or "" when there are none. */
export function printAttrs(attrs: Attrs): string {
  const keys = Object.keys(attrs);
  if (keys.length === 0) return "";
  return `{${keys.map((k) => `${k}=${printAttrValue(attrs[k])}`).join(", ")}}`;
}

export function printAttrValue(v: AttrValue): string {
  if (v === null) return "null";
  if (typeof v === "number") return printNumber(v);
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "boolean") return String(v);
  return `[${v.map(printNumber).join(",")}]`;
}

/** `String(n)` round-trips every finite double except -0, which it prints as `0`. */
export function printNumber(n: number): string {
  if (Number.isNaN(n)) return "nan";
  if (n === Infinity) return "inf";
  if (n === -Infinity) return "-inf";
  if (Object.is(n, -0)) return "-0";
  return String(n);
}

export function printLocation(loc: SourceLoc): string {
  const file = BARE_FILE.test(loc.file) ? loc.file : JSON.stringify(loc.file);
  return `# ${file}:${loc.line}:${loc.col}`;
}

function printName(name: string): string {
  return BARE_NAME.test(name) ? name : JSON.stringify(name);
}

function withLocation(line: string, loc: SourceLoc): string {
  return withComment(line, printLocation(loc));
}

function withComment(line: string, comment: string): string {
  return line.padEnd(Math.max(LOCATION_COLUMN, line.length + 3)) + comment;
}

/** `# recompute of %id`, with ` @ file:line:col` when the node has a location to show. */
export function printRecompute(of: string, loc: SourceLoc | undefined): string {
  return `# recompute of ${printValueRef(of)}` + (loc ? ` @ ${printLocation(loc).slice(2)}` : "");
}
