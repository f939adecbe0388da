// The IR text parser, the exact inverse of `printer.ts` (format in docs/IR.md):
// `printGraph(parseGraph(printGraph(g))) === printGraph(g)`.
//
// Nodes are rebuilt through GraphBuilder, so every op's shape rule runs again and a node's
// printed type must equal the type its op infers. Two conveniences for hand-written IR (pass
// tests are written in it) go beyond what the printer emits: a node may omit its `:type`
// (it is then inferred), and its attribute braces may leave out attributes that have defaults.
// Blank lines and `#` comment lines are ignored; a trailing comment of the form
// `# file:line:col` is the source location of the line's declaration or node, and one of the form
// `# recompute of %x [@ file:line:col]` marks a node the checkpoint pass added (Node.recomputeOf).
//
// Planned graphs also carry `memory arena=N align=A` (first body line), `@arena[offset+size]`
// slots after types, `inplace(%x)` after a node's attributes and `scratch@arena[offset+size]` (its
// workspace) after that; the parser reads them back as
// written and leaves their soundness to the verifier (passes/memory-verify.ts).

import { GraphBuilder } from "./builder.ts";
import type { ArenaSlot, Graph, MemoryPlan, Node, SourceLoc } from "./graph.ts";
import { completeAttrs, type AttrValue, type OpDef } from "./op-def.ts";
import { OPS } from "./ops.ts";
import { BARE_INIT } from "./printer.ts";
import { IRParseError, LineScanner } from "./text-scanner.ts";
import { formatType, isDType, sameType, ShapeError, type DType, type TensorType } from "./types.ts";

export { IRParseError } from "./text-scanner.ts";

export function parseGraph(text: string, file = "<ir>"): Graph {
  const lines = text.split(/\r?\n/);
  let lineIndex = 0;
  /** The next line holding something other than blanks and comments. */
  const nextLine = (): LineScanner | undefined => {
    while (lineIndex < lines.length) {
      const s = new LineScanner(lines[lineIndex], lineIndex + 1, file);
      lineIndex++;
      if (!s.atEnd()) return s;
    }
    return undefined;
  };

  const header = nextLine();
  if (!header) throw new IRParseError("expected 'graph NAME {', found no graph", file, 1, 1);
  const body = new GraphBodyParser(parseHeader(header));
  for (;;) {
    const s = nextLine();
    if (!s) {
      throw new IRParseError(`graph '${body.b.name}' is not closed: expected '}'`, file, lines.length, 1, lines[lines.length - 1]);
    }
    if (s.eat("}")) {
      s.endOfLine("after '}'");
      break;
    }
    body.line(s);
  }
  const trailing = nextLine();
  if (trailing) throw trailing.error("unexpected text after the end of the graph (one graph per text)");
  return body.finish();
}

function parseHeader(s: LineScanner): string {
  const col = s.col;
  if (s.tryWord() !== "graph") throw s.error("expected 'graph NAME {'", col);
  const name = s.name("a graph name", true);
  s.expect("{", "after the graph name");
  s.endOfLine("after 'graph NAME {'");
  return name;
}

/** Parses the lines between `graph NAME {` and `}` into a GraphBuilder. */
class GraphBodyParser {
  readonly b: GraphBuilder;
  private readonly updated = new Set<string>();
  private lines = 0;
  private memory: { arena: number; alignment: number } | undefined;
  private readonly slots: Record<string, ArenaSlot> = Object.create(null);
  /** Scratch slot of each node that has one. */
  private readonly workspaces: Record<string, ArenaSlot> = Object.create(null);
  /** Reused operand of each in-place node. */
  private readonly inplace = new Map<string, string>();
  private readonly recomputes = new Map<string, string>();

  constructor(name: string) {
    this.b = new GraphBuilder(name);
  }

