// The static facts the branch-and-bound search (search.ts) needs about a set of buffers, computed
// once per problem and stored in flat typed arrays so the search's inner loop never allocates.
//
// Sections. Sweeping time, a "section" is recorded each time a buffer ends after at least one
// buffer started since the previous section: the set of buffers live just before that end. Every
// moment of peak usage is such a moment, so bounds checked per section are bounds on the whole
// timeline. Each buffer spans a contiguous range of sections, and two buffers overlap in time
// exactly when their section ranges intersect.

export interface SearchModel {
  readonly count: number;
  readonly alignment: number;
  readonly size: Float64Array;
  /** Size rounded up to the alignment: the space a buffer takes when another sits on top of it. */
  readonly padded: Float64Array;
  /** Largest padding (padded - size): the topmost buffer of a stack needs no padding. */
  readonly maxPad: number;
  readonly lower: Float64Array;
  readonly upper: Float64Array;
  /** Lifetime length for the preorder keys; a core's clipped buffers keep their full length. */
  readonly width: Float64Array;
  /** Section range [sectionFirst, sectionLast) of each buffer. */
  readonly sectionFirst: Int32Array;
  readonly sectionLast: Int32Array;
  readonly sectionCount: number;
  /** Buffers live in each section (CSR: members[memberStart[s] .. memberStart[s+1])). */
  readonly memberStart: Int32Array;
  readonly members: Int32Array;
  /** Buffers overlapping each buffer in time (CSR, like members). */
  readonly overlapStart: Int32Array;
  readonly overlaps: Int32Array;
  /** Summed padded size of each section's buffers. */
  readonly sectionTotal: Float64Array;
}

/**
 * Builds the model for buffers with positive sizes and non-empty lifetimes [lower, upper).
 * `options.width` overrides lifetime lengths for the preorder. Returns undefined when
 * the overlap lists would exceed `maxOverlapEntries` (twice the overlapping pairs), to keep memory
 * bounded on huge problems.
 */
export function buildSearchModel(
  lower: ArrayLike<number>,
  upper: ArrayLike<number>,
  size: ArrayLike<number>,
  alignment: number,
  options: { width?: ArrayLike<number>; maxOverlapEntries?: number } = {},
): SearchModel | undefined {
  const { width, maxOverlapEntries = Infinity } = options;
  const count = size.length;
  const sizes = Float64Array.from(size);
  const padded = sizes.map((s) => Math.ceil(s / alignment) * alignment);
  let maxPad = 0;
  for (let i = 0; i < count; i++) maxPad = Math.max(maxPad, padded[i] - sizes[i]);

  // Events: 2*i is buffer i's start, 2*i+1 its end; ends sort before starts at equal times
  // because lifetimes are half-open.
  const events = Int32Array.from({ length: 2 * count }, (_, e) => e);
  const time = (e: number): number => ((e & 1) === 0 ? lower[e >> 1] : upper[e >> 1]);
  events.sort((a, b) => time(a) - time(b) || (b & 1) - (a & 1) || a - b);

  const sectionFirst = new Int32Array(count);
  const sectionLast = new Int32Array(count);
  const degree = new Int32Array(count);
  let sectionCount = 0;
  sweep(events, count, (i, active, activeCount) => {
    // A start: `i` overlaps every buffer still live.
    for (let k = 0; k < activeCount; k++) degree[active[k]]++;
    degree[i] += activeCount;
    sectionFirst[i] = sectionCount;
  }, (i, newSection) => {
    if (newSection) sectionCount++;
    sectionLast[i] = sectionCount;
  });

  const overlapStart = new Int32Array(count + 1);
  for (let i = 0; i < count; i++) overlapStart[i + 1] = overlapStart[i] + degree[i];
  if (overlapStart[count] > maxOverlapEntries) return undefined;
  const overlaps = new Int32Array(overlapStart[count]);
  const next = overlapStart.slice(0, count);
  sweep(events, count, (i, active, activeCount) => {
    for (let k = 0; k < activeCount; k++) {
      const j = active[k];
      overlaps[next[j]++] = i;
      overlaps[next[i]++] = j;
    }
  }, () => {});

  const memberStart = new Int32Array(sectionCount + 1);
  for (let i = 0; i < count; i++) {
    for (let s = sectionFirst[i]; s < sectionLast[i]; s++) memberStart[s + 1]++;
  }
  for (let s = 0; s < sectionCount; s++) memberStart[s + 1] += memberStart[s];
  const members = new Int32Array(memberStart[sectionCount]);
  const sectionTotal = new Float64Array(sectionCount);
  const fill = memberStart.slice(0, sectionCount);
  for (let i = 0; i < count; i++) {
    for (let s = sectionFirst[i]; s < sectionLast[i]; s++) {
      members[fill[s]++] = i;
      sectionTotal[s] += padded[i];
    }
  }

  return {
    count,
    alignment,
    size: sizes,
    padded,
    maxPad,
    lower: Float64Array.from(lower),
    upper: Float64Array.from(upper),
    width: width === undefined ? Float64Array.from({ length: count }, (_, i) => upper[i] - lower[i]) : Float64Array.from(width),
    sectionFirst,
    sectionLast,
    sectionCount,
    memberStart,
    members,
    overlapStart,
    overlaps,
    sectionTotal,
  };
}

/**
 * Walks the sorted events keeping the set of live buffers. `onStart` sees the buffers live just
 * before `i` starts; `onEnd` learns whether this end closes a new section (some buffer started
 * since the previous section).
 */
function sweep(
  events: Int32Array,
  count: number,
  onStart: (i: number, active: Int32Array, activeCount: number) => void,
  onEnd: (i: number, newSection: boolean) => void,
): void {
  const active = new Int32Array(count);
  const position = new Int32Array(count);
  let activeCount = 0;
  let startedSinceSection = false;
  for (const e of events) {
    const i = e >> 1;
    if ((e & 1) === 0) {
      onStart(i, active, activeCount);
      position[i] = activeCount;
      active[activeCount++] = i;
      startedSinceSection = true;
    } else {
      onEnd(i, startedSinceSection);
      startedSinceSection = false;
      const last = active[--activeCount];
      active[position[i]] = last;
      position[last] = position[i];
    }
  }
}
