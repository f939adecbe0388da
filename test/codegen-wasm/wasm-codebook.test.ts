// codebookMatmul's wasm-simd kernel (kernels/codebook.ts, gemm-codebook.ts) against the
// interpreter. Decoding is a table lookup, so the products are tested exactly: x and the
// centroids are multiples of 1/4 and 1/1024 small enough that every f32 partial sum (K <= 600) is exact in any
// order, and the kernel must equal the interpreter bit for bit (tolerance 0). Shapes reach every
// path: M, N and K around the 4x8 tile (N odd: a half-filled last byte; partial panels: the
// scalar decode), odd K (the one-row SIMD decode), K past one 256-deep block, N past one
// 1024-wide block, batch axes, 1 to 3 rows (4-bit indices: decoded in registers, no packing;
// 16-column blocks and a scalar tail), bit widths 1..8 (swizzle decode up to 4, scalar above), and
// index bytes past a table (3- and 5-bit: those read 0). Then random f32 values within the op's
// tolerance, and the kernel's workspace (the GEMM's packing blocks, never an f32 copy of W).
// codebookConv2d (im2col blocks into the packed codebook GEMM) likewise over padding modes,
// strides, dilation, 1x1 windows, odd channel counts and a depth past one 256-deep block.

import { describe, expect, it } from "vitest";
import { emitWasm } from "../../compiler/codegen-wasm/emit.ts";
import { naivePlan } from "../../compiler/codegen-wasm/naive-plan.ts";
import { wasmWorkspaceBytes } from "../../compiler/codegen-wasm/workspace.ts";
import { GraphBuilder } from "../../compiler/ir/builder.ts";
import { codebookIndexShape } from "../../compiler/ir/ops/codebook.ts";
import { codebookConvGraph, CODEBOOK_CONVS, codebookGraph, CODEBOOK_SHAPES } from "../support/codebook-cases.ts";
import { expectMatchesInterpreter } from "../support/wasm-harness.ts";

describe("codebookMatmul on wasm-simd matches the interpreter exactly", () => {
  for (const bits of [4, 3, 2, 1, 5, 8, 7]) {
    it(`${bits}-bit indices: tiles with tails, odd K, batch axes, K past a block`, async () => {
      const { graph, inputs } = codebookGraph(CODEBOOK_SHAPES.map(([x, n]) => [x, n, bits] as const), "exact");
      await expectMatchesInterpreter(graph, inputs, { tolerance: 0 });
    }, 60_000);
  }

  it("N past one 1024-column block and K past two 256-deep blocks (4- and 6-bit)", async () => {
    const { graph, inputs } = codebookGraph([[[5, 7], 1030, 4], [[3, 600], 20, 4], [[2, 520], 1029, 6]], "exact");
    await expectMatchesInterpreter(graph, inputs, { tolerance: 0 });
  }, 60_000);

  it("random f32 values within the op's tolerance (matmul's)", async () => {
    const { graph, inputs } = codebookGraph([[[17, 200], 33, 4], [[64, 784], 10, 4], [[3, 129], 65, 8], [[9, 77], 19, 3]], "random");
    await expectMatchesInterpreter(graph, inputs, { floor: 1 });
  }, 60_000);
});

describe("codebookConv2d on wasm-simd (im2col blocks into the codebook GEMM) matches the interpreter", () => {
  for (const bits of [4, 3, 6]) {
    it(`${bits}-bit indices, exactly: padding, strides, dilation, 1x1, odd channels, depth past 256`, async () => {
      const { graph, inputs } = codebookConvGraph(CODEBOOK_CONVS(bits), "exact");
      await expectMatchesInterpreter(graph, inputs, { tolerance: 0 });
    }, 60_000);
  }

  it("random f32 values within the op's tolerance, several im2col blocks", async () => {
    const { graph, inputs } = codebookConvGraph([[[8, 14, 14, 8], [3, 3], 16, 4, { padding: "same" }], [[3, 9, 9, 3], [3, 3], 5, 8, { padding: "valid" }]], "random");
    await expectMatchesInterpreter(graph, inputs, { floor: 1 });
  }, 60_000);
});

describe("codebookMatmul's kernel", () => {
  const graphFor = (bits: number, m = 64) => {
    const b = new GraphBuilder("cb");
    const x = b.addInput({ name: "x", type: { dtype: "f32", shape: [m, 784] } });
    const i = b.addInput({ name: "i", type: { dtype: "u8", shape: codebookIndexShape(784, 256, bits) } });
    const t = b.addInput({ name: "t", type: { dtype: "f32", shape: [2 ** bits] } });
    b.output("y", b.op("codebookMatmul", [x, i, t], { bits, n: 256 }));
    return b.build();
  };

  it("needs only the GEMM's packing workspace, far below an f32 copy of W", () => {
    const g = graphFor(4);
    const ws = wasmWorkspaceBytes(g.nodes[0], g.inputs.map((i) => i.type));
    // The edge tile and the packed blocks: 256 k steps of 256 columns (B) and of 64 rows (A).
    expect(ws).toBe(4 * 8 * 4 + 256 * 256 * 4 + 256 * 64 * 4);
    expect(ws).toBeLessThan(784 * 256 * 4);
    // One to three rows with 4-bit indices: no packing at all; 5-bit ones still pack.
    const rows = (m: number, bits: number) => {
      const h = graphFor(bits, m);
      return wasmWorkspaceBytes(h.nodes[0], h.inputs.map((i) => i.type));
    };
    expect([rows(1, 4), rows(3, 3), rows(4, 4) > 0, rows(1, 5) > 0]).toEqual([0, 0, true, true]);
  });

  it("decodes 4-bit indices with i8x16.swizzle, 8-bit ones without", () => {
    // 0xfd 0x0e: the SIMD prefix and opcode 14, i8x16.swizzle.
    expect(Buffer.from(emitWasm(naivePlan(graphFor(4))).wasm).toString("hex")).toContain("fd0e");
    expect(Buffer.from(emitWasm(naivePlan(graphFor(8))).wasm).toString("hex")).not.toContain("fd0e");
  });
});
