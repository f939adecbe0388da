// int8 GEMM throughput, single thread: square u8 × i8 → i32 products at 256, 512 and 1024 through
// mlc's matmulInteger kernel (kernels/gemm-int8.ts), beside mlc's own f32 GEMM on the same sizes
// and ONNX Runtime Web's MatMulInteger (an in-memory one-node model, u8 activations as the input,
// i8 weights as an initializer so ORT may pre-pack them, wasm execution provider, 1 thread). The
// three run in this process, interleaved round by round (bench/gemm.ts's timing), so that load on
// the machine hits them alike: on a shared, loaded host only these side-by-side ratios mean much.
//
// u8 activations × i8 weights is the pair PTQ produces (docs/IR.md, "Quantization"); mlc's
// kernel runs every i8/u8 pair alike. GOP/s counts 2n³ operations (a multiply and an add).
//
//   npx tsx bench/gemm-int8.ts      prints the table and the JSON
//   npm run bench -- gemm-int8      also writes bench/results/gemm-int8.json and its section of docs/BENCHMARKS.md

import { cpus, loadavg } from "node:os";
import { pathToFileURL } from "node:url";
import { emitWasm } from "../compiler/codegen-wasm/emit.ts";
import { naivePlan } from "../compiler/codegen-wasm/naive-plan.ts";
import { GraphBuilder } from "../compiler/ir/builder.ts";
import type { DType } from "../compiler/ir/types.ts";
import { median, randomMatrix, timePerCall, WebAssemblyApi, type Contender } from "./gemm.ts";
import { loadOrtWasm, onnxModel } from "./peers.ts";
import type { BenchReport } from "./run.ts";

const SIZES = (process.env.GEMM_INT8_SIZES ?? "256,512,1024").split(",").map(Number);
const ROUNDS = 7;
const TIMING_MS = 300;
const WARMUP_MS = 1000;

const MLC_INT8 = "mlc int8";
const MLC_F32 = "mlc f32";
const ORT_INT8 = "ORT-web MatMulInteger";

/** One node `op` over two n×n inputs in a module of its own (naively planned), inputs filled in. */
async function mlcModule(name: string, op: string, n: number, dtypes: readonly [DType, DType], a: ArrayLike<number>, b: ArrayLike<number>): Promise<Contender> {
  const g = new GraphBuilder(`${op}${n}`);
  const x = g.addInput({ name: "a", type: { dtype: dtypes[0], shape: [n, n] } });
  const y = g.addInput({ name: "b", type: { dtype: dtypes[1], shape: [n, n] } });
  g.output("c", g.op(op, [x, y]));
  const { wasm, layout } = emitWasm(naivePlan(g.build()));
  const { instance } = await WebAssemblyApi.instantiate(wasm);
  const buffer = (instance.exports.memory as { buffer: ArrayBuffer }).buffer;
  const entry = layout.entries.forward;
  const view = { f32: Float32Array, i8: Int8Array, u8: Uint8Array } as const;
  const fill = (k: number, dtype: DType, data: ArrayLike<number>) => new view[dtype as keyof typeof view](buffer, entry.inputs[k].offset, n * n).set(data);
  fill(0, dtypes[0], a);
  fill(1, dtypes[1], b);
  const out = op === "matmul" ? new Float32Array(buffer, entry.outputs[0].offset, n * n) : new Int32Array(buffer, entry.outputs[0].offset, n * n);
  return { name, run: instance.exports.forward as () => void, result: () => out };
}

async function ortContender(n: number, a: Uint8Array, w: Int8Array): Promise<Contender> {
  const ort = await loadOrtWasm();
  const model = onnxModel({
    inputs: [{ name: "a", shape: [n, n], elemType: "uint8" }],
    outputs: [{ name: "c", shape: [n, n], elemType: "int32" }],
    nodes: [{ op: "MatMulInteger", inputs: ["a", "w"], outputs: ["c"] }],
    initializers: [{ name: "w", shape: [n, n], elemType: "int8", data: w }],
  });
  const session = await ort.InferenceSession.create(model, { executionProviders: ["wasm"], graphOptimizationLevel: "all" });
  const feeds = { a: new ort.Tensor("uint8", a, [n, n]) };
  let last: Int32Array = new Int32Array(0);
  return {
    name: ORT_INT8,
    run: async () => {
      const out = await session.run(feeds);
      last = out.c.data as Int32Array;
    },
    result: () => last,
    dispose: () => void session.release(),
  };
}

