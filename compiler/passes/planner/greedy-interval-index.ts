// The spatial index behind best-fit placement: which offsets are taken, at any time in a range?
//
// Best-fit asks, for a buffer live during [lower, upper), for the lowest offset where `size` bytes
// are free at every step of that range. Scanning every placed buffer whose lifetime overlaps is
// quadratic in practice (Y_1 has 180 million overlapping pairs), so placements live in a segment
// tree over (compressed) time. Each node keeps two coalesced offset sets:
//   - `covering`: placements whose lifetime covers the node's whole time range (canonical nodes);
//   - `within`:   every placement that touches the node's range (its subtree's union).
// A query's time range splits into O(log T) canonical nodes; the offsets taken during the range
// are the `within` sets of those nodes plus the `covering` sets of their ancestors. Neighbouring
// placements merge into one interval, so the sets stay short, and the gap search jumps over whole
// occupied runs instead of individual buffers.

/**
 * A set of disjoint, non-touching half-open intervals [start, end), kept sorted in one flat array
 * [start0, end0, start1, end1, ...] (one allocation per set keeps the garbage collector quiet).
 */
export class OffsetRuns {
  private readonly runs: number[] = [];

  /** Adds [start, end), merging it with every run it overlaps or touches. */
  add(start: number, end: number): void {
    const runs = this.runs;
    const count = runs.length >> 1;
    const first = this.firstEndingAtOrAfter(start);
    if (first === count) {
      runs.push(start, end); // the common case: above everything so far
      return;
    }
    let last = first; // one past the last run that overlaps or touches [start, end]
    while (last < count && runs[2 * last] <= end) last++;
    if (first === last) {
      runs.splice(2 * first, 0, start, end);
      return;
    }
    runs[2 * first] = Math.min(start, runs[2 * first]);
    runs[2 * first + 1] = Math.max(end, runs[2 * last - 1]);
    if (last - first > 1) runs.splice(2 * first + 2, 2 * (last - first - 1));
  }

  /**
   * If some run intersects [offset, offset + size), the end of the first such run (the next place
   * worth trying); otherwise -1.
   */
  blockingEnd(offset: number, size: number): number {
    const i = this.firstEndingAfter(offset);
    const runs = this.runs;
    if (2 * i < runs.length && runs[2 * i] < offset + size) return runs[2 * i + 1];
    return -1;
  }

  private firstEndingAtOrAfter(x: number): number {
    const runs = this.runs;
    let lo = 0;
    let hi = runs.length >> 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (runs[2 * mid + 1] < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private firstEndingAfter(x: number): number {
    const runs = this.runs;
    let lo = 0;
    let hi = runs.length >> 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (runs[2 * mid + 1] <= x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/**
 * Placements indexed by time. Times are ranks 0..steps-1 of elementary time segments; a buffer
 * occupies the rank range [first, last).
 */
export class PlacementIndex {
  private readonly leaves: number;
  private readonly covering: (OffsetRuns | undefined)[];
  private readonly within: (OffsetRuns | undefined)[];
  /** Scratch list of the sets a query must respect, reused across queries. */
  private readonly querySets: OffsetRuns[] = [];

  constructor(steps: number) {
    let leaves = 1;
    while (leaves < steps) leaves *= 2;
    this.leaves = leaves;
    this.covering = new Array(2 * leaves);
    this.within = new Array(2 * leaves);
  }

  /** Records that [offset, offset + size) is taken during rank range [first, last). */
  place(first: number, last: number, offset: number, size: number): void {
    if (size <= 0 || first >= last) return;
    this.placeAt(1, 0, this.leaves, first, last, offset, offset + size);
  }

  /** The lowest multiple of `alignment` where `size` bytes are free during rank range [first, last). */
  lowestFit(first: number, last: number, size: number, alignment: number): number {
    let offset = 0;
    if (size <= 0 || first >= last) return offset;
    const sets = this.querySets;
    sets.length = 0;
    this.collect(1, 0, this.leaves, first, last);
    if (sets.length === 0) return offset;
    // Keep lifting the candidate past any run that blocks it until one full pass over the sets
    // moves nothing: then no set has a run meeting [offset, offset + size).
    for (;;) {
      let moved = false;
      for (let i = 0; i < sets.length; i++) {
        const end = sets[i].blockingEnd(offset, size);
        if (end >= 0) {
          offset = Math.ceil(end / alignment) * alignment;
          moved = true;
        }
      }
      if (!moved) return offset;
    }
  }

  private placeAt(
    node: number,
    nodeFirst: number,
    nodeLast: number,
    first: number,
    last: number,
    start: number,
    end: number,
  ): void {
    (this.within[node] ??= new OffsetRuns()).add(start, end);
    if (first <= nodeFirst && nodeLast <= last) {
      (this.covering[node] ??= new OffsetRuns()).add(start, end);
      return;
    }
    const mid = (nodeFirst + nodeLast) >> 1;
    if (first < mid) this.placeAt(2 * node, nodeFirst, mid, first, last, start, end);
    if (last > mid) this.placeAt(2 * node + 1, mid, nodeLast, first, last, start, end);
  }

  private collect(node: number, nodeFirst: number, nodeLast: number, first: number, last: number): void {
    if (first <= nodeFirst && nodeLast <= last) {
      const within = this.within[node];
      if (within !== undefined) this.querySets.push(within);
      return;
    }
    const within = this.within[node];
    if (within === undefined) return; // nothing placed anywhere below
    const covering = this.covering[node];
    if (covering !== undefined) this.querySets.push(covering);
    const mid = (nodeFirst + nodeLast) >> 1;
    if (first < mid) this.collect(2 * node, nodeFirst, mid, first, last);
    if (last > mid) this.collect(2 * node + 1, mid, nodeLast, first, last);
  }
}

/**
 * Maps each buffer's [lower, upper) to ranks of elementary time segments, so the index's size
 * depends on the number of distinct endpoints, not on the time span. Segment r is
 * [times[r], times[r + 1]).
 */
export function rankLifetimes(
  lowers: ArrayLike<number>,
  uppers: ArrayLike<number>,
): { first: Int32Array; last: Int32Array; steps: number; times: Float64Array } {
  const n = lowers.length;
  const points = new Float64Array(2 * n);
  for (let i = 0; i < n; i++) {
    points[2 * i] = lowers[i];
    points[2 * i + 1] = uppers[i];
  }
  points.sort();
  let distinct = 0;
  for (let i = 0; i < points.length; i++) {
    if (i === 0 || points[i] !== points[i - 1]) points[distinct++] = points[i];
  }
  const rank = (x: number): number => {
    let lo = 0;
    let hi = distinct;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (points[mid] < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const first = new Int32Array(n);
  const last = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    first[i] = rank(lowers[i]);
    last[i] = rank(uppers[i]);
  }
  return { first, last, steps: Math.max(1, distinct - 1), times: points.slice(0, distinct) };
}
