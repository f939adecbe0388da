// GEMM throughput, single thread: square f32 products at 256, 512 and 1024 through our WASM
// kernel (a module holding just the matmul node, built by the real emitter), TF.js's WASM backend
// (`tf.matMul` on tensors already on the backend, `dataSync` to wait for the result) and ONNX
// Runtime Web (an in-memory one-node MatMul model). All three run side by side in this process,
// on the same inputs, interleaved round by round so that load on the machine hits them alike.
//
// Each figure is the median of ROUNDS timings, each timing as many calls as fill ~0.3 s; the best
// timing is recorded too. Before timing, every contender runs ~1 s so V8 has tiered its code up.
//
//   npx tsx bench/gemm.ts        prints the table and the JSON
//   npm run bench -- gemm        also writes bench/results/gemm.json and docs/BENCHMARKS.md

import { pathToFileURL } from "node:url";
import { emitWasm } from "../compiler/codegen-wasm/emit.ts";
import { naivePlan } from "../compiler/codegen-wasm/naive-plan.ts";
import { GraphBuilder } from "../compiler/ir/builder.ts";
import { loadOrtWasm, loadTfjsWasm, onnxModel } from "./peers.ts";
import type { BenchReport } from "./run.ts";

const SIZES = [256, 512, 1024];
const ROUNDS = 7;
const TIMING_MS = 300;
const WARMUP_MS = 1000;

export interface Contender {
  readonly name: string;
  /** One product; resolves when the result is available to JavaScript. */
  readonly run: () => unknown;
  /** The result of the last run, for the cross-check. */
  readonly result: () => ArrayLike<number>;
  readonly dispose?: () => void;
}

export const WebAssemblyApi = (globalThis as unknown as {
  WebAssembly: { instantiate(b: Uint8Array): Promise<{ instance: { exports: Record<string, unknown> } }> };
}).WebAssembly;

/** Our kernel: the matmul node in a module of its own (naively planned: its workspace, a, b, c). */
async function mlcContender(n: number, a: Float32Array, b: Float32Array): Promise<Contender> {
  const g = new GraphBuilder(`gemm${n}`);
  const x = g.addInput({ name: "a", type: { dtype: "f32", shape: [n, n] } });
  const y = g.addInput({ name: "b", type: { dtype: "f32", shape: [n, n] } });
  g.output("c", g.op("matmul", [x, y]));
  const { wasm, layout } = emitWasm(naivePlan(g.build()));
  const { instance } = await WebAssemblyApi.instantiate(wasm);
  const buffer = (instance.exports.memory as { buffer: ArrayBuffer }).buffer;
  const entry = layout.entries.forward;
  const at = (buf: { offset: number }) => new Float32Array(buffer, buf.offset, n * n);
  at(entry.inputs[0]).set(a);
  at(entry.inputs[1]).set(b);
  const forward = instance.exports.forward as () => void;
  return { name: "mlc", run: forward, result: () => at(entry.outputs[0]) };
}

async function tfjsContender(n: number, a: Float32Array, b: Float32Array): Promise<Contender> {
  const tf = await loadTfjsWasm();
  const ta = tf.tensor2d(a, [n, n]);
  const tb = tf.tensor2d(b, [n, n]);
  let last: Float32Array = new Float32Array(0);
  return {
    name: "TF.js wasm",
    run: () => {
      const c = tf.matMul(ta, tb);
      last = c.dataSync() as Float32Array;
      c.dispose();
    },
    result: () => last,
    dispose: () => tf.dispose([ta, tb]),
  };
}

async function ortContender(n: number, a: Float32Array, b: Float32Array): Promise<Contender> {
  const ort = await loadOrtWasm();
  const model = onnxModel({
    inputs: [{ name: "a", shape: [n, n] }, { name: "b", shape: [n, n] }],
    outputs: [{ name: "c", shape: [n, n] }],
    nodes: [{ op: "MatMul", inputs: ["a", "b"], outputs: ["c"] }],
  });
  const session = await ort.InferenceSession.create(model, { executionProviders: ["wasm"], graphOptimizationLevel: "all" });
  const feeds = { a: new ort.Tensor("float32", a, [n, n]), b: new ort.Tensor("float32", b, [n, n]) };
  let last: Float32Array = new Float32Array(0);
  return {
    name: "ONNX Runtime Web",
    run: async () => {
      const out = await session.run(feeds);
      last = out.c.data as Float32Array;
    },
    result: () => last,
    dispose: () => void session.release(),
  };
}