  /** The graph, with its in-place decisions and memory plan when the text has them. */
  finish(): Graph {
    const g = this.b.build();
    const nodes = g.nodes.map((n): Node => {
      const withInplace = this.inplace.has(n.id) ? { ...n, inplace: this.inplace.get(n.id)! } : n;
      return this.recomputes.has(n.id) ? { ...withInplace, recomputeOf: this.recomputes.get(n.id)! } : withInplace;
    });
    const workspaces = Object.keys(this.workspaces).length > 0 ? { workspaces: this.workspaces } : {};
    const memory: MemoryPlan | undefined = this.memory && { ...this.memory, slots: this.slots, ...workspaces };
    return { ...g, nodes, ...(memory ? { memory } : {}) };
  }

  line(s: LineScanner): void {
    this.lines++;
    if (s.peek() === "%") return this.node(s);
    const col = s.col;
    const keyword = s.tryWord();
    switch (keyword) {
      case "memory": return this.memoryHeader(s, col);
      case "input": return this.input(s);
      case "param": return this.param(s, true);
      case "state": return this.param(s, false);
      case "output": return this.output(s);
      case "update": return this.update(s);
    }
    throw s.error(
      `expected a node '%id:type = op ...' or one of input, param, state, output, update, memory, '}', found ${
        keyword === undefined ? s.describeNext() : `'${keyword}'`}`,
      col,
    );
  }

  /** `memory arena=N align=A`. */
  private memoryHeader(s: LineScanner, col: number): void {
    if (this.lines !== 1) throw s.error("'memory arena=N align=A' must be the first line of the graph body", col);
    const field = (key: string, what: string) => {
      const keyCol = s.col;
      if (s.tryWord() !== key) throw s.error(`expected '${key}=' ${what}`, keyCol);
      s.expect("=", `after '${key}'`);
      return s.integer(`the ${key} in bytes (a non-negative integer)`);
    };
    const arena = field("arena", "after 'memory'");
    const alignment = field("align", "after the arena size");
    s.endOfLine("after the memory line");
    this.memory = { arena, alignment };
  }

  /** An optional ` @arena[offset+size]` after a value's type. */
  private slot(s: LineScanner, value: string): void {
    if (s.peek() !== "@") return;
    this.slots[value] = this.arenaSlot(s, s.col);
  }

  /** `@arena[offset+size]` (the scanner at its `@`), which needs the memory line first. */
  private arenaSlot(s: LineScanner, col: number): ArenaSlot {
    if (!this.memory) throw s.error("an arena slot needs the line 'memory arena=N align=A' first in the graph body", col);
    if (!s.eat("@") || s.tryWord() !== "arena") throw s.error("expected '@arena[offset+size]'", col);
    s.expect("[", "after '@arena'");
    const offset = s.integer("the slot's offset (a non-negative integer)");
    s.expect("+", "between the slot's offset and size");
    const size = s.integer("the slot's size (a non-negative integer)");
    s.expect("]", "to close the slot");
    return { offset, size };
  }

  /** An optional `scratch@arena[offset+size]` after `inplace(...)`: the node's workspace. */
  private workspace(s: LineScanner, id: string): void {
    const save = s.pos;
    const col = s.col;
    if (s.tryWord() !== "scratch") {
      s.pos = save;
      return;
    }
    this.workspaces[id] = this.arenaSlot(s, col);
  }

  private input(s: LineScanner): void {
    const { name } = this.newValueName(s);
    s.expect(":", "after the input's name");
    const type = parseType(s);
    this.slot(s, name);
    const loc = parseLocation(s.endOfLine("after the input's type"));
    this.b.addInput({ name, type, ...(loc ? { loc } : {}) });
  }

  private param(s: LineScanner, trainable: boolean): void {
    const what = trainable ? "param" : "state";
    const { name } = this.newValueName(s);
    s.expect(":", `after the ${what}'s name`);
    const type = parseType(s);
    this.slot(s, name);
    const initCol = s.col;
    if (s.tryWord() !== "init") throw s.error(`expected 'init=...' after the ${what}'s type`, initCol);
    s.expect("=", "after 'init'");
    const spellingCol = s.col;
    const quoted = s.peek() === '"';
    const init = quoted ? s.string() : s.rawToken();
    if (!quoted && !BARE_INIT.test(init)) {
      throw s.error(`bad initializer '${init}' (write e.g. zeros, he_normal, normal(0.02), or a JSON string)`, spellingCol);
    }
    const loc = parseLocation(s.endOfLine(`after the ${what}'s initializer`));
    this.b.addParam({ name, type, init, trainable, ...(loc ? { loc } : {}) });
  }

