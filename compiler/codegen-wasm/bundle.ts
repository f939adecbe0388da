// The embeddable bundle (`mlc build --target wasm-simd`): a model in, five files out.
//
//   name.wasm         one module, one memory sized to the arena (never grown); exports `forward`
//                     and, when training, `train_step` (plus `apply_update` with accumulation)
//   name.js           a self-contained ES module: a MANIFEST of offsets and shapes, then the
//                     hand-written runtime runtime/bundle-runtime.js (load(), typed views into
//                     the arena, weights in and out) and runtime/bundle-io.js (file reads, the
//                     safetensors codec) inlined verbatim
//   name.d.ts         the typed API, each tensor's dtype and shape in its doc comment
//   name.safetensors  every param and state tensor: seeded initial values, or given weights
//   name.plan.json    the arena map: its size and every value's and workspace's slot per entry
//
// Stages: build the training step when asked (passes/pipeline.ts) → fuse each entry (fuse,
// fuseReductions, fuseEpilogues) → plan all entries in one
// arena (passes/plan-entries.ts, so params, state and inputs sit at one offset in every entry)
// with the kernels' workspaces → emit (emit.ts) → write the manifest (bundle-manifest.ts) and the
// files above.

import { readFileSync } from "node:fs";
import type { Graph } from "../ir/graph.ts";
import type { DType } from "../ir/types.ts";
import { initialWeights, manifestTensors, type ManifestTensors, type TensorEntry } from "./bundle-manifest.ts";
import type { SafeTensor } from "../../runtime/safetensors.ts";
import { planEntries } from "../passes/plan-entries.ts";
import { buildTrainingProgram, fuseGraph, type TrainingOptions } from "../passes/pipeline.ts";
import { emitWasmEntries, WasmPlanError, type WasmLayout } from "./emit.ts";
import { wasmWorkspaceBytes } from "./workspace.ts";
import { estimatedPeak } from "../passes/checkpoint.ts";
import type { PassStats } from "../passes/pass.ts";

export interface BundleOptions {
  /**
   * Also build and export `train_step` (forward, backward, optimizer update). With
   * `accumulate: N` > 1, `train_step` adds the micro-batch's gradients into accumulators and a
   * third entry, `apply_update`, applies their mean (the app calls it every N steps).
   */
  readonly training?: Omit<TrainingOptions, "exposeGradients">;
  /**
   * Initial values of params/state (others take their seeded init), as read from a safetensors
   * file: each tensor must name a param or state of the built entries, with its dtype and shape.
   */
  readonly weights?: { readonly source: string; readonly tensors: Readonly<Record<string, SafeTensor>> };
  /** Seed of the params' initializers (default 0). */
  readonly seed?: number;
  /** Budget of the planner's exact search, milliseconds. */
  readonly timeLimitMs?: number;
}

export interface Bundle {
  /** The file stem: the graph's name with anything but letters, digits, `_` and `-` replaced. */
  readonly name: string;
  /** File name → contents. */
  readonly files: Readonly<Record<string, Uint8Array | string>>;
  readonly layout: WasmLayout;
  /** Statistics of the training passes by pass name (empty without training). */
  readonly trainingStats: Readonly<Record<string, PassStats>>;
}

/** The manifest the runtime reads (see runtime/bundle-runtime.js). */
interface Manifest extends ManifestTensors {
  name: string;
  files: { wasm: string; weights: string };
  memoryBytes: number;
}

const RUNTIME_URL = new URL("../../runtime/bundle-runtime.js", import.meta.url);
/** File reads and the safetensors codec, shared with the WebGPU bundle's runtime. */
export const BUNDLE_IO_URL = new URL("../../runtime/bundle-io.js", import.meta.url);

/**
 * The bundle's entry graphs, fused and planned in one arena with the kernels' workspaces, by
 * export name: `forward`, and with training `train_step` (and `apply_update` when accumulating).
 */
export function bundleEntries(
  forward: Graph,
  opts: { readonly training?: TrainingOptions; readonly timeLimitMs?: number } = {},
): { exportName: string; graph: Graph }[] {
  return bundleProgram(forward, opts).entries;
}

/** bundleEntries with the training passes' statistics (e.g. what checkpointing recomputes). */
export function bundleProgram(
  forward: Graph,
  opts: { readonly training?: TrainingOptions; readonly timeLimitMs?: number } = {},
): { entries: { exportName: string; graph: Graph }[]; stats: Record<string, PassStats> } {
  // Checkpointing weighs its candidates by the arena this backend will plan for them.
  const training = opts.training?.checkpoint ? { ...opts.training, checkpoint: { ...opts.training.checkpoint, peakOf: wasmPeak } } : opts.training;
  const program = training && buildTrainingProgram(forward, training);
  const named: [string, Graph | undefined][] = [["forward", forward], ["train_step", program?.trainStep], ["apply_update", program?.applyUpdate]];
  const present = named.filter((e): e is [string, Graph] => e[1] !== undefined);
  const entries = present.map(([, g]) => fuseGraph(g).graph);
  const planned = planEntries(entries, { workspaceBytes: wasmWorkspaceBytes, ...(opts.timeLimitMs !== undefined ? { timeLimitMs: opts.timeLimitMs } : {}) });
  return { entries: planned.graphs.map((graph, k) => ({ graph, exportName: present[k][0] })), stats: program?.stats ?? {} };
}

