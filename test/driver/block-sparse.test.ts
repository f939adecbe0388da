// Sparse kernels under `--sparse` (driver/block-sparse-weights.ts, passes/block-sparse.ts and
// sparse-24.ts, docs/COMPRESSION.md "Block-sparse kernels"): a dense layer whose weight keeps few 1x4 blocks gets
// blockSparseMatmul and one above the density threshold keeps matmul (the compiled IR and the
// kernel-choice report say which); both programs match the interpreter on the original weights,
// in the interpreter and as a WASM bundle; the bundle's weights file holds the packed blocks, and
// the bundle rejects a file whose structure it cannot run, naming the tensor. A 2:4 weight runs the
// 2:4 kernel for the rows of x where it pays, dense elsewhere.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { wasmBackend } from "../../compiler/codegen-wasm/backend.ts";
import { build, compile, formatBlockSparseReport, SPARSE_MAX_DENSITY, TWO_FOUR_ROWS } from "../../compiler/driver/index.ts";
import { blockSparseModel } from "../../compiler/driver/block-sparse-weights.ts";
import { toSafeTensor } from "../../compiler/bundle/tensor-io.ts";
import { blockColumns, unpackBlockSparse } from "../../compiler/ir/block-sparse.ts";
import type { Graph } from "../../compiler/ir/graph.ts";
import { interpret } from "../../compiler/ir/interpreter.ts";
import { parseGraph } from "../../compiler/ir/parser.ts";
import { decodeSafetensors, encodeSafetensors, type SafeTensor } from "../../runtime/safetensors.ts";
import { blockPatternWeight, twoFourWeight } from "../support/block-sparse-cases.ts";

