// Pruning masks (compiler/ir/prune-masks.ts): element, channel and global masks against
// torch.nn.utils.prune (Debian's python3-torch, test/oracle/prune_oracle.py) on dense and conv
// weights in mlc's layout, PyTorch's half-to-even count included; block and N:M masks against
// their definitions (no PyTorch function makes them).
import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { matrixView, parseStructure, pruneMasks, roundHalfEven, type PruneTarget } from "../../compiler/ir/prune-masks.ts";
import { rng } from "../support/seeded-random.ts";

const ORACLE = "test/oracle/prune_oracle.py";

/** f32 weights with distinct magnitudes (ties would leave the choice to each implementation). */
function weights(shape: number[], seed: number): PruneTarget {
  const random = rng(seed);
  const n = shape.reduce((p, d) => p * d, 1);
  const data = Float64Array.from({ length: n }, () => Math.fround((random() - 0.5) * 4));
  return { name: `w${seed}`, shape, data };
}

interface OracleCase { kind: string; tensors: PruneTarget[]; amount?: number; n?: number; m?: number; rows?: number; cols?: number }

function torchMasks(cases: OracleCase[]): number[][][] {
  const input = cases.map((c) => ({ ...c, tensors: c.tensors.map((t) => ({ shape: t.shape, data: Array.from(t.data) })) }));
  const out = JSON.parse(execFileSync("/usr/bin/python3", [ORACLE], { input: JSON.stringify(input), maxBuffer: 64 << 20 }).toString());
  return out.map((r: { masks: number[][] }) => r.masks);
}

describe("masks against torch.nn.utils.prune", () => {
  const dense = [weights([37, 19], 1), weights([2, 5], 2), weights([64, 10], 3)];
  const conv = [weights([3, 3, 4, 6], 4), weights([1, 1, 6, 5], 5)];
  const cases: { name: string; c: OracleCase; ours: () => Uint8Array[] }[] = [];
  for (const amount of [0.25, 0.5, 0.9, 0.3]) {
    for (const t of [...dense, ...conv]) {
      cases.push({ name: `l1_unstructured ${amount} [${t.shape}]`, c: { kind: "l1_unstructured", tensors: [t], amount }, ours: () => pruneMasks([t], amount, { kind: "element" }) });
      for (const n of [1, 2] as const) {
        cases.push({
          name: `ln_structured n=${n} ${amount} [${t.shape}]`,
          c: { kind: "ln_structured", tensors: [t], amount, n },
          ours: () => pruneMasks([t], amount, { kind: "channel", norm: n }),
        });
      }
    }
    cases.push({
      name: `global_unstructured ${amount} over five tensors`,
      c: { kind: "global_unstructured", tensors: [...dense, ...conv], amount },
      ours: () => pruneMasks([...dense, ...conv], amount, { kind: "element" }, "global"),
    });
  }
  let answers: number[][][] | undefined;

  it.each(cases.map((c, i) => [c.name, i] as const))("%s", (_name, i) => {
    answers ??= torchMasks(cases.map((c) => c.c));
    const ours = cases[i].ours().map((m) => Array.from(m));
    expect(ours).toEqual(answers[i]);
  });

  it("counts what it prunes as Python's round (half to even): 0.25 of 10 is 2, 0.35 of 10 is 4", () => {
    expect([0.5, 1.5, 2.5, 3.5, 2.4, 2.6].map(roundHalfEven)).toEqual([0, 2, 2, 4, 2, 3]);
    const zeros = (amount: number) => pruneMasks([weights([2, 5], 2)], amount, { kind: "element" })[0].filter((k) => k === 0).length;
    expect(zeros(0.25)).toBe(2);
    expect(zeros(0.35)).toBe(4);
  });
});

