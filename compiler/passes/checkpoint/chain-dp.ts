// chain-dp — the least-recomputation checkpointing schedule for a CHAIN, by dynamic programming
// (Griewank's binomial Revolve for equal costs; Beaumont et al., "Optimal checkpointing for
// heterogeneous chains", for unequal costs and sizes). A pure algorithm: the `checkpoint` pass
// maps a graph's backbone onto a chain and emits the returned actions.
//
// Model. A chain of l >= 1 steps with states x_0 … x_l; advancing step i (x_i -> x_{i+1}) costs
// cost[i] >= 0. Steps are reversed (their backward run) in the order l-1, l-2, …, 0, and reversing
// step i needs x_i as the working state. Its taping forward run is NOT counted (Revolve's
// convention): the count is the forward "advance" cost only, so a homogeneous chain's count is the
// number of recomputed forward steps. There is one working state, free of charge, that only moves
// forward (advance) or is set to a held state (restore, free); reversing step i consumes it. x_0 is
// the stored input: always available, never counted against memory. Besides x_0, snapshots of
// states may be held:
//   - slot version: at most `slots` snapshots at once;
//   - byte version: the held snapshots' sizes size[k] sum to at most `budget` bytes (sizes differ).
// Minimize the total advance cost.
//
// Recurrence. T(i, j, m): the least cost to reverse steps j-1 … i when x_i is held (or is x_0) and
// m memory is free (m slots, or m size units), the working state anywhere:
//   T(i, i+1, m) = 0                                         reverse step i from x_i;
//   advance-all  A(i, j) = sum_{t=i+1}^{j-1} adv(i, t)       for t = j-1 … i+1: advance x_i -> x_t,
//                                                            reverse t; then reverse i (holds nothing);
//   T(i, j, m)   = min( A(i, j),
//                       min_{i<k<j, h_k<=m} adv(i, k) + T(k, j, m - h_k) + T(i, k, m) )
// where adv(i, k) = cost[i] + … + cost[k-1] and h_k is x_k's memory (1 slot, or ceil(size[k]/unit)):
// advance to x_k, hold it, reverse the right part [k, j) with x_k held, release it, reverse the left
// part [i, k) (Revolve's split). With m = 0 only A(i, j) remains (a split at k = j-1 costs the same
// but holds x_k: ties go to advance-all). Every held snapshot here is a span start, kept until its
// own step is reversed; T is the optimum over all such schedules.
//
// Exactness (test/passes/checkpoint-chain-dp.test.ts: exhaustive search over every schedule, holds,
// releases and restores anywhere, on random chains of up to 9 steps; thousands of cases run once):
//   - slot version: exact over ALL schedules (Griewank's theorem for equal costs; the search finds
//     no counterexample with unequal costs);
//   - byte version: exact over schedules that keep each snapshot until its step is reversed. With
//     unequal sizes, releasing a small snapshot early to make room for a bigger one and recomputing
//     it later can do better (two pinned cases in the test: 88 vs 97, 119 vs 126); in random 6-9
//     step chains 1.3% of cases have such a gap, at most 8% of the cost.
//
// Griewank's closed form for a homogeneous chain (cost 1 per step) counts x_0's snapshot among its s
// checkpoints: with beta(s, r) = C(s + r, s) and r the integer with beta(s, r-1) < l <= beta(s, r),
// t(l, s) = r*l - beta(s+1, r-1). So solveChainSlots(l, slots) = t(l, slots + 1): l = 200 with 13
// checkpoints (x_0 and 12 slots) takes 480 advances; with 13 slots besides x_0 it takes 464.
//
// Byte version discretization: sizes are rounded UP to whole units and the budget DOWN, so every
// schedule returned fits the true budget (conservative; exact when the unit divides every size).
// The default unit is the gcd of the holdable sizes (x_1 … x_{l-1}; x_0 is free and x_l is never
// needed) when that gives at most MAX_DEFAULT_LEVELS levels, else budget/MAX_DEFAULT_LEVELS rounded
// up. A budget that holds every state at once (or slots >= l-1) needs no table: hold each state on
// one pass (cost adv(0, l-1), a lower bound for any schedule). The byte version is
// ALWAYS feasible: advance-all holds nothing, so solveChainBudget never fails (budget >= 0).
//
// Capacity version (memory per step): chain-dp-capacity.ts.
//
// Cost. Memory levels M (slots, or budget units, both capped at what holding every state needs);
// the table is l(l+1)/2 * (M+1) doubles, time O(l^3 M / 6). Measured on the shared dev machine:
// l = 200, 13 slots ~80 ms; byte version with the default 200 levels 0.5-0.9 s at l = 200, 2-3 s
// at l = 300 (72 MB table). Schedules are rebuilt from the table by re-running the same comparisons.
//
// API.
//   solveChainSlots(p, slots)          -> ChainSolution   optimal cost and schedule, `slots` besides x_0
//   chainSlotsTable(p, slots)          -> ChainSlotsTable T(i, j, s) for every span and s <= slots
//   solveChainBudget(p, budget, unit?) -> ChainSolution   byte version (p.size required), never fails
//   defaultBudgetUnit(p, budget)       -> number          the unit solveChainBudget picks by default
//   scheduleCost(p, schedule, i?, j?)  -> number          a schedule's advance cost, recomputed from
//                                                        its structure (independent of the DP)
//   scheduleActions(schedule, l)       -> Action[]        the schedule as advance/hold/reverse/release

