// The IR verifier: checks every invariant a graph must hold, independently of how the graph was
// made. GraphBuilder enforces most of these as nodes are added, but passes also build graphs by
// copying and editing node arrays, so the verifier trusts nothing and re-derives everything:
// names, SSA (single definition, definition before use in schedule order), op records, operand
// counts, complete and well-kinded attributes, each node's type against its op's shape rule,
// initializer spellings, outputs, and end-of-step updates of persistent state; then, on a graph
// that passes all of that, in-place decisions and the arena plan (see memory-check.ts).
//
// It collects all problems rather than stopping at the first, so one run shows the whole damage.

import type { Graph, Node, ParamDecl } from "./graph.ts";
import { isValidName } from "./graph.ts";
import { parseInit, type InitSpec } from "./init.ts";
import { completeAttrs, operandCount, type OpDef } from "./op-def.ts";
import { OPS } from "./ops.ts";
import { formatType, isDType, isFloat, sameType, type TensorType } from "./types.ts";
// In-place decisions and arena plans are checked with the memory passes' own definitions of
// aliasing and liveness (which live in compiler/ir too), so there is one source of truth for them.
import { memoryProblems } from "./memory-check.ts";

export class VerifyError extends Error {
  override name = "VerifyError";
  constructor(
    readonly graph: string,
    readonly problems: readonly string[],
  ) {
    super(
      `graph '${graph}' failed verification (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n` +
        problems.map((p) => `  - ${p}`).join("\n"),
    );
  }
}

/** Graphs found sound (graphs are immutable: a pass that changes nothing returns the same object). */
const soundGraphs = new WeakSet<Graph>();

/** Throws a VerifyError listing every problem of `g`, or returns quietly. */
export function verifyGraph(g: Graph): void {
  if (soundGraphs.has(g)) return;
  const problems = graphProblems(g);
  if (problems.length > 0) throw new VerifyError(g.name, problems);
  soundGraphs.add(g);
}

/** Verifies several graphs (e.g. the forward and training graphs of one model). */
export function verifyGraphs(graphs: Iterable<Graph>): void {
  for (const g of graphs) verifyGraph(g);
}

/** Every problem of `g`, in schedule order; empty when the graph is well-formed. */
export function graphProblems(g: Graph): string[] {
  const problems: string[] = [];
  if (typeof g.name !== "string" || g.name.length === 0) problems.push("the graph has no name");

  // Everything that is defined anywhere, to tell "used too early" from "never defined" (only
  // asked when a node uses a value not defined before it).
  let anywhere: Set<string> | undefined;
  const definedAnywhere = () =>
    (anywhere ??= new Set<string>([...g.inputs.map((i) => i.name), ...g.params.map((p) => p.name), ...g.nodes.map((n) => n.id)]));
  const defined = new Map<string, TensorType>();
  // `what` names the value in a problem: built only when there is one.
  const define = (name: string, type: TensorType, what: () => string) => {
    if (!isValidName(name)) problems.push(`${what()}: invalid name ${JSON.stringify(name)} (letters, digits and _ . / - only)`);
    if (defined.has(name)) problems.push(`${what()}: value %${name} is defined twice`);
    else defined.set(name, type);
    const typeProblem = typeProblemOf(type);
    if (typeProblem) problems.push(`${what()}: ${typeProblem}`);
  };

  for (const i of g.inputs) define(i.name, i.type, () => `input %${i.name}`);
  for (const p of g.params) {
    const what = () => `${p.trainable ? "param" : "state"} %${p.name}`;
    define(p.name, p.type, what);
    const initProblem = initProblemOf(p);
    if (initProblem) problems.push(`${what()}: ${initProblem}`);
  }
  // A recompute may be scheduled anywhere relative to its original (they share no data).
  let nodeById: Map<string, Node> | undefined;
  for (const n of g.nodes) {
    const nodeProblemList = nodeProblems(n, defined, definedAnywhere);
    if (nodeProblemList.length > 0) problems.push(...nodeProblemList);
    if (n.recomputeOf !== undefined) {
      nodeById ??= new Map(g.nodes.map((m) => [m.id, m] as const));
      problems.push(...recomputeProblems(n, nodeById.get(n.recomputeOf)));
    }
    define(n.id, n.type, () => describeNode(n));
  }

  const outputNames = new Set<string>();
  for (const o of g.outputs) {
    const what = `output '${o.name}'`;
    if (!isValidName(o.name)) problems.push(`${what}: invalid name (letters, digits and _ . / - only)`);
    if (outputNames.has(o.name)) problems.push(`${what} is defined twice`);
    outputNames.add(o.name);
    if (!defined.has(o.value)) problems.push(`${what}: unknown value %${o.value}`);
  }

  const paramTypes = new Map(g.params.map((p) => [p.name, p.type] as const));
  const updated = new Set<string>();
  for (const u of g.updates) {
    const what = `update %${u.param}`;
    const target = paramTypes.get(u.param);
    if (!target) {
      problems.push(defined.has(u.param) ? `${what}: %${u.param} is not a param or state` : `${what}: unknown param %${u.param}`);
    }
    if (updated.has(u.param)) problems.push(`${what}: the param is updated more than once`);
    updated.add(u.param);
    const valueType = defined.get(u.value);
    if (!valueType) problems.push(`${what}: unknown value %${u.value}`);
    else if (target && !sameType(target, valueType)) {
      problems.push(`${what}: the param is ${formatType(target)} but %${u.value} is ${formatType(valueType)}`);
    }
  }
  if (problems.length === 0) problems.push(...memoryProblems(g));
  return problems;
}

