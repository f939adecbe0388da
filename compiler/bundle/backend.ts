// The contract between the driver (compiler/driver) and a code generator (codegen-wasm,
// codegen-wgsl). A backend says what its kernels need from the planner (scratch bytes per node:
// the memory passes plan them, and checkpointing's peak estimate counts them), which nodes it has
// kernels for, and how it emits a planned program into the bundle an app imports. The driver runs every pass before `emit`; a backend
// never runs the pipeline itself, and backends never import each other: what both bundles share
// lives beside this file (manifest.ts, plan-file.ts, declarations.ts).

import type { Graph, Node } from "../ir/graph.ts";
import type { TensorType } from "../ir/types.ts";
import type { SafeTensor } from "../../runtime/safetensors.ts";

/** One exported entry point of a bundle: `forward`, `train_step`, `apply_update`. */
export interface ProgramEntry {
  readonly exportName: string;
  readonly graph: Graph;
}

/** Scratch bytes a node's kernel needs (0: none), planned as a workspace live only at its step. */
export type NodeScratchBytes = (node: Node, operandTypes: readonly TensorType[]) => number;

/** What the bundle writer needs besides the planned entries. */
export interface BundleMeta {
  /** File stem (letters, digits, `_`, `-`). */
  readonly name: string;
  /** The train step's loss output, when the program trains. */
  readonly loss?: string;
  /** Micro-batches per update (1: the step updates params itself). */
  readonly accumulate: number;
  /** Initial params/state from a safetensors file (others take their seeded init). */
  readonly weights?: { readonly source: string; readonly tensors: Readonly<Record<string, SafeTensor>> };
  /** Seed of the params' initializers. */
  readonly seed: number;
  /** A debug build (`--debug`): only for a backend with `debugBuild`. */
  readonly debug?: boolean;
}

/** The layout facts every bundle reports (`mlc build` prints them; tests compare them). */
export interface BundleLayoutSummary {
  /** The planned arena, bytes. */
  readonly arena: number;
  readonly entries: Readonly<Record<string, unknown>>;
}

export interface WrittenBundle<Layout extends BundleLayoutSummary = BundleLayoutSummary> {
  /**
   * The stem every file name shares (`name.js`, `name.safetensors`, ...): the model's name,
   * shortened with a hash when too long for a file name (file-names.ts). The manifest keeps the
   * model's own name.
   */
  readonly name: string;
  /** File name → contents. */
  readonly files: Readonly<Record<string, Uint8Array | string>>;
  readonly layout: Layout;
}

export interface Backend<Layout extends BundleLayoutSummary = BundleLayoutSummary> {
  /** The `--target` name. */
  readonly name: string;
  /** Scratch bytes per node, which the memory passes plan as workspaces. */
  readonly scratchBytes: NodeScratchBytes;
  /**
   * The largest arena the target can address, bytes (wasm32: 4 GiB of linear memory); the driver
   * refuses a larger plan before emitting. Undefined: no fixed limit (checked where it runs).
   */
  readonly maxArenaBytes?: number;
  /**
   * Why the backend cannot emit `node` (no kernel for its op and operand dtypes), or undefined
   * when it can. The driver asks before emitting so the message names every missing kernel.
   */
  missingKernel(node: Node, operandTypes: readonly TensorType[]): string | undefined;
  /**
   * Whether it writes debug bundles (`mlc build --debug`: dead arena bytes poisoned, every read
   * checked; docs/MEMORY.md "Debug builds"). The driver refuses `debug` for a backend without.
   */
  readonly debugBuild?: boolean;
  /** Emits the planned entries (one arena) and writes the bundle's files. */
  writeBundle(entries: readonly ProgramEntry[], meta: BundleMeta): WrittenBundle<Layout>;
}

export class UnsupportedTargetError extends Error {
  override name = "UnsupportedTargetError";
}

/** A graph name as a file stem. */
export function bundleName(graphName: string): string {
  return graphName.replace(/[^A-Za-z0-9_-]/g, "_");
}
