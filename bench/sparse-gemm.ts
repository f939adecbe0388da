// Block-sparse GEMM against dense, single thread: y[M, N] = x[M, K] · W[K, N] with W pruned in
// random 1x4 blocks (one input row by four output channels: the kernel's format, ir/block-sparse.ts)
// at 50, 70, 80, 90 and 95% sparsity, through mlc's blockSparseMatmul kernel
// (codegen-wasm/kernels/block-sparse.ts), and W pruned 2:4 through sparse24Matmul (sparse24.ts), beside mlc's dense f32 GEMM (the matmul kernel a bundle
// runs for the same layer, W packed per call), TF.js-wasm's tf.matMul and ONNX Runtime Web's
// MatMul with W as an initializer (both dense, 1 thread). Everything runs in this process,
// interleaved round by round (bench/gemm.ts's timing), so load on the shared host hits all alike;
// the side-by-side ratios are what a run shows. CPU time (user + sys) per call is recorded beside
// the wall time. The density at which sparse stops paying is docs/COMPRESSION.md's threshold
// (driver/block-sparse-weights.ts SPARSE_MAX_DENSITY).
//
//   npx tsx bench/sparse-gemm.ts      prints the table and the JSON
//   npm run bench -- sparse-gemm      also writes bench/results/sparse-gemm.json and its section of docs/BENCHMARKS.md

import { cpus, loadavg } from "node:os";
import { pathToFileURL } from "node:url";
import { emitWasm } from "../compiler/codegen-wasm/emit.ts";
import { naivePlan } from "../compiler/codegen-wasm/naive-plan.ts";
import { GraphBuilder } from "../compiler/ir/builder.ts";
import { BLOCK_COLS, blockColumns, packBlockSparse } from "../compiler/ir/block-sparse.ts";
import { pack24 } from "../compiler/ir/sparse24.ts";
import { median, WebAssemblyApi, type Contender } from "./gemm.ts";
import { loadOrtWasm, loadTfjsWasm, onnxModel } from "./peers.ts";
import type { BenchReport } from "./run.ts";

/** M x K x N shapes: a batch of 8, 64 and 256 rows through 1024- and 512-wide layers. */
const SHAPES = (process.env.SPARSE_GEMM_SHAPES ?? "8x1024x1024,64x1024x1024,256x512x512").split(",").map((s) => s.split("x").map(Number) as [number, number, number]);
const SPARSITIES = (process.env.SPARSE_GEMM_SPARSITIES ?? "0.5,0.7,0.8,0.9,0.95").split(",").map(Number);
const PEERS = process.env.SPARSE_GEMM_PEERS !== "0";
const ROUNDS = Number(process.env.SPARSE_GEMM_ROUNDS ?? 7);
const TIMING_MS = 250;
const WARMUP_MS = 500;

const DENSE = "mlc dense";
const TFJS = "TF.js-wasm dense";
const ORT = "ORT-web dense";
const sparseName = (s: number) => `mlc block-sparse ${Math.round(s * 100)}%`;
const TWO_FOUR = "mlc 2:4";
const WITH_24 = process.env.SPARSE_GEMM_24 !== "0";

function uniform(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  });
}

/** W with exactly round(sparsity * blocks) of its 1x4 blocks zeroed, chosen at random. */
function blockPruned(w: Float32Array, k: number, n: number, sparsity: number, seed: number): Float32Array {
  const nb = blockColumns(n);
  const order = Array.from({ length: k * nb }, (_, i) => i);
  const r = uniform(order.length, seed);
  order.sort((a, b) => r[a] - r[b]);
  const out = Float32Array.from(w);
  for (const b of order.slice(0, Math.round(sparsity * order.length))) {
    const row = Math.floor(b / nb);
    const j = b % nb;
    for (let c = j * BLOCK_COLS; c < Math.min(n, (j + 1) * BLOCK_COLS); c++) out[row * n + c] = 0;
  }
  return out;
}

async function instantiate(g: GraphBuilder) {
  const { wasm, layout } = emitWasm(naivePlan(g.build()));
  const { instance } = await WebAssemblyApi.instantiate(wasm);
  const buffer = (instance.exports.memory as { buffer: ArrayBuffer }).buffer;
  return { buffer, entry: layout.entries.forward, run: instance.exports.forward as () => void };
}

