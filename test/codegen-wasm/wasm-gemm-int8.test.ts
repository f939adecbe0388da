// The int8 GEMM behind matmulInteger on wasm-simd (kernels/gemm-int8.ts) against the interpreter,
// bit for bit: every i8/u8 pair, shapes around the tile (4×8), the k pair and the 8-step A packing
// (M, N, K below, at and past multiples; K odd; K = 1), more rows than one packed A block (64),
// batch axes folded into M, extreme values everywhere (-128, 127, 255) and K long enough for sums
// near 2^31; plus the kernel's workspace and its use of i32x4.dot_i16x8_s.

import { describe, expect, it } from "vitest";
import { emitWasm } from "../../compiler/codegen-wasm/emit.ts";
import { naivePlan } from "../../compiler/codegen-wasm/naive-plan.ts";
import { int8GemmWorkspaceBytes } from "../../compiler/codegen-wasm/kernels/gemm-int8.ts";
import { wasmWorkspaceBytes } from "../../compiler/codegen-wasm/workspace.ts";
import { GraphBuilder } from "../../compiler/ir/builder.ts";
import type { DType } from "../../compiler/ir/types.ts";
import { expectMatchesInterpreter } from "../support/wasm-harness.ts";

type Q = "i8" | "u8";
const PAIRS: readonly (readonly [Q, Q])[] = [["u8", "i8"], ["i8", "i8"], ["u8", "u8"], ["i8", "u8"]];
const RANGE = { i8: [-128, 127], u8: [0, 255] } as const;
const numel = (shape: readonly number[]) => shape.reduce((p, d) => p * d, 1);

/** Deterministic integers in the dtype's range (an LCG: the interpreter and kernel see the same). */
function ints(n: number, seed: number, dtype: Q): number[] {
  const [lo, hi] = RANGE[dtype];
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return lo + (s % (hi - lo + 1));
  });
}

/** One graph with a matmulInteger per shape, for one dtype pair; `fill` overrides the data. */
function graphOf(shapes: readonly (readonly [number[], number[]])[], [ad, wd]: readonly [Q, Q], fill?: (dtype: Q, operand: number) => number) {
  const b = new GraphBuilder(`mmi_${ad}_${wd}`);
  const inputs: Record<string, number[]> = {};
  shapes.forEach(([as, ws], k) => {
    const a = b.addInput({ name: `a${k}`, type: { dtype: ad, shape: as } });
    const w = b.addInput({ name: `w${k}`, type: { dtype: wd, shape: ws } });
    inputs[`a${k}`] = fill ? new Array<number>(numel(as)).fill(fill(ad, 0)) : ints(numel(as), 11 + k, ad);
    inputs[`w${k}`] = fill ? new Array<number>(numel(ws)).fill(fill(wd, 1)) : ints(numel(ws), 97 + k, wd);
    b.output(`y${k}`, b.op("matmulInteger", [a, w]));
  });
  return { graph: b.build(), inputs };
}

// [a shape, w shape]: tails of M (mod 4), N (mod 8), K (odd, mod 8), one A block and more.
const SHAPES: readonly (readonly [number[], number[]])[] = [
  [[4, 8], [8, 8]], [[4, 16], [16, 16]], [[1, 1], [1, 1]], [[3, 1], [1, 9]], [[5, 3], [3, 7]],
  [[7, 15], [15, 17]], [[8, 9], [9, 8]], [[9, 33], [33, 23]], [[13, 64], [64, 31]],
  [[70, 19], [19, 12]], [[131, 40], [40, 40]], [[2, 3, 5, 21], [21, 10]], [[2, 2, 6], [6, 16]],
  // Fewer rows than a tile (the unpacked path): 8-column blocks with tails, odd and even K.
  [[1, 37], [37, 19]], [[2, 16], [16, 24]], [[3, 9], [9, 8]], [[1, 2], [2, 7]], [[1, 1], [1, 8]], [[1, 3, 20], [20, 33]],
];

describe("matmulInteger's int8 GEMM on wasm-simd matches the interpreter exactly", () => {
  for (const pair of PAIRS) {
    it(`${pair[0]} x ${pair[1]}: random values over tiles with tails, odd K, several A blocks, batch axes`, async () => {
      const { graph, inputs } = graphOf(SHAPES, pair);
      await expectMatchesInterpreter(graph, inputs, { tolerance: 0 });
    }, 60_000);

    it(`${pair[0]} x ${pair[1]}: extreme values everywhere (both ends), sums near 2^31`, async () => {
      // K = 33025: 255·255·K = 2147450625, just below 2^31; -128·-128 and -128·255 sums likewise large.
      const long: [number[], number[]] = [[5, 33025], [33025, 9]];
      const longRow: [number[], number[]] = [[1, 33025], [33025, 9]];
      for (const end of [0, 1] as const) {
        const { graph, inputs } = graphOf([[[6, 37], [37, 11]], long, longRow], pair, (dtype, operand) => RANGE[dtype][(end + operand) % 2 === 0 ? 0 : 1]);
        await expectMatchesInterpreter(graph, inputs, { tolerance: 0 });
      }
      const { graph, inputs } = graphOf([long], pair, (dtype) => RANGE[dtype][dtype === "u8" ? 1 : 0]);
      await expectMatchesInterpreter(graph, inputs, { tolerance: 0 });
    }, 60_000);
  }
});

describe("matmulInteger's kernel is the packed int8 GEMM", () => {
  it("asks for a workspace holding the packed operands and emits i32x4.dot_i16x8_s", () => {
    const b = new GraphBuilder("mmi");
    const a = b.addInput({ name: "a", type: { dtype: "u8" as DType, shape: [3, 10, 33] } });
    const w = b.addInput({ name: "w", type: { dtype: "i8" as DType, shape: [33, 20] } });
    b.output("y", b.op("matmulInteger", [a, w]));
    const graph = b.build();
    const node = graph.nodes[0];
    const bytes = wasmWorkspaceBytes(node, [graph.inputs[0].type, graph.inputs[1].type]);
    // edge tile 128 + B 24 columns x 17 pairs x 2 i16 + A 32 rows x 17 pairs x 4, rounded to 16
    expect(bytes).toBe(int8GemmWorkspaceBytes(30, 20, 33));
    expect(bytes).toBe(Math.ceil((128 + 24 * 17 * 4 + 32 * 17 * 4) / 16) * 16);
    const { wasm } = emitWasm(naivePlan(graph));
    // 0xfd 0xba 0x01: the SIMD prefix and LEB128 opcode 186, i32x4.dot_i16x8_s.
    const hex = Buffer.from(wasm).toString("hex");
    expect(hex).toContain("fdba01");
  });

  it("with fewer rows than a tile, packs nothing: the workspace holds one row's k pairs", () => {
    expect(int8GemmWorkspaceBytes(1, 256, 784)).toBe(392 * 4);
    expect(int8GemmWorkspaceBytes(3, 10, 33)).toBe(Math.ceil((17 * 4) / 16) * 16);
  });
});
