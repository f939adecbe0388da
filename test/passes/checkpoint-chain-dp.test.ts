// The chain checkpointing DP (compiler/passes/checkpoint/chain-dp.ts, and its version with memory
// per step, chain-dp-capacity.ts; the search below bounds memory per step too) against two independent
// references: Griewank's closed form t(l, s) = r*l - C(s+r, s+1) for homogeneous chains (computed
// with exact binomials), and an exhaustive search over every schedule (Dijkstra over game states:
// working state, set of held snapshots, next step to reverse; holds, releases and restores anywhere)
// on random small chains. The slot version matches the search's optimum; the byte version matches
// it over schedules that keep each snapshot until its step is reversed (the DP's space) and is
// never below the unrestricted optimum, which can be lower (pinned cases). Every schedule is also
// replayed action by action: it must reverse each step exactly once in the order l-1 … 0 from its
// input, never exceed the slots or bytes, and cost what the solver reported.
import { describe, expect, it } from "vitest";
import {
  type Action,
  type ChainProblem,
  chainSlotsTable,
  defaultBudgetUnit,
  scheduleActions,
  scheduleCost,
  solveChainBudget,
  solveChainSlots,
} from "../../compiler/passes/checkpoint/chain-dp.ts";
import { solveChainCapacity } from "../../compiler/passes/checkpoint/chain-dp-capacity.ts";
import { randInt, rng } from "../support/seeded-random.ts";

const homogeneous = (l: number): ChainProblem => ({ cost: new Array<number>(l).fill(1) });

/** C(n, k) exactly; 0 outside 0 <= k <= n. */
function binomial(n: number, k: number): bigint {
  if (k < 0 || n < 0 || k > n) return 0n;
  let c = 1n;
  for (let i = 1; i <= k; i++) c = (c * BigInt(n - k + i)) / BigInt(i);
  return c;
}

/**
 * Griewank's minimal number of forward steps to reverse l steps with s checkpoints, x_0's included:
 * beta(s, r) = C(s + r, s), r the least with l <= beta(s, r), t = r*l - beta(s+1, r-1).
 */
function griewank(l: number, s: number): number {
  const beta = (ss: number, r: number): bigint => binomial(ss + r, ss);
  let r = 0;
  while (beta(s, r) < BigInt(l)) r++;
  return Number(BigInt(r * l) - beta(s + 1, r - 1));
}

type Memory = { slots: number } | { budget: number; size: readonly number[] } | { capacity: readonly number[]; size: readonly number[] };

/** Snapshot memory allowed while step `step` is reversed (or held for). */
const limitAt = (mem: Memory, step: number): number => ("slots" in mem ? mem.slots : "budget" in mem ? mem.budget : mem.capacity[step]);

/**
 * Exhaustive optimum: Dijkstra over (working state or none, held set of x_1 … x_{l-1}, next step to
 * reverse). Moves: restore a held state (or x_0) as the working state, advance one step, hold the
 * working state when it fits, release a held state, reverse step next-1 from the working state.
 * With `keepUntilReversed`, a snapshot x_k may only be released once step k is reversed: the
 * schedules the DP's recurrence spans (Revolve's, where every held state is a span start).
 */
