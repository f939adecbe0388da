// A stateful run of one or more graphs that share persistent params and state (a training
// program's train_step and apply_update entry points, say): the reference interpreter plus a
// store that each run's `update` records write back into, as a generated bundle will do in its
// arena.

import type { Graph } from "./graph.ts";
import { initParam } from "./init.ts";
import { interpret, type Precision } from "./interpreter.ts";
import type { Tensor } from "./op-def.ts";

export interface SessionOptions {
  precision?: Precision;
  /** Initializer seed for persistent values not given in `params`. */
  seed?: number;
  /** Starting values by name (e.g. weights loaded from a file). */
  params?: Readonly<Record<string, ArrayLike<number>>>;
}

export class Session {
  /** Current value of every persistent param/state of every graph, by name. */
  readonly state = new Map<string, Float64Array>();
  private readonly precision: Precision;

  constructor(graphs: readonly Graph[], opts: SessionOptions = {}) {
    this.precision = opts.precision ?? "native";
    for (const g of graphs) {
      for (const p of g.params) {
        if (this.state.has(p.name)) continue;
        const given = opts.params && Object.hasOwn(opts.params, p.name) ? opts.params[p.name] : undefined;
        this.state.set(p.name, given ? Float64Array.from(given) : initParam(p, opts.seed ?? 0));
      }
    }
  }

  /** Runs `g` on `inputs`, then stores its updates; returns its outputs. */
  run(g: Graph, inputs: Readonly<Record<string, ArrayLike<number>>>): Record<string, Tensor> {
    const params: Record<string, Float64Array> = Object.create(null);
    for (const p of g.params) params[p.name] = this.state.get(p.name)!;
    const result = interpret(g, inputs, { precision: this.precision, params });
    for (const [name, t] of Object.entries(result.updates)) this.state.set(name, t.data);
    return result.outputs;
  }
}
