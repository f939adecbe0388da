// Building graphs node by node. The builder runs each op's shape rule as the node is added, so a
// graph built through it is well-typed by construction; the frontend and every pass use it.

import type { Graph, InputDecl, Node, ParamDecl, SourceLoc, StateUpdate, GraphOutput } from "./graph.ts";
import { completeAttrs, operandCount, type AttrValue } from "./op-def.ts";
import { getOp } from "./ops.ts";
import { ShapeError, type TensorType } from "./types.ts";

export class GraphBuilder {
  readonly inputs: InputDecl[] = [];
  readonly params: ParamDecl[] = [];
  readonly nodes: Node[] = [];
  readonly outputs: GraphOutput[] = [];
  readonly updates: StateUpdate[] = [];
  private readonly types = new Map<string, TensorType>();
  /** Each node's index in `nodes`, and how many node operands read each value (so rename and isUsed need no scan). */
  private readonly position = new Map<string, number>();
  private readonly reads = new Map<string, number>();
  private nextId = 0;
  /** Location given to nodes added without one (autodiff sets it to the forward node's). */
  defaultLoc: SourceLoc | undefined;

  constructor(public name: string) {}

  /** Starts from an existing graph (passes extend graphs this way). */
  static from(g: Graph): GraphBuilder {
    const b = new GraphBuilder(g.name);
    for (const i of g.inputs) b.addInput(i);
    for (const p of g.params) b.addParam(p);
    for (const n of g.nodes) b.addNode(n);
    b.outputs.push(...g.outputs);
    b.updates.push(...g.updates);
    return b;
  }

  typeOf(value: string): TensorType {
    const t = this.types.get(value);
    if (!t) throw new ShapeError(`unknown value %${value}`);
    return t;
  }

  has(value: string): boolean {
    return this.types.has(value);
  }

  addInput(decl: InputDecl): string {
    this.define(decl.name, decl.type);
    this.inputs.push(decl);
    return decl.name;
  }

  addParam(decl: ParamDecl): string {
    this.define(decl.name, decl.type);
    this.params.push(decl);
    return decl.name;
  }

  /**
   * Appends `op(inputs){attrs}`; runs the shape rule (ShapeError on misuse) and returns the new
   * value's name. `id` defaults to the next free integer.
   */
  op(op: string, inputs: readonly string[], attrs: Record<string, AttrValue | undefined> = {}, loc?: SourceLoc, id?: string): string {
    const def = getOp(op);
    const { min, max } = operandCount(def);
    if (inputs.length < min || inputs.length > max) {
      const want = min === max ? `${min}` : `at least ${min}`;
      throw new ShapeError(`${op} takes ${want} operand${min === 1 && max === 1 ? "" : "s"}, got ${inputs.length}`);
    }
    const full = completeAttrs(def, attrs);
    const type = def.infer(inputs.map((v) => this.typeOf(v)), full);
    const at = loc ?? this.defaultLoc;
    const node: Node = { id: id ?? this.freshId(), op, inputs: [...inputs], attrs: full, type, ...(at ? { loc: at } : {}) };
    this.addNode(node);
    return node.id;
  }

  /**
   * Gives the node that defines `from` the name `to`. Only for a node nothing refers to yet (no
   * operand, output or update), so no reference can be left dangling.
   */
  rename(from: string, to: string): void {
    const i = this.position.get(from);
    if (i === undefined || this.nodes[i]?.id !== from) throw new ShapeError(`rename: %${from} is not a node`);
    if (this.isUsed(from)) throw new ShapeError(`rename: %${from} is already used`);
    if (this.types.has(to)) throw new ShapeError(`value %${to} is defined twice`);
    this.types.set(to, this.types.get(from)!);
    this.types.delete(from);
    this.nodes[i] = { ...this.nodes[i], id: to };
    this.position.delete(from);
    this.position.set(to, i);
  }

  /** Whether a node of the graph so far defines `value`. */
  isNode(value: string): boolean {
    return this.position.has(value);
  }

  /** Whether anything (node operand, output, update) refers to `value` so far. */
  isUsed(value: string): boolean {
    return (this.reads.get(value) ?? 0) > 0 || this.outputs.some((o) => o.value === value) || this.updates.some((u) => u.value === value);
  }

  output(name: string, value: string): void {
    this.typeOf(value);
    if (this.outputs.some((o) => o.name === name)) throw new ShapeError(`output '${name}' is defined twice`);
    this.outputs.push({ name, value });
  }

  update(param: string, value: string): void {
    this.updates.push({ param, value });
  }

  build(): Graph {
    return {
      name: this.name,
      inputs: [...this.inputs],
      params: [...this.params],
      nodes: [...this.nodes],
      outputs: [...this.outputs],
      updates: [...this.updates],
    };
  }

  private addNode(n: Node): void {
    this.define(n.id, n.type);
    this.position.set(n.id, this.nodes.length);
    this.nodes.push(n);
    for (const v of n.inputs) this.reads.set(v, (this.reads.get(v) ?? 0) + 1);
  }

  private define(name: string, type: TensorType): void {
    if (this.types.has(name)) throw new ShapeError(`value %${name} is defined twice`);
    this.types.set(name, type);
    if (/^\d+$/.test(name)) this.nextId = Math.max(this.nextId, Number(name) + 1);
  }

  private freshId(): string {
    while (this.types.has(String(this.nextId))) this.nextId++;
    return String(this.nextId++);
  }
}
