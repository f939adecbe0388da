// Debug bundles (`mlc build --debug`, codegen-wasm/debug.ts + runtime/bundle-debug.js): every
// example's bundle runs its checks without a complaint and computes exactly what the normal bundle
// computes (inference forward, forward + train step, an --accumulate, a --checkpoint sqrt and a
// --mixed f16 build); a plan that overlaps two live values, a kernel that writes past its slot and
// one that leaves its result unwritten fail loudly, naming the entry, the kernel, the values and
// their arena bytes; the normal bundle stays as it was (no imports, no debug table, the other
// files equal); other targets refuse --debug.

import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { randomInputs } from "../../compiler/cli/random-inputs.ts";
import { writeWasmBundle } from "../../compiler/codegen-wasm/bundle.ts";
import { emitWasmEntries } from "../../compiler/codegen-wasm/emit.ts";
import { withWorkspace, type KernelArgs, type KernelTable } from "../../compiler/codegen-wasm/kernel.ts";
import { WASM_KERNELS } from "../../compiler/codegen-wasm/kernels/index.ts";
import type { Expr } from "../../compiler/codegen-wasm/module.ts";
import type { ProgramEntry } from "../../compiler/bundle/backend.ts";
import { compile, type CompileOptions } from "../../compiler/driver/compile.ts";
import { wasmBackend } from "../../compiler/codegen-wasm/backend.ts";
import { inferenceGraph } from "../../compiler/driver/inference.ts";
import { compileModelFile } from "../../compiler/frontend/index.ts";
import { aliasClasses } from "../../compiler/ir/aliasing.ts";
import type { Graph } from "../../compiler/ir/graph.ts";
import { liveness } from "../../compiler/ir/liveness.ts";
import { byteSize, formatType } from "../../compiler/ir/types.ts";
import { trainingSpec } from "../../compiler/passes/train-options.ts";
import { EXAMPLES } from "../support/example-graphs.ts";

// The tsconfig's libs carry no WebAssembly declarations; this is the part used.
interface WasmModuleApi {
  new (bytes: Uint8Array): object;
  imports(m: object): { module: string; name: string }[];
}
const WasmApi = (globalThis as unknown as { WebAssembly: { Module: WasmModuleApi } }).WebAssembly;