async function mlcDense(m: number, k: number, n: number, x: Float32Array, w: Float32Array): Promise<Contender> {
  const g = new GraphBuilder("dense");
  const a = g.addInput({ name: "x", type: { dtype: "f32", shape: [m, k] } });
  const b = g.addInput({ name: "w", type: { dtype: "f32", shape: [k, n] } });
  g.output("y", g.op("matmul", [a, b]));
  const { buffer, entry, run } = await instantiate(g);
  new Float32Array(buffer, entry.inputs[0].offset, m * k).set(x);
  new Float32Array(buffer, entry.inputs[1].offset, k * n).set(w);
  return { name: DENSE, run, result: () => new Float32Array(buffer, entry.outputs[0].offset, m * n) };
}

async function mlcSparse(name: string, m: number, k: number, n: number, x: Float32Array, w: Float32Array): Promise<Contender & { density: number }> {
  const p = packBlockSparse(w, k, n);
  const g = new GraphBuilder("sparse");
  const a = g.addInput({ name: "x", type: { dtype: "f32", shape: [m, k] } });
  const values = g.addInput({ name: "values", type: { dtype: "f32", shape: [p.blocks, BLOCK_COLS] } });
  const rows = g.addInput({ name: "rows", type: { dtype: "i32", shape: [p.blocks] } });
  const starts = g.addInput({ name: "starts", type: { dtype: "i32", shape: [blockColumns(n) + 1] } });
  g.output("y", g.op("blockSparseMatmul", [a, values, rows, starts], { n }));
  const { buffer, entry, run } = await instantiate(g);
  new Float32Array(buffer, entry.inputs[0].offset, m * k).set(x);
  new Float32Array(buffer, entry.inputs[1].offset, p.values.length).set(p.values);
  new Int32Array(buffer, entry.inputs[2].offset, p.blocks).set(p.rows);
  new Int32Array(buffer, entry.inputs[3].offset, p.starts.length).set(p.starts);
  return { name, run, result: () => new Float32Array(buffer, entry.outputs[0].offset, m * n), density: p.blocks / (k * blockColumns(n)) };
}

/** W with the two smallest |w| of every group of four input rows of each channel zeroed (2:4). */
function twoFour(w: Float32Array, k: number, n: number): Float32Array {
  const out = Float32Array.from(w);
  for (let g = 0; g < k / 4; g++) {
    for (let c = 0; c < n; c++) {
      const rows = [0, 1, 2, 3].sort((a, b) => Math.abs(w[(4 * g + a) * n + c]) - Math.abs(w[(4 * g + b) * n + c]));
      for (const r of rows.slice(0, 2)) out[(4 * g + r) * n + c] = 0;
    }
  }
  return out;
}

async function mlc24(m: number, k: number, n: number, x: Float32Array, w: Float32Array): Promise<Contender> {
  const p = pack24(w, k, n);
  const g = new GraphBuilder("sparse24");
  const a = g.addInput({ name: "x", type: { dtype: "f32", shape: [m, k] } });
  const values = g.addInput({ name: "values", type: { dtype: "f32", shape: [n, k / 2] } });
  const index = g.addInput({ name: "index", type: { dtype: "u8", shape: [n, k / 2] } });
  g.output("y", g.op("sparse24Matmul", [a, values, index]));
  const { buffer, entry, run } = await instantiate(g);
  new Float32Array(buffer, entry.inputs[0].offset, m * k).set(x);
  new Float32Array(buffer, entry.inputs[1].offset, p.values.length).set(p.values);
  new Uint8Array(buffer, entry.inputs[2].offset, p.index.length).set(p.index);
  return { name: TWO_FOUR, run, result: () => new Float32Array(buffer, entry.outputs[0].offset, m * n) };
}

async function tfjsDense(m: number, k: number, n: number, x: Float32Array, w: Float32Array): Promise<Contender> {
  const tf = await loadTfjsWasm();
  const ta = tf.tensor2d(x, [m, k]);
  const tb = tf.tensor2d(w, [k, n]);
  let last: Float32Array = new Float32Array(0);
  return {
    name: TFJS,
    run: () => {
      const c = tf.matMul(ta, tb);
      last = c.dataSync() as Float32Array;
      c.dispose();
    },
    result: () => last,
    dispose: () => tf.dispose([ta, tb]),
  };
}