  private node(s: LineScanner): void {
    const { name: id, col: idCol } = this.newValueName(s);
    let printed: TensorType | undefined;
    let typeCol = 0;
    if (s.eat(":")) {
      typeCol = s.col;
      printed = parseType(s);
    }
    this.slot(s, id);
    s.expect("=", `after %${id}${printed ? ":" + formatType(printed) : ""}`);
    const opCol = s.col;
    const opName = s.word("an op name");
    const def = OPS.get(opName);
    if (!def) throw s.error(`unknown op '${opName}'`, opCol);

    const operands: string[] = [];
    if (s.peek() === "%") {
      do {
        const col = s.col;
        const v = s.valueRef();
        if (!this.b.has(v)) throw s.error(`unknown value %${v}`, col);
        operands.push(v);
      } while (s.eat(","));
    }
    const hasBraces = s.peek() === "{";
    const braceCol = hasBraces ? s.col : opCol;
    const given = hasBraces ? parseAttrs(s, def) : { attrs: {}, cols: new Map<string, number>() };
    this.inplaceOperand(s, id, operands);
    this.workspace(s, id);
    const comment = s.endOfLine(`after the ${opName} node`);
    const recompute = comment && RECOMPUTE.exec(comment.text);
    if (recompute) this.recomputes.set(id, recompute[1]);
    const loc = parseLocation(recompute ? (recompute[2] === undefined ? undefined : { text: recompute[2] }) : comment);

    try {
      completeAttrs(def, given.attrs);
    } catch (e) {
      if (!(e instanceof ShapeError)) throw e;
      const key = [...given.cols.keys()].find((k) => e.message.includes(`'${k}'`));
      throw s.error(e.message, key ? given.cols.get(key) : braceCol);
    }
    try {
      this.b.op(opName, operands, given.attrs, loc, id);
    } catch (e) {
      if (!(e instanceof ShapeError)) throw e;
      throw s.error(e.message, opCol);
    }
    const inferred = this.b.typeOf(id);
    if (printed && !sameType(printed, inferred)) {
      throw s.error(
        `type mismatch: %${id} is printed as ${formatType(printed)} but ${opName} infers ${formatType(inferred)}`,
        typeCol || idCol,
      );
    }
  }

  /** An optional `inplace(%x)` after the attributes; x must be one of the node's operands. */
  private inplaceOperand(s: LineScanner, id: string, operands: readonly string[]): void {
    const save = s.pos;
    if (s.tryWord() !== "inplace") {
      s.pos = save;
      return;
    }
    s.expect("(", "after 'inplace'");
    const operandCol = s.col;
    const operand = s.valueRef("the reused operand (%name)");
    if (!operands.includes(operand)) throw s.error(`inplace(%${operand}): %${operand} is not an operand of %${id}`, operandCol);
    s.expect(")", "to close inplace(...)");
    this.inplace.set(id, operand);
  }

  private output(s: LineScanner): void {
    const nameCol = s.col;
    const name = s.name("an output name", false);
    if (this.b.outputs.some((o) => o.name === name)) throw s.error(`output '${name}' is defined twice`, nameCol);
    s.expect("=", "after the output's name");
    const value = this.existingValue(s);
    s.endOfLine("after the output");
    this.b.output(name, value);
  }

  private update(s: LineScanner): void {
    const targetCol = s.col;
    const param = s.valueRef("the updated param (%name)");
    const decl = this.b.params.find((p) => p.name === param);
    if (!decl) {
      throw s.error(
        this.b.has(param) ? `update target %${param} is not a param or state` : `unknown param %${param}`,
        targetCol,
      );
    }
    if (this.updated.has(param)) throw s.error(`%${param} is updated twice`, targetCol);
    s.expect("=", "after the updated param");
    const valueCol = s.col;
    const value = this.existingValue(s);
    const type = this.b.typeOf(value);
    if (!sameType(type, decl.type)) {
      throw s.error(`update of %${param}: ${formatType(decl.type)} cannot take %${value}: ${formatType(type)}`, valueCol);
    }
    s.endOfLine("after the update");
    this.updated.add(param);
    this.b.update(param, value);
  }

