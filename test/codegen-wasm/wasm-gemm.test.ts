// The WASM matmul kernel (packed GEMM, gemm-core.ts; small-m GEMM, gemm-small.ts) against the
// reference interpreter. Sizes straddle the 4x8 register tile (1, 3, 4, 5, 7, 8, 9, 17, 33, 65),
// the k unrolling, and the cache blocks (k > 256 crosses a KC block, m > 64 an MC block,
// n > 1024 an NC block); every transpose combination; batch broadcasting on either side.
//
// Products are random N(0, 1) values summed over k terms, so results scale like sqrt(k) and
// individual sums can cancel to near zero; the comparison floor is set to that scale, making the
// tolerance an absolute error of 1e-4 * sqrt(k) where the exact value is small.

import { describe, expect, it } from "vitest";
import { gemmWorkspaceBytes } from "../../compiler/codegen-wasm/kernels/gemm-core.ts";
import { SMALL_GEMM_MAX_ROWS } from "../../compiler/codegen-wasm/kernels/gemm.ts";
import { GraphBuilder } from "../../compiler/ir/builder.ts";
import type { Graph } from "../../compiler/ir/graph.ts";
import { kernelWorkspaceBytes } from "../../compiler/codegen-wasm/kernel.ts";
import { matmulKernel } from "../../compiler/codegen-wasm/kernels/matmul.ts";
import { expectKernelsMatch } from "../support/wasm-contraction-harness.ts";

interface Product {
  readonly a: number[];
  readonly b: number[];
  readonly transposeA?: boolean;
  readonly transposeB?: boolean;
}

/** One graph holding every product as its own pair of inputs and output. */
function productsGraph(name: string, products: readonly Product[]): Graph {
  const g = new GraphBuilder(name);
  products.forEach((p, i) => {
    const a = g.addInput({ name: `a${i}`, type: { dtype: "f32", shape: p.a } });
    const b = g.addInput({ name: `b${i}`, type: { dtype: "f32", shape: p.b } });
    const y = g.op("matmul", [a, b], { transposeA: p.transposeA ?? false, transposeB: p.transposeB ?? false });
    g.output(`y${i}_${p.a.join("x")}_${p.b.join("x")}${p.transposeA ? "_tA" : ""}${p.transposeB ? "_tB" : ""}`, y);
  });
  return g.build();
}

/** A [m, k] @ [k, n] product with the stored shapes the transpose flags imply. */
function product(m: number, n: number, k: number, transposeA: boolean, transposeB: boolean): Product {
  return { a: transposeA ? [k, m] : [m, k], b: transposeB ? [n, k] : [k, n], transposeA, transposeB };
}

const SIZES = [1, 3, 4, 5, 7, 8, 9, 17, 33, 65];

describe("matmul on the WASM backend", () => {
  for (const transposeA of [false, true]) {
    for (const transposeB of [false, true]) {
      it(`matches the interpreter for every m, n in {${SIZES}} (k cycling through them)${transposeA ? ", a transposed" : ""}${transposeB ? ", b transposed" : ""}`, async () => {
        const products: Product[] = [];
        SIZES.forEach((m, i) => SIZES.forEach((n, j) => products.push(product(m, n, SIZES[(i + 3 * j) % SIZES.length], transposeA, transposeB))));
        await expectKernelsMatch(productsGraph("grid", products), undefined, { floor: Math.sqrt(65) });
      });
    }
  }

  it("matches for every k in {" + SIZES + "} at the tile's edges", async () => {
    const products = SIZES.flatMap((k) => [product(4, 8, k, false, false), product(5, 9, k, false, false), product(3, 7, k, true, true)]);
    await expectKernelsMatch(productsGraph("depths", products), undefined, { floor: Math.sqrt(65) });
  });

  it("crosses the k, m and n cache blocks", async () => {
    const products = [
      product(130, 40, 300, false, false),
      product(70, 33, 513, true, false),
      product(66, 1030, 3, false, true),
      product(9, 1033, 260, true, true),
    ];
    await expectKernelsMatch(productsGraph("blocks", products), undefined, { floor: Math.sqrt(513) });
  });

  it("broadcasts batch dimensions on either side", async () => {
    const products: Product[] = [
      { a: [2, 3, 5, 7], b: [3, 7, 4] },
      { a: [1, 5, 7], b: [4, 7, 6] },
      { a: [6, 7], b: [2, 7, 3] },
      { a: [2, 1, 9, 7], b: [1, 3, 7, 10] },
      { a: [4, 5, 7], b: [7, 6] }, // folded into one [20, 7] @ [7, 6] product
      { a: [4, 7, 5], b: [7, 6], transposeA: true },
      { a: [3, 2, 9, 7], b: [3, 2, 11, 7], transposeB: true },
      { a: [2, 1, 7], b: [2, 7, 5] }, // m = 1 per batch: the small-m path in a batch loop
    ];
    await expectKernelsMatch(productsGraph("batches", products), undefined, { floor: Math.sqrt(7) });
  });

  it("writes zeros for an empty contraction (k = 0)", async () => {
    const g = productsGraph("empty", [product(5, 9, 0, false, false), product(1, 9, 0, false, true)]);
    const { actual } = await expectKernelsMatch(g, { a0: [], b0: [], a1: [], b1: [] });
    expect([...Object.values(actual)[0].data]).toEqual(new Array(45).fill(0));
  });

  it("asks for a workspace only when it packs, sized for the product", () => {
    const workspace = (g: Graph) => kernelWorkspaceBytes(matmulKernel, g.nodes[0], g.inputs.map((i) => i.type));
    const rows = SMALL_GEMM_MAX_ROWS.bRowsContiguous;
    expect(workspace(productsGraph("small", [product(rows, 64, 64, false, false)]))).toBe(0);
    expect(workspace(productsGraph("packed", [product(rows + 1, 64, 64, false, false)]))).toBe(gemmWorkspaceBytes(rows + 1, 64, 64));
    expect(workspace(productsGraph("transposed", [product(rows, 64, 64, false, true)]))).toBe(gemmWorkspaceBytes(rows, 64, 64));
    // The batch of a [3, 50, 40] @ [40, 30] product folds into 150 rows.
    expect(workspace(productsGraph("folded", [{ a: [3, 50, 40], b: [40, 30] }]))).toBe(gemmWorkspaceBytes(150, 30, 40));
  });
});