async function ortDense(m: number, k: number, n: number, x: Float32Array, w: Float32Array): Promise<Contender> {
  const ort = await loadOrtWasm();
  const model = onnxModel({
    inputs: [{ name: "x", shape: [m, k] }],
    outputs: [{ name: "y", shape: [m, n] }],
    nodes: [{ op: "MatMul", inputs: ["x", "w"], outputs: ["y"] }],
    initializers: [{ name: "w", shape: [k, n], elemType: "float32", data: w }],
  });
  const session = await ort.InferenceSession.create(model, { executionProviders: ["wasm"], graphOptimizationLevel: "all" });
  const feeds = { x: new ort.Tensor("float32", x, [m, k]) };
  let last: Float32Array = new Float32Array(0);
  return {
    name: ORT,
    run: async () => {
      const out = await session.run(feeds);
      last = out.y.data as Float32Array;
    },
    result: () => last,
    dispose: () => void session.release(),
  };
}

/** Wall and CPU (user + sys) milliseconds per call, over as many calls as fit in `ms`. */
async function timed(run: () => unknown, ms: number): Promise<{ wall: number; cpu: number }> {
  const start = performance.now();
  const cpu0 = process.cpuUsage();
  let calls = 0;
  let now = start;
  do {
    await run();
    calls++;
    now = performance.now();
  } while (now - start < ms);
  const cpu = process.cpuUsage(cpu0);
  return { wall: (now - start) / calls, cpu: (cpu.user + cpu.system) / 1000 / calls };
}

export interface SparseGemmRow {
  readonly shape: readonly [number, number, number];
  /** Per contender: median wall and CPU ms per product. */
  readonly ms: Record<string, { wall: number; cpu: number }>;
  /** Per sparsity: kept blocks / all blocks, and mlc dense's median wall time over the sparse one's. */
  readonly sparse: { sparsity: number; density: number; overDense: number; overTfjs?: number; overOrt?: number; maxError: number }[];
  /** 2:4: mlc dense's median wall time over the 2:4 kernel's, and its largest relative error. */
  readonly twoFour?: { overDense: number; maxError: number };
}

async function measure([m, k, n]: readonly [number, number, number]): Promise<SparseGemmRow> {
  const x = uniform(m * k, 1);
  const w = uniform(k * n, 2);
  const sparse = await Promise.all(SPARSITIES.map((s, i) => mlcSparse(sparseName(s), m, k, n, x, blockPruned(w, k, n, s, 10 + i))));
  const w24 = twoFour(w, k, n);
  const contenders: Contender[] = [await mlcDense(m, k, n, x, w), ...sparse, ...(WITH_24 ? [await mlc24(m, k, n, x, w24)] : [])];
  if (PEERS) contenders.push(await tfjsDense(m, k, n, x, w), await ortDense(m, k, n, x, w));
  for (const c of contenders) await timed(c.run, WARMUP_MS);
  const times = new Map(contenders.map((c) => [c.name, [] as { wall: number; cpu: number }[]]));
  for (let round = 0; round < ROUNDS; round++) for (const c of contenders) times.get(c.name)!.push(await timed(c.run, TIMING_MS));
  const ms: SparseGemmRow["ms"] = {};
  for (const [name, ts] of times) ms[name] = { wall: median(ts.map((t) => t.wall)), cpu: median(ts.map((t) => t.cpu)) };
  // The kernel's product against a float64 one of the same pruned weight (a few rows).
  const errorOf = (y: ArrayLike<number>, pruned: Float32Array) => {
    let maxError = 0;
    for (let r = 0; r < Math.min(m, 4); r++) {
      for (let c = 0; c < n; c++) {
        let ref = 0;
        for (let p = 0; p < k; p++) ref += x[r * k + p] * pruned[p * n + c];
        maxError = Math.max(maxError, Math.abs(y[r * n + c] - ref) / (1 + Math.abs(ref)));
      }
    }
    return maxError;
  };
  const rows = SPARSITIES.map((s, i) => {
    const maxError = errorOf(sparse[i].result(), blockPruned(w, k, n, s, 10 + i));
    const wall = ms[sparseName(s)].wall;
    return {
      sparsity: s,
      density: sparse[i].density,
      overDense: ms[DENSE].wall / wall,
      ...(PEERS ? { overTfjs: ms[TFJS].wall / wall, overOrt: ms[ORT].wall / wall } : {}),
      maxError,
    };
  });
  const two = WITH_24 ? { twoFour: { overDense: ms[DENSE].wall / ms[TWO_FOUR].wall, maxError: errorOf(contenders.find((c) => c.name === TWO_FOUR)!.result(), w24) } } : {};
  for (const c of contenders) c.dispose?.();
  return { shape: [m, k, n], ms, sparse: rows, ...two };
}

