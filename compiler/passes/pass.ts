// What every pass declares, MLIR style: a kebab-case name, a one-line summary, options with
// defaults, and statistics it reports. A pass is a pure function from graph to graph; it keeps no
// module-level state.

import type { Graph } from "../ir/graph.ts";
import { verifyGraph } from "../ir/verifier.ts";

export type PassStats = Record<string, number>;

export interface PassResult {
  readonly graph: Graph;
  readonly stats: PassStats;
}

/** What a pass declares about itself (compiler/driver lists it with `mlc passes`). */
export interface PassInfo<Options extends object> {
  /** kebab-case, unique: the name --print-ir-after and statistics use. */
  readonly name: string;
  readonly summary: string;
  readonly defaults: Options;
  /** The statistics `run` reports, by key, each with what it counts. */
  readonly statistics: Readonly<Record<string, string>>;
}

export interface Pass<Options extends object> extends PassInfo<Options> {
  run(graph: Graph, options: Options): PassResult;
}

/**
 * A pass over every entry point of a program at once (e.g. `plan`: one arena for forward and
 * train_step), returning the entries in the order given.
 */
export interface ProgramPass<Options extends object> extends PassInfo<Options> {
  run(graphs: readonly Graph[], options: Options): { readonly graphs: readonly Graph[]; readonly stats: PassStats };
}

export interface RunPassHooks {
  /** Verify the result (on in tests and debug builds). */
  verify?: boolean;
  /** Called with the graph after the pass, e.g. for --print-ir-after. */
  after?: (passName: string, graph: Graph) => void;
}

/** Runs a pass with its defaults overlaid by `options`, verifying the result. */
export function runPass<O extends object>(pass: Pass<O>, graph: Graph, options: Partial<O> = {}, hooks: RunPassHooks = {}): PassResult {
  const result = pass.run(graph, { ...pass.defaults, ...options });
  if (hooks.verify ?? true) verifyGraph(result.graph);
  hooks.after?.(pass.name, result.graph);
  return result;
}