/** A chain: cost[i] advances x_i -> x_{i+1} (length l); size[k] is x_k's bytes, k = 0 … l. */
export interface ChainProblem {
  readonly cost: readonly number[];
  /** Byte size of x_k for k = 0 … l (length l + 1; x_0's and x_l's are ignored). Byte version only. */
  readonly size?: readonly number[];
}

/** How to reverse a span [i, j) of steps whose start x_i is held. */
export type ChainSchedule =
  /** A single step (j = i + 1): reverse it from its held input x_i. */
  | { readonly kind: "reverse" }
  /** Advance x_i -> x_at, hold x_at, reverse [at, j) by `right`, release x_at, reverse [i, at) by `left`. */
  | { readonly kind: "split"; readonly at: number; readonly right: ChainSchedule; readonly left: ChainSchedule }
  /** Hold nothing: for t = j-1 … i+1 advance x_i -> x_t and reverse step t; then reverse step i. */
  | { readonly kind: "advance-all" }
  /** Advance x_i -> x_{j-1} without holding it, reverse step j-1, then reverse [i, j-1) by `rest`. */
  | { readonly kind: "peel"; readonly rest: ChainSchedule };

export interface ChainSolution {
  /** Total advance cost (taping runs of reversed steps excluded). */
  readonly cost: number;
  /** The schedule of the whole chain [0, l). */
  readonly schedule: ChainSchedule;
}

/**
 * One action of a flattened schedule. `advance` starts from x_from, which is the working state or a
 * held snapshot (x_0 always counts as held), and runs steps from … to-1 forward without taping.
 * `hold` keeps a snapshot of the working state x_state; `release` drops one. `reverse` runs step
 * `step` with taping and then its backward, from x_step: the working state or a held snapshot.
 */
export type Action =
  | { readonly kind: "advance"; readonly from: number; readonly to: number }
  | { readonly kind: "hold"; readonly state: number }
  | { readonly kind: "release"; readonly state: number }
  | { readonly kind: "reverse"; readonly step: number };

/** The T(i, j, s) table of the slot version, for callers that weigh slots against recomputation. */
export interface ChainSlotsTable {
  /** l, the number of steps. */
  readonly length: number;
  /** The largest slot count the table answers for (the `slots` it was built with). */
  readonly slots: number;
  /** Least advance cost to reverse steps j-1 … i from a held x_i with `slots` free slots. */
  cost(i: number, j: number, slots: number): number;
  /** That optimum with its schedule of the span [i, j). */
  solution(i: number, j: number, slots: number): ChainSolution;
}

/** Default byte-version levels: the table's memory dimension stays this small unless exact. */
export const MAX_DEFAULT_LEVELS = 200;

/** Tables larger than this many entries (8 bytes each) are refused: pass a coarser unit. */
export const MAX_TABLE_ENTRIES = 1 << 25;

export function solveChainSlots(p: ChainProblem, slots: number): ChainSolution {
  const l = chainLength(p);
  if (Number.isInteger(slots) && slots >= l - 1) return holdEverything(p.cost);
  return chainSlotsTable(p, slots).solution(0, l, slots);
}