/**
 * What nodes found sound were checked against, by their attributes object: op, result type and
 * operand types. A node's attributes and shape rule depend on nothing else, and passes copy
 * nodes without copying those objects (nodes, attributes and types are immutable), so a graph
 * verified after every pass re-derives them only for nodes whose attributes, type or operand
 * types are new objects; that each operand is defined before its use is checked every time.
 */
const soundNodes = new WeakMap<object, { op: string; type: TensorType; operands: readonly TensorType[] }[]>();
const SOUND_PER_ATTRS = 4;

/** Problems of one node, given the values defined before it in the schedule. */
function nodeProblems(n: Node, defined: ReadonlyMap<string, TensorType>, definedAnywhere: () => ReadonlySet<string>): string[] {
  const attrs = typeof n.attrs === "object" && n.attrs !== null ? n.attrs : undefined;
  const seen = attrs && soundNodes.get(attrs);
  if (seen?.some((k) => k.op === n.op && k.type === n.type && k.operands.length === n.inputs.length && n.inputs.every((v, i) => defined.get(v) === k.operands[i]))) return [];
  const problems = checkNode(n, defined, definedAnywhere);
  if (problems.length === 0 && attrs) {
    const entry = { op: n.op, type: n.type, operands: n.inputs.map((v) => defined.get(v)!) };
    if (seen) seen.splice(0, Math.max(0, seen.length - SOUND_PER_ATTRS + 1), entry);
    else soundNodes.set(attrs, [entry]);
  }
  return problems;
}

function checkNode(n: Node, defined: ReadonlyMap<string, TensorType>, definedAnywhere: () => ReadonlySet<string>): string[] {
  const what = describeNode(n);
  const problems: string[] = [];
  const def = OPS.get(n.op);
  if (!def) return [`${what}: unknown op '${n.op}'`];

  let operandsOk = true;
  const { min, max } = operandCount(def);
  if (n.inputs.length < min || n.inputs.length > max) {
    const want = min === max ? `${min}` : `at least ${min}`;
    problems.push(`${what}: ${n.op} takes ${want} operand${want === "1" ? "" : "s"}, got ${n.inputs.length}`);
    operandsOk = false;
  }
  for (const v of n.inputs) {
    if (defined.has(v)) continue;
    operandsOk = false;
    problems.push(
      v === n.id
        ? `${what}: uses its own result %${v}`
        : definedAnywhere().has(v)
          ? `${what}: uses %${v} before its definition`
          : `${what}: uses undefined value %${v}`,
    );
  }

  const attrProblems = attributeProblems(def, n);
  problems.push(...attrProblems.map((p) => `${what}: ${p}`));

  if (operandsOk && attrProblems.length === 0) {
    let inferred: TensorType | undefined;
    try {
      inferred = def.infer(n.inputs.map((v) => defined.get(v)!), n.attrs);
    } catch (e) {
      problems.push(`${what}: the shape rule rejects the node: ${(e as Error).message}`);
    }
    if (inferred && !typeProblemOf(n.type) && !sameType(inferred, n.type)) {
      problems.push(`${what}: its type is ${formatType(n.type)} but ${n.op} infers ${formatType(inferred)}`);
    }
  }
  return problems;
}

/** Nodes must hold their COMPLETE attribute set (defaults filled in), each of the right kind. */
function attributeProblems(def: OpDef, n: Node): string[] {
  const problems: string[] = [];
  for (const key of Object.keys(n.attrs)) {
    if (!Object.hasOwn(def.attrs, key)) problems.push(`unknown attribute '${key}'`);
  }
  for (const key of Object.keys(def.attrs)) {
    if (!Object.hasOwn(n.attrs, key) || n.attrs[key] === undefined) problems.push(`attribute '${key}' is missing`);
  }
  if (problems.length > 0) return problems;
  try {
    completeAttrs(def, n.attrs);
  } catch (e) {
    problems.push((e as Error).message);
  }
  return problems;
}

/** Initializers must parse, and integer/bool tensors take only zeros or ones (see init.ts). */
function initProblemOf(p: ParamDecl): string | undefined {
  if (typeof p.init !== "string" || p.init.length === 0) return "has no initializer";
  let spec: InitSpec;
  try {
    spec = parseInit(p.init);
  } catch (e) {
    return (e as Error).message;
  }
  if (isDType(p.type?.dtype) && !isFloat(p.type.dtype) && spec.kind !== "zeros" && spec.kind !== "ones") {
    return `${p.type.dtype} params take only zeros or ones, got '${p.init}'`;
  }
  return undefined;
}

/** Types found sound (types are immutable and shared between a graph's copies). */
const soundTypes = new WeakSet<TensorType>();

function typeProblemOf(t: TensorType): string | undefined {
  if (typeof t === "object" && t !== null && soundTypes.has(t)) return undefined;
  if (!t || !isDType(t.dtype)) return `unknown dtype ${JSON.stringify(t?.dtype)}`;
  if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isInteger(d) && d >= 0)) {
    return `bad shape ${JSON.stringify(t.shape)} (dimensions must be non-negative integers)`;
  }
  soundTypes.add(t);
  return undefined;
}

function describeNode(n: Node): string {
  return `node %${n.id} (${n.op}${n.loc ? ` at ${n.loc.file}:${n.loc.line}:${n.loc.col}` : ""})`;
}

/** A recompute node must repeat another node of the graph: same op, attributes and result type. */
function recomputeProblems(n: Node, original: Node | undefined): string[] {
  const what = `${describeNode(n)} (recompute of %${n.recomputeOf})`;
  if (!original || original === n) return [`${what}: %${n.recomputeOf} is not another node of the graph`];
  if (original.op !== n.op || !sameType(original.type, n.type) || JSON.stringify(original.attrs) !== JSON.stringify(n.attrs)) {
    return [`${what}: differs from the node it recomputes (${original.op} ${formatType(original.type)})`];
  }
  return [];
}