function markdown(rows: readonly SparseGemmRow[], load: { before: number; after: number; cores: number }): string {
  const out = [
    "y[M, N] = x[M, K] · W[K, N], W pruned in random 1x4 blocks (one input row by four output channels), " +
      `one thread: median of ${ROUNDS} interleaved timings of ~${TIMING_MS} ms each, wall ms per product (CPU ms in ` +
      "parentheses). mlc block-sparse is one `blockSparseMatmul` node (only the kept blocks stored and visited); " +
      "mlc dense is its `matmul` on the unpruned W (as a bundle runs a dense layer); TF.js-wasm (`tf.matMul` + " +
      "`dataSync`) and ORT-web (MatMul, W an initializer) are dense, 1 thread. Speedup = dense wall time / sparse wall time.",
    "",
  ];
  for (const r of rows) {
    const [m, k, n] = r.shape;
    const dense = [DENSE, ...(PEERS ? [TFJS, ORT] : [])];
    out.push(`**M=${m}, K=${k}, N=${n}** — dense: ${dense.map((d) => `${d} ${r.ms[d].wall.toFixed(3)} ms (${r.ms[d].cpu.toFixed(3)})`).join(", ")}`, "");
    out.push(`| block sparsity | kept blocks | mlc block-sparse ms | vs mlc dense |${PEERS ? " vs TF.js-wasm | vs ORT-web |" : ""} max rel. error |`);
    out.push(`|---|---|---|---|${PEERS ? "---|---|" : ""}---|`);
    for (const s of r.sparse) {
      const t = r.ms[sparseName(s.sparsity)];
      out.push(`| ${Math.round(s.sparsity * 100)}% | ${(s.density * 100).toFixed(1)}% | ${t.wall.toFixed(3)} (${t.cpu.toFixed(3)}) | **${s.overDense.toFixed(2)}x** |` +
        `${PEERS ? ` ${s.overTfjs!.toFixed(2)}x | ${s.overOrt!.toFixed(2)}x |` : ""} ${s.maxError.toExponential(1)} |`);
    }
    if (r.twoFour) {
      const t = r.ms[TWO_FOUR];
      out.push("", `2:4 (50% of the weights, the two smallest |w| of every group of four input rows zeroed; mlc's sparse24Matmul): ${t.wall.toFixed(3)} ms (${t.cpu.toFixed(3)}), **${r.twoFour.overDense.toFixed(2)}x** mlc dense, max rel. error ${r.twoFour.maxError.toExponential(1)}.`);
    }
    out.push("");
  }
  out.push(`The host's 1-minute load average was ${load.before.toFixed(1)} before and ${load.after.toFixed(1)} after the run on ${load.cores} cores` +
    `${load.before > load.cores || load.after > load.cores ? " (a loaded, shared host)" : ""}: absolute times move with the load; the side-by-side ratios are what the run shows.`);
  return out.join("\n");
}

export async function run(): Promise<BenchReport> {
  const before = loadavg()[0];
  const rows: SparseGemmRow[] = [];
  for (const shape of SHAPES) {
    rows.push(await measure(shape));
    process.stderr.write(`sparse-gemm: ${shape.join("x")} done\n`);
  }
  const load = { before, after: loadavg()[0], cores: cpus().length };
  return { name: "sparse-gemm", title: "Block-sparse GEMM (single thread)", results: { shapes: SHAPES, sparsities: SPARSITIES, rounds: ROUNDS, timingMs: TIMING_MS, load, rows }, markdown: markdown(rows, load) };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const report = await run();
  console.log(report.markdown);
  console.log(JSON.stringify(report.results, null, 2));
}