export function chainSlotsTable(p: ChainProblem, slots: number): ChainSlotsTable {
  const l = chainLength(p);
  if (!Number.isInteger(slots) || slots < 0) throw new RangeError(`chain-dp: slots must be a non-negative integer, got ${slots}`);
  const levels = Math.min(slots, Math.max(l - 1, 0));
  const table = new ChainTable(p.cost, new Int32Array(l + 1).fill(1), levels);
  const check = (i: number, j: number, s: number): number => {
    checkSpan(l, i, j);
    if (!Number.isInteger(s) || s < 0 || s > slots) throw new RangeError(`chain-dp: slots ${s} outside 0..${slots}`);
    return Math.min(s, levels);
  };
  return {
    length: l,
    slots,
    cost: (i, j, s) => table.cost(i, j, check(i, j, s)),
    solution: (i, j, s) => {
      const m = check(i, j, s);
      return { cost: table.cost(i, j, m), schedule: table.schedule(i, j, m) };
    },
  };
}

export function solveChainBudget(p: ChainProblem, budget: number, unit?: number): ChainSolution {
  const l = chainLength(p);
  const size = chainSizes(p, l);
  if (!(budget >= 0) || !Number.isFinite(budget)) throw new RangeError(`chain-dp: budget must be a finite number >= 0, got ${budget}`);
  let total = 0;
  for (let k = 1; k < l; k++) total += size[k];
  if (budget >= total) return holdEverything(p.cost);
  const u = unit ?? defaultBudgetUnit(p, budget);
  if (!(u > 0) || !Number.isFinite(u)) throw new RangeError(`chain-dp: unit must be a finite number > 0, got ${u}`);
  let totalLevels = 0;
  for (let k = 1; k < l; k++) totalLevels += Math.ceil(size[k] / u);
  const levels = Math.min(Math.floor(budget / u), totalLevels);
  // a state bigger than the whole budget never fits: levels + 1 says so without overflowing Int32
  const hold = new Int32Array(l + 1);
  for (let k = 1; k < l; k++) hold[k] = Math.min(Math.ceil(size[k] / u), levels + 1);
  const table = new ChainTable(p.cost, hold, levels);
  return { cost: table.cost(0, l, levels), schedule: table.schedule(0, l, levels) };
}

/** The unit solveChainBudget discretizes sizes by when none is given (see the header). */
export function defaultBudgetUnit(p: ChainProblem, budget: number): number {
  const l = chainLength(p);
  const size = chainSizes(p, l);
  let g = 0;
  let integral = true;
  let total = 0;
  for (let k = 1; k < l; k++) {
    if (!Number.isInteger(size[k])) integral = false;
    else g = gcd(g, size[k]);
    total += size[k];
  }
  const effective = Math.min(budget, total);
  if (effective <= 0) return 1;
  if (integral && g > 0 && effective / g <= MAX_DEFAULT_LEVELS) return g;
  return integral ? Math.ceil(effective / MAX_DEFAULT_LEVELS) : effective / MAX_DEFAULT_LEVELS;
}

/** The advance cost of `s` on the span [i, j), from its structure alone. Throws on a malformed schedule. */
export function scheduleCost(p: ChainProblem, s: ChainSchedule, i = 0, j = p.cost.length): number {
  checkSpan(p.cost.length, i, j);
  const adv = (from: number, to: number): number => {
    let c = 0;
    for (let t = from; t < to; t++) c += p.cost[t];
    return c;
  };
  switch (s.kind) {
    case "reverse":
      if (j !== i + 1) throw new Error(`chain-dp: "reverse" on a span of ${j - i} steps [${i}, ${j})`);
      return 0;
    case "advance-all": {
      let c = 0;
      for (let t = i + 1; t < j; t++) c += adv(i, t);
      return c;
    }
    case "split":
      if (!(s.at > i && s.at < j)) throw new Error(`chain-dp: split at ${s.at} outside (${i}, ${j})`);
      return adv(i, s.at) + scheduleCost(p, s.right, s.at, j) + scheduleCost(p, s.left, i, s.at);
    case "peel":
      if (j < i + 2) throw new Error(`chain-dp: "peel" on a span of ${j - i} steps [${i}, ${j})`);
      return adv(i, j - 1) + scheduleCost(p, s.rest, i, j - 1);
  }
}