export interface Int8GemmRow {
  readonly n: number;
  /** GOP/s (2n³ per product; GFLOP/s for f32): median and best of the rounds. */
  readonly gops: Record<string, { median: number; best: number }>;
  /** mlc int8's median over mlc f32's and over ORT-web's. */
  readonly int8OverF32: number;
  readonly int8OverOrt: number;
  /** Whether mlc's and ORT's i32 products are identical. */
  readonly identicalToOrt: boolean;
}

/** Integers in [lo, hi] from bench/gemm.ts's uniform generator. */
const ints = (n: number, seed: number, lo: number, hi: number) => Array.from(randomMatrix(n, seed), (u) => Math.min(hi, lo + Math.floor((u + 0.5) * (hi - lo + 1))));

async function measureSize(n: number): Promise<Int8GemmRow> {
  const a = Uint8Array.from(ints(n, 1, 0, 255));
  const w = Int8Array.from(ints(n, 2, -127, 127));
  const contenders = [
    await mlcModule(MLC_INT8, "matmulInteger", n, ["u8", "i8"], a, w),
    await mlcModule(MLC_F32, "matmul", n, ["f32", "f32"], randomMatrix(n, 1), randomMatrix(n, 2)),
    await ortContender(n, a, w),
  ];
  for (const c of contenders) await timePerCall(c.run, WARMUP_MS);
  const times = new Map(contenders.map((c) => [c.name, [] as number[]]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const c of contenders) times.get(c.name)!.push(await timePerCall(c.run, TIMING_MS));
  }
  const ops = 2 * n ** 3;
  const gops: Int8GemmRow["gops"] = {};
  for (const [name, ms] of times) gops[name] = { median: ops / median(ms) / 1e6, best: ops / Math.min(...ms) / 1e6 };
  const [mine, theirs] = [contenders[0].result(), contenders[2].result()];
  const identicalToOrt = mine.length === theirs.length && Array.from(mine).every((v, i) => v === theirs[i]);
  for (const c of contenders) c.dispose?.();
  return { n, gops, int8OverF32: gops[MLC_INT8].median / gops[MLC_F32].median, int8OverOrt: gops[MLC_INT8].median / gops[ORT_INT8].median, identicalToOrt };
}

/** The host's 1-minute load average before and after the run, against its core count. */
interface HostLoad {
  readonly before: number;
  readonly after: number;
  readonly cores: number;
}

function markdown(rows: readonly Int8GemmRow[], load: HostLoad): string {
  const names = [MLC_INT8, MLC_F32, ORT_INT8];
  const head = `| n | ${names.map((x) => `${x} GOP/s`).join(" | ")} | int8 vs f32 | int8 vs ORT |`;
  const rule = `|${"---|".repeat(names.length + 3)}`;
  const body = rows.map((r) =>
    `| ${r.n} | ${names.map((x) => `${r.gops[x].median.toFixed(1)} (best ${r.gops[x].best.toFixed(1)})`).join(" | ")} | ${r.int8OverF32.toFixed(2)}x | ${r.int8OverOrt.toFixed(2)}x |`);
  const same = rows.every((r) => r.identicalToOrt);
  return [
    "Square u8 × i8 → i32 matrix products, one thread, GOP/s = 2n³ / time (GFLOP/s for mlc's f32 " +
      `GEMM on the same sizes): median of ${ROUNDS} interleaved timings of ~${TIMING_MS} ms each (best in ` +
      "parentheses). mlc int8 is one `matmulInteger` node in its own module (weights packed per call); " +
      "ORT-web is a one-node MatMulInteger model with the weights as an initializer (wasm EP, 1 thread).",
    "",
    head, rule, ...body,
    "",
    same ? "mlc's and ORT-web's i32 products are identical at every size." : "mlc's and ORT-web's i32 products DIFFER at some size (see the JSON).",
    "",
    `The host's 1-minute load average was ${load.before.toFixed(1)} before and ${load.after.toFixed(1)} after the run on ` +
      `${load.cores} cores${load.before > load.cores || load.after > load.cores ? " (a loaded, shared host)" : ""}: the absolute figures move ` +
      "with the load; the side-by-side ratios are what the run shows.",
  ].join("\n");
}

export async function run(): Promise<BenchReport> {
  const before = loadavg()[0];
  const rows: Int8GemmRow[] = [];
  for (const n of SIZES) {
    rows.push(await measureSize(n));
    process.stderr.write(`gemm-int8: n=${n} done\n`);
  }
  const load: HostLoad = { before, after: loadavg()[0], cores: cpus().length };
  return { name: "gemm-int8", title: "int8 GEMM (single thread)", results: { sizes: SIZES, rounds: ROUNDS, timingMs: TIMING_MS, load, rows }, markdown: markdown(rows, load) };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const report = await run();
  console.log(report.markdown);
  console.log(JSON.stringify(report.results, null, 2));
}
