// Runs graphs through the WASM backend and checks them against the reference interpreter. Every
// wasm-* test builds on this: plan (naively, unless the graph is planned), emit, instantiate,
// write inputs and params through typed views at their slots, call the entry, read back.
//
// The comparison metric (compareTensors) for float values, per element:
//     |actual - expected| <= tolerance * max(|expected|, floor)
// i.e. relative error with an absolute floor for values near zero. The floor defaults to 2^-126,
// the smallest normal f32, so only subnormal results get absolute slack: an f32 kernel is held
// to relative accuracy everywhere f32 itself has it. NaN must meet NaN and an infinity the same
// infinity. Integer and bool values must be equal. The default tolerance of an output is the
// largest `tolerance` of the ops in the graph (the op records' per-kernel budgets).

import { emitWasmEntries, type BufferLayout, type EmittedWasm, type WasmEntry, type WasmLayout } from "../../compiler/codegen-wasm/emit.ts";
import { naivePlanAll } from "../../compiler/codegen-wasm/naive-plan.ts";
import { randomInputs } from "../../compiler/cli/random-inputs.ts";
import { GraphBuilder } from "../../compiler/ir/builder.ts";
import type { Graph } from "../../compiler/ir/graph.ts";
import { initParams, interpret } from "../../compiler/ir/interpreter.ts";
import type { AttrValue, Tensor } from "../../compiler/ir/op-def.ts";
import { getOp } from "../../compiler/ir/ops.ts";
import { DTYPE_INFO, fromTypedArray } from "../../compiler/ir/dtypes.ts";
import { isFloat, numel, type DType, type TensorType } from "../../compiler/ir/types.ts";

// The tsconfig's libs (ES2023 + node) carry no WebAssembly declarations; this is the part used.
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  instantiate(bytes: Uint8Array): Promise<{ instance: { exports: Record<string, unknown> } }>;
}
const WebAssemblyApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

type Values = Readonly<Record<string, ArrayLike<number>>>;

/** An instantiated module with typed access to its arena by tensor name. */
export interface WasmProgram {
  readonly wasm: Uint8Array;
  readonly layout: WasmLayout;
  readonly memory: WasmMemory;
  /** Writes an input of `entry` (default: the first entry). */
  write(name: string, data: ArrayLike<number>, entry?: string): void;
  /** Reads a named output (or else an input) of `entry`. */
  read(name: string, entry?: string): Tensor;
  writeParam(name: string, data: ArrayLike<number>): void;
  readParam(name: string): Tensor;
  /** Calls an exported entry function (default: the first). */
  call(entry?: string): void;
}

/** A typed view of `length` elements of `dtype` at `offset` (f16/bf16: their 16-bit patterns). */
function view(memory: WasmMemory, offset: number, dtype: DType, length: number) {
  return new DTYPE_INFO[dtype].array(memory.buffer, offset, length);
}

/** A NaN bit pattern that no kernel computes by accident: memory a kernel forgot to write shows. */
const POISON = 0x7fc0dead;

/**
 * Emits and instantiates one module for the given entries (planned naively unless every graph
 * has a plan). The whole memory starts as NaN (POISON) rather than zeros, so a kernel that relies
 * on zeroed memory fails instead of passing by luck; callers write every input and param.
 */