function bruteForce(cost: readonly number[], mem: Memory, keepUntilReversed = false): number {
  const l = cost.length;
  const bits = Math.max(l - 1, 0);
  // the memory bound applies while step next-1 is the one to reverse: at holds and at the reversal
  const fits = (mask: number, next: number): boolean => {
    let used = 0;
    for (let k = 1; k < l; k++) if (mask & (1 << (k - 1))) used += "slots" in mem ? 1 : mem.size[k];
    return used <= limitAt(mem, next - 1);
  };
  // key = ((next * (l + 2)) + pos + 1) << bits | mask, pos = -1 for "no working state"
  const key = (next: number, pos: number, mask: number): number => ((next * (l + 2) + pos + 1) << bits) | mask;
  const dist = new Map<number, number>();
  const heap: [number, number, number, number][] = []; // [cost, next, pos, mask]
  const push = (c: number, next: number, pos: number, mask: number): void => {
    const k = key(next, pos, mask);
    const old = dist.get(k);
    if (old !== undefined && old <= c) return;
    dist.set(k, c);
    heap.push([c, next, pos, mask]);
    let i = heap.length - 1;
    while (i > 0) {
      const up = (i - 1) >> 1;
      if (heap[up][0] <= heap[i][0]) break;
      [heap[up], heap[i]] = [heap[i], heap[up]];
      i = up;
    }
  };
  const pop = (): [number, number, number, number] => {
    const top = heap[0];
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const a = 2 * i + 1;
        const b = a + 1;
        let m = i;
        if (a < heap.length && heap[a][0] < heap[m][0]) m = a;
        if (b < heap.length && heap[b][0] < heap[m][0]) m = b;
        if (m === i) break;
        [heap[m], heap[i]] = [heap[i], heap[m]];
        i = m;
      }
    }
    return top;
  };
  push(0, l, 0, 0);
  while (heap.length > 0) {
    const [c, next, pos, mask] = pop();
    if (dist.get(key(next, pos, mask)) !== c) continue; // stale entry
    if (next === 0) return c;
    push(c, next, 0, mask); // restore x_0
    for (let k = 1; k < l; k++) {
      const bit = 1 << (k - 1);
      if (!(mask & bit)) continue;
      if (k < next) push(c, next, k, mask); // restore x_k
      if (k >= next || !keepUntilReversed) push(c, next, pos, mask & ~bit); // release x_k
    }
    if (pos >= 0 && pos + 1 < next) push(c + cost[pos], next, pos + 1, mask);
    const bit = 1 << (pos - 1);
    if (pos >= 1 && !(mask & bit) && fits(mask | bit, next)) push(c, next, pos, mask | bit);
    if (pos === next - 1 && fits(mask, next)) push(c, next - 1, -1, mask);
  }
  throw new Error("unreachable: advance-all always finishes");
}

/**
 * Replays actions on a chain: checks every precondition and the memory bound, and returns the total
 * advance cost and the peak memory of held snapshots (slots or bytes).
 */
function replay(cost: readonly number[], actions: readonly Action[], mem: Memory): { cost: number; peak: number } {
  const l = cost.length;
  const held = new Set<number>();
  let working: number | undefined = 0;
  let next = l;
  let total = 0;
  let used = 0;
  let peak = 0;
  const weight = (k: number): number => ("slots" in mem ? 1 : mem.size[k]);
  const available = (k: number): boolean => k === 0 || held.has(k) || working === k;
  for (const a of actions) {
    switch (a.kind) {
      case "advance":
        if (!available(a.from)) throw new Error(`advance from x_${a.from}, which is neither held nor the working state`);
        if (!(a.to > a.from && a.to < next)) throw new Error(`advance ${a.from} -> ${a.to} with next step ${next - 1}`);
        for (let t = a.from; t < a.to; t++) total += cost[t];
        working = a.to;
        break;
      case "hold":
        if (working !== a.state || a.state === 0 || held.has(a.state)) throw new Error(`bad hold of x_${a.state}`);
        held.add(a.state);
        used += weight(a.state);
        peak = Math.max(peak, used);
        if (used > limitAt(mem, next - 1)) throw new Error(`hold of x_${a.state} exceeds the memory bound of step ${next - 1}`);
        break;
      case "release":
        if (!held.delete(a.state)) throw new Error(`release of x_${a.state}, which is not held`);
        used -= weight(a.state);
        break;
      case "reverse":
        if (a.step !== next - 1) throw new Error(`reverse of step ${a.step} when step ${next - 1} is next`);
        if (!available(a.step)) throw new Error(`reverse of step ${a.step} without x_${a.step}`);
        if (used > limitAt(mem, a.step)) throw new Error(`reverse of step ${a.step} holding ${used}, over its bound`);
        next--;
        working = undefined;
        break;
    }
  }
  if (next !== 0) throw new Error(`steps 0 … ${next - 1} never reversed`);
  if (held.size !== 0) throw new Error(`snapshots ${[...held].join(", ")} never released`);
  if (!("capacity" in mem) && peak > limitAt(mem, 0)) throw new Error(`peak ${peak} exceeds the memory bound`);
  return { cost: total, peak };
}

