// The valid range of each integer input that a kernel reads as indices (class labels of
// softmaxCrossEntropy, gather and scatterAdd indices), derived from the planned graphs so a bundle
// can check it at its API before a call: a WASM kernel traps on an index outside its axis (the
// call dies half done, `RuntimeError: unreachable`) and a WGSL one reads 0, where the reference
// interpreter names the value. The runtime's check (runtime/bundle-io.js checkIndexInputs) names
// the input, the position, the value and this range, and runs nothing.
//
// An input reaches an index operand directly or through ops whose result holds every element of
// their operand unchanged (reshape, copy, transpose, broadcastTo, a cast to i32), so the range of
// each of its elements is the same. Through anything else (slice, concat, arithmetic) the range of
// an element would depend on its position or value: no range is derived and the kernel's own
// check stays the only one. An input indexing several axes takes the smallest.

import type { Graph } from "../ir/graph.ts";
import { valueTypes } from "../ir/graph.ts";
import { OPS } from "../ir/ops.ts";
import { isInteger } from "../ir/types.ts";

/** Where an integer input is valid: [lo, hi), the entries that read it as indices, and why. */
export interface IndexRange {
  readonly lo: number;
  readonly hi: number;
  /** Export names of the entries (`forward`, `train_step`, ...) whose kernels index with it. */
  readonly entries: string[];
  /** What indexes with it, e.g. "class labels of softmaxCrossEntropy over 10 classes". */
  readonly what: string;
}

/** Ops whose result holds each element of operand 0 unchanged (besides the `alias` ones). */
const CARRIES_ELEMENTS = new Set(["transpose", "broadcastTo"]);

/** Per integer input (or param) name, its valid range over every entry that indexes with it. */
export function indexRanges(entries: readonly { readonly exportName: string; readonly graph: Graph }[]): Map<string, IndexRange> {
  const ranges = new Map<string, { lo: number; hi: number; entries: string[]; what: string }>();
  for (const { exportName, graph } of entries) {
    for (const [input, found] of rangesOf(graph)) {
      const seen = ranges.get(input);
      if (!seen) ranges.set(input, { lo: 0, hi: found.size, entries: [exportName], what: found.what });
      else {
        seen.entries.push(exportName);
        if (found.size < seen.hi) Object.assign(seen, { hi: found.size, what: found.what });
      }
    }
  }
  return ranges;
}

/** In one graph: each integer input's smallest indexed axis and what indexes it. */
function rangesOf(g: Graph): Map<string, { size: number; what: string }> {
  const types = valueTypes(g);
  // Which input each value carries unchanged, from the inputs forward through the node order.
  const carries = new Map<string, string>();
  for (const i of g.inputs) if (isInteger(i.type.dtype)) carries.set(i.name, i.name);
  // Integer params too (a block-sparse weight's rows and starts): a bundle checks them when a
  // weights file is loaded (runtime/bundle-io.js checkedWeights).
  for (const p of g.params) if (isInteger(p.type.dtype)) carries.set(p.name, p.name);
  const found = new Map<string, { size: number; what: string }>();
  for (const node of g.nodes) {
    const def = OPS.get(node.op);
    if (!def) continue;
    const source = carries.get(node.inputs[0] ?? "");
    const passes = def.inplace === "alias" || CARRIES_ELEMENTS.has(node.op) || (node.op === "cast" && node.type.dtype === "i32");
    if (source !== undefined && passes && isInteger(node.type.dtype)) carries.set(node.id, source);
    if (!def.indexOperands) continue;
    const operandTypes = node.inputs.map((v) => types.get(v)!);
    for (const { operand, size, what } of def.indexOperands(node, operandTypes)) {
      const input = carries.get(node.inputs[operand]);
      if (input === undefined) continue;
      const seen = found.get(input);
      if (!seen || size < seen.size) found.set(input, { size, what });
    }
  }
  return found;
}

/**
 * The first value of index input `name` outside `range`, described as a bundle's runtime does
 * (runtime/bundle-io.js checkIndexInputs), or undefined when every value is inside.
 */
export function indexRangeViolation(name: string, type: { dtype: string; shape: readonly number[] }, data: ArrayLike<number>, range: IndexRange): string | undefined {
  for (let k = 0; k < data.length; k++) {
    const v = data[k];
    if (v >= range.lo && v < range.hi) continue;
    const index: number[] = [];
    for (let d = type.shape.length - 1, rest = k; d >= 0; d--) {
      index.unshift(rest % type.shape[d]);
      rest = Math.floor(rest / type.shape[d]);
    }
    return `input '${name}' holds ${v} at element ${k} (index [${index.join(", ")}] of ${type.dtype}[${type.shape.join(",")}]), outside its valid range [${range.lo}, ${range.hi}) (${range.what})`;
  }
  return undefined;
}
