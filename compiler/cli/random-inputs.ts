// Seeded random inputs for a graph, so any model can be run without data at hand (`mlc run
// --random-inputs`). Float inputs get N(0,1) values; integer inputs get values that are valid for
// how the graph uses them (class ids below the class count of a loss, row ids below a table's
// length), found by looking at the nodes that consume them.

import type { Graph } from "../ir/graph.ts";
import { valueTypes } from "../ir/graph.ts";
import { hashName, philox4x32, uniform01 } from "../ir/rng.ts";
import { isFloat, normalizeAxis, numel } from "../ir/types.ts";

/** Exclusive upper bound for the values of an integer input, from its uses (2 when unused). */
export function integerRange(g: Graph, input: string): number {
  const types = valueTypes(g);
  let bound = Infinity;
  for (const n of g.nodes) {
    n.inputs.forEach((v, i) => {
      if (v !== input) return;
      if (n.op === "softmaxCrossEntropy" && i === 1) {
        const logits = types.get(n.inputs[0])!;
        bound = Math.min(bound, logits.shape[logits.shape.length - 1]);
      } else if (n.op === "gather" && i === 1) {
        const table = types.get(n.inputs[0])!;
        bound = Math.min(bound, table.shape[normalizeAxis(n.attrs.axis as number, table.shape.length)]);
      } else if (n.op === "oneHot" && i === 0) {
        bound = Math.min(bound, n.attrs.depth as number);
      }
    });
  }
  return Number.isFinite(bound) ? bound : 2;
}

export function randomInputs(g: Graph, seed = 0): Record<string, Float64Array> {
  const out: Record<string, Float64Array> = Object.create(null);
  for (const inp of g.inputs) {
    const n = numel(inp.type.shape);
    const data = new Float64Array(n);
    const key: [number, number] = [hashName(inp.name), seed >>> 0];
    const u = (i: number, lane: number) => uniform01(philox4x32([i, 0, 0, 0], key)[lane]);
    if (isFloat(inp.type.dtype)) {
      // Box–Muller on two uniforms per element.
      for (let i = 0; i < n; i++) {
        const u1 = Math.max(u(i, 0), 1e-12);
        data[i] = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u(i, 1));
      }
    } else {
      const hi = inp.type.dtype === "bool" ? 2 : integerRange(g, inp.name);
      for (let i = 0; i < n; i++) data[i] = Math.min(hi - 1, Math.floor(u(i, 0) * hi));
    }
    out[inp.name] = data;
  }
  return out;
}
