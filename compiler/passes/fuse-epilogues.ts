// fuseEpilogues — fold the elementwise node that consumes a matmul or conv2d result (bias-add,
// activation, scaling, residual add; or a whole `fused` chain of them) into the contraction, as a
// `fusedMatmul` / `fusedConv2d` node with an `epilogue` program (ir/ops/fused-contraction.ts).
// The product then never gets a buffer: the backend applies the epilogue to each result element
// as it stores it.
//
// Runs after `fuse` (so a chain such as relu(x + b) is already one `fused` node whose body becomes
// the epilogue) and before schedule/inplace/plan. A consumer C absorbs the contraction H (an op
// whose record names its fused form, `fusion.epilogueOp`) that produces one of its operands when:
//   - C is a `fused` node or a single fusable elementwise op (fuse.ts's rule), of the head's float dtype;
//   - H's result has exactly that one use (not an output, an update or another node's operand);
//   - H's result has C's shape (the epilogue is computed once per product element).
// The new node takes C's place, id, type and location; its operands are H's two, then C's others
// in order. One-element float constants of a single-op consumer become literals, as in `fuse`.
// Moving H down to C is valid SSA (H's operands are defined before H). It lengthens the live
// ranges of H's operands up to C's position, which the planner sees; the scheduler usually keeps
// C right after H anyway. In-place decisions and a memory plan on the input are dropped.

import type { Node } from "../ir/graph.ts";
import { useCounts, valueTypes } from "../ir/graph.ts";
import { formatBody, type BodyArg, type BodyStep } from "../ir/ops/fused-body.ts";
import { OPS } from "../ir/ops.ts";
import { isFloat, sameShape } from "../ir/types.ts";
import { bodyOf, fusedResult, isFusable, withoutInlinedConstants, FUSION_STATISTICS } from "./fuse.ts";
import type { Pass } from "./pass.ts";

export interface FuseEpiloguesOptions {
  /** The contraction ops that may take an epilogue (default: every op whose record names a `fusion.epilogueOp`). */
  heads: readonly string[];
}

/** The fused op that carries `op` with an epilogue, from its record; undefined when it has none. */
function epilogueOpOf(op: string): string | undefined {
  return OPS.get(op)?.fusion?.epilogueOp;
}

export const fuseEpilogues: Pass<FuseEpiloguesOptions> = {
  name: "fuse-epilogues",
  summary: "fold the elementwise consumer of a matmul/conv2d result into it as an epilogue",
  statistics: { "fused-epilogues": "elementwise consumers absorbed into matmul/conv2d epilogues", ...FUSION_STATISTICS },
  defaults: { heads: [...OPS.values()].filter((op) => op.fusion?.epilogueOp !== undefined).map((op) => op.name) },
  run(g, opts) {
    const types = valueTypes(g);
    const nodeOf = new Map(g.nodes.map((n) => [n.id, n] as const));
    const uses = useCounts(g);
    const replaced = new Map<string, Node>();
    const absorbed = new Set<string>();
    for (const consumer of g.nodes) {
      if (consumer.op !== "fused" && !isFusable(consumer, types)) continue;
      if (consumer.op === "fused" && !isFloat(consumer.type.dtype)) continue;
      // One dtype throughout (a fused node may read 16-bit operands into an f32 body: not here).
      if (consumer.inputs.some((v) => types.get(v)!.dtype !== consumer.type.dtype)) continue;
      const slot = consumer.inputs.findIndex((v) => {
        const h = nodeOf.get(v);
        return h !== undefined && opts.heads.includes(h.op) && epilogueOpOf(h.op) !== undefined && !absorbed.has(v) &&
          h.type.dtype === consumer.type.dtype && uses.get(v) === 1 && sameShape(h.type.shape, consumer.type.shape);
      });
      if (slot < 0) continue;
      const head = nodeOf.get(consumer.inputs[slot])!;
      absorbed.add(head.id);
      replaced.set(consumer.id, withEpilogue(head, consumer, slot, nodeOf));
    }
    const nodes = withoutInlinedConstants(g, g.nodes.filter((n) => !absorbed.has(n.id)).map((n) => replaced.get(n.id) ?? n), uses);
    return fusedResult(g, nodes, { "fused-epilogues": replaced.size });
  },
};

/** The fused contraction: `head`'s operands, then the consumer's others; the consumer's program. */
function withEpilogue(head: Node, consumer: Node, slot: number, nodeOf: ReadonlyMap<string, Node>): Node {
  const { operands, steps: body } = bodyOf(consumer, nodeOf);
  const product = consumer.inputs[slot];
  const extras = operands.filter((v) => v !== product);
  // Body operand → epilogue argument: x0 is the product, xI (I >= 1) the I-th extra operand.
  const argOf = (v: string): BodyArg => ({ kind: "operand", index: v === product ? 0 : 1 + extras.indexOf(v) });
  const steps: BodyStep[] = body.map((s) => ({ ...s, args: s.args.map((a) => (a.kind === "operand" ? argOf(operands[a.index]) : a)) }));
  return {
    id: consumer.id,
    op: epilogueOpOf(head.op)!,
    inputs: [...head.inputs, ...extras],
    attrs: { ...head.attrs, epilogue: formatBody(steps) },
    type: consumer.type,
    ...(consumer.loc ? { loc: consumer.loc } : {}),
  };
}
