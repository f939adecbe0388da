// Runs graphs through the WGSL backend on a WebGPU device (Dawn for Node; SwiftShader when the
// machine has no GPU, see compiler/codegen-wgsl/device.ts) and checks them against the reference
// interpreter with the WASM harness's metric (compareTensors: relative error with a floor, NaN
// meets NaN). One device per test file (wgslDevice() caches it); the arena is poisoned with a NaN
// pattern first, so a kernel that forgets an element fails.

import { naivePlanAll } from "../../compiler/codegen-wasm/naive-plan.ts";
import { randomInputs } from "../../compiler/cli/random-inputs.ts";
import { requestWgslDevice, type WgslDevice } from "../../compiler/codegen-wgsl/device.ts";
import { emitWgslEntries, type WgslEntry } from "../../compiler/codegen-wgsl/emit.ts";
import { wgslWorkspaceBytes } from "../../compiler/codegen-wgsl/kernels/index.ts";
import { targetOf, WgslRunner } from "../../compiler/codegen-wgsl/runner.ts";
import type { WgslTarget } from "../../compiler/codegen-wgsl/kernel.ts";
import { GraphBuilder } from "../../compiler/ir/builder.ts";
import type { Graph } from "../../compiler/ir/graph.ts";
import { initParams, interpret } from "../../compiler/ir/interpreter.ts";
import type { Tensor } from "../../compiler/ir/op-def.ts";
import { compareTensors, graphTolerance, resultMismatches, type CompareOptions, type StepResults } from "./wasm-harness.ts";

type Values = Readonly<Record<string, ArrayLike<number>>>;

const POISON = 0x7fc0dead;

/**
 * WGSL lets an implementation flush subnormal f32 values to zero, and SwiftShader does (inputs
 * and results), so values below this magnitude are judged with this absolute floor instead of
 * the WASM harness's 2^-126 (see compareTensors).
 */
export const SUBNORMAL_FLOOR = 2 ** -100;
const ARENA_LIMIT = 256 * 2 ** 20;

let shared: Promise<WgslDevice> | undefined;

/** The file's device; a test fails with the reason when none can be created (never skips). */
export function wgslDevice(): Promise<WgslDevice> {
  shared ??= requestWgslDevice({ arenaBytes: ARENA_LIMIT, features: ["subgroups"] }).catch((e: Error) => {
    throw new Error(`the WGSL tests need a WebGPU device (Dawn for Node over Vulkan; SwiftShader from Debian's chromium on a CPU-only machine): ${e.message}`);
  });
  return shared;
}

/** Plans (naively, unless every graph has a plan), emits and loads entries; arena poisoned. */
export async function loadWgslEntries(entries: readonly WgslEntry[], target?: Partial<WgslTarget>): Promise<WgslRunner> {
  const gpu = await wgslDevice();
  const unplanned = entries.some((e) => !e.graph.memory);
  // Planned with this backend's workspaces (16-bit results some kernels stage in f32).
  const graphs = unplanned ? naivePlanAll(entries.map((e) => e.graph), 16, (n, t) => wgslWorkspaceBytes(n, t)) : entries.map((e) => e.graph);
  const program = emitWgslEntries(graphs.map((graph, i) => ({ graph, exportName: entries[i].exportName })), { target: { ...targetOf(gpu.device, gpu.features, gpu.software, gpu.languageFeatures), ...target } });
  const runner = await WgslRunner.load(program, gpu);
  runner.fillArena(POISON);
  return runner;
}

export interface WgslRunResult extends StepResults {
  readonly runner: WgslRunner;
}

