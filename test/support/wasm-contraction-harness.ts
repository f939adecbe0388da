// A stricter variant of wasm-harness's expectMatchesInterpreter for the contraction kernels
// (matmul, convolutions, pooling), which write their outputs piecewise and use workspaces:
//
//   - before the call, every byte of memory other than the inputs and params holds a NaN bit
//     pattern, so a kernel that relies on zeroed memory (an output element it never writes, a
//     workspace it assumes clean, an accumulation that forgets to start from zero) fails the
//     comparison instead of passing by luck;
//   - after the call, the inputs and params must be unchanged: kernels must not write into their
//     operands, and a workspace overrun (the naive plan puts the workspace first, right before
//     the inputs) shows up here.

import { emitWasm } from "../../compiler/codegen-wasm/emit.ts";
import { naivePlan } from "../../compiler/codegen-wasm/naive-plan.ts";
import { randomInputs } from "../../compiler/cli/random-inputs.ts";
import type { Graph } from "../../compiler/ir/graph.ts";
import { initParams, interpret } from "../../compiler/ir/interpreter.ts";
import type { Tensor } from "../../compiler/ir/op-def.ts";
import { DTYPE_INFO, fromTypedArray, toTypedArray } from "../../compiler/ir/dtypes.ts";
import { numel, type DType, type Shape } from "../../compiler/ir/types.ts";
import { compareTensors, graphTolerance, type MatchOptions } from "./wasm-harness.ts";

type Values = Readonly<Record<string, ArrayLike<number>>>;

interface WasmInstance {
  readonly exports: Record<string, unknown>;
}
const Wasm = (globalThis as unknown as {
  WebAssembly: { instantiate(bytes: Uint8Array): Promise<{ instance: WasmInstance }> };
}).WebAssembly;

interface Buffer {
  readonly name: string;
  readonly offset: number;
  readonly dtype: DType;
  readonly shape: Shape;
}

/** The typed view of a buffer (f16/bf16: their 16-bit patterns, ir/dtypes.ts). */
function view(memory: ArrayBuffer, b: Buffer) {
  return new DTYPE_INFO[b.dtype].array(memory, b.offset, numel(b.shape));
}

/** Writes numbers (already of the dtype's values) into a buffer as its stored elements. */
function write(memory: ArrayBuffer, b: Buffer, data: ArrayLike<number>): void {
  view(memory, b).set(toTypedArray(b.dtype, data));
}

/** One forward call of `graph` (naively planned) on NaN-filled memory; returns its outputs. */
export async function runOnDirtyMemory(graph: Graph, inputs: Values, params: Values): Promise<Record<string, Tensor>> {
  const { wasm, layout } = emitWasm(naivePlan(graph));
  const { instance } = await Wasm.instantiate(wasm);
  const memory = (instance.exports.memory as { buffer: ArrayBuffer }).buffer;
  new Uint32Array(memory).fill(0x7fc00001);
  const entry = layout.entries.forward;
  const operands: Buffer[] = [...layout.params, ...entry.inputs];
  for (const p of layout.params) write(memory, p, params[p.name]);
  for (const i of entry.inputs) write(memory, i, inputs[i.name]);
  const before = operands.map((b) => Array.from(view(memory, b)));
  (instance.exports.forward as () => void)();
  operands.forEach((b, i) => {
    const after = view(memory, b);
    if (before[i].some((v, j) => !Object.is(v, after[j]))) throw new Error(`the graph wrote into its operand '${b.name}'`);
  });
  const outputs: Record<string, Tensor> = {};
  for (const o of entry.outputs) outputs[o.name] = { type: { dtype: o.dtype, shape: o.shape }, data: fromTypedArray(o.dtype, view(memory, o)) };
  return outputs;
}

/**
 * Runs `graph` on the WASM backend (dirty memory, see the header) and the interpreter (native
 * precision) on the same inputs (random from `seed` unless given) and params, and throws naming
 * every output that differs under wasm-harness's metric.
 */
export async function expectKernelsMatch(graph: Graph, inputs?: Values, opts: MatchOptions = {}) {
  const seed = opts.seed ?? 0;
  const given = inputs ?? randomInputs(graph, seed);
  const params = { ...initParams(graph, seed), ...opts.params };
  const actual = await runOnDirtyMemory(graph, given, params);
  const reference = interpret(graph, given, { precision: "native", params });
  const compare = { tolerance: opts.tolerance ?? graphTolerance(graph), floor: opts.floor };
  const failures: string[] = [];
  for (const [name, expected] of Object.entries(reference.outputs)) {
    const problem = compareTensors(actual[name], expected, compare);
    if (problem) failures.push(`output '${name}': ${problem}`);
  }
  if (failures.length) throw new Error(`graph '${graph.name}' differs from the interpreter:\n${failures.join("\n")}`);
  return { actual, reference };
}
