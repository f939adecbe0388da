// Runs passes for the driver: overlays each pass's defaults with the options given, verifies the
// results (once per phase by default, after every pass with MLC_VERIFY=each), records its
// statistics per entry point, and writes the IR dumps the user asked for (--print-ir-before /
// --print-ir-after / --print-ir-after-all). A pass that runs on several entries (forward,
// train_step, apply_update) is dumped once, with every entry's graph under one header, so the
// dump reads in pipeline order.

import type { Graph } from "../ir/graph.ts";
import { printGraph } from "../ir/printer.ts";
import { verifyGraph } from "../ir/verifier.ts";
import type { Pass, PassResult, PassStats, ProgramPass } from "../passes/pass.ts";

/** One dump section: the IR before or after a pass, `index` counting sections from 1. */
export interface IrDumpSection {
  readonly when: "before" | "after";
  readonly pass: string;
  readonly index: number;
  /** The `*** IR after <pass> ***` header line and the printed graphs. */
  readonly text: string;
}

export interface IrDumpOptions {
  /** Passes to dump the IR after: their names, or "all". */
  readonly after?: "all" | readonly string[];
  /** Passes to dump the IR before. */
  readonly before?: readonly string[];
  /** Where each section goes (stderr, or a file per section). */
  readonly write: (section: IrDumpSection) => void;
}

/** Statistics of one pass on one entry (or on the whole program, entry "*"). */
export interface PassRecord {
  readonly pass: string;
  readonly entry: string;
  readonly stats: PassStats;
  /** Wall time of the pass on this entry (on all entries, for a program pass), milliseconds; verification excluded. */
  readonly ms: number;
}

export interface NamedGraph {
  readonly exportName: string;
  readonly graph: Graph;
}

/**
 * Passes whose results the driver always hands to a later pass of the same phase (phases.ts):
 * autodiff and loss-scale to the optimizer or accumulate, dce and cse to fold-constants, fuse and
 * fuse-reductions to fuse-epilogues, schedule and inplace to plan. By default their results are
 * verified with that pass's (so once per phase, docs/IR.md "Verification"); MLC_VERIFY=each, or
 * `verify: "each"`, verifies after every pass, which finds the pass that broke a graph (tests run so).
 */
const VERIFIED_LATER_IN_PHASE = new Set(["autodiff", "loss-scale", "dce", "cse", "fuse", "fuse-reductions", "schedule", "inplace"]);

/**
 * Results of passes: a pass is a function of its graph and options, and graphs are never changed
 * once built, so a pass run again on the same graph object with the same options gives what it
 * gave before. A program's graphs keep their results while they live: `mlc mem` fuses and
 * schedules the plain step for its program and for auto's comparison, and every checkpoint
 * policy's program has the same forward entry. The checkpoint search's estimates (transient
 * runners) fuse hundreds of candidate steps, which the search keeps to compare: their results
 * are kept for the last few graphs only, enough for the fusion phase to find the estimate of the
 * step the search chose (driver/compile.ts backendPeak).
 */
const programResults = new WeakMap<Graph, Map<string, PassResult>>();
const recentResults = new Map<Graph, Map<string, PassResult>>();
const RECENT_GRAPHS = 12;

function remembered<O extends object>(pass: Pass<O>, graph: Graph, given: Partial<O>, transient: boolean): PassResult {
  const run = () => pass.run(graph, { ...pass.defaults, ...given });
  const key = optionsKey(pass.name, given);
  if (key === undefined) return run();
  const known = programResults.get(graph)?.get(key) ?? recentResults.get(graph)?.get(key);
  if (known) return known;
  const r = run();
  if (transient) {
    const byKey = recentResults.get(graph) ?? new Map<string, PassResult>();
    recentResults.delete(graph);
    recentResults.set(graph, byKey.set(key, r));
    if (recentResults.size > RECENT_GRAPHS) recentResults.delete(recentResults.keys().next().value!);
  } else {
    let byKey = programResults.get(graph);
    if (!byKey) programResults.set(graph, (byKey = new Map()));
    byKey.set(key, r);
  }
  return r;
}

/** Ids of the function-valued options seen (a backend's workspace table is one object per backend). */
const functionIds = new WeakMap<object, number>();
let functionCount = 0;

