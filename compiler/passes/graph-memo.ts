// What a pass builds about a graph under one set of alias rules and may be asked for again: the
// schedule pass runs several list-scheduling policies and refines several candidate orders of
// the same graph, and what no order changes is built once for all of them. Kept while the graph
// and the alias map are the same objects (a WeakMap on the graph: dropped with it).

import type { Graph } from "../ir/graph.ts";

/** `build` wrapped so that it runs once per (graph, aliases) pair, the last pair per graph kept. */
export function memoPerGraph<T>(build: (g: Graph, aliases: ReadonlyMap<string, string>) => T): (g: Graph, aliases: ReadonlyMap<string, string>) => T {
  const known = new WeakMap<Graph, { aliases: ReadonlyMap<string, string>; value: T }>();
  return (g, aliases) => {
    const hit = known.get(g);
    if (hit && hit.aliases === aliases) return hit.value;
    const value = build(g, aliases);
    known.set(g, { aliases, value });
    return value;
  };
}
