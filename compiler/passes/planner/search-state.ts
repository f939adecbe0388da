// The mutable state of the branch-and-bound search (search.ts) and its two moves: place a buffer
// at its lowest offset, and take it back. Every change goes through an undo log, so backtracking
// restores the exact previous state without copying anything.
//
// Per buffer:  offset (-1 while unplaced) and minOffset, the highest top among placed buffers it
//              overlaps: where it would go if placed next.
// Per section: floor, below which no unplaced buffer of the section can go, and total, the summed
//              padded size of its unplaced buffers; cuts, per boundary between sections, counts
//              the unplaced buffers crossing it (zero means the two sides are independent).

import type { SearchModel } from "./search-model.ts";

export class SearchState {
  readonly model: SearchModel;
  capacity = 0;
  readonly offset: Float64Array;
  /** The offset each buffer was last placed at: survives backtracking, so after a successful
   * search it holds the plan. */
  readonly solution: Float64Array;
  readonly minOffset: Float64Array;
  readonly floor: Float64Array;
  readonly total: Float64Array;
  readonly cuts: Int32Array;
  /** Set by place(): the buffer had no unplaced neighbour, so its alternatives need no search. */
  hatless = false;
  /** Set by place(): some boundary lost its last crossing buffer. */
  split = false;

  // Undo log: index >= 0 restores minOffset[index], index < 0 restores floor[~index].
  private logIndex = new Int32Array(1024);
  private logValue = new Float64Array(1024);
  private logTop = 0;
  /** Section range spanned by the neighbours the last placement raised. */
  private raisedFirst = 0;
  private raisedLast = 0;

  constructor(model: SearchModel) {
    this.model = model;
    const n = model.count;
    const sections = model.sectionCount;
    this.offset = new Float64Array(n).fill(-1);
    this.solution = new Float64Array(n).fill(-1);
    this.minOffset = new Float64Array(n);
    this.floor = new Float64Array(sections);
    this.total = Float64Array.from(model.sectionTotal);
    this.cuts = new Int32Array(Math.max(0, sections - 1));
    for (let i = 0; i < n; i++) {
      for (let s = model.sectionFirst[i]; s + 1 < model.sectionLast[i]; s++) this.cuts[s]++;
    }
  }

  /** Log position to pass to unplace(). */
  get mark(): number {
    return this.logTop;
  }

  /**
   * Places `b` at its lowest offset. Returns false when section inference shows the capacity can
   * no longer be met; either way the caller must unplace(b, mark) afterwards.
   */
  place(b: number): boolean {
    const o = this.minOffset[b];
    const top = o + this.model.size[b];
    this.offset[b] = o;
    this.solution[b] = o;
    this.raiseNeighbours(b, top);
    this.coverSections(b, top);
    const cuts = this.cuts;
    let split = false;
    for (let s = this.model.sectionFirst[b], last = this.model.sectionLast[b]; s + 1 < last; s++) {
      if (--cuts[s] === 0) split = true;
    }
    this.split = split;
    return top <= this.capacity && this.liftFloors(b, top, o);
  }

  unplace(b: number, mark: number): void {
    const logIndex = this.logIndex;
    const logValue = this.logValue;
    while (this.logTop > mark) {
      const t = --this.logTop;
      const index = logIndex[t];
      if (index >= 0) this.minOffset[index] = logValue[t];
      else this.floor[~index] = logValue[t];
    }
    const model = this.model;
    const padded = model.padded[b];
    const last = model.sectionLast[b];
    for (let s = model.sectionFirst[b]; s < last; s++) this.total[s] += padded;
    for (let s = model.sectionFirst[b]; s + 1 < last; s++) this.cuts[s]++;
    this.offset[b] = -1;
  }

