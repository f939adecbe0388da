// The exact search for tight capacities (search-skyline.ts) as a portfolio with restarts.
//
// On perfect packings the skyline search usually places every buffer without a single backtrack,
// but now and then an early choice goes wrong in a way that is only refuted far below it; its
// running time is heavy-tailed. The cure is the usual one: several differently ordered searches,
// run in turn under a node limit that grows every round, so that none can stall the rest. The
// members search forwards and backwards in time (a reversed problem is a different search: wells
// are entered from the other side) and order candidates largest first (with or without the chain
// preference) or widest first; after the first round each run perturbs its candidate orders a
// little. Every member keeps the states it
// proved dead across its runs, so a restart does not repeat them, and a member that exhausts its
// search proves the capacity infeasible.

import { SkylineSearch, type DeadlineClock, type SkylineInput, type SkylineOrder } from "./search-skyline.ts";

export interface TightRun {
  readonly status: "found" | "infeasible" | "aborted";
  /** Offsets by model buffer (complete when found). */
  readonly offsets: Float64Array;
  readonly nodes: number;
}

interface Member {
  readonly reversed: boolean;
  readonly order: SkylineOrder;
  readonly chains: boolean;
}

const MEMBERS: readonly Member[] = [
  { reversed: false, order: "largest", chains: false },
  { reversed: true, order: "largest", chains: false },
  { reversed: false, order: "largest", chains: true },
  { reversed: true, order: "largest", chains: true },
  { reversed: false, order: "widest", chains: false },
  { reversed: true, order: "widest", chains: false },
];

const WALL: DeadlineClock = { now: () => performance.now(), tick() {} };

/**
 * Restarts: the first round's node limit per member, in placements per buffer, and its growth per
 * round. Frequent short runs beat a few long ones on heavy-tailed searches.
 */
const FIRST_ROUND_NODES_PER_BUFFER = 2;
const ROUND_GROWTH = 1.2;

export class TightSearch {
  private readonly model: SkylineInput;
  private forward: SkylineSearch | undefined;
  private backward: SkylineSearch | undefined;

  constructor(model: SkylineInput) {
    this.model = model;
  }

  /**
   * Whether the capacity is tight for the model (see SkylineSearch.tightAt). Capacities are never
   * below the live bytes, so they meet them everywhere exactly when the buffers' total area (size ×
   * lifetime) fills capacity × time span: a linear test that spares almost every problem, which
   * has slack somewhere, from building the skyline search at all.
   */
  tightAt(capacity: number): boolean {
    const { lower, upper, size, count } = this.model;
    if (count === 0) return false;
    let first = Infinity;
    let last = -Infinity;
    let area = 0;
    for (let i = 0; i < count; i++) {
      first = Math.min(first, lower[i]);
      last = Math.max(last, upper[i]);
      area += size[i] * (upper[i] - lower[i]);
    }
    if (area !== capacity * (last - first)) return false;
    return this.searchFor(false).tightAt(capacity);
  }

  /** Searches for a packing within `capacity` (tight: see tightAt) until `deadline` on `clock`. */
  run(capacity: number, deadline: number, clock?: DeadlineClock): TightRun {
    let nodes = 0;
    let limit = FIRST_ROUND_NODES_PER_BUFFER * Math.max(64, this.model.count);
    for (let round = 0; ; round++) {
      for (let m = 0; m < MEMBERS.length; m++) {
        const { reversed, order, chains } = MEMBERS[m];
        const run = this.searchFor(reversed).run(capacity, deadline, {
          nodeLimit: limit,
          order,
          chains,
          perturbSeed: round === 0 ? 0 : round * MEMBERS.length + m + 1,
          ...(clock ? { clock } : {}),
        });
        nodes += run.nodes;
        if (run.status !== "aborted") return { status: run.status, offsets: run.offsets, nodes };
        if ((clock ?? WALL).now() > deadline) return { status: "aborted", offsets: run.offsets, nodes };
      }
      limit = Math.ceil(limit * ROUND_GROWTH);
    }
  }

  /** The skyline search over the model, or over its time-reversed mirror (same buffer order). */
  private searchFor(reversed: boolean): SkylineSearch {
    if (!reversed) return (this.forward ??= new SkylineSearch(this.model));
    if (this.backward === undefined) {
      const { lower, upper, count } = this.model;
      let end = 0;
      for (let i = 0; i < count; i++) end = Math.max(end, upper[i]);
      this.backward = new SkylineSearch({
        ...this.model,
        lower: Float64Array.from(upper, (u) => end - u),
        upper: Float64Array.from(lower, (l) => end - l),
      });
    }
    return this.backward;
  }
}