describe("chain DP, homogeneous chains: Griewank's binomial closed form", () => {
  it("reverses 200 steps with 13 checkpoints (x_0 and 12 slots) in 480 advances", () => {
    expect(griewank(200, 13)).toBe(480);
    const p = homogeneous(200);
    const sol = solveChainSlots(p, 12);
    expect(sol.cost).toBe(480);
    expect(scheduleCost(p, sol.schedule)).toBe(480);
    const run = replay(p.cost, scheduleActions(sol.schedule, 200), { slots: 12 });
    expect(run.cost).toBe(480);
    expect(run.peak).toBeLessThanOrEqual(12);
    // 13 slots besides x_0 are Griewank's 14 checkpoints
    expect(solveChainSlots(p, 13).cost).toBe(griewank(200, 14));
    expect(griewank(200, 14)).toBe(464);
  });

  it("matches t(l, slots + 1) for every l in 1..200 and slots in 0..15", () => {
    const table = chainSlotsTable(homogeneous(200), 15);
    for (let l = 1; l <= 200; l++) {
      for (let s = 0; s <= 15; s++) expect(table.cost(0, l, s), `l=${l} slots=${s}`).toBe(griewank(l, s + 1));
    }
    // a homogeneous chain's spans all look alike: an inner span costs what a prefix of its length does
    expect(table.cost(37, 200, 5)).toBe(griewank(163, 6));
  });

  it("returns schedules that replay to the closed form's count within their slots", () => {
    for (const [l, s] of [[1, 0], [2, 0], [7, 0], [30, 1], [64, 3], [120, 6], [200, 15], [10, 9], [10, 40]]) {
      const p = homogeneous(l);
      const sol = solveChainSlots(p, s);
      expect(sol.cost).toBe(griewank(l, s + 1));
      expect(scheduleCost(p, sol.schedule)).toBe(sol.cost);
      expect(replay(p.cost, scheduleActions(sol.schedule, l), { slots: s }).cost).toBe(sol.cost);
    }
  });

  it("solves 200 steps with 13 slots in well under a second", () => {
    const start = performance.now();
    solveChainSlots(homogeneous(200), 13);
    expect(performance.now() - start).toBeLessThan(1000);
  });
});

