// The WGSL GEMM (matmul, fusedMatmul) against the reference interpreter on a WebGPU device, in
// both of its forms: the workgroup-tiled kernel GPUs run (forced with workgroupTiles: true, since
// the device here may be SwiftShader) and the register-blocked one SwiftShader runs. Cases: m
// and n at 1, below/at/above the 4 x 4 block and past one 32- or 64-wide tile, k below, at and
// above the 16-deep panel, all four transpose combinations, broadcast batch dimensions, k = 0,
// and epilogues with broadcast bias, residual and activations. Products are compared with an
// absolute floor of sqrt(k) (a float32 dot product of N(0,1) terms is accurate relative to its
// terms' size, not to a sum that may cancel), as in wasm-gemm.test.ts.
//
// SwiftShader takes 0.3-0.5 s to compile each tiled GEMM (shapes and offsets are baked in, so
// every product is its own shader), so the tiled form gets a chosen subset of the cases.

import { describe, expect, it } from "vitest";
import { GraphBuilder } from "../../compiler/ir/builder.ts";
import type { Graph } from "../../compiler/ir/graph.ts";
import { expectWgslMatchesInterpreter, runWgsl } from "../support/wgsl-harness.ts";

interface Product {
  readonly a: number[];
  readonly b: number[];
  readonly transposeA?: boolean;
  readonly transposeB?: boolean;
}

function productsGraph(name: string, products: readonly Product[]): Graph {
  const g = new GraphBuilder(name);
  products.forEach((p, i) => {
    const a = g.addInput({ name: `a${i}`, type: { dtype: "f32", shape: p.a } });
    const b = g.addInput({ name: `b${i}`, type: { dtype: "f32", shape: p.b } });
    g.output(`y${i}`, g.op("matmul", [a, b], { transposeA: p.transposeA ?? false, transposeB: p.transposeB ?? false }));
  });
  return g.build();
}

function product(m: number, n: number, k: number, transposeA: boolean, transposeB: boolean): Product {
  return { a: transposeA ? [k, m] : [m, k], b: transposeB ? [n, k] : [k, n], transposeA, transposeB };
}

const SHAPES: [number, number, number][] = [[1, 65, 17], [5, 4, 33], [33, 3, 1], [65, 33, 5], [4, 1, 16], [17, 70, 3]];
const FLAGS: [boolean, boolean][] = [[false, false], [true, false], [false, true], [true, true]];

const BATCHES: Product[] = [
  { a: [2, 3, 5, 7], b: [3, 7, 4] },
  { a: [6, 7], b: [2, 7, 3] },
  { a: [2, 1, 9, 7], b: [1, 3, 7, 10] },
  { a: [3, 2, 7, 9], b: [3, 2, 11, 7], transposeA: true, transposeB: true },
];

function epilogues(): Graph {
  const b = new GraphBuilder("epilogues");
  const x = b.addInput({ name: "x", type: { dtype: "f32", shape: [33, 20] } });
  const w = b.addInput({ name: "w", type: { dtype: "f32", shape: [20, 70] } });
  const bias = b.addInput({ name: "bias", type: { dtype: "f32", shape: [70] } });
  const res = b.addInput({ name: "res", type: { dtype: "f32", shape: [33, 70] } });
  const s = b.addInput({ name: "s", type: { dtype: "f32", shape: [] } });
  b.output("gelu", b.op("fusedMatmul", [x, w, bias, res], { epilogue: "add(x0, x1); gelu[tanh](t0); add(t1, x2)" }));
  b.output("scaled", b.op("fusedMatmul", [w, x, s], { epilogue: "mul(x0, x1); tanh(t0)", transposeA: true, transposeB: true }));
  return b.build();
}

describe("matmul, register-blocked (SwiftShader's form)", () => {
  const blocked = { target: { workgroupTiles: false } };
  it("m, n and k around the block size under all four transpose flags", async () => {
    const products = FLAGS.flatMap(([ta, tb]) => SHAPES.map(([m, n, k]) => product(m, n, k, ta, tb)));
    await expectWgslMatchesInterpreter(productsGraph("grid", products), undefined, { floor: Math.sqrt(65), ...blocked });
  });

  it("large products, broadcast batch dimensions, epilogues", async () => {
    const products = [product(130, 70, 300, false, false), product(70, 129, 40, true, true), ...BATCHES];
    await expectWgslMatchesInterpreter(productsGraph("large", products), undefined, { floor: Math.sqrt(300), ...blocked });
    await expectWgslMatchesInterpreter(epilogues(), undefined, { floor: Math.sqrt(20), ...blocked });
  });

  it("writes zeros for an empty contraction (k = 0)", async () => {
    const g = productsGraph("empty", [product(5, 9, 0, false, false)]);
    for (const workgroupTiles of [false, true]) {
      const { outputs } = await runWgsl(g, { a0: [], b0: [] }, {}, { workgroupTiles });
      expect([...outputs.y0.data]).toEqual(new Array(45).fill(0));
    }
  });
});

describe("matmul, workgroup-tiled (the GPU form)", () => {
  const tiled = { target: { workgroupTiles: true } };
  it("edges of the 4 x 4 block, the 32-wide tile and the 16-deep panel, one shape per transpose combination", async () => {
    const products = SHAPES.slice(0, 4).map(([m, n, k], i) => product(m, n, k, ...FLAGS[i]));
    await expectWgslMatchesInterpreter(productsGraph("tiles", products), undefined, { floor: Math.sqrt(65), ...tiled });
  });

  it("a 64-wide tile over several panels, transposed broadcast batches, epilogues", async () => {
    const products = [product(130, 70, 300, false, false), BATCHES[3]];
    await expectWgslMatchesInterpreter(productsGraph("large", products), undefined, { floor: Math.sqrt(300), ...tiled });
    await expectWgslMatchesInterpreter(epilogues(), undefined, { floor: Math.sqrt(20), ...tiled });
  });
});