const root = mkdtempSync(join(tmpdir(), "mlc-block-sparse-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

// x [5, 40] -> a (40 -> 18, 10% of its blocks kept) -> relu -> b (18 -> 10, 90% kept) -> y.
const graph: Graph = parseGraph(`graph blocks {
  input %x: f32[5,40]
  param %a.w: f32[40,18] init=zeros
  param %a.b: f32[18] init=zeros
  param %b.w: f32[18,10] init=zeros
  %0:f32[5,18] = matmul %x, %a.w {transposeA=false, transposeB=false}
  %1:f32[5,18] = add %0, %a.b
  %2:f32[5,18] = relu %1
  %3:f32[5,10] = matmul %2, %b.w {transposeA=false, transposeB=false}
  output y = %3
}`);

const params: Record<string, Float64Array> = {
  "a.w": blockPatternWeight(40, 18, 0.1, 1),
  "a.b": Float64Array.from({ length: 18 }, (_, i) => Math.fround(0.1 * Math.sin(i))),
  "b.w": blockPatternWeight(18, 10, 0.9, 2, false),
};
const x = Float64Array.from({ length: 200 }, (_, i) => Math.fround(Math.cos(0.37 * i)));
const expected = interpret(graph, { x }, { params }).outputs.y.data;

function close(actual: ArrayLike<number>, tolerance = 1e-5) {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) expect(Math.abs(actual[i] - expected[i]), `element ${i}`).toBeLessThanOrEqual(tolerance * (1 + Math.abs(expected[i])));
}

describe("the kernel choice by block density", () => {
  it("keeps dense kernels above the threshold and takes the block-sparse one at or below it", () => {
    const r = blockSparseModel(graph, params).report;
    expect(r.map((l) => [l.weight, l.kernel])).toEqual([["a.w", "block-sparse"], ["b.w", "dense"]]);
    expect(r[0].density).toBeLessThanOrEqual(SPARSE_MAX_DENSITY);
    expect(r[1].density).toBeGreaterThan(SPARSE_MAX_DENSITY);
    // The threshold itself: a weight exactly at it is sparse, one block more is dense.
    const at = blockSparseModel(graph, params, r[1].density).report;
    expect(at[1].kernel).toBe("block-sparse");
    const below = blockSparseModel(graph, params, r[1].density - 1e-9).report;
    expect(below[1].kernel).toBe("dense");
    expect(formatBlockSparseReport(r)).toMatch(/a\.w\s+\[40,18\]\s+5\s+\d+\.\d%\s+block-sparse\s+2\.8 KiB -> [\d.]+ KiB\n\s+b\.w\s+\[18,10\]\s+5\s+\d+\.\d%\s+dense/);
  });

  it("compiles the sparse layer to blockSparseMatmul and leaves the dense one a matmul; the interpreter agrees with the original", () => {
    const program = compile(graph, { sparse: { params } });
    const g = program.entries[0].graph;
    expect(g.nodes.filter((n) => n.op === "blockSparseMatmul").map((n) => n.inputs)).toEqual([["x", "a.w/values", "a.w/rows", "a.w/starts"]]);
    expect(g.nodes.filter((n) => n.op === "matmul").map((n) => n.inputs)).toEqual([["2", "b.w"]]);
    expect(g.params.map((p) => p.name)).toEqual(["a.w/values", "a.w/rows", "a.w/starts", "a.b", "b.w"]);
    const blocks = program.sparsification!.blocks!;
    const packed = Object.fromEntries(Object.entries(blocks.tensors).map(([n, t]) => [n, t.data]));
    expect(Array.from(unpackBlockSparse({ k: 40, n: 18, values: packed["a.w/values"], rows: packed["a.w/rows"], starts: packed["a.w/starts"] }))).toEqual(Array.from(params["a.w"]));
    const { "a.w": _dense, ...others } = params;
    close(interpret(g, { x }, { params: { ...others, ...packed } }).outputs.y.data, 1e-12);
    expect(program.records.find((r) => r.pass === "block-sparse")?.stats["layers-block-sparse"]).toBe(1);
  });

  it("with every weight dense enough, the program is the plain one", () => {
    const dense = { ...params, "a.w": blockPatternWeight(40, 18, 1, 3, false) };
    const g = compile(graph, { sparse: { params: dense } }).entries[0].graph;
    expect(g.nodes.some((n) => n.op === "blockSparseMatmul")).toBe(false);
    expect(g.params.map((p) => p.name)).toEqual(["a.w", "a.b", "b.w"]);
  });
});

interface Bundle {
  inputs: Record<string, Float32Array>;
  outputs: Record<string, Float32Array>;
  forward(): void;
  loadWeights(bytes: Uint8Array): unknown;
}

describe("a WASM bundle with a block-sparse layer", async () => {
  const tensors: Record<string, SafeTensor> = Object.fromEntries(graph.params.map((p) => [p.name, toSafeTensor(p.type, params[p.name])]));
  const built = build(graph, { backend: wasmBackend, sparse: { params }, weights: { source: "test", tensors } });
  for (const [file, contents] of Object.entries(built.files)) writeFileSync(join(root, file), contents);
  const weightsBytes = readFileSync(join(root, `${built.name}.safetensors`));
  const { load } = (await import(pathToFileURL(join(root, `${built.name}.js`)).href)) as { load: () => Promise<Bundle> };

  it("holds the packed blocks in its weights file and matches the interpreter", async () => {
    const file = decodeSafetensors(weightsBytes).tensors;
    expect(Object.keys(file).sort()).toEqual(["a.b", "a.w/rows", "a.w/starts", "a.w/values", "b.w"]);
    expect(file["a.w/starts"].shape).toEqual([blockColumns(18) + 1]);
    const m = await load();
    m.inputs.x.set(x);
    m.forward();
    close(m.outputs.y);
  });

  it("rejects weights files it cannot run, naming the tensor: dense a.w, rows outside K, starts past the blocks", async () => {
    const m = await load();
    const file = decodeSafetensors(weightsBytes).tensors;
    const withTensor = (name: string, t: SafeTensor) => encodeSafetensors({ ...file, [name]: t });
    expect(() => m.loadWeights(encodeSafetensors({ "a.w": tensors["a.w"] }))).toThrow(/weights: 'a\.w' is not a param of blocks/);
    const rows = Int32Array.from(file["a.w/rows"].data as Int32Array);
    rows[2] = 40;
    expect(() => m.loadWeights(withTensor("a.w/rows", { ...file["a.w/rows"], data: rows }))).toThrow(
      /weights: 'a\.w\/rows' holds 40 at element 2 \(index \[2\] of i32\[\d+\]\), outside its valid range \[0, 40\)/);
    const starts = Int32Array.from(file["a.w/starts"].data as Int32Array);
    starts[3] = -1;
    expect(() => m.loadWeights(withTensor("a.w/starts", { ...file["a.w/starts"], data: starts }))).toThrow(/weights: 'a\.w\/starts' holds -1 at element 3/);
    const values = file["a.w/values"];
    expect(() => m.loadWeights(withTensor("a.w/values", { ...values, shape: [values.shape[0] + 1, 4], data: new Float32Array((values.shape[0] + 1) * 4) }))).toThrow(/weights: 'a\.w\/values' must be f32\[\d+,4\]/);
    // The bundle's own file still loads and runs after the refusals.
    m.loadWeights(weightsBytes);
    m.inputs.x.set(x);
    m.forward();
    close(m.outputs.y);
  });
});

describe("a pointwise (1x1) convolution with a block-sparse weight", async () => {
  const conv = parseGraph(`graph pointwise {
  input %x: f32[2,3,3,16]
  param %p.w: f32[1,1,16,12] init=zeros
  param %q.w: f32[3,3,12,4] init=zeros
  %0:f32[2,3,3,12] = conv2d %x, %p.w {stride=[1,1], padding="same", pads=[0,0,0,0], dilation=[1,1], groups=1}
  %1:f32[2,3,3,12] = relu %0
  %2:f32[2,3,3,4] = conv2d %1, %q.w {stride=[1,1], padding="same", pads=[0,0,0,0], dilation=[1,1], groups=1}
  output y = %2
}`);
  // Both weights mostly zero blocks; only the pointwise one is a dense layer's matrix.
  const convParams = { "p.w": blockPatternWeight(16, 12, 0.2, 5, false), "q.w": blockPatternWeight(108, 4, 0.2, 6, false) };
  const xs = Float64Array.from({ length: 2 * 3 * 3 * 16 }, (_, i) => Math.fround(Math.sin(0.21 * i)));
  const want = interpret(conv, { x: xs }, { params: convParams }).outputs.y.data;

  it("becomes blockSparseMatmul over the NHWC input (the 3x3 one stays a conv2d), computing the same", async () => {
    const program = compile(conv, { sparse: { params: convParams } });
    const g = program.entries[0].graph;
    expect(g.nodes.map((n) => n.op)).toEqual(["blockSparseMatmul", "relu", "conv2d"]);
    const packed = Object.fromEntries(Object.entries(program.sparsification!.blocks!.tensors).map(([n, t]) => [n, t.data]));
    const got = interpret(g, { x: xs }, { params: { "q.w": convParams["q.w"], ...packed } }).outputs.y.data;
    for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i])).toBeLessThanOrEqual(1e-12 * (1 + Math.abs(want[i])));
  });

  it("runs in a WASM bundle imported from a folder outside the repo, matching the interpreter", async () => {
    const tensors: Record<string, SafeTensor> = Object.fromEntries(conv.params.map((p) => [p.name, toSafeTensor(p.type, convParams[p.name as keyof typeof convParams])]));
    const built = build(conv, { backend: wasmBackend, sparse: { params: convParams }, weights: { source: "test", tensors } });
    const dir = mkdtempSync(join(root, "pointwise-"));
    for (const [file, contents] of Object.entries(built.files)) writeFileSync(join(dir, file), contents);
    const { load } = (await import(pathToFileURL(join(dir, `${built.name}.js`)).href)) as { load: () => Promise<Bundle> };
    const m = await load();
    m.inputs.x.set(xs);
    m.forward();
    for (let i = 0; i < want.length; i++) expect(Math.abs(m.outputs.y[i] - want[i]), `element ${i}`).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(want[i])));
  });
});

