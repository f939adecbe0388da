// pruneMask's backend cases, shared by test/codegen-wasm/wasm-prune.test.ts and
// test/codegen-wgsl/wgsl-prune.test.ts: one graph applying the op over sizes with SIMD tails,
// k from below 0 to past the size, many equal scores (the tie rule), signed zeros, negatives and
// NaNs (totalOrder), and update 0 (the old mask kept). k and update are graph inputs, so the
// kernels read them at run time.

import { GraphBuilder } from "../../compiler/ir/builder.ts";
import type { Graph } from "../../compiler/ir/graph.ts";
import { randomData } from "./op-fixtures.ts";

export interface PruneGraph {
  readonly graph: Graph;
  readonly inputs: Record<string, number[]>;
}

interface Case {
  readonly scores: number[];
  readonly k: number;
  readonly update: number;
}

const magnitudes = (n: number, seed: number) => Array.from(randomData(n, seed), Math.abs);

function cases(): Case[] {
  const out: Case[] = [];
  for (const n of [1, 3, 4, 7, 16, 37, 301]) {
    const scores = magnitudes(n, n);
    for (const k of [-3, 0, 1, Math.floor(n / 2), n - 1, n, n + 5]) out.push({ scores, k, update: 1 });
  }
  // Ties: few distinct values, so the k-th smallest is shared by many (lower index pruned first).
  const ties = Array.from({ length: 53 }, (_, i) => [0.5, 0, 0.25, 0.5, 1][i % 5]);
  for (const k of [1, 7, 11, 12, 30, 52]) out.push({ scores: ties, k, update: 1 });
  // Runs of equal scores: the cut falls between two equal neighbours.
  const runs = Array.from({ length: 23 }, (_, i) => (i < 20 ? 0.5 : 0.25));
  for (const k of [2, 7, 22]) out.push({ scores: runs, k, update: 1 });
  // totalOrder: -NaN < -inf < -1 < -0 < +0 < 1 < inf < NaN.
  const special = [NaN, -0, 0, 1, -1, Infinity, -Infinity, -NaN, 0, -0, 2, 1e-40, -1e-40];
  for (const k of [1, 2, 4, 6, 9, 12]) out.push({ scores: special, k, update: 1 });
  // Kept masks: update 0 returns the mask operand whatever k says.
  out.push({ scores: magnitudes(9, 90), k: 4, update: 0 });
  out.push({ scores: magnitudes(40, 91), k: 40, update: 0 });
  return out;
}

/** Every case as one graph: inputs c{k}_scores, _k, _mask, _update; output y{k}. */
export function pruneMaskGraph(): PruneGraph {
  const b = new GraphBuilder("pruneMask");
  const inputs: Record<string, number[]> = {};
  cases().forEach((c, k) => {
    const n = c.scores.length;
    const name = (what: string) => `c${k}_${what}`;
    const scores = b.addInput({ name: name("scores"), type: { dtype: "f32", shape: [n] } });
    const kk = b.addInput({ name: name("k"), type: { dtype: "i32", shape: [] } });
    const mask = b.addInput({ name: name("mask"), type: { dtype: "f32", shape: [n] } });
    const update = b.addInput({ name: name("update"), type: { dtype: "i32", shape: [] } });
    inputs[scores] = c.scores;
    inputs[kk] = [c.k];
    // An old mask that is not all ones, so a kept mask shows.
    inputs[mask] = c.scores.map((_, i) => (i % 3 === 1 ? 0 : 1));
    inputs[update] = [c.update];
    b.output(`y${k}`, b.op("pruneMask", [scores, kk, mask, update]));
  });
  return { graph: b.build(), inputs };
}