/** Milliseconds per call, over as many calls as fit in `ms` (at least one). */
export async function timePerCall(run: () => unknown, ms: number): Promise<number> {
  const start = performance.now();
  let calls = 0;
  let now = start;
  do {
    await run();
    calls++;
    now = performance.now();
  } while (now - start < ms);
  return (now - start) / calls;
}

export const median = (xs: readonly number[]) => [...xs].sort((p, q) => p - q)[xs.length >> 1];

export interface GemmRow {
  readonly n: number;
  /** GFLOP/s (2 n^3 flops per product): median and best of the rounds, per contender. */
  readonly gflops: Record<string, { median: number; best: number }>;
  /** Our median over each peer's median. */
  readonly speedup: Record<string, number>;
  /** Largest |ours - peer| / (1 + |peer|) over the result, a check that all compute the same product. */
  readonly maxDifference: Record<string, number>;
}

export function randomMatrix(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n * n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  });
}

async function measureSize(n: number): Promise<GemmRow> {
  const a = randomMatrix(n, 1);
  const b = randomMatrix(n, 2);
  const contenders = [await mlcContender(n, a, b), await tfjsContender(n, a, b), await ortContender(n, a, b)];
  for (const c of contenders) await timePerCall(c.run, WARMUP_MS);
  const times = new Map(contenders.map((c) => [c.name, [] as number[]]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const c of contenders) times.get(c.name)!.push(await timePerCall(c.run, TIMING_MS));
  }
  const flops = 2 * n ** 3;
  const gflops: GemmRow["gflops"] = {};
  for (const [name, ms] of times) gflops[name] = { median: flops / median(ms) / 1e6, best: flops / Math.min(...ms) / 1e6 };
  const ours = contenders[0];
  const speedup: Record<string, number> = {};
  const maxDifference: Record<string, number> = {};
  for (const peer of contenders.slice(1)) {
    speedup[peer.name] = gflops[ours.name].median / gflops[peer.name].median;
    const mine = Array.from(ours.result());
    const theirs = peer.result();
    if (theirs.length !== n * n) throw new Error(`${peer.name} returned ${theirs.length} values for a ${n}x${n} product`);
    maxDifference[peer.name] = mine.reduce((worst, v, i) => Math.max(worst, Math.abs(v - theirs[i]) / (1 + Math.abs(theirs[i]))), 0);
  }
  for (const c of contenders) c.dispose?.();
  return { n, gflops, speedup, maxDifference };
}

function markdown(rows: readonly GemmRow[]): string {
  const names = Object.keys(rows[0].gflops);
  const peers = names.slice(1);
  const head = `| n | ${names.map((x) => `${x} GFLOP/s`).join(" | ")} | ${peers.map((p) => `vs ${p}`).join(" | ")} |`;
  const rule = `|${"---|".repeat(1 + names.length + peers.length)}`;
  const body = rows.map((r) =>
    `| ${r.n} | ${names.map((x) => `${r.gflops[x].median.toFixed(1)} (best ${r.gflops[x].best.toFixed(1)})`).join(" | ")} | ${peers.map((p) => `${r.speedup[p].toFixed(2)}x`).join(" | ")} |`);
  return [
    "Square f32 matrix products, one thread, GFLOP/s = 2n³ / time: median of " +
      `${ROUNDS} interleaved timings of ~${TIMING_MS} ms each (best in parentheses). mlc is one matmul node ` +
      "in its own module; TF.js is `tf.matMul` + `dataSync` on the wasm backend (SIMD, 1 thread); " +
      "ONNX Runtime Web is a one-node MatMul model on the wasm execution provider (1 thread).",
    "",
    head, rule, ...body,
    "",
    `All three compute the same products: the largest |mlc - peer| / (1 + |peer|) over the results is ` +
      peers.map((p) => `${Math.max(...rows.map((r) => r.maxDifference[p])).toExponential(1)} against ${p}`).join(" and ") + ".",
  ].join("\n");
}

export async function run(): Promise<BenchReport> {
  const rows: GemmRow[] = [];
  for (const n of SIZES) {
    rows.push(await measureSize(n));
    process.stderr.write(`gemm: n=${n} done\n`);
  }
  return { name: "gemm", title: "GEMM (f32, single thread)", results: { sizes: SIZES, rounds: ROUNDS, timingMs: TIMING_MS, rows }, markdown: markdown(rows) };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const report = await run();
  console.log(report.markdown);
  console.log(JSON.stringify(report.results, null, 2));
}