export async function loadWasmEntries(entries: readonly WasmEntry[]): Promise<WasmProgram> {
  const unplanned = entries.some((e) => !e.graph.memory);
  const graphs = unplanned ? naivePlanAll(entries.map((e) => e.graph)) : entries.map((e) => e.graph);
  const emitted: EmittedWasm = emitWasmEntries(graphs.map((graph, i) => ({ graph, exportName: entries[i].exportName })));
  const { instance } = await WebAssemblyApi.instantiate(emitted.wasm);
  const memory = instance.exports.memory as WasmMemory;
  new Uint32Array(memory.buffer).fill(POISON);
  const { layout } = emitted;
  const first = entries[0].exportName;
  const entryBuffer = (name: string, entry: string, kinds: readonly ("inputs" | "outputs")[]) => {
    const e = layout.entries[entry];
    if (!e) throw new Error(`no entry '${entry}'`);
    for (const kind of kinds) {
      const buffer = e[kind].find((b) => b.name === name);
      if (buffer) return buffer;
    }
    throw new Error(`entry '${entry}' has no ${kinds.join(" or ")} named '${name}'`);
  };
  const param = (name: string) => {
    const buffer = layout.params.find((p) => p.name === name);
    if (!buffer) throw new Error(`no param or state '${name}'`);
    return buffer;
  };
  const write = (b: BufferLayout, data: ArrayLike<number>) => {
    const n = numel(b.shape);
    if (data.length !== n) throw new Error(`'${b.name}' holds ${n} elements, got ${data.length}`);
    const { toStored } = DTYPE_INFO[b.dtype];
    view(memory, b.offset, b.dtype, n).set(Array.from(data, (x) => toStored(x)));
  };
  const read = (b: BufferLayout): Tensor => ({
    type: { dtype: b.dtype, shape: b.shape },
    data: fromTypedArray(b.dtype, view(memory, b.offset, b.dtype, numel(b.shape))),
  });
  return {
    wasm: emitted.wasm,
    layout,
    memory,
    write: (name, data, entry = first) => write(entryBuffer(name, entry, ["inputs"]), data),
    read: (name, entry = first) => read(entryBuffer(name, entry, ["outputs", "inputs"])),
    writeParam: (name, data) => write(param(name), data),
    readParam: (name) => read(param(name)),
    call(entry = first) {
      const fn = instance.exports[entry];
      if (typeof fn !== "function") throw new Error(`module exports no function '${entry}'`);
      fn();
    },
  };
}

export function loadWasm(graph: Graph, entry = "forward"): Promise<WasmProgram> {
  return loadWasmEntries([{ graph, exportName: entry }]);
}

export interface WasmRunResult {
  readonly outputs: Record<string, Tensor>;
  /** Values of the updated params/state after the call, by param name. */
  readonly updates: Record<string, Tensor>;
  readonly program: WasmProgram;
}

/**
 * One call of `graph`'s entry: inputs and params in (params default to their initializers, seed
 * 0), outputs and updates out.
 */
export async function runWasm(graph: Graph, inputs: Values, params: Values = {}): Promise<WasmRunResult> {
  const program = await loadWasm(graph);
  const initial = { ...initParams(graph, 0), ...params };
  for (const p of graph.params) program.writeParam(p.name, initial[p.name]);
  for (const i of graph.inputs) {
    if (!Object.hasOwn(inputs, i.name)) throw new Error(`missing input '${i.name}'`);
    program.write(i.name, inputs[i.name]);
  }
  program.call();
  const outputs: Record<string, Tensor> = {};
  for (const o of graph.outputs) outputs[o.name] = program.read(o.name);
  const updates: Record<string, Tensor> = {};
  for (const u of graph.updates) updates[u.param] = program.readParam(u.param);
  return { outputs, updates, program };
}

export interface CompareOptions {
  /** Relative tolerance (default: the largest op tolerance in the graph). */
  readonly tolerance?: number;
  /** Magnitude below which the tolerance becomes absolute (default 2^-126). */
  readonly floor?: number;
  /**
   * Measure every element's error against the tensor's largest magnitude instead of its own
   * (max-norm relative error). For whole models, where an element's rounding error scales with
   * the partial sums it came from (a GEMM over 784 products), not with its own, possibly
   * cancelled, value.
   */
  readonly relativeToMax?: boolean;
}

export const F32_MIN_NORMAL = 2 ** -126;