describe("a 2:4 weight", async () => {
  // x [rows, 16] by a 2:4 weight [16, 12]: nearly every 1x4 block is kept, so block-sparse does not pay.
  const layer = (rows: number) => parseGraph(`graph twofour {
  input %x: f32[${rows},16]
  param %c.w: f32[16,12] init=zeros
  %0:f32[${rows},12] = matmul %x, %c.w {transposeA=false, transposeB=false}
  output y = %0
}`);
  const w24 = { "c.w": twoFourWeight(16, 12, 9) };
  const xs = (rows: number) => Float64Array.from({ length: rows * 16 }, (_, i) => Math.fround(Math.cos(0.13 * i)));

  it(`runs sparse24Matmul for ${TWO_FOUR_ROWS.min} to ${TWO_FOUR_ROWS.max} rows of x and dense outside them (and for a weight that is not 2:4)`, () => {
    const kernels = (rows: number, params = w24) => compile(layer(rows), { sparse: { params } }).entries[0].graph.nodes.map((n) => n.op);
    expect(kernels(8)).toEqual(["sparse24Matmul"]);
    expect(kernels(TWO_FOUR_ROWS.min)).toEqual(["sparse24Matmul"]);
    expect(kernels(TWO_FOUR_ROWS.max)).toEqual(["sparse24Matmul"]);
    expect(kernels(TWO_FOUR_ROWS.min - 1)).toEqual(["matmul"]);
    expect(kernels(TWO_FOUR_ROWS.max + 1)).toEqual(["matmul"]);
    const three = Float64Array.from(w24["c.w"]);
    for (const r of [0, 1, 2]) three[r * 12 + 5] = 0.25;
    expect(kernels(8, { "c.w": three })).toEqual(["matmul"]);
    const report = blockSparseModel(layer(8), w24).report;
    expect(report.map((l) => [l.kernel, l.rows])).toEqual([["2:4", 8]]);
    expect(formatBlockSparseReport(report)).toMatch(/c\.w\s+\[16,12\]\s+8\s+\d+\.\d%\s+2:4\s+0\.8 KiB -> 0\.5 KiB/);
  });

  it("matches the interpreter compiled and as a WASM bundle, whose weights file holds W/values and W/index; an index past 3 is refused naming the tensor", async () => {
    const g = layer(8);
    const want = interpret(g, { x: xs(8) }, { params: w24 }).outputs.y.data;
    const program = compile(g, { sparse: { params: w24 } });
    const packed = Object.fromEntries(Object.entries(program.sparsification!.blocks!.tensors).map(([n, t]) => [n, t.data]));
    const got = interpret(program.entries[0].graph, { x: xs(8) }, { params: packed }).outputs.y.data;
    for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i])).toBeLessThanOrEqual(1e-12 * (1 + Math.abs(want[i])));

    const tensors = { "c.w": toSafeTensor({ dtype: "f32", shape: [16, 12] }, w24["c.w"]) };
    const built = build(g, { backend: wasmBackend, sparse: { params: w24 }, weights: { source: "test", tensors } });
    const dir = mkdtempSync(join(root, "twofour-"));
    for (const [file, contents] of Object.entries(built.files)) writeFileSync(join(dir, file), contents);
    const bytes = readFileSync(join(dir, `${built.name}.safetensors`));
    const file = decodeSafetensors(bytes).tensors;
    expect(Object.fromEntries(Object.entries(file).map(([n, t]) => [n, [t.dtype, t.shape]]))).toEqual({ "c.w/values": ["F32", [12, 8]], "c.w/index": ["U8", [12, 8]] });
    const { load } = (await import(pathToFileURL(join(dir, `${built.name}.js`)).href)) as { load: () => Promise<Bundle> };
    const m = await load();
    m.inputs.x.set(xs(8));
    m.forward();
    for (let i = 0; i < want.length; i++) expect(Math.abs(m.outputs.y[i] - want[i]), `element ${i}`).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(want[i])));
    const index = Uint8Array.from(file["c.w/index"].data as Uint8Array);
    index[5] = 4;
    expect(() => m.loadWeights(encodeSafetensors({ ...file, "c.w/index": { ...file["c.w/index"], data: index } }))).toThrow(
      /weights: 'c\.w\/index' holds 4 at element 5 \(index \[0, 5\] of u8\[12,8\]\), outside its valid range \[0, 4\)/);
  });
});
