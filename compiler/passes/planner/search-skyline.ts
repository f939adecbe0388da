// Exact search for tight capacities: which buffer fills a hole of the skyline?
//
// When the capacity equals the live bytes at every moment of the problem's time span (no slack
// anywhere: perfect packings, or a hot window packed at its own peak), a plan within the capacity
// wastes no byte at any moment. Every partial plan built bottom-up is then a "skyline": at each
// time rank r the placed buffers tile [0, h(r)) exactly. Take a "well" of the skyline: a maximal
// segment [a, b) at height h whose neighbours on both sides are higher (the ends of the range
// searched count as higher). Some buffer covers the point (a, h); it sits at offset exactly h,
// cannot reach left of a (occupied there) nor past b, so it starts exactly at a and ends at or
// before b. Likewise some buffer at offset h ends exactly at b and starts at or after a.
// Branching over either list is complete, and placing any candidate keeps the skyline exact (it
// lands on a flat stretch). Of all wells' lists the search branches on the shortest (fail first);
// a well with none ends the branch. Candidates that meet a neighbour's height exactly (zero-waste
// fits, which merge skyline segments) go first, then the largest (or the widest: see SkylineOrder).
//
// What else prunes:
//   - Walls: a segment whose left neighbour is higher needs an unplaced buffer that starts exactly
//     at its left end, fits above it and ends before the skyline next rises above the segment; a
//     higher right neighbour needs one ending exactly at its right end. Checked at each placement.
//   - Wells fill: below the lower of its two walls, only buffers living inside a well can fill it,
//     so at every rank of the well they must reach that height.
//   - Decomposition: once no unplaced buffer crosses some boundary between ranks, the two sides are
//     independent and are solved one after the other (as in search.ts).
//   - Backjumping: a failure records which earlier placements it depends on (those over the ranks
//     it looked at, and those that used up buffers it needed); the search returns straight to the
//     latest of them instead of retrying every placement in between. Without it, a dead end in one
//     stretch of time is rediscovered under every choice made in another.
//   - Memory: a state (the set of unplaced buffers and the range searched) that failed is not
//     searched again, by 64-bit hash.
// Symmetries removed: identical buffers (same lifetime and size) are one "type" with a count, and
// of two buffers with the same lifetime stacked directly on each other the larger goes below.
//
// The caller decides applicability (tightAt): with slack somewhere a hole may stay empty and the
// argument above fails, so this search only runs where it is exact; "infeasible" is then a proof.

import type { SearchModel } from "./search-model.ts";

/** What the skyline search reads of a search model. */
export type SkylineInput = Pick<SearchModel, "count" | "lower" | "upper" | "size" | "alignment" | "maxPad">;

export type SkylineStatus = "found" | "infeasible" | "aborted";

export interface SkylineRun {
  readonly status: SkylineStatus;
  /** Offsets by model buffer, complete when status is "found" (-1 elsewhere). */
  readonly offsets: Float64Array;
  readonly nodes: number;
}

/**
 * What deadlines are measured on: the wall clock (milliseconds), or a count of search work, which
 * the search advances by the number of buffers at each node (the planner's SearchClock).
 */
export interface DeadlineClock {
  now(): number;
  tick(units: number): void;
}

const WALL_CLOCK: DeadlineClock = { now: () => performance.now(), tick() {} };

/** After the zero-waste fits: the largest buffer first (then the widest), or the widest first. */
export type SkylineOrder = "largest" | "widest";

export interface SkylineOptions {
  /** Give up after this many placements tried. */
  readonly nodeLimit?: number;
  /** Nonzero: perturb candidate orders (for restarts), deterministically per seed. */
  readonly perturbSeed?: number;
  /** Candidate order after the zero-waste fits (default "largest"). */
  readonly order?: SkylineOrder;
  /** What `deadline` is measured on (default: the wall clock). */
  readonly clock?: DeadlineClock;
  /**
   * Also prefer candidates that continue a chain: a buffer of the same size starts where the
   * candidate ends (or ends where it starts), so the pair can sit side by side at one offset, as
   * the two halves of a buffer cut in time do.
   */
  readonly chains?: boolean;
}

/** A perturbed run moves a random later candidate to the front at a node with this probability. */
const PERTURB_PROBABILITY = 0.05;