/** null when `actual` matches `expected` under the metric in the header, else a description of the worst mismatches. */
export function compareTensors(actual: Tensor, expected: Tensor, opts: CompareOptions = {}): string | null {
  const tolerance = isFloat(expected.type.dtype) ? (opts.tolerance ?? 0) : 0;
  let floor = opts.floor ?? F32_MIN_NORMAL;
  if (opts.relativeToMax) for (const e of expected.data) if (Number.isFinite(e)) floor = Math.max(floor, Math.abs(e));
  if (actual.data.length !== expected.data.length) return `${actual.data.length} elements vs ${expected.data.length} expected`;
  const bad: string[] = [];
  let count = 0;
  for (let i = 0; i < expected.data.length; i++) {
    const a = actual.data[i];
    const e = expected.data[i];
    const ok = Number.isNaN(e) ? Number.isNaN(a) : !Number.isFinite(e) ? a === e : Math.abs(a - e) <= tolerance * Math.max(Math.abs(e), floor);
    if (ok) continue;
    count++;
    if (bad.length < 8) bad.push(`[${i}] got ${a}, expected ${e} (relative error ${(Math.abs(a - e) / Math.max(Math.abs(e), floor)).toExponential(2)})`);
  }
  return count === 0 ? null : `${count} of ${expected.data.length} elements differ beyond tolerance ${tolerance}:\n  ${bad.join("\n  ")}`;
}

/** The largest `tolerance` of the ops the graph uses. */
export function graphTolerance(graph: Graph): number {
  return Math.max(0, ...graph.nodes.map((n) => getOp(n.op).tolerance ?? 0));
}

export interface MatchOptions extends CompareOptions {
  readonly params?: Values;
  /** Seed of the random inputs and param initializers (default 0). */
  readonly seed?: number;
}

/**
 * Runs `graph` on the WASM backend and the interpreter (native precision) with the same inputs
 * (random from `seed` when not given: N(0,1) floats, integers valid for their uses) and params,
 * and throws naming every output or update that differs. Returns both results for further checks.
 */
export async function expectMatchesInterpreter(graph: Graph, inputs?: Values, opts: MatchOptions = {}) {
  const seed = opts.seed ?? 0;
  const given = inputs ?? randomInputs(graph, seed);
  const params = { ...initParams(graph, seed), ...opts.params };
  const wasm = await runWasm(graph, given, params);
  // The interpreter needs no plan (and the plan may be one a test made up on purpose).
  const { memory: _plan, ...unplanned } = graph;
  const reference = interpret(unplanned, given, { precision: "native", params });
  const compare = { tolerance: opts.tolerance ?? graphTolerance(graph), floor: opts.floor, relativeToMax: opts.relativeToMax };
  const failures = resultMismatches(wasm, reference, compare);
  if (failures.length) throw new Error(`graph '${graph.name}' differs from the interpreter:\n${failures.join("\n")}`);
  return { wasm, reference };
}

/** The outputs and updates of two runs of one graph. */
export interface StepResults {
  readonly outputs: Readonly<Record<string, Tensor>>;
  readonly updates: Readonly<Record<string, Tensor>>;
}

/**
 * Every output and update of `actual` that differs from `expected`'s under compareTensors, as
 * "output 'name': ..." lines (empty when all match); updates may have their own options.
 */
export function resultMismatches(actual: StepResults, expected: StepResults, compare: CompareOptions, updates: CompareOptions = compare): string[] {
  const failures: string[] = [];
  for (const [name, t] of Object.entries(expected.outputs)) {
    const problem = compareTensors(actual.outputs[name], t, compare);
    if (problem) failures.push(`output '${name}': ${problem}`);
  }
  for (const [name, t] of Object.entries(expected.updates)) {
    const problem = compareTensors(actual.updates[name], t, updates);
    if (problem) failures.push(`update '${name}': ${problem}`);
  }
  return failures;
}

/**
 * A graph applying `op` (with `attrs`) once per case: case k reads inputs named `${name}${k}` of
 * the given types and its result is output `y${k}`. Many shapes then share one module.
 */
export function opCases(op: string, cases: readonly (readonly TensorType[])[], attrs: Record<string, AttrValue> = {}, names = "abc"): Graph {
  const b = new GraphBuilder(op);
  cases.forEach((types, k) => {
    const operands = types.map((type, i) => b.addInput({ name: `${names[i]}${k}`, type }));
    b.output(`y${k}`, b.op(op, operands, attrs));
  });
  return b.build();
}