/** One call of `graph`'s entry: inputs and params in (params default to their seed-0 inits), outputs and updates out. */
export async function runWgsl(graph: Graph, inputs: Values, params: Values = {}, target?: Partial<WgslTarget>): Promise<WgslRunResult> {
  const runner = await loadWgslEntries([{ graph, exportName: "forward" }], target);
  const initial = { ...initParams(graph, 0), ...params };
  for (const p of graph.params) runner.writeParam(p.name, initial[p.name]);
  for (const i of graph.inputs) {
    if (!Object.hasOwn(inputs, i.name)) throw new Error(`missing input '${i.name}'`);
    runner.write(i.name, inputs[i.name]);
  }
  runner.run();
  const outputs: Record<string, Tensor> = {};
  for (const o of graph.outputs) outputs[o.name] = await runner.read(o.name);
  const updates: Record<string, Tensor> = {};
  for (const u of graph.updates) updates[u.param] = await runner.readParam(u.param);
  runner.destroy();
  return { outputs, updates, runner };
}

export interface WgslMatchOptions extends CompareOptions {
  readonly params?: Values;
  readonly seed?: number;
  /** Options of individual outputs (by output name), over the ones above. */
  readonly perOutput?: Readonly<Record<string, CompareOptions>>;
  /** Overrides of the device's target (e.g. workgroupTiles, to test the GPU GEMM on SwiftShader). */
  readonly target?: Partial<WgslTarget>;
}

/**
 * Runs `graph` on the WGSL backend and the interpreter (native precision) with the same inputs
 * (random from `seed` when not given) and params; throws naming every output or update that differs.
 */
export async function expectWgslMatchesInterpreter(graph: Graph, inputs?: Values, opts: WgslMatchOptions = {}) {
  const seed = opts.seed ?? 0;
  const given = inputs ?? randomInputs(graph, seed);
  const params = { ...initParams(graph, seed), ...opts.params };
  const gpu = await runWgsl(graph, given, params, opts.target);
  const { memory: _plan, ...unplanned } = graph;
  const reference = interpret(unplanned, given, { precision: "native", params });
  const compare = { tolerance: opts.tolerance ?? graphTolerance(graph), floor: opts.floor ?? SUBNORMAL_FLOOR, relativeToMax: opts.relativeToMax };
  const failures = resultMismatches(gpu, reference, compare);
  for (const [name, own] of Object.entries(opts.perOutput ?? {})) {
    const problem = compareTensors(gpu.outputs[name], reference.outputs[name], { ...compare, ...own });
    const index = failures.findIndex((f) => f.startsWith(`output '${name}':`));
    if (index >= 0) failures.splice(index, 1);
    if (problem) failures.push(`output '${name}': ${problem}`);
  }
  if (failures.length) throw new Error(`graph '${graph.name}' differs from the interpreter on webgpu:\n${failures.join("\n")}`);
  return { gpu, reference };
}

/** One application of an op in a batched graph: its operand types, attributes and optional data. */
export interface OpCase {
  readonly op: string;
  readonly types: readonly import("../../compiler/ir/types.ts").TensorType[];
  readonly attrs?: Readonly<Record<string, import("../../compiler/ir/op-def.ts").AttrValue>>;
  /** Operand data (default: randomInputs' values for the operand). */
  readonly data?: readonly (ArrayLike<number> | undefined)[];
}

/**
 * Many op applications in one graph (one device program, one dispatch list): case k reads inputs
 * `c${k}_${i}` and its result is output `y${k}`. Returns the graph and the inputs to run it with.
 */
export function batchedCases(name: string, cases: readonly OpCase[], seed = 0): { graph: Graph; inputs: Record<string, ArrayLike<number>> } {
  const b = new GraphBuilder(name);
  cases.forEach((c, k) => {
    const operands = c.types.map((type, i) => b.addInput({ name: `c${k}_${i}`, type }));
    b.output(`y${k}`, b.op(c.op, operands, { ...c.attrs }));
  });
  const graph = b.build();
  const inputs: Record<string, ArrayLike<number>> = { ...randomInputs(graph, seed) };
  cases.forEach((c, k) => c.data?.forEach((d, i) => {
    if (d) inputs[`c${k}_${i}`] = d;
  }));
  return { graph, inputs };
}