  /**
   * Raises the lowest offset of every unplaced buffer overlapping `b` to `b`'s top, and records
   * the section range those neighbours span and whether any is unplaced (`hatless`).
   */
  private raiseNeighbours(b: number, top: number): void {
    const model = this.model;
    const { overlapStart, overlaps, sectionFirst, sectionLast } = model;
    const alignment = model.alignment;
    const raised = alignment === 1 ? top : Math.ceil(top / alignment) * alignment;
    const offset = this.offset;
    const minOffset = this.minOffset;
    let first = sectionFirst[b];
    let last = sectionLast[b];
    let hatless = true;
    for (let k = overlapStart[b], end = overlapStart[b + 1]; k < end; k++) {
      const c = overlaps[k];
      if (offset[c] >= 0) continue;
      hatless = false;
      if (minOffset[c] >= raised) continue;
      this.log(c, minOffset[c]);
      minOffset[c] = raised;
      if (sectionFirst[c] < first) first = sectionFirst[c];
      if (sectionLast[c] > last) last = sectionLast[c];
    }
    this.raisedFirst = first;
    this.raisedLast = last;
    this.hatless = hatless;
  }

  /** Sets the floor of `b`'s sections to its top and removes its size from their totals. */
  private coverSections(b: number, top: number): void {
    const model = this.model;
    const floor = this.floor;
    const total = this.total;
    const padded = model.padded[b];
    for (let s = model.sectionFirst[b], last = model.sectionLast[b]; s < last; s++) {
      this.log(~s, floor[s]);
      floor[s] = top;
      total[s] -= padded;
    }
  }

  /**
   * Lifts the floor of each section beside `b` where raised neighbours live to the lowest offset
   * any of its unplaced buffers can take, checking each lifted section against the capacity.
   * (b's own sections already have b's top as floor, and a floor at or above b's top cannot rise:
   * a raised neighbour now sits exactly there.) Returns false on a violation.
   */
  private liftFloors(b: number, top: number, o: number): boolean {
    const { memberStart, members, alignment, maxPad, sectionFirst, sectionLast } = this.model;
    const offset = this.offset;
    const minOffset = this.minOffset;
    const floor = this.floor;
    const total = this.total;
    const capacity = this.capacity;
    const ownFirst = sectionFirst[b];
    const ownLast = sectionLast[b];
    for (let s = this.raisedFirst; s < this.raisedLast; s++) {
      if (s === ownFirst) {
        s = ownLast - 1;
        continue;
      }
      const current = floor[s];
      // Only a section that could overflow is worth the scan: its floor can rise at most to b's
      // top (a raised neighbour sits there), so with room above that top, skip it.
      if (current >= top || total[s] === 0 || roomAboveTop(top, total[s], alignment, maxPad, capacity)) continue;
      let lowest = Infinity;
      for (let m = memberStart[s], end = memberStart[s + 1]; m < end; m++) {
        const c = members[m];
        if (offset[c] >= 0) continue;
        const mo = minOffset[c];
        if (mo < lowest) {
          lowest = mo;
          if (mo <= current) break; // cannot lift
        }
      }
      if (lowest <= current) continue;
      this.log(~s, current);
      floor[s] = lowest;
      const f = lowest > o ? lowest : o;
      const needed = alignment === 1 ? f + total[s] : Math.ceil(f / alignment) * alignment + total[s] - maxPad;
      if (needed > capacity) return false;
    }
    return true;
  }

  private log(index: number, value: number): void {
    if (this.logTop === this.logIndex.length) {
      const index2 = new Int32Array(this.logIndex.length * 2);
      index2.set(this.logIndex);
      const value2 = new Float64Array(this.logValue.length * 2);
      value2.set(this.logValue);
      this.logIndex = index2;
      this.logValue = value2;
    }
    this.logIndex[this.logTop] = index;
    this.logValue[this.logTop++] = value;
  }
}

/** Whether the section's unplaced total would still fit stacked from `top`. */
function roomAboveTop(top: number, total: number, alignment: number, maxPad: number, capacity: number): boolean {
  return alignment === 1 ? top + total <= capacity : Math.ceil(top / alignment) * alignment + total - maxPad <= capacity;
}