/** Flattens the schedule of the whole chain [0, l) into the actions the pass emits, in order. */
export function scheduleActions(s: ChainSchedule, l: number): Action[] {
  const out: Action[] = [];
  const walk = (node: ChainSchedule, i: number, j: number): void => {
    checkSpan(l, i, j);
    switch (node.kind) {
      case "reverse":
        if (j !== i + 1) throw new Error(`chain-dp: "reverse" on a span of ${j - i} steps [${i}, ${j})`);
        out.push({ kind: "reverse", step: i });
        return;
      case "advance-all":
        for (let t = j - 1; t > i; t--) {
          out.push({ kind: "advance", from: i, to: t });
          out.push({ kind: "reverse", step: t });
        }
        out.push({ kind: "reverse", step: i });
        return;
      case "split":
        if (!(node.at > i && node.at < j)) throw new Error(`chain-dp: split at ${node.at} outside (${i}, ${j})`);
        out.push({ kind: "advance", from: i, to: node.at });
        out.push({ kind: "hold", state: node.at });
        walk(node.right, node.at, j);
        out.push({ kind: "release", state: node.at });
        walk(node.left, i, node.at);
        return;
      case "peel":
        if (j < i + 2) throw new Error(`chain-dp: "peel" on a span of ${j - i} steps [${i}, ${j})`);
        out.push({ kind: "advance", from: i, to: j - 1 });
        out.push({ kind: "reverse", step: j - 1 });
        walk(node.rest, i, j - 1);
        return;
    }
  };
  walk(s, 0, l);
  return out;
}

/**
 * A table of one value per span [i, j) and memory level (0 … width-1), with the chain's prefix
 * sums; the two DP versions below fill it by their own recurrences.
 */
export abstract class SpanTable {
  protected readonly l: number;
  protected readonly width: number;
  /** prefix[t] = cost[0] + … + cost[t-1]; adv(i, k) = prefix[k] - prefix[i]. */
  protected readonly prefix: Float64Array;
  protected readonly t: Float64Array;

  constructor(cost: readonly number[], width: number) {
    const l = cost.length;
    this.l = l;
    this.width = width;
    const entries = ((l * (l + 1)) / 2) * width;
    if (entries > MAX_TABLE_ENTRIES) {
      throw new RangeError(`chain-dp: ${l} steps x ${width} memory levels is too large a table; use fewer levels (a coarser unit)`);
    }
    this.prefix = new Float64Array(l + 1);
    for (let t = 0; t < l; t++) this.prefix[t + 1] = this.prefix[t] + cost[t];
    this.t = new Float64Array(entries);
  }

  cost(i: number, j: number, level: number): number {
    return this.t[this.row(i, j) + level];
  }

  /**
   * Offset of span [i, j)'s row of levels. Spans are numbered by i, then j, so the left parts
   * [i, k) of one span are consecutive rows (fill() streams them); its right parts [k, j) are
   * shared by every span ending at j, which fill() computes one after another, so they stay cached.
   */
  protected row(i: number, j: number): number {
    return (i * this.l - ((i * (i - 1)) >> 1) + (j - i - 1)) * this.width;
  }
}

/** The DP table over spans [i, j) and free memory levels m = 0 … levels; hold[k] levels hold x_k. */
class ChainTable extends SpanTable {
  /** prefix2[t] = prefix[0] + … + prefix[t-1], for advance-all in O(1). */
  private readonly prefix2: Float64Array;

  constructor(
    cost: readonly number[],
    private readonly hold: Int32Array,
    readonly levels: number,
  ) {
    super(cost, levels + 1);
    this.prefix2 = new Float64Array(this.l + 2);
    for (let t = 0; t <= this.l; t++) this.prefix2[t + 1] = this.prefix2[t] + this.prefix[t];
    this.fill();
  }

  /** Rebuilds the optimal schedule of [i, j) with m levels by re-running fill()'s comparisons. */
  schedule(i: number, j: number, m: number): ChainSchedule {
    if (j === i + 1) return { kind: "reverse" };
    const at = this.bestSplit(i, j, m);
    if (at < 0) return { kind: "advance-all" };
    return { kind: "split", at, right: this.schedule(at, j, m - this.hold[at]), left: this.schedule(i, at, m) };
  }

