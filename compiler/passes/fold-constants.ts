// fold-constants — evaluate at compile time the elementwise nodes whose operands are all `const`
// nodes, and drop trivial algebraic identities (x * 1 → x and the like).
//
// A `const` node is a fill: one value, any dtype and shape. An elementwise op applied to fills
// gives a fill (each result element is the op of the operands' one values), so a node of kind
// elementwise whose operands are all constants is replaced, under its own id and location, by a
// `const` of its result type holding that value: computed by the op's reference kernel
// (`getOp(op).interpret`) on one-element operands, each rounded to its dtype, and the result rounded
// to the node's dtype — what the interpreter computes in native precision (in "f64" precision it
// would keep float constants unrounded; a folded value is stored as the native one). Random ops
// (`OpDef.random`: dropout) are never folded: their mask depends on the element index. One sweep in
// schedule order folds chains of constants (`const 1 * const 0.25`, the loss seed, and what
// follows from it). Constants, original or folded, that were read before and are read by nothing
// after the pass are removed (`consts-removed`); `consts-created` counts the folded nodes left.
//
// Identities (`identities-removed`): `x * 1`, `1 * x`, `x / 1`, `x - 0`, and `x + 0`, `0 + x` — for
// float dtypes only with -0, since -0 + +0 = +0 — are replaced by x when the node's type is x's
// type (the constant broadcasts nothing up) and no output or update reads the node (which would
// then name x itself: an input, a param, or a value that is already another output).
//
// A recompute node (checkpointing) that is folded loses its mark (a constant needs no recomputing);
// so does a copy whose original was removed. Graphs with in-place decisions or a memory plan are
// left as they are (`skipped-planned`). Left to others: dead code this pass did not make (dce),
// repeated constants (cse), folding of non-elementwise ops (a reshape or sum of a constant).

import type { Node } from "../ir/graph.ts";
import { useCounts, valueTypes } from "../ir/graph.ts";
import { roundTo } from "../ir/dtype-round.ts";
import { completeAttrs, type Tensor } from "../ir/op-def.ts";
import { getOp } from "../ir/ops.ts";
import { isFloat, sameType, type TensorType } from "../ir/types.ts";
import { isPlanned, isRandom, skippedStats, withValidRecomputeMarks } from "./dce.ts";
import type { Pass } from "./pass.ts";

export interface FoldConstantsOptions {
  /** Also replace x * 1, x / 1, x - 0 and x + (-0) (x + 0 for integers) by x. */
  identities: boolean;
}

const STAT_KEYS = ["nodes-folded", "consts-created", "consts-removed", "identities-removed", "recompute-marks-dropped"] as const;

