// chain-dp-capacity — the chain DP (chain-dp.ts) when the memory for snapshots differs per step.
//
// In a training step the memory left for snapshots is not constant: activations
// kept for the backward die as it passes them, so later reversals (earlier steps) have more room.
// capacity[r] bounds the held snapshots' bytes while step r is reversed (and while holding for
// it). Recurrence over U(i, j, u), u = memory already held (u <= the least capacity in [i, j)):
//   U(i, i+1, u) = 0
//   U(i, j, u)   = min( adv(i, j-1) + U(i, j-1, u),                          "peel"
//                       min_{i<k<j, u+h_k <= least capacity of [k, j)} adv(i, k) + U(k, j, u + h_k) + U(i, k, u) )
// Peel reverses the last step by advancing to it without holding it; repeated, it is advance-all.
// With constant capacities a split at j-1 is never worse than a peel, which is why T needs no
// peel; here the last step may have no room for x_{j-1} while earlier ones have room for more.
// Exact over keep-until-reversed schedules (test: exhaustive search with per-step capacities).
// Always feasible (peeling holds nothing).
//
// API.
//   solveChainCapacity(p, capacity, unit?) -> ChainSolution   capacity[r]: bytes for held snapshots
//                                                            while step r is reversed; p.size required

import { chainLength, chainSizes, defaultBudgetUnit, SpanTable, type ChainProblem, type ChainSchedule, type ChainSolution } from "./chain-dp.ts";

/**
 * The byte version with a per-step bound: capacity[r] bytes for held snapshots while step r is
 * reversed (r = 0 … l-1). Sizes round up and capacities down to whole units (default: as
 * defaultBudgetUnit picks for the largest capacity). Never fails: peeling holds nothing.
 */
export function solveChainCapacity(p: ChainProblem, capacity: readonly number[], unit?: number): ChainSolution {
  const l = chainLength(p);
  const size = chainSizes(p, l);
  if (capacity.length !== l) throw new RangeError(`chain-dp: capacity needs one entry per step (${l}), got ${capacity.length}`);
  for (const c of capacity) if (!(c >= 0) || !Number.isFinite(c)) throw new RangeError(`chain-dp: capacities must be finite numbers >= 0, got ${c}`);
  const u = unit ?? defaultBudgetUnit(p, Math.max(...capacity));
  if (!(u > 0) || !Number.isFinite(u)) throw new RangeError(`chain-dp: unit must be a finite number > 0, got ${u}`);
  const hold = new Int32Array(l + 1);
  let totalLevels = 0;
  for (let k = 1; k < l; k++) totalLevels += Math.ceil(size[k] / u);
  // a snapshot bigger than every capacity never fits: top + 1 says so without overflowing Int32
  const caps = Int32Array.from(capacity, (c) => Math.min(Math.floor(c / u), totalLevels));
  const top = Math.max(...caps);
  for (let k = 1; k < l; k++) hold[k] = Math.min(Math.ceil(size[k] / u), top + 1);
  const table = new CapacityTable(p.cost, hold, caps, top);
  return { cost: table.cost(0, l, 0), schedule: table.schedule(0, l, 0) };
}

/**
 * The capacity version's table U(i, j, u): least cost to reverse [i, j) from a held x_i when u
 * levels are already held; entries with u above the span's least capacity are never read.
 */
class CapacityTable extends SpanTable {
  constructor(
    cost: readonly number[],
    private readonly hold: Int32Array,
    private readonly caps: Int32Array,
    top: number,
  ) {
    super(cost, top + 1);
    this.fill();
  }

  schedule(i: number, j: number, u: number): ChainSchedule {
    if (j === i + 1) return { kind: "reverse" };
    const at = this.bestSplit(i, j, u);
    if (at < 0) return { kind: "peel", rest: this.schedule(i, j - 1, u) };
    return { kind: "split", at, right: this.schedule(at, j, u + this.hold[at]), left: this.schedule(i, at, u) };
  }

  private peel(i: number, j: number, u: number): number {
    return this.prefix[j - 1] - this.prefix[i] + this.t[this.row(i, j - 1) + u];
  }

  /**
   * As ChainTable.fill; a span's entries run u = 0 … its least capacity (leaves start at 0), in
   * steps of `stride`: the memory held while [i, j) is reversed is a sum of holds of states
   * x_1 … x_i (the starts of the spans around it), so a multiple of their gcd; the entries between
   * are never read from U(0, l, 0) (a split's parts start at i or later) and stay unfilled.
   */
  private fill(): void {
    const { l, t, hold, caps, prefix } = this;
    const stride = new Int32Array(l); // stride[i] = gcd(hold[1 … i]); x_0 is free, so only u = 0 at i = 0
    stride[0] = this.width;
    for (let i = 1, g = 0; i < l; i++) stride[i] = (g = gcd(g, hold[i])) || this.width;
    const leastFrom = new Int32Array(l); // leastFrom[k] = least capacity over [k, j)
    for (let j = 2; j <= l; j++) {
      leastFrom[j - 1] = caps[j - 1];
      for (let k = j - 2; k >= 0; k--) leastFrom[k] = Math.min(leastFrom[k + 1], caps[k]);
      for (let i = j - 2; i >= 0; i--) {
        const least = leastFrom[i];
        const step = stride[i];
        const out = this.row(i, j);
        const peeled = this.row(i, j - 1);
        const toLast = prefix[j - 1] - prefix[i];
        for (let u = 0; u <= least; u += step) t[out + u] = toLast + t[peeled + u];
        for (let k = i + 1; k < j; k++) {
          // x_k is held while [k, j) is reversed: only those steps' capacities bound it
          const h = hold[k];
          const room = Math.min(least, leastFrom[k] - h);
          const a = prefix[k] - prefix[i];
          const right = this.row(k, j) + h;
          const left = this.row(i, k);
          for (let u = 0; u <= room; u += step) {
            const c = a + t[right + u] + t[left + u];
            if (c < t[out + u]) t[out + u] = c;
          }
        }
      }
    }
  }

  private bestSplit(i: number, j: number, u: number): number {
    const { t, hold, caps, prefix } = this;
    const leastFrom = new Int32Array(j + 1); // as in fill(): least capacity over [k, j)
    leastFrom[j - 1] = caps[j - 1];
    for (let k = j - 2; k > i; k--) leastFrom[k] = Math.min(leastFrom[k + 1], caps[k]);
    let best = this.peel(i, j, u);
    let at = -1;
    for (let k = i + 1; k < j; k++) {
      const h = hold[k];
      if (u + h > leastFrom[k]) continue;
      const c = prefix[k] - prefix[i] + t[this.row(k, j) + h + u] + t[this.row(i, k) + u];
      if (c < best) {
        best = c;
        at = k;
      }
    }
    return at;
  }
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}