describe("block and N:M masks against a float64 NumPy restatement (test/oracle/prune_oracle.py)", () => {
  const targets = [weights([37, 19], 11), weights([16, 12], 12), weights([3, 3, 4, 6], 13), weights([1, 1, 8, 5], 14)];
  const cases: { name: string; c: OracleCase; ours: () => Uint8Array[] }[] = [];
  for (const t of targets) {
    for (const [r, c] of [[1, 4], [4, 4], [2, 3], [4, 1]] as const) {
      for (const amount of [0.5, 0.8, 0.9]) {
        for (const n of [1, 2] as const) {
          cases.push({
            name: `block:${r}x${c} L${n} ${amount} [${t.shape}]`,
            c: { kind: "block", tensors: [t], amount, rows: r, cols: c, n },
            ours: () => pruneMasks([t], amount, parseStructure(`block:${r}x${c}`, n)),
          });
        }
      }
    }
    for (const [n, m] of [[2, 4], [1, 4], [1, 2]] as const) {
      if (matrixView(t.shape).rows % m !== 0) continue;
      cases.push({ name: `${n}:${m} [${t.shape}]`, c: { kind: "nm", tensors: [t], n, m }, ours: () => pruneMasks([t], 0, parseStructure(`${n}:${m}`)) });
    }
  }
  let answers: number[][][] | undefined;

  it.each(cases.map((c, i) => [c.name, i] as const))("%s", (_name, i) => {
    answers ??= torchMasks(cases.map((c) => c.c));
    expect(cases[i].ours().map((m) => Array.from(m))).toEqual(answers[i]);
  });
});

describe("block and N:M masks by their definitions", () => {
  const t = weights([6, 9], 7);
  const { rows, cols } = matrixView(t.shape);
  const abs = (r: number, c: number) => Math.abs(t.data[r * cols + c]);

  it("block:2x3 at 0.5: round(4.5) = 4 of 9 blocks zeroed whole, none with a larger mean |w| than a kept one", () => {
    const mask = pruneMasks([t], 0.5, parseStructure("block:2x3"))[0];
    const blocks: { mean: number; kept: boolean }[] = [];
    for (let r0 = 0; r0 < rows; r0 += 2) {
      for (let c0 = 0; c0 < cols; c0 += 3) {
        const cells = [0, 1].flatMap((dr) => [0, 1, 2].map((dc) => [r0 + dr, c0 + dc]));
        const kept = cells.map(([r, c]) => mask[r * cols + c]);
        expect(new Set(kept).size, `block at ${r0},${c0} is all kept or all pruned`).toBe(1);
        blocks.push({ mean: cells.reduce((s, [r, c]) => s + abs(r, c), 0) / cells.length, kept: kept[0] === 1 });
      }
    }
    expect(blocks.filter((b) => !b.kept)).toHaveLength(4);
    const maxPruned = Math.max(...blocks.filter((b) => !b.kept).map((b) => b.mean));
    const minKept = Math.min(...blocks.filter((b) => b.kept).map((b) => b.mean));
    expect(maxPruned).toBeLessThan(minKept);
  });

  it("block:4x4 over a 6x9 matrix: partial edge blocks are units too", () => {
    const mask = pruneMasks([t], 1, parseStructure("block:4x4"))[0];
    expect(mask.every((k) => k === 0)).toBe(true);
    expect(pruneMasks([t], 0, parseStructure("block:4x4"))[0].every((k) => k === 1)).toBe(true);
  });

  it("2:4 keeps the two largest |w| of every four consecutive input rows of each output channel", () => {
    const w = weights([8, 5], 8);
    const mask = pruneMasks([w], 0, parseStructure("2:4"))[0];
    for (let c = 0; c < 5; c++) {
      for (let r0 = 0; r0 < 8; r0 += 4) {
        const group = [0, 1, 2, 3].map((j) => (r0 + j) * 5 + c);
        const kept = group.filter((e) => mask[e] === 1);
        expect(kept).toHaveLength(2);
        const smallestKept = Math.min(...kept.map((e) => Math.abs(w.data[e])));
        const largestPruned = Math.max(...group.filter((e) => mask[e] === 0).map((e) => Math.abs(w.data[e])));
        expect(largestPruned).toBeLessThan(smallestKept);
      }
    }
  });

  it("refuses N:M over rows that are not a multiple of M, and malformed structures", () => {
    expect(() => pruneMasks([weights([6, 3], 9)], 0, parseStructure("2:4"))).toThrow(/'w9' has 6 input rows .*not a multiple of 4/);
    for (const bad of ["blocks:2x2", "block:0x2", "5:4", "channels", ""]) expect(() => parseStructure(bad), bad).toThrow(/--structure/);
    expect(() => pruneMasks([t], 1.5, { kind: "element" })).toThrow(/a fraction in \[0, 1\]/);
  });
});