export const foldConstants: Pass<FoldConstantsOptions> = {
  name: "fold-constants",
  summary: "evaluate elementwise nodes of constant operands into constants and drop x*1, x+0 identities",
  defaults: { identities: true },
  statistics: {
    "nodes-folded": "elementwise nodes of constant operands replaced by the constant they compute",
    "consts-created": "folded nodes left in the graph (the others fed only folded nodes or identities)",
    "consts-removed": "constants, original or folded, that folding or an identity left unread, removed",
    "identities-removed": "x * 1, x / 1, x - 0, x + (-0) nodes removed, their uses reading x",
    "recompute-marks-dropped": "recompute marks removed: a folded node's own, or a copy's whose original was removed",
    "skipped-planned": "1 when the graph had in-place decisions or a memory plan and was left as it is",
  },
  run(g, opts) {
    if (isPlanned(g)) return { graph: g, stats: skippedStats(STAT_KEYS) };
    const types = valueTypes(g);
    const readByResult = new Set([...g.outputs.map((o) => o.value), ...g.updates.map((u) => u.value)]);
    const constants = new Map<string, number>(); // const node id -> its value as stored
    const replacement = new Map<string, string>(); // identity node id -> the operand it passes on
    const read = (v: string) => replacement.get(v) ?? v;
    const folded = new Set<string>();
    let marksDropped = 0;
    const swept: Node[] = [];
    for (const n of g.nodes) {
      const inputs = n.inputs.map(read);
      const node = inputs.some((v, i) => v !== n.inputs[i]) ? { ...n, inputs } : n;
      if (node.op === "const") {
        constants.set(node.id, roundTo(node.type.dtype, node.attrs.value as number));
        swept.push(node);
        continue;
      }
      const value = foldedValue(node, types, constants);
      if (value !== undefined) {
        const { recomputeOf: mark, ...rest } = node;
        if (mark !== undefined) marksDropped++;
        swept.push({ ...rest, op: "const", inputs: [], attrs: constAttrs(value, node.type) });
        constants.set(node.id, value);
        folded.add(node.id);
        continue;
      }
      const passOn = opts.identities && !readByResult.has(node.id) ? identityOperand(node, types, constants) : undefined;
      if (passOn !== undefined) {
        replacement.set(node.id, passOn);
        continue;
      }
      swept.push(node);
    }
    // Constants this pass left unread (folded operands, the 1 of an x * 1) go; dead ones it found stay.
    const before = useCounts(g);
    const after = useCounts({ ...g, nodes: swept });
    const unread = (n: Node) => n.op === "const" && before.has(n.id) && !after.has(n.id);
    const kept = swept.filter((n) => !unread(n));
    const { nodes, dropped } = withValidRecomputeMarks(kept);
    return {
      graph: { ...g, nodes },
      stats: {
        "nodes-folded": folded.size,
        "consts-created": nodes.filter((n) => folded.has(n.id)).length,
        "consts-removed": swept.length - kept.length,
        "identities-removed": replacement.size,
        "recompute-marks-dropped": marksDropped + dropped,
        "skipped-planned": 0,
      },
    };
  },
};

/** The value of `n` when it is a foldable elementwise node of constant operands, else undefined. */
function foldedValue(n: Node, types: ReadonlyMap<string, TensorType>, constants: ReadonlyMap<string, number>): number | undefined {
  if (n.inputs.length === 0 || !n.inputs.every((v) => constants.has(v)) || isRandom(n.op)) return undefined;
  const op = getOp(n.op);
  if (op.kind !== "elementwise") return undefined;
  // Every operand is a fill, so one element of each gives the result's one value.
  const operands: Tensor[] = n.inputs.map((v) => ({ type: { dtype: types.get(v)!.dtype, shape: [] }, data: Float64Array.of(constants.get(v)!) }));
  let value: number;
  try {
    const data = op.interpret(operands, n.attrs, { dtype: n.type.dtype, shape: [] });
    if (data.length !== 1) return undefined;
    value = roundTo(n.type.dtype, data[0]);
    getOp("const").infer([], constAttrs(value, n.type)); // representable as a const of this type?
  } catch {
    return undefined; // a kernel or a const that refuses the value: leave it to run time
  }
  return value;
}

function constAttrs(value: number, type: TensorType) {
  return completeAttrs(getOp("const"), { value, dtype: type.dtype, shape: [...type.shape] });
}

/** The operand `n` passes on unchanged when it is an identity (x * 1, x + 0, ...), else undefined. */
function identityOperand(n: Node, types: ReadonlyMap<string, TensorType>, constants: ReadonlyMap<string, number>): string | undefined {
  if (n.inputs.length !== 2) return undefined;
  const [a, b] = n.inputs;
  const dtype = n.type.dtype;
  const is = (v: string, want: (c: number) => boolean) => constants.has(v) && want(constants.get(v)!);
  const one = (c: number) => c === 1;
  const neutralAdd = (c: number) => (isFloat(dtype) ? Object.is(c, -0) : c === 0);
  const neutralSub = (c: number) => (isFloat(dtype) ? Object.is(c, 0) : c === 0);
  const candidates: Record<string, Array<[string, string, (c: number) => boolean]>> = {
    mul: [[a, b, one], [b, a, one]],
    div: [[a, b, one]],
    add: [[a, b, neutralAdd], [b, a, neutralAdd]],
    sub: [[a, b, neutralSub]],
  };
  for (const [x, c, neutral] of candidates[n.op] ?? []) {
    if (is(c, neutral) && sameType(types.get(x)!, n.type)) return x;
  }
  return undefined;
}