/** The peak of a training graph as this backend plans it: fused, with the kernels' workspaces. */
export function wasmPeak(g: Graph, scheduled: boolean): number {
  return estimatedPeak(fuseGraph(g, { verify: false }).graph, scheduled, wasmWorkspaceBytes);
}

export function buildBundle(forward: Graph, opts: BundleOptions = {}): Bundle {
  const name = forward.name.replace(/[^A-Za-z0-9_-]/g, "_");
  const { entries, stats } = bundleProgram(forward, opts);
  const { wasm, layout } = emitWasmEntries(entries);

  const manifest = manifestOf(name, layout, opts.training?.loss, opts.training?.accumulate ?? 1);
  const weights = initialWeights(entries.map((e) => e.graph), layout.params, opts);
  const plan = {
    name,
    arena: layout.arena,
    memoryBytes: layout.memoryBytes,
    alignment: layout.alignment,
    entries: Object.fromEntries(entries.map(({ exportName, graph: g }) => [exportName, { slots: g.memory!.slots, workspaces: g.memory!.workspaces ?? {} }])),
  };
  return {
    name,
    layout,
    trainingStats: stats,
    files: {
      [`${name}.wasm`]: wasm,
      [`${name}.js`]: bundleScript(manifest),
      [`${name}.d.ts`]: declarations(manifest),
      [`${name}.safetensors`]: weights,
      [`${name}.plan.json`]: JSON.stringify(plan, null, 2) + "\n",
    },
  };
}

function manifestOf(name: string, layout: WasmLayout, loss: string | undefined, accumulate: number): Manifest {
  return {
    name,
    files: { wasm: `${name}.wasm`, weights: `${name}.safetensors` },
    memoryBytes: layout.memoryBytes,
    ...manifestTensors(layout, loss, accumulate, (message) => new WasmPlanError(message)),
  };
}

function bundleScript(manifest: Manifest): string {
  const runtime = readFileSync(RUNTIME_URL, "utf8");
  const io = readFileSync(BUNDLE_IO_URL, "utf8");
  return `// ${manifest.name}.js — generated by \`mlc build\`; imports nothing. See ${manifest.name}.d.ts for the API.\n` +
    `const MANIFEST = ${JSON.stringify(manifest)};\n\n${runtime}\n${io}`;
}

const ARRAY_OF: Record<DType, string> = { f32: "Float32Array", f16: "Uint16Array", bf16: "Uint16Array", i32: "Int32Array", i8: "Int8Array", u8: "Uint8Array", bool: "Uint8Array" };

function declarations(m: Manifest): string {
  const type = m.name.split(/[^A-Za-z0-9]+/).filter(Boolean).map((w) => w[0].toUpperCase() + w.slice(1)).join("") || "Model";
  const fields = (list: readonly (TensorEntry & { trainable?: boolean })[], what: string) =>
    list.map((t) => `  /** ${t.trainable === false ? "state" : what}: ${t.dtype}[${t.shape.join(", ")}] */\n  readonly ${JSON.stringify(t.name)}: ${ARRAY_OF[t.dtype]};`).join("\n");
  return `// ${m.name}.d.ts — generated by \`mlc build\`.

/** Typed views into the module's memory: write inputs with \`.set()\` before a call. */
export interface ${type}Inputs {
${fields(m.inputs, "input")}
}

/** Views of the forward pass's results, valid until the next call. */
export interface ${type}Outputs {
${fields(m.outputs, "output")}
}

/** Params and state (trainable params, optimizer moments, running statistics). */
export interface ${type}Params {
${fields(m.params, "param")}
}

export interface ${type} {
  readonly name: ${JSON.stringify(m.name)};
  /** The module's one memory: ${m.memoryBytes} bytes, never grown. */
  readonly memory: WebAssembly.Memory;
  readonly inputs: ${type}Inputs;
  readonly outputs: ${type}Outputs;
  readonly params: ${type}Params;
  /** Runs the forward pass on \`inputs\`, writing \`outputs\`. */
  forward(): void;
  /** ${m.accumulate > 1
    ? `One micro-batch: forward and backward, gradients added into the accumulators; returns the loss. Call applyUpdate() after every ${m.accumulate}.`
    : `One training step in place (forward, backward, optimizer); returns the loss.${m.loss ? "" : " Throws: built without --train."}`} */
  trainStep(): number;
  /** ${m.accumulate > 1
    ? `Applies the optimizer to the mean of the ${m.accumulate} accumulated micro-batch gradients and zeroes the accumulators.`
    : "Throws: built without --accumulate (trainStep updates the params itself)."} */
  applyUpdate(): void;
  /** Every param and state tensor as safetensors bytes. */
  saveWeights(): Uint8Array;
  /** Loads params from safetensors bytes; every tensor must be a param with its exact dtype and shape. */
  loadWeights(bytes: Uint8Array | ArrayBuffer): void;
}

export interface LoadOptions {
  /** The module's bytes; by default ${m.files.wasm} next to this file. */
  wasm?: Uint8Array | ArrayBuffer;
  /** Initial weights (safetensors); by default ${m.files.weights} next to this file. */
  weights?: Uint8Array;
}

export declare function load(opts?: LoadOptions): Promise<${type}>;
`;
}