describe("chain DP against exhaustive search on random small chains", () => {
  it("slot version: optimal cost, schedule cost and replay agree", () => {
    const r = rng(0x5eed);
    for (let trial = 0; trial < 300; trial++) {
      const l = randInt(r, 1, 7);
      const cost = Array.from({ length: l }, () => randInt(r, 1, 9));
      const slots = randInt(r, 0, 3);
      const p = { cost };
      const sol = solveChainSlots(p, slots);
      const label = `cost=[${cost}] slots=${slots}`;
      expect(sol.cost, label).toBe(bruteForce(cost, { slots }));
      expect(scheduleCost(p, sol.schedule), label).toBe(sol.cost);
      expect(replay(cost, scheduleActions(sol.schedule, l), { slots }).cost, label).toBe(sol.cost);
    }
  });

  it("byte version: optimal among schedules that keep snapshots until reversed; cost and replay agree", () => {
    const r = rng(0xb17e5);
    for (let trial = 0; trial < 300; trial++) {
      const l = randInt(r, 1, 7);
      const cost = Array.from({ length: l }, () => randInt(r, 1, 9));
      const size = Array.from({ length: l + 1 }, () => randInt(r, 1, 9));
      const budget = randInt(r, 0, 25);
      const p = { cost, size };
      const mem = { budget, size };
      const label = `cost=[${cost}] size=[${size}] budget=${budget}`;
      const keptOptimum = bruteForce(cost, mem, true);
      const optimum = bruteForce(cost, mem);
      for (const unit of [1, undefined]) {
        const sol = solveChainBudget(p, budget, unit);
        expect(sol.cost, `${label} unit=${unit}`).toBe(keptOptimum);
        expect(sol.cost, label).toBeGreaterThanOrEqual(optimum);
        expect(scheduleCost(p, sol.schedule), label).toBe(sol.cost);
        expect(replay(cost, scheduleActions(sol.schedule, l), mem).cost, label).toBe(sol.cost);
      }
    }
  });

  it("byte version: releasing a snapshot before its step is reversed can beat the DP", () => {
    // (1) Hold x_1 and x_6 for steps 7, 6; release x_1 to make room for x_3 (4 of 4 bytes), reverse
    // 5 … 3 from x_3, recompute and re-hold x_1 from x_0 for steps 2 … 0: 88 against the DP's 97.
    // (2) Hold x_1, x_2, x_5, x_6 (29 of 29 bytes) for steps 7 … 5; then advance from x_2, release
    // it and hold x_3 (26 bytes) for steps 4, 3; step 2 recomputes x_2 from x_1: 119 against 126.
    const cases = [
      { cost: [9, 4, 5, 9, 3, 8, 7, 4], size: [8, 1, 5, 4, 8, 5, 2, 7, 5], budget: 4, dp: 97, best: 88 },
      { cost: [9, 7, 27, 1, 13, 16, 11, 15], size: [29, 1, 11, 26, 12, 7, 10, 11, 28], budget: 29, dp: 126, best: 119 },
    ];
    for (const { cost, size, budget, dp, best } of cases) {
      const mem = { budget, size };
      const sol = solveChainBudget({ cost, size }, budget);
      expect(sol.cost).toBe(bruteForce(cost, mem, true));
      expect(sol.cost).toBe(dp);
      expect(bruteForce(cost, mem)).toBe(best);
    }
  });

  it("byte version with a coarse unit stays within the true budget and never beats the optimum", () => {
    const r = rng(0xc0a55e);
    for (let trial = 0; trial < 200; trial++) {
      const l = randInt(r, 2, 7);
      const cost = Array.from({ length: l }, () => randInt(r, 1, 9));
      const size = Array.from({ length: l + 1 }, () => randInt(r, 1, 9) * 10 + randInt(r, 0, 9));
      const budget = randInt(r, 0, 250);
      const p = { cost, size };
      const mem = { budget, size };
      const sol = solveChainBudget(p, budget, 25);
      const label = `cost=[${cost}] size=[${size}] budget=${budget}`;
      expect(sol.cost, label).toBeGreaterThanOrEqual(bruteForce(cost, mem));
      expect(replay(cost, scheduleActions(sol.schedule, l), mem).cost, label).toBe(sol.cost);
    }
  });
});

describe("chain DP capacity version (memory per step)", () => {
  it("is optimal among keep-until-reversed schedules on random small chains; cost and replay agree", () => {
    const r = rng(0xca9ac);
    for (let trial = 0; trial < 300; trial++) {
      const l = randInt(r, 1, 7);
      const cost = Array.from({ length: l }, () => randInt(r, 1, 9));
      const size = Array.from({ length: l + 1 }, () => randInt(r, 1, 6));
      // room grows towards the chain's start, as in a backward pass that frees what it passed (and
      // sometimes not: any capacities are allowed)
      const capacity = Array.from({ length: l }, (_, i) => randInt(r, 0, 6) + (trial % 3 === 0 ? 0 : 3 * (l - 1 - i)));
      const p = { cost, size };
      const mem = { capacity, size };
      const label = `cost=[${cost}] size=[${size}] capacity=[${capacity}]`;
      const sol = solveChainCapacity(p, capacity, 1);
      expect(sol.cost, label).toBe(bruteForce(cost, mem, true));
      expect(scheduleCost(p, sol.schedule), label).toBe(sol.cost);
      expect(replay(cost, scheduleActions(sol.schedule, l), mem).cost, label).toBe(sol.cost);
    }
  });

  it("is the byte version when every step has the same capacity", () => {
    const r = rng(0x5a3e);
    const cost = Array.from({ length: 50 }, () => randInt(r, 1, 100));
    const size = Array.from({ length: 51 }, () => randInt(r, 1, 8));
    for (const budget of [0, 3, 10, 40]) {
      expect(solveChainCapacity({ cost, size }, new Array<number>(50).fill(budget), 1).cost).toBe(solveChainBudget({ cost, size }, budget, 1).cost);
    }
  });

  it("recomputes less when room grows towards the start than with the tail's room throughout", () => {
    const l = 40;
    const cost = new Array<number>(l).fill(1);
    const size = new Array<number>(l + 1).fill(1);
    const growing = Array.from({ length: l }, (_, i) => 1 + Math.floor((l - 1 - i) / 4));
    const sol = solveChainCapacity({ cost, size }, growing, 1);
    expect(sol.cost).toBeLessThan(solveChainSlots({ cost }, 1).cost);
    expect(sol.cost).toBeGreaterThanOrEqual(solveChainSlots({ cost }, growing[0]).cost);
    expect(replay(cost, scheduleActions(sol.schedule, l), { capacity: growing, size }).cost).toBe(sol.cost);
  });

  it("rejects capacities of the wrong length or sign", () => {
    expect(() => solveChainCapacity({ cost: [1, 2], size: [0, 1, 0] }, [1])).toThrow(/one entry per step/);
    expect(() => solveChainCapacity({ cost: [1, 2], size: [0, 1, 0] }, [1, -1])).toThrow(/>= 0/);
  });
});

