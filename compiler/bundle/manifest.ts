// What a bundle's runtime needs to know besides its kernels, shared by the wasm-simd bundle
// (codegen-wasm/bundle.ts) and the WebGPU one (codegen-wgsl/bundle.ts): the tensors of the manifest (inputs
// by name across entries, forward outputs, params, where the train step's loss is) and the
// initial weights file. Both bundles lay tensors out from the same plans, so their weights files
// are the same bytes.

import type { Graph } from "../ir/graph.ts";
import { initParam } from "../ir/init.ts";
import type { BufferLayout, EntryLayout, ParamLayout } from "../ir/arena-layout.ts";
import type { DType } from "../ir/types.ts";
import { encodeSafetensors, type SafeTensor } from "../../runtime/safetensors.ts";
import { takeTensors, toSafeTensor } from "./tensor-io.ts";
import type { BundleMeta } from "./backend.ts";
import type { IndexRange } from "./index-ranges.ts";

export interface TensorEntry {
  name: string;
  dtype: DType;
  shape: number[];
  offset: number;
}

/** An input; one that kernels read as indices carries its valid range, checked before a call. */
export interface InputEntry extends TensorEntry {
  indexRange?: IndexRange;
}

/** The manifest fields every bundle runtime reads. */
export interface ManifestTensors {
  inputs: InputEntry[];
  outputs: TensorEntry[];
  /** A param that kernels read as indices carries its valid range, checked when weights load. */
  params: (TensorEntry & { trainable: boolean; indexRange?: IndexRange })[];
  loss: { dtype: DType; offset: number } | null;
  /** Micro-batches per update when built with accumulation (then `apply_update` exists), else 1. */
  accumulate: number;
}

/** The layout of a bundle's entries in their one arena. */
export interface BundleLayout {
  readonly params: readonly ParamLayout[];
  readonly entries: Readonly<Record<string, EntryLayout>>;
}

/** `ranges`: the index ranges of integer inputs and params (index-ranges.ts), put on them. */
export function manifestTensors(layout: BundleLayout, loss: string | undefined, accumulate: number, fail: (message: string) => Error, ranges: ReadonlyMap<string, IndexRange> = new Map()): ManifestTensors {
  const entry = (b: BufferLayout): TensorEntry => ({ name: b.name, dtype: b.dtype, shape: [...b.shape], offset: b.offset });
  // Entries were planned together, so an input shared by name has one offset; check, not trust.
  const inputs = new Map<string, TensorEntry>();
  for (const [exportName, e] of Object.entries(layout.entries)) {
    for (const i of e.inputs) {
      const seen = inputs.get(i.name);
      if (seen && seen.offset !== i.offset) throw fail(`input '${i.name}' sits at ${seen.offset} in one entry and ${i.offset} in '${exportName}'`);
      inputs.set(i.name, entry(i));
    }
  }
  const train = layout.entries["train_step"];
  const lossLayout = train && train.outputs.find((o) => o.name === loss);
  if (train && !lossLayout) throw fail(`the train step has no output '${loss}' to return as its loss`);
  return {
    inputs: [...inputs.values()].map((i) => (ranges.has(i.name) ? { ...i, indexRange: ranges.get(i.name)! } : i)),
    outputs: layout.entries["forward"].outputs.map(entry),
    params: layout.params.map((p) => ({ ...entry(p), trainable: p.trainable, ...(ranges.has(p.name) ? { indexRange: ranges.get(p.name)! } : {}) })),
    loss: lossLayout ? { dtype: lossLayout.dtype, offset: lossLayout.offset } : null,
    accumulate: layout.entries["apply_update"] ? accumulate : 1,
  };
}

/** Every param and state of every entry: given weights first, else the seeded initializer. */
export function initialWeights(graphs: readonly Graph[], params: readonly ParamLayout[], opts: Pick<BundleMeta, "weights" | "seed">): Uint8Array {
  // Maps and null-prototype records: a param may be named `__proto__` (Object.assign onto `{}`
  // would set the prototype and drop it) or `constructor` (which `{}` has by inheritance).
  // Entries share their params: each is initialised once, from the last entry declaring it.
  const inits = new Map<string, ArrayLike<number>>();
  for (const g of [...graphs].reverse()) {
    for (const p of g.params) if (!inits.has(p.name)) inits.set(p.name, initParam(p, opts.seed ?? 0));
  }
  const declared = params.map((p) => ({ name: p.name, type: { dtype: p.dtype, shape: p.shape } }));
  // A training checkpoint's optimizer state that these entries do not have (a forward bundle)
  // is skipped; the CLI says so (ignoredTrainingState). Any other unknown name is an error.
  const names = new Set(declared.map((d) => d.name));
  const file: Record<string, SafeTensor> = Object.create(null);
  for (const [n, t] of Object.entries(opts.weights?.tensors ?? {})) if (names.has(n) || !isTrainingState(n)) file[n] = t;
  const given = opts.weights ? takeTensors(opts.weights.source, file, declared, "param", { requireAll: false }) : {};
  const tensors: Record<string, SafeTensor> = Object.create(null);
  for (const { name, type } of declared) tensors[name] = toSafeTensor(type, Object.hasOwn(given, name) ? given[name] : inits.get(name)!);
  return encodeSafetensors(tensors);
}

/**
 * Optimizer state, gradient accumulators, pruning masks and QAT's range observers (`opt/*`,
 * `acc/*`, `prune/*`, `qat/*`): part of a training checkpoint only (an int8 build reads qat/* as
 * its activation ranges, cli/quantize-options.ts).
 */
export function isTrainingState(name: string): boolean {
  return name.startsWith("opt/") || name.startsWith("acc/") || name.startsWith("prune/") || name.startsWith("qat/");
}

/** The tensors of a weights file that a bundle with `params` skips: training state it does not have. */
export function ignoredTrainingState(weights: Readonly<Record<string, unknown>>, params: Iterable<string>): string[] {
  const have = new Set(params);
  return Object.keys(weights).filter((n) => !have.has(n) && isTrainingState(n));
}

/**
 * The params (not optimizer state: a fresh one is the usual case) that a weights file leaves at
 * their seeded initial values: what `--weights` notes, as a bundle's load() warns.
 */
export function paramsLeftInitial(weights: Readonly<Record<string, unknown>>, params: Iterable<string>): string[] {
  return [...params].filter((n) => !Object.hasOwn(weights, n) && !isTrainingState(n));
}

/** The note `--weights` prints for paramsLeftInitial's names. */
export function leftInitialNote(file: string, names: readonly string[]): string {
  return `note: ${file}: ${names.length} param${names.length > 1 ? "s" : ""} not in the file keep${names.length > 1 ? "" : "s"} the seeded initial value${names.length > 1 ? "s" : ""}: ${names.join(", ")}`;
}