/**
 * One level of the depth-first search. A node branches on the candidates of one well inside its
 * range of ranks; a "pieces" frame solves independent ranges one after the other.
 */
interface Frame {
  isNode: boolean;
  /** The ranks [lo, hi) this frame works in: no unplaced buffer crosses lo or hi. */
  lo: number;
  hi: number;
  // Node: the well [a, b) at height h, its candidate types in order, the next one to try.
  a: number;
  b: number;
  h: number;
  /** Whether the node has picked its well and candidates (in the shared candidate stack). */
  entered: boolean;
  candidateBase: number;
  candidateEnd: number;
  next: number;
  /** The type placed at this level (-1 while none), and the log length before it. */
  placed: number;
  logMark: number;
  /** The symmetry marker at the placed type's first rank before the placement. */
  savedBelowType: number;
  savedBelowTop: number;
  /** Where the top placements of the placed type's ranks before it were saved (topStack). */
  topsBase: number;
  /** State hash at entry (for the memory of failures). */
  keyA: number;
  keyB: number;
  /** Earlier frames that the failures below this node so far depend on (bitset over depth). */
  conflict: Uint32Array;
  // Pieces: independent ranges [pieces[i], pieces[i + 1]), solved in turn.
  pieces: number[];
  pieceIndex: number;
}

const FOUND = 0;
const NOT_FOUND = 1;

/**
 * States known to fail, keyed by a 64-bit hash (two 32-bit halves): open addressing, bounded in
 * size (once full, nothing more is remembered).
 */
class FailedStates {
  private keysA: Int32Array;
  private keysB: Int32Array;
  private used: Uint8Array;
  private size = 0;

  constructor(
    private capacity = 1 << 12,
    private readonly maxCapacity = 1 << 22,
  ) {
    this.keysA = new Int32Array(capacity);
    this.keysB = new Int32Array(capacity);
    this.used = new Uint8Array(capacity);
  }

  has(a: number, b: number): boolean {
    const mask = this.capacity - 1;
    for (let i = (a ^ Math.imul(b, 0x9e3779b1)) & mask; this.used[i]; i = (i + 1) & mask) {
      if (this.keysA[i] === a && this.keysB[i] === b) return true;
    }
    return false;
  }

  add(a: number, b: number): void {
    if (2 * (this.size + 1) > this.capacity) {
      if (this.capacity >= this.maxCapacity) return;
      const { keysA, keysB, used } = this;
      this.capacity *= 2;
      this.keysA = new Int32Array(this.capacity);
      this.keysB = new Int32Array(this.capacity);
      this.used = new Uint8Array(this.capacity);
      this.size = 0;
      for (let i = 0; i < used.length; i++) if (used[i]) this.add(keysA[i], keysB[i]);
    }
    const mask = this.capacity - 1;
    let i = (a ^ Math.imul(b, 0x9e3779b1)) & mask;
    while (this.used[i]) {
      if (this.keysA[i] === a && this.keysB[i] === b) return;
      i = (i + 1) & mask;
    }
    this.used[i] = 1;
    this.keysA[i] = a;
    this.keysB[i] = b;
    this.size++;
  }
}

export class SkylineSearch {
  private readonly model: SkylineInput;
  /** Elementary time segments: buffer b lives in ranks [first, last). */
  private readonly ranks: number;
  // Types: identical (first, last, size) buffers, numbered by lifetime, then size descending.
  private readonly typeFirst: Int32Array;
  private readonly typeLast: Int32Array;
  private readonly typeSize: Float64Array;
  /** Lifetime length in ranks. */
  private readonly typeWidth: Int32Array;
  private readonly typeMembers: Int32Array[];
  private readonly count: Int32Array;
  /** Types starting at each rank and ending at each rank (CSR). */
  private readonly startStart: Int32Array;
  private readonly starting: Int32Array;
  private readonly endStart: Int32Array;
  private readonly ending: Int32Array;
  /** The sum of sizes live in each rank. */
  private readonly live: Float64Array;
  /** Random keys per type for hashing sets of unplaced buffers. */
  private readonly zobristA: Int32Array;
  private readonly zobristB: Int32Array;
  /** Failed states, kept across runs at the same capacity (restarts reuse them). */
  private failed: FailedStates | undefined;
  private failedCapacity = -1;