  private advanceAll(i: number, j: number): number {
    return this.prefix2[j] - this.prefix2[i + 1] - (j - 1 - i) * this.prefix[i];
  }

  /** By j ascending, then i descending: both parts of a split (shorter spans) are then ready. */
  private fill(): void {
    const { l, t, width, hold, prefix } = this;
    const holdPrefix = new Float64Array(l + 1); // holdPrefix[k] = hold[0] + … + hold[k-1]
    for (let k = 0; k < l; k++) holdPrefix[k + 1] = holdPrefix[k] + hold[k];
    for (let j = 2; j <= l; j++) {
      for (let i = j - 2; i >= 0; i--) {
        // T(i, i+1, m) = 0: the array starts zeroed
        const out = this.row(i, j);
        // levels beyond what holding every state of the span needs change nothing: compute up to
        // `top`, then copy T(i, j, top) into the rest of the row (sub-spans read whole rows)
        const top = Math.min(width - 1, holdPrefix[j] - holdPrefix[i + 1]);
        t.fill(this.advanceAll(i, j), out, out + top + 1);
        for (let k = i + 1; k < j; k++) {
          const h = hold[k];
          if (h > top) continue;
          const a = prefix[k] - prefix[i];
          const right = this.row(k, j) - h;
          const left = this.row(i, k);
          for (let m = h; m <= top; m++) {
            const c = a + t[right + m] + t[left + m];
            if (c < t[out + m]) t[out + m] = c;
          }
        }
        t.fill(t[out + top], out + top + 1, out + width);
      }
    }
  }

  /** fill()'s choice for (i, j, m): -1 for advance-all (preferred on ties), else the first best k. */
  private bestSplit(i: number, j: number, m: number): number {
    const { t, hold, prefix } = this;
    let best = this.advanceAll(i, j);
    let at = -1;
    for (let k = i + 1; k < j; k++) {
      const h = hold[k];
      if (h > m) continue;
      const c = prefix[k] - prefix[i] + t[this.row(k, j) - h + m] + t[this.row(i, k) + m];
      if (c < best) {
        best = c;
        at = k;
      }
    }
    return at;
  }
}

/**
 * The schedule when every state x_1 … x_{l-1} can be held at once: advance once, holding each state
 * on the way, and reverse from the snapshots. Its cost adv(0, l-1) is a lower bound for any schedule
 * (step l-1 needs x_{l-1}), so it is optimal; no table needed.
 */
function holdEverything(cost: readonly number[]): ChainSolution {
  const l = cost.length;
  let schedule: ChainSchedule = { kind: "reverse" };
  let total = 0;
  for (let i = l - 2; i >= 0; i--) {
    schedule = { kind: "split", at: i + 1, right: schedule, left: { kind: "reverse" } };
    total += cost[i];
  }
  return { cost: total, schedule };
}

export function chainLength(p: ChainProblem): number {
  const l = p.cost.length;
  if (l < 1) throw new RangeError("chain-dp: a chain needs at least one step");
  for (const c of p.cost) {
    if (!(c >= 0) || !Number.isFinite(c)) throw new RangeError(`chain-dp: step costs must be finite and >= 0, got ${c}`);
  }
  return l;
}

export function chainSizes(p: ChainProblem, l: number): readonly number[] {
  const size = p.size;
  if (!size || size.length !== l + 1) {
    throw new RangeError(`chain-dp: the byte version needs size[k] for k = 0 … ${l} (${l + 1} entries), got ${size?.length ?? "none"}`);
  }
  for (let k = 1; k < l; k++) {
    if (!(size[k] >= 0) || !Number.isFinite(size[k])) throw new RangeError(`chain-dp: size[${k}] must be finite and >= 0, got ${size[k]}`);
  }
  return size;
}

function checkSpan(l: number, i: number, j: number): void {
  if (!Number.isInteger(i) || !Number.isInteger(j) || i < 0 || j > l || i >= j) {
    throw new RangeError(`chain-dp: span [${i}, ${j}) is not a non-empty span of a ${l}-step chain`);
  }
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}