const root = mkdtempSync(join(tmpdir(), "mlc-debug-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

type Views = Record<string, ArrayLike<number> & { set(a: ArrayLike<number>): void }>;
interface Bundle {
  inputs: Views;
  outputs: Views;
  params: Views;
  forward(): void;
  trainStep(): number;
  applyUpdate(): void;
}
interface BundleModule {
  load(opts?: { wasm?: Uint8Array; weights?: Uint8Array }): Promise<Bundle>;
}

let written = 0;
/** Writes a bundle's files into a fresh folder and imports its script. */
async function importBundle(files: Readonly<Record<string, Uint8Array | string>>, name: string): Promise<BundleModule> {
  const dir = join(root, String(written++));
  spawnSync("mkdir", ["-p", dir]);
  for (const [file, contents] of Object.entries(files)) writeFileSync(join(dir, file), contents);
  return (await import(/* @vite-ignore */ pathToFileURL(join(dir, `${name}.js`)).href)) as BundleModule;
}

/** The planned entries of an example, with training options or for inference. */
function planned(example: string, training?: Partial<NonNullable<CompileOptions["training"]>>) {
  const model = compileModelFile(`examples/${example}/model.ts`);
  const spec = trainingSpec(model.train);
  const forward = training ? model.graph : inferenceGraph(model.graph, { loss: spec.loss }).graph;
  const opts: CompileOptions = { backend: wasmBackend, timeLimitMs: 100, ...(training ? { training: { ...spec, ...training } } : {}) };
  const program = compile(forward, opts);
  return { name: forward.name, entries: program.entries, stats: program.trainingStats, loss: training ? spec.loss : undefined, accumulate: training?.accumulate ?? 1 };
}

function write(p: ReturnType<typeof planned>, debug: boolean, entries: readonly ProgramEntry[] = p.entries) {
  return writeWasmBundle(entries, { name: p.name, seed: 3, accumulate: p.accumulate, ...(p.loss ? { loss: p.loss } : {}), ...(debug ? { debug: true } : {}) });
}

/** Each view's bytes, copied. */
const snapshot = (views: Views) => Object.fromEntries(Object.entries(views).map(([k, v]) => {
  const a = v as unknown as ArrayBufferView;
  return [k, Buffer.from(new Uint8Array(a.buffer, a.byteOffset, a.byteLength))];
}));

/** The names of the tensors whose bytes differ (or that only one side has). */
function differing(a: Record<string, Buffer>, b: Record<string, Buffer>): string[] {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => !a[k] || !b[k] || !a[k].equals(b[k]));
}

/**
 * Runs a bundle on the same inputs as its twin: forward, then (training) `steps` train steps,
 * with applyUpdate after every `accumulate`; returns everything it computed.
 */
async function exercise(m: Bundle, graph: Graph, steps: number, accumulate: number) {
  const inputs = randomInputs(graph, 5);
  for (const [k, v] of Object.entries(m.inputs)) v.set(inputs[k]);
  m.forward();
  const outputs = snapshot(m.outputs);
  const losses: number[] = [];
  for (let s = 1; s <= steps; s++) {
    losses.push(m.trainStep());
    if (accumulate > 1 && s % accumulate === 0) m.applyUpdate();
  }
  return { outputs, losses, params: snapshot(m.params) };
}

/** Builds both bundles from one plan and runs both; the debug one must compute the same bits. */
async function sameAsNormal(p: ReturnType<typeof planned>, steps: number) {
  const normal = write(p, false);
  const debug = write(p, true);
  const graph = p.entries[p.entries.length > 1 ? 1 : 0].graph;
  const a = await exercise(await (await importBundle(normal.files, p.name)).load(), graph, steps, p.accumulate);
  const b = await exercise(await (await importBundle(debug.files, p.name)).load(), graph, steps, p.accumulate);
  expect(b.losses).toEqual(a.losses);
  expect(differing(a.outputs, b.outputs), "outputs that differ").toEqual([]);
  expect(differing(a.params, b.params), "params that differ").toEqual([]);
  expect(Object.keys(a.outputs).length).toBeGreaterThan(0);
  if (steps > 0) expect(a.losses.every(Number.isFinite)).toBe(true);
  return { normal, debug };
}

describe.each(EXAMPLES)("%s: debug bundle", (example) => {
  it("training bundle (forward, train step) passes its checks and matches the normal bundle bit for bit", async () => {
    await sameAsNormal(planned(example, {}), 3);
  }, 60_000);
  it("inference bundle passes its checks and matches the normal bundle", async () => {
    await sameAsNormal(planned(example), 0);
  }, 60_000);
});

describe("debug bundles of other training builds", () => {
  it("--accumulate 2 (train step into accumulators, apply_update) matches the normal bundle", async () => {
    await sameAsNormal(planned("mnist-mlp", { accumulate: 2 }), 4);
  }, 60_000);
  it("--checkpoint sqrt (recomputed activations) matches the normal bundle", async () => {
    const p = planned("resnet", { checkpoint: { mode: "sqrt" } });
    expect(p.stats.checkpoint["recomputed-nodes"]).toBeGreaterThan(0);
    await sameAsNormal(p, 3);
  }, 60_000);
});

describe("debug bundles with 16-bit storage", () => {
  it("--mixed f16 (loss scale and skipped-step state read before written) matches the normal bundle", async () => {
    await sameAsNormal(planned("cnn", { mixed: { dtype: "f16", lossScale: {} } }), 3);
  }, 60_000);
});

describe("debug builds leave normal builds alone", () => {
  it("the normal module imports nothing and its script has no debug table; the debug module imports the probe", () => {
    const p = planned("mnist-mlp", {});
    const normal = write(p, false);
    const debug = write(p, true);
    const imports = (w: Uint8Array | string) => WasmApi.Module.imports(new WasmApi.Module(w as Uint8Array)).map((i) => `${i.module}.${i.name}`);
    expect(imports(normal.files["mnistMlp.wasm"])).toEqual([]);
    expect(imports(debug.files["mnistMlp.wasm"])).toEqual(["mlc_debug.probe"]);
    expect(normal.files["mnistMlp.js"]).not.toContain("const MLC_DEBUG");
    expect(normal.files["mnistMlp.js"]).not.toContain("function debugProbe(");
    expect(debug.files["mnistMlp.js"]).toContain("const MLC_DEBUG = ");
    // The rest of the bundle is the same files.
    for (const f of ["mnistMlp.safetensors", "mnistMlp.plan.json", "mnistMlp.d.ts"]) expect(Buffer.from(debug.files[f]).equals(Buffer.from(normal.files[f])), f).toBe(true);
  }, 60_000);
});

/**
 * A node W of `g` with a kernel and a class of its own whose slot can be moved onto a value V
 * that is live while W is written and read after it (V not an operand of W).
 */
function overlapPair(g: Graph): { v: string; w: string } {
  const live = liveness(g);
  const { rootOf, members } = aliasClasses(g);
  const slots = g.memory!.slots;
  const nodes = g.nodes.filter((n) => byteSize(n.type) >= 16 && members.get(rootOf.get(n.id)!)!.length === 1);
  for (const w of nodes) {
    const wl = live.values.get(w.id)!;
    for (const v of nodes) {
      const vl = live.values.get(v.id)!;
      if (v === w || w.inputs.includes(v.id) || vl.pinned) continue;
      if (vl.def < wl.def && vl.upper > wl.def + 1 && slots[v.id].offset + slots[w.id].size <= g.memory!.arena) return { v: v.id, w: w.id };
    }
  }
  throw new Error("no pair of values to overlap");
}

/** The wasm kernels, with node `id`'s (an `op`) body rewritten by `change`. */
function withBrokenKernel(id: string, op: string, change: (a: KernelArgs, body: Expr[]) => Expr[]): KernelTable {
  const broken = new Map(WASM_KERNELS);
  broken.set(op, WASM_KERNELS.get(op)!.map((entry) => {
    const emit = entry.kernel;
    const kernel = (a: KernelArgs) => (a.node.id === id ? change(a, emit(a)) : emit(a));
    return { ...entry, kernel: emit.workspaceBytes ? withWorkspace(kernel, emit.workspaceBytes) : kernel };
  }));
  return broken;
}

describe("a wrong plan or kernel fails loudly in debug mode", () => {
  it("two live values planned over each other: the train step names the entry, the kernel, both values and their bytes", async () => {
    const p = planned("mnist-mlp", {});
    const train = p.entries[1].graph;
    const { v, w } = overlapPair(train);
    const slots = { ...train.memory!.slots, [w]: { ...train.memory!.slots[w], offset: train.memory!.slots[v].offset } };
    const tampered = [p.entries[0], { ...p.entries[1], graph: { ...train, memory: { ...train.memory!, slots } } }];
    const offset = train.memory!.slots[v].offset;
    const run = async (debug: boolean) => {
      const m = await (await importBundle(write(p, debug, tampered).files, p.name)).load();
      return () => m.trainStep();
    };
    expect(await run(false)).not.toThrow(); // the normal bundle computes garbage silently
    const step = await run(true);
    expect(step).toThrow(/^mlc debug check failed in mnistMlp\.train_step, before kernel \d+ \(\w+ %/);
    let message = "";
    try {
      step();
    } catch (e) {
      message = (e as Error).message;
      expect((e as Error).name).toBe("MlcDebugError");
    }
    expect(message).toContain(`%${w} `);
    expect(message).toContain(`%${v} `);
    expect(message).toContain(`arena bytes [${offset}, `);
    expect(message).toMatch(/the plan overlaps it with/);
  }, 60_000);

  it("a kernel that writes past its result's slot is named", async () => {
    const p = planned("mnist-mlp");
    const g = p.entries[0].graph;
    const culprit = g.nodes.find((n) => byteSize(n.type) >= 16)!;
    const slotEnd = g.memory!.slots[culprit.id].offset + g.memory!.slots[culprit.id].size;
    // The culprit's kernel, then one more f32 just past its slot (a bounds bug).
    const table = withBrokenKernel(culprit.id, culprit.op, (a, body) => [...body, a.f.storeF32(a.f.i32.const(slotEnd), a.f.f32.const(1.5))]);
    const bundle = write(p, true);
    const wasm = emitWasmEntries(p.entries, { debug: true, kernels: table, templates: "never" }).wasm;
    const mod = await importBundle(bundle.files, p.name);
    const weights = bundle.files[`${p.name}.safetensors`] as Uint8Array;
    const m = await mod.load({ wasm, weights });
    expect(() => m.forward()).toThrow(new RegExp(`^mlc debug check failed in mnistMlp\\.forward, .*(outside its buffers|changed at byte ${slotEnd}).*%${culprit.id}\\b`));
    // The same module without the probe runs to the end without a word.
    const quiet = emitWasmEntries(p.entries, { kernels: table, templates: "never" }).wasm;
    const n = await mod.load({ wasm: quiet, weights });
    expect(() => n.forward()).not.toThrow();
  }, 60_000);
});

describe("a kernel that leaves its result unwritten", () => {
  it("is named after it runs, with the poisoned bytes", async () => {
    const p = planned("mnist-mlp");
    const g = p.entries[0].graph;
    const culprit = g.nodes.find((n) => byteSize(n.type) >= 16 && n.inplace === undefined)!;
    const slot = g.memory!.slots[culprit.id];
    const table = withBrokenKernel(culprit.id, culprit.op, () => []);
    const bundle = write(p, true);
    const mod = await importBundle(bundle.files, p.name);
    const m = await mod.load({ wasm: emitWasmEntries(p.entries, { debug: true, kernels: table, templates: "never" }).wasm, weights: bundle.files[`${p.name}.safetensors`] as Uint8Array });
    expect(() => m.forward()).toThrow(`mlc debug check failed in mnistMlp.forward, after kernel 0 (${culprit.op} %${culprit.id}, step 0`);
    expect(() => m.forward()).toThrow(`its result %${culprit.id} (${formatType(culprit.type)}, arena bytes [${slot.offset}, ${slot.offset + byteSize(culprit.type)})) still holds the poison word at bytes [${slot.offset}, ${slot.offset + byteSize(culprit.type)}): the kernel left part of its result unwritten`);
  }, 60_000);
});

describe("mlc build --debug", () => {
  it("writes a debug bundle for wasm-simd and refuses other targets with a clear message", () => {
    const out = join(root, "cli");
    const ok = spawnSync(process.execPath, ["bin/mlc.js", "build", "examples/recsys/model.ts", "--debug", "--out", out], { encoding: "utf8" });
    expect(ok.stderr).toBe("");
    expect(ok.status).toBe(0);
    expect(readFileSync(join(out, "recsys.js"), "utf8")).toContain("const MLC_DEBUG = ");
    const wgsl = spawnSync(process.execPath, ["bin/mlc.js", "build", "examples/recsys/model.ts", "--debug", "--target", "webgpu", "--out", join(root, "cli-wgsl")], { encoding: "utf8" });
    expect(wgsl.status).toBe(1);
    expect(wgsl.stderr).toMatch(/--debug: the webgpu target has no debug build/);
    expect(wgsl.stderr).not.toMatch(/at .*\.ts:\d+/);
  }, 60_000);
});