  private newValueName(s: LineScanner): { name: string; col: number } {
    const col = s.col;
    const name = s.valueRef();
    if (this.b.has(name)) throw s.error(`value %${name} is defined twice`, col);
    return { name, col };
  }

  private existingValue(s: LineScanner): string {
    const col = s.col;
    const v = s.valueRef();
    if (!this.b.has(v)) throw s.error(`unknown value %${v}`, col);
    return v;
  }
}

/** `f32[64,256]`, `i32[]`. */
function parseType(s: LineScanner): TensorType {
  const col = s.col;
  const dtype = s.word("a dtype such as f32");
  if (!isDType(dtype)) throw s.error(`unknown dtype '${dtype}'`, col);
  s.expect("[", `after the dtype ${dtype}`);
  const shape: number[] = [];
  if (!s.eat("]")) {
    do shape.push(s.integer("a dimension (a non-negative integer)"));
    while (s.eat(","));
    s.expect("]", "to close the shape");
  }
  return { dtype: dtype as DType, shape };
}

/** `{k=v, ...}`; keys are checked against the op's schema, values against nothing yet. */
function parseAttrs(s: LineScanner, def: OpDef): { attrs: Record<string, AttrValue>; cols: Map<string, number> } {
  const attrs: Record<string, AttrValue> = {};
  const cols = new Map<string, number>();
  s.expect("{", "to open the attributes");
  if (s.eat("}")) return { attrs, cols };
  do {
    const col = s.col;
    const key = s.word("an attribute name");
    if (!Object.hasOwn(def.attrs, key)) {
      const known = Object.keys(def.attrs);
      throw s.error(`unknown attribute '${key}' of ${def.name}` + (known.length ? ` (known: ${known.join(", ")})` : " (it takes none)"), col);
    }
    if (cols.has(key)) throw s.error(`attribute '${key}' is given twice`, col);
    s.expect("=", `after the attribute name '${key}'`);
    cols.set(key, s.col);
    attrs[key] = parseAttrValue(s);
  } while (s.eat(","));
  s.expect("}", "to close the attributes");
  return { attrs, cols };
}

function parseAttrValue(s: LineScanner): AttrValue {
  const c = s.peek();
  if (c === '"') return s.string();
  if (c === "[") {
    s.eat("[");
    const items: number[] = [];
    if (!s.eat("]")) {
      do items.push(s.number("a number in the list"));
      while (s.eat(","));
      s.expect("]", "to close the list");
    }
    return items;
  }
  const save = s.pos;
  const w = s.tryWord();
  if (w === "true") return true;
  if (w === "false") return false;
  if (w === "null") return null;
  s.pos = save;
  return s.number("an attribute value (number, string, true/false, null or [list])");
}

const BARE_LOCATION = /^([^\s"]+):(\d+):(\d+)$/;
/** `recompute of %id` with an optional ` @ file:line:col`: a node the checkpoint pass added. */
const RECOMPUTE = /^recompute of %([A-Za-z0-9_./-]+)(?: @ (.*))?$/;
const QUOTED_LOCATION = /^("(?:[^"\\]|\\.)*"):(\d+):(\d+)$/;

/** A trailing comment that reads `file:line:col` is a location; any other comment is ignored. */
function parseLocation(comment: { text: string } | undefined): SourceLoc | undefined {
  if (!comment) return undefined;
  const m = BARE_LOCATION.exec(comment.text) ?? QUOTED_LOCATION.exec(comment.text);
  if (!m) return undefined;
  const file = m[1].startsWith('"') ? (JSON.parse(m[1]) as string) : m[1];
  return { file, line: Number(m[2]), col: Number(m[3]) };
}