  constructor(model: SkylineInput) {
    this.model = model;
    const n = model.count;
    const points = Array.from(new Set([...model.lower, ...model.upper])).sort((x, y) => x - y);
    const rankOf = new Map(points.map((t, r) => [t, r]));
    this.ranks = Math.max(0, points.length - 1);
    const first = Int32Array.from(model.lower, (t) => rankOf.get(t)!);
    const last = Int32Array.from(model.upper, (t) => rankOf.get(t)!);
    const byType = Int32Array.from({ length: n }, (_, b) => b).sort(
      (x, y) => first[x] - first[y] || last[x] - last[y] || model.size[y] - model.size[x] || x - y,
    );
    const members: number[][] = [];
    for (let k = 0; k < n; k++) {
      const b = byType[k];
      const p = k > 0 ? byType[k - 1] : -1;
      if (p < 0 || first[p] !== first[b] || last[p] !== last[b] || model.size[p] !== model.size[b]) members.push([]);
      members[members.length - 1].push(b);
    }
    const types = members.length;
    this.typeMembers = members.map((m) => Int32Array.from(m));
    this.typeFirst = Int32Array.from(members, (m) => first[m[0]]);
    this.typeLast = Int32Array.from(members, (m) => last[m[0]]);
    this.typeSize = Float64Array.from(members, (m) => model.size[m[0]]);
    this.count = Int32Array.from(members, (m) => m.length);
    this.typeWidth = Int32Array.from(members, (m) => last[m[0]] - first[m[0]]);
    const csr = (at: Int32Array): [Int32Array, Int32Array] => {
      const start = new Int32Array(this.ranks + 2);
      for (let t = 0; t < types; t++) start[at[t] + 1]++;
      for (let r = 0; r <= this.ranks; r++) start[r + 1] += start[r];
      const fill = start.slice();
      const list = new Int32Array(types);
      for (let t = 0; t < types; t++) list[fill[at[t]]++] = t;
      return [start, list];
    };
    [this.startStart, this.starting] = csr(this.typeFirst);
    [this.endStart, this.ending] = csr(this.typeLast);
    const live = new Float64Array(this.ranks + 1);
    for (let b = 0; b < n; b++) {
      live[first[b]] += model.size[b];
      live[last[b]] -= model.size[b];
    }
    for (let r = 1; r <= this.ranks; r++) live[r] += live[r - 1];
    this.live = live.subarray(0, this.ranks);
    let seed = 0x2545f491;
    const next = () => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return seed | 0;
    };
    this.zobristA = Int32Array.from({ length: types }, next);
    this.zobristB = Int32Array.from({ length: types }, next);
  }

  /**
   * Whether this search is exact at `capacity`: live bytes equal the capacity throughout the time
   * span, and no buffer needs padding (every size is a positive multiple of the alignment).
   */
  tightAt(capacity: number): boolean {
    const { model } = this;
    if (model.count === 0 || model.maxPad > 0 || capacity % model.alignment !== 0) return false;
    for (let b = 0; b < model.count; b++) if (!(model.size[b] > 0)) return false;
    for (let r = 0; r < this.ranks; r++) if (this.live[r] !== capacity) return false;
    return true;
  }

  /**
   * Searches for a packing within `capacity` (which must be tight: see tightAt) until `deadline`
   * (on options.clock) or the node limit. Failed states found by earlier runs at the same
   * capacity are remembered, so a restarted run does not repeat them.
   */
  run(capacity: number, deadline: number, options: SkylineOptions = {}): SkylineRun {
    const nodeLimit = options.nodeLimit ?? Infinity;
    const widestFirst = options.order === "widest";
    const chains = options.chains === true;
    const clock = options.clock ?? WALL_CLOCK;
    let randomState = (options.perturbSeed ?? 0) >>> 0;
    const random = (): number => {
      randomState = (randomState + 0x6d2b79f5) >>> 0;
      let t = randomState;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const ranks = this.ranks;
    const height = new Float64Array(ranks);
    const count = this.count.slice();
    const belowType = new Int32Array(ranks).fill(-1);
    const belowTop = new Float64Array(ranks).fill(-1);
    /** Unplaced buffers live on both sides of each boundary r (between ranks r - 1 and r). */
    const cross = new Int32Array(ranks + 1);
    const { typeFirst, typeLast, typeSize, startStart, starting, endStart, ending } = this;
    const types = count.length;
    for (let t = 0; t < types; t++) for (let r = typeFirst[t] + 1; r < typeLast[t]; r++) cross[r] += count[t];
    // Placements (type, offset) in order; a solved piece's entries stay when its frames unwind.
    const logType: number[] = [];
    const logOffset: number[] = [];
    let nodes = 0;

    // The state hash: a random key per unplaced buffer, plus one per symmetry marker in force (the
    // marker restricts what may go on top, so it is part of the state), mod 2^32, twice.
    const zA = this.zobristA;
    const zB = this.zobristB;
    let hashA = 0;
    let hashB = 0;
    for (let t = 0; t < types; t++) {
      hashA = (hashA + Math.imul(zA[t], count[t])) | 0;
      hashB = (hashB + Math.imul(zB[t], count[t])) | 0;
    }
    const markerKey = (r: number, t: number, z: Int32Array): number => Math.imul(z[t] ^ Math.imul(r + 1, 0x9e3779b1), 0x85ebca6b) | 0;
    const markerIn = (r: number, sign: number): void => {
      if (belowType[r] < 0 || belowTop[r] !== height[r]) return;
      hashA = (hashA + sign * markerKey(r, belowType[r], zA)) | 0;
      hashB = (hashB + sign * markerKey(r, belowType[r], zB)) | 0;
    };
    if (this.failedCapacity !== capacity) {
      this.failed = new FailedStates();
      this.failedCapacity = capacity;
    }
    const failed = this.failed!;

    // The range of the frame being worked on: its ends are walls (nothing crosses them).
    let lo = 0;
    let hi = ranks;
    const at = (r: number): number => (r < lo || r >= hi ? Infinity : height[r]);
    /** First rank >= r whose height is above h (hi if none). */
    const firstAbove = (r: number, h: number): number => {
      while (r < hi && height[r] <= h) r++;
      return r;
    };
    /** Last rank < r whose height is above h, plus one (lo if none). */
    const afterLastAbove = (r: number, h: number): number => {
      while (r > lo && height[r - 1] <= h) r--;
      return r;
    };

    // Conflict sets: bitsets over frame depth. A failure depends on the heights it looked at and
    // on which buffers were already used. A height is fixed by the one placement on top of its rank
    // (its offset and size; everything under it was placed earlier, so it stays in place whatever
    // the search returns to). `blame` adds, of the frames below `top`: the top placement of every
    // rank in [x, y); when [x, y) reaches past the range, the placements crossing its ends (which
    // made the range independent); and placements of a type starting at `s`, ending at `e`, or
    // (`inner`) living inside [s, e).
    const frames: Frame[] = [];
    let depth = 0;
    const words = (): number => ((frames.length + 32) >> 5) + 1;
    const decFirst: number[] = [];
    const decLast: number[] = [];
    const decType: number[] = [];
    /** The frame whose placement is on top at each rank (-1: none), and a stack to restore it. */
    const topDecision = new Int32Array(ranks).fill(-1);
    let topStack = new Int32Array(1024);
    let topTop = 0;
    const clear = (set: Uint32Array): void => {
      for (let w = 0; w < set.length; w++) set[w] = 0;
    };
    const mark = (set: Uint32Array, d: number): void => {
      set[d >> 5] |= 1 << (d & 31);
    };
    /** The frames that placed a buffer starting (ending) at each rank, innermost last. */
    const startedAt: number[][] = Array.from({ length: ranks + 1 }, () => []);
    const endedAt: number[][] = Array.from({ length: ranks + 1 }, () => []);
    const blame = (set: Uint32Array, top: number, x: number, y: number, s: number, e: number, inner = false): void => {
      for (let r = Math.max(x, lo), end = Math.min(y, hi); r < end; r++) {
        const d = topDecision[r];
        if (d >= 0 && d < top) mark(set, d);
      }
      if (s >= 0) for (const d of startedAt[s]) if (d < top) mark(set, d);
      if (e >= 0) for (const d of endedAt[e]) if (d < top) mark(set, d);
      if (inner) {
        for (let r = s + 1; r < e; r++) for (const d of startedAt[r]) if (d < top && decLast[d] <= e) mark(set, d);
      }
      if (x < lo || y > hi) {
        // The range's ends are walls because the buffers crossing them are placed.
        for (let d = 0; d < top; d++) {
          if (decType[d] < 0) continue;
          const f = decFirst[d];
          const l = decLast[d];
          if ((x < lo && f < lo && l > lo) || (y > hi && f < hi && l > hi)) mark(set, d);
        }
      }
    };
    const ensure = (set: Uint32Array): Uint32Array => {
      const w = words();
      if (set.length >= w) return set;
      const grown = new Uint32Array(2 * w);
      grown.set(set);
      return grown;
    };

    // Some unplaced type starts at `a`, ends by `limit` and fits above h.
    const startsAt = (a: number, limit: number, h: number): boolean => {
      const room = capacity - h;
      for (let k = startStart[a], end = startStart[a + 1]; k < end; k++) {
        const t = starting[k];
        if (count[t] > 0 && typeLast[t] <= limit && typeSize[t] <= room) return true;
      }
      return false;
    };
    // Some unplaced type ends at `b`, starts at or after `from` and fits above h.
    const endsAt = (b: number, from: number, h: number): boolean => {
      const room = capacity - h;
      for (let k = endStart[b], end = endStart[b + 1]; k < end; k++) {
        const t = ending[k];
        if (count[t] > 0 && typeFirst[t] >= from && typeSize[t] <= room) return true;
      }
      return false;
    };
    // A failed wall check leaves its reasons in wallWhy: ranks [x, y), start s, end e.
    const wallWhy = { x: 0, y: 0, s: -1, e: -1 };
    const leftWall = (a: number, h: number): boolean => {
      if (h >= capacity) return true;
      const limit = firstAbove(a, h);
      if (startsAt(a, limit, h)) return true;
      wallWhy.x = a - 1;
      wallWhy.y = limit + 1;
      wallWhy.s = a;
      wallWhy.e = -1;
      return false;
    };
    const rightWall = (b: number, h: number): boolean => {
      if (h >= capacity) return true;
      const from = afterLastAbove(b, h);
      if (endsAt(b, from, h)) return true;
      wallWhy.x = from - 1;
      wallWhy.y = b + 1;
      wallWhy.s = -1;
      wallWhy.e = b;
      return false;
    };
    /** After placing a type over [f, l) at h, inside the well [a, b): every new wall holds. */
    const wallsHold = (f: number, l: number, a: number, b: number, h: number, top: number): boolean => {
      if (f > a && !rightWall(f, h)) return false;
      if (l < b && !leftWall(l, h)) return false;
      if (f === a) {
        const left = at(a - 1);
        if (left > top && !leftWall(a, top)) return false;
        if (left < top && !rightWall(a, left)) return false;
      }
      if (l === b) {
        const right = at(b);
        if (right > top && !rightWall(b, top)) return false;
        if (right < top && !leftWall(b, right)) return false;
      }
      return true;
    };

    /** Same lifetime as the buffer directly below, and larger: only the other order is searched. */
    const belowForbids = (t: number, h: number): boolean => {
      const f = typeFirst[t];
      if (belowTop[f] !== h) return false;
      const below = belowType[f];
      return typeLast[below] === typeLast[t] && t < below;
    };
    /** Candidates for the left end (side 0) or the right end (side 1) of the well [a, b) at h. */
    const collect = (side: number, a: number, b: number, h: number, out: number[]): void => {
      out.length = 0;
      const room = capacity - h;
      if (side === 0) {
        for (let k = startStart[a], end = startStart[a + 1]; k < end; k++) {
          const t = starting[k];
          if (count[t] > 0 && typeLast[t] <= b && typeSize[t] <= room && !belowForbids(t, h)) out.push(t);
        }
      } else {
        for (let k = endStart[b], end = endStart[b + 1]; k < end; k++) {
          const t = ending[k];
          if (count[t] > 0 && typeFirst[t] >= a && typeSize[t] <= room && !belowForbids(t, h)) out.push(t);
        }
      }
    };
    /**
     * The well [a, b) at height h, walled up to m: below m no buffer can reach out of it, so the
     * unplaced buffers living inside [a, b) must reach m at every rank.
     */
    const inner = new Float64Array(ranks + 1);
    const wellFills = (a: number, b: number, h: number, m: number): boolean => {
      inner.fill(0, a, b + 1);
      for (let k = startStart[a], end = startStart[b]; k < end; k++) {
        const t = starting[k];
        if (count[t] === 0 || typeLast[t] > b) continue;
        const size = count[t] * typeSize[t];
        inner[typeFirst[t]] += size;
        inner[typeLast[t]] -= size;
      }
      const need = m - h;
      let sum = 0;
      for (let r = a; r < b; r++) {
        sum += inner[r];
        if (sum < need) return false;
      }
      return true;
    };

    /**
     * Picks the node's well: of every well in [lo, hi), the shortest candidate list (fail first).
     * Returns FOUND when the range is full, NOT_FOUND when some well cannot be filled (its reasons
     * then in frame.conflict), -1 to branch.
     */
    let list: number[] = [];
    let best: number[] = [];
    // Candidate orders: zero-waste fits first (the top meets a neighbour, so segments merge), then
    // by size or width. The score of each candidate is computed once per node, before sorting.
    const score = new Float64Array(types);
    const typeWidth = this.typeWidth;
    const largestFirst = (x: number, y: number): number =>
      score[y] - score[x] || typeSize[y] - typeSize[x] || typeWidth[y] - typeWidth[x] || x - y;
    const widestFirstOrder = (x: number, y: number): number =>
      score[y] - score[x] || typeWidth[y] - typeWidth[x] || typeSize[y] - typeSize[x] || x - y;
    // Every node's candidates, stacked: a node's lie in [candidateBase, candidateEnd).
    let candidates = new Int32Array(1024);
    let candidateTop = 0;
    /** Some other unplaced buffer of t's size starts (ends) at rank r. */
    const continues = (t: number, start: Int32Array, list: Int32Array, r: number): boolean => {
      for (let k = start[r], end = start[r + 1]; k < end; k++) {
        const u = list[k];
        if (typeSize[u] === typeSize[t] && count[u] > (u === t ? 1 : 0)) return true;
      }
      return false;
    };
    const enter = (frame: Frame, index: number): number => {
      let found = false;
      let a = lo;
      while (a < hi) {
        const h = height[a];
        let b = a + 1;
        while (b < hi && height[b] === h) b++;
        if (h < capacity && at(a - 1) > h && at(b) > h) {
          const m = Math.min(at(a - 1), at(b), capacity);
          let dead = !wellFills(a, b, h, m);
          for (let side = 0; side < 2 && !dead; side++) {
            collect(side, a, b, h, list);
            if (list.length === 0) dead = true;
            else if (!found || list.length < best.length) {
              [best, list] = [list, best];
              found = true;
              frame.a = a;
              frame.b = b;
              frame.h = h;
            }
          }
          if (dead) {
            // The well's shape (heights at a - 1 .. b), and the buffers that could fill it.
            blame(frame.conflict, index, a - 1, b + 1, a, b, true);
            return NOT_FOUND;
          }
        }
        a = b;
      }
      if (!found) return FOUND; // no well: the range is full
      const left = at(frame.a - 1);
      const right = at(frame.b);
      for (const t of best) {
        const top = frame.h + typeSize[t];
        const starts = typeFirst[t] === frame.a;
        const ends = typeLast[t] === frame.b;
        score[t] = (starts && top === left ? 2 : 0) + (ends && top === right ? 2 : 0) + (starts && ends ? 1 : 0);
        if (chains && ((starts && continues(t, startStart, starting, typeLast[t])) || (ends && continues(t, endStart, ending, typeFirst[t])))) {
          score[t] += 1;
        }
      }
      best.sort(widestFirst ? widestFirstOrder : largestFirst);
      if (randomState !== 0 && best.length > 1 && random() < PERTURB_PROBABILITY) {
        const j = 1 + Math.floor(random() * (best.length - 1));
        best.unshift(best.splice(j, 1)[0]);
      }
      if (candidateTop + best.length > candidates.length) {
        const grown = new Int32Array(2 * (candidateTop + best.length));
        grown.set(candidates.subarray(0, candidateTop));
        candidates = grown;
      }
      frame.candidateBase = candidateTop;
      for (const t of best) candidates[candidateTop++] = t;
      frame.candidateEnd = candidateTop;
      frame.next = frame.candidateBase;
      // Whatever fails below this node also depends on why its well and candidates are what they are.
      blame(frame.conflict, index, frame.a - 1, frame.b + 1, frame.a, frame.b);
      return -1;
    };

    const push = (isNode: boolean, from: number, to: number): Frame => {
      if (depth === frames.length) {
        frames.push({
          isNode, lo: from, hi: to, a: 0, b: 0, h: 0, entered: false, candidateBase: 0, candidateEnd: 0, next: 0, placed: -1,
          logMark: 0, savedBelowType: -1, savedBelowTop: -1, topsBase: 0, keyA: 0, keyB: 0, conflict: new Uint32Array(8), pieces: [], pieceIndex: 0,
        });
      }
      const frame = frames[depth];
      decType[depth] = -1;
      depth++;
      frame.isNode = isNode;
      frame.lo = from;
      frame.hi = to;
      frame.entered = false;
      frame.candidateBase = frame.candidateEnd = frame.next = candidateTop;
      frame.placed = -1;
      frame.conflict = ensure(frame.conflict);
      clear(frame.conflict);
      return frame;
    };
    /** A pieces frame for [from, to), split at every boundary no unplaced buffer crosses. */
    const pushPieces = (from: number, to: number): void => {
      const frame = push(false, from, to);
      frame.pieces.length = 0;
      frame.pieces.push(from);
      for (let r = from + 1; r < to; r++) if (cross[r] === 0) frame.pieces.push(r);
      frame.pieces.push(to);
      frame.pieceIndex = 0;
    };
    const place = (frame: Frame, index: number, t: number): void => {
      const f = typeFirst[t];
      const l = typeLast[t];
      const top = frame.h + typeSize[t];
      for (let r = f; r < l; r++) markerIn(r, -1);
      height.fill(top, f, l);
      count[t]--;
      hashA = (hashA - zA[t]) | 0;
      hashB = (hashB - zB[t]) | 0;
      for (let r = f + 1; r < l; r++) cross[r]--;
      frame.placed = t;
      frame.savedBelowType = belowType[f];
      frame.savedBelowTop = belowTop[f];
      belowType[f] = t;
      belowTop[f] = top;
      markerIn(f, 1);
      if (topTop + (l - f) > topStack.length) {
        const grown = new Int32Array(2 * (topTop + (l - f)));
        grown.set(topStack.subarray(0, topTop));
        topStack = grown;
      }
      frame.topsBase = topTop;
      topStack.set(topDecision.subarray(f, l), topTop);
      topTop += l - f;
      topDecision.fill(index, f, l);
      startedAt[f].push(index);
      endedAt[l].push(index);
      decFirst[index] = f;
      decLast[index] = l;
      decType[index] = t;
    };
    const unplace = (frame: Frame, index: number): void => {
      const t = frame.placed;
      const f = typeFirst[t];
      const l = typeLast[t];
      markerIn(f, -1);
      height.fill(frame.h, f, l);
      count[t]++;
      hashA = (hashA + zA[t]) | 0;
      hashB = (hashB + zB[t]) | 0;
      for (let r = f + 1; r < l; r++) cross[r]++;
      belowType[f] = frame.savedBelowType;
      belowTop[f] = frame.savedBelowTop;
      for (let r = f; r < l; r++) markerIn(r, 1);
      topTop = frame.topsBase;
      topDecision.set(topStack.subarray(topTop, topTop + (l - f)), f);
      startedAt[f].pop();
      endedAt[l].pop();
      frame.placed = -1;
      decType[index] = -1;
    };

    const finish = (status: SkylineStatus): SkylineRun => {
      const offsets = new Float64Array(this.model.count).fill(-1);
      if (status === "found") {
        const used = new Int32Array(types);
        for (let k = 0; k < logType.length; k++) {
          const t = logType[k];
          offsets[this.typeMembers[t][used[t]++]] = logOffset[k];
        }
      }
      return { status, offsets, nodes };
    };
    /** Every frame below `top` (a memory hit gives no reasons: blame everything). */
    const blameAll = (set: Uint32Array, top: number): void => {
      for (let d = 0; d < top; d++) if (decType[d] >= 0) set[d >> 5] |= 1 << (d & 31);
    };

    if (clock.now() > deadline) return finish("aborted");
    pushPieces(0, ranks);
    let result = FOUND;
    let returning = false;
    // The conflict set of the failure being returned.
    let why: Uint32Array = new Uint32Array(8);
    /** Pops a node frame, releasing its candidates. */
    const popNode = (frame: Frame): void => {
      candidateTop = frame.candidateBase;
      depth--;
    };
    while (depth > 0) {
      const index = depth - 1;
      const frame = frames[index];
      lo = frame.lo;
      hi = frame.hi;
      if (!frame.isNode) {
        if (returning) {
          if (result !== FOUND) {
            depth--; // a failed piece fails the whole frame, for the same reasons
            continue;
          }
          frame.pieceIndex++;
        }
        if (frame.pieceIndex + 1 >= frame.pieces.length) {
          result = FOUND;
          returning = true;
          depth--;
          continue;
        }
        push(true, frame.pieces[frame.pieceIndex], frame.pieces[frame.pieceIndex + 1]);
        returning = false;
        continue;
      }
      if (returning) {
        unplace(frame, index);
        if (result === FOUND) {
          popNode(frame); // keep the solved piece's log entries
          continue;
        }
        logType.length = frame.logMark;
        logOffset.length = frame.logMark;
        // Backjump: a failure that does not depend on this node's placement fails this node too.
        if ((why[index >> 5] & (1 << (index & 31))) === 0) {
          failed.add(frame.keyA, frame.keyB);
          popNode(frame);
          continue;
        }
        why[index >> 5] &= ~(1 << (index & 31));
        frame.conflict = ensure(frame.conflict);
        for (let w = 0; w < why.length && w < frame.conflict.length; w++) frame.conflict[w] |= why[w];
      } else if (!frame.entered) {
        frame.keyA = (hashA ^ Math.imul(lo + 1, 0x85ebca6b) ^ Math.imul(hi + 7, 0xc2b2ae35)) | 0;
        frame.keyB = (hashB ^ Math.imul(hi + 3, 0x27d4eb2f) ^ Math.imul(lo + 5, 0x165667b1)) | 0;
        if (failed.has(frame.keyA, frame.keyB)) {
          why = ensure(why);
          clear(why);
          blameAll(why, index);
          result = NOT_FOUND;
          returning = true;
          popNode(frame);
          continue;
        }
        const entered = enter(frame, index);
        frame.entered = true;
        if (entered >= 0) {
          if (entered === NOT_FOUND) {
            failed.add(frame.keyA, frame.keyB);
            why = ensure(why);
            clear(why);
            why.set(frame.conflict.subarray(0, Math.min(why.length, frame.conflict.length)));
          }
          result = entered;
          returning = true;
          popNode(frame);
          continue;
        }
      }
      // Place the next candidate whose walls hold.
      let pushed = false;
      while (frame.next < frame.candidateEnd) {
        clock.tick(this.model.count);
        if (++nodes > nodeLimit || ((nodes & 255) === 0 && clock.now() > deadline)) return finish("aborted");
        const t = candidates[frame.next++];
        place(frame, index, t);
        const f = typeFirst[t];
        const l = typeLast[t];
        let split = false;
        for (let r = f + 1; r < l; r++) if (cross[r] === 0) split = true;
        if (!wallsHold(f, l, frame.a, frame.b, frame.h, frame.h + typeSize[t])) {
          blame(frame.conflict, index, wallWhy.x, wallWhy.y, wallWhy.s, wallWhy.e);
          unplace(frame, index);
          continue;
        }
        frame.logMark = logType.length;
        logType.push(t);
        logOffset.push(frame.h);
        if (split) pushPieces(lo, hi);
        else push(true, lo, hi);
        pushed = true;
        break;
      }
      if (pushed) {
        returning = false;
        continue;
      }
      // Exhausted: fail with everything this node's failures depended on.
      failed.add(frame.keyA, frame.keyB);
      why = ensure(why);
      clear(why);
      why.set(frame.conflict.subarray(0, Math.min(why.length, frame.conflict.length)));
      result = NOT_FOUND;
      returning = true;
      popNode(frame);
    }
    return finish(result === FOUND ? "found" : "infeasible");
  }
}