/**
 * A key that equal option sets share: the pass's name and each given option, numbers, strings and
 * booleans by value, functions by identity. Options holding other objects (lists, nested
 * settings) are not keyed: the pass runs again.
 */
function optionsKey(pass: string, given: object): string | undefined {
  let key = pass;
  for (const name of Object.keys(given).sort()) {
    const value = (given as Record<string, unknown>)[name];
    if (typeof value === "function") {
      let id = functionIds.get(value);
      if (id === undefined) functionIds.set(value, (id = ++functionCount));
      key += `|${JSON.stringify(name)}=#${id}`;
    } else if (value === undefined || typeof value === "number" || typeof value === "string" || typeof value === "boolean") {
      // JSON spelling: a string holding `|` or `=` cannot pass for another option.
      key += `|${JSON.stringify(name)}=${typeof value === "string" ? JSON.stringify(value) : `${typeof value}:${String(value)}`}`;
    } else {
      return undefined;
    }
  }
  return key;
}

export class PassRunner {
  readonly records: PassRecord[] = [];
  private sections = 0;
  private readonly verifyEach: boolean;

  /**
   * `transient`: the graphs are estimates' (checkpoint candidates), whose pass results are kept for
   * the most recent graphs only (see remembered).
   */
  constructor(
    private readonly dumps?: IrDumpOptions,
    private readonly verify: boolean | "each" = true,
    private readonly transient = false,
  ) {
    this.verifyEach = verify === "each" || (verify === true && process.env.MLC_VERIFY === "each");
  }

  private verifies(pass: string): boolean {
    return this.verify !== false && (this.verifyEach || !VERIFIED_LATER_IN_PHASE.has(pass));
  }

  /** Runs `pass` on one entry's graph. */
  one<O extends object>(pass: Pass<O>, entry: string, graph: Graph, options: Partial<O> = {}): Graph {
    return this.each(pass, [{ exportName: entry, graph }], () => options)[0].graph;
  }

  /** Runs `pass` on every entry (options per entry), dumping once for all of them. */
  each<O extends object>(pass: Pass<O>, entries: readonly NamedGraph[], options: (e: NamedGraph) => Partial<O> = () => ({})): NamedGraph[] {
    this.dump("before", pass.name, entries);
    const out = entries.map((e) => {
      const given = options(e);
      const start = performance.now();
      const r = remembered(pass, e.graph, given, this.transient);
      const ms = performance.now() - start;
      if (this.verifies(pass.name)) verifyGraph(r.graph);
      this.records.push({ pass: pass.name, entry: e.exportName, stats: r.stats, ms });
      return { exportName: e.exportName, graph: r.graph };
    });
    this.dump("after", pass.name, out);
    return out;
  }

  /** Runs a whole-program pass (e.g. plan) over every entry at once. */
  program<O extends object>(pass: ProgramPass<O>, entries: readonly NamedGraph[], options: Partial<O> = {}): NamedGraph[] {
    this.dump("before", pass.name, entries);
    const start = performance.now();
    const r = pass.run(entries.map((e) => e.graph), { ...pass.defaults, ...options });
    const ms = performance.now() - start;
    if (this.verifies(pass.name)) r.graphs.forEach((g) => verifyGraph(g));
    this.records.push({ pass: pass.name, entry: "*", stats: r.stats, ms });
    const out = entries.map((e, k) => ({ exportName: e.exportName, graph: r.graphs[k] }));
    this.dump("after", pass.name, out);
    return out;
  }

  /** The statistics a pass reported on an entry ("*" for program passes), if it ran there. */
  statsOf(pass: string, entry: string): PassStats | undefined {
    for (let i = this.records.length - 1; i >= 0; i--) {
      const r = this.records[i];
      if (r.pass === pass && r.entry === entry) return r.stats;
    }
    return undefined;
  }

  private dump(when: "before" | "after", pass: string, entries: readonly NamedGraph[]): void {
    const d = this.dumps;
    if (!d) return;
    const wanted = when === "after" ? d.after === "all" || (d.after ?? []).includes(pass) : (d.before ?? []).includes(pass);
    if (!wanted) return;
    const text = `*** IR ${when} ${pass} ***\n` + entries.map((e) => printGraph(e.graph)).join("\n");
    d.write({ when, pass, index: ++this.sections, text });
  }
}