describe("chain DP byte version on larger chains", () => {
  it("is the slot version when every state has the same size", () => {
    const r = rng(7);
    const cost = Array.from({ length: 60 }, () => randInt(r, 1, 100));
    const size = new Array<number>(61).fill(4096);
    for (const slots of [0, 1, 2, 5, 9]) {
      const bytes = solveChainBudget({ cost, size }, slots * 4096 + 4095);
      expect(bytes.cost).toBe(solveChainSlots({ cost }, slots).cost);
      expect(replay(cost, scheduleActions(bytes.schedule, 60), { budget: slots * 4096 + 4095, size }).peak).toBeLessThanOrEqual(slots * 4096);
    }
  });

  it("holds everything when the budget allows: one pass up to x_{l-1}, then no recomputation", () => {
    const r = rng(11);
    const cost = Array.from({ length: 40 }, () => randInt(r, 1, 50));
    const size = Array.from({ length: 41 }, () => randInt(r, 1, 1000));
    const total = size.slice(1, 40).reduce((a, b) => a + b, 0);
    const sol = solveChainBudget({ cost, size }, total);
    expect(sol.cost).toBe(cost.slice(0, 39).reduce((a, b) => a + b, 0));
    expect(replay(cost, scheduleActions(sol.schedule, 40), { budget: total, size }).peak).toBeLessThanOrEqual(total);
  });

  it("picks the sizes' gcd as unit when exact, else a budget/200 unit, and stays within budget", () => {
    expect(defaultBudgetUnit({ cost: [1, 1, 1], size: [999, 64, 96, 7] }, 1000)).toBe(32);
    const r = rng(13);
    const cost = Array.from({ length: 80 }, () => randInt(r, 1, 20));
    const size = Array.from({ length: 81 }, () => randInt(r, 1000, 5000));
    const budget = 40_000;
    expect(defaultBudgetUnit({ cost, size }, budget)).toBe(200);
    const sol = solveChainBudget({ cost, size }, budget);
    const run = replay(cost, scheduleActions(sol.schedule, 80), { budget, size });
    expect(run.cost).toBe(sol.cost);
    // more memory never costs more recomputation, and any snapshot beats none on this chain
    expect(sol.cost).toBeLessThan(solveChainBudget({ cost, size }, 0).cost);
    expect(solveChainBudget({ cost, size }, 2 * budget).cost).toBeLessThanOrEqual(sol.cost);
  });

  it("rejects malformed problems and schedules", () => {
    expect(() => solveChainSlots({ cost: [] }, 1)).toThrow(/at least one step/);
    expect(() => solveChainSlots({ cost: [1, -1] }, 1)).toThrow(/>= 0/);
    expect(() => solveChainBudget({ cost: [1, 2] }, 10)).toThrow(/size/);
    expect(() => scheduleCost({ cost: [1, 2, 3] }, { kind: "reverse" })).toThrow(/reverse/);
    expect(() => scheduleActions({ kind: "split", at: 3, right: { kind: "reverse" }, left: { kind: "advance-all" } }, 3)).toThrow(/split/);
  });
});
