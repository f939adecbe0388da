// One-dimensional k-means of a weight tensor's values (Deep Compression's weight sharing, Han et
// al. 2016): the centroid table and each weight's index for `--quantize codebookN`.
//
// - Initialisation is linear: 2^bits centroids evenly spaced from the smallest value to the
//   largest (Han et al. found it beats random and density-based starts, as it keeps centroids
//   for the few large weights that matter most). It draws nothing, so the result is a function of
//   the values alone (the same weights give the same codebook on every run).
// - Lloyd iterations in one dimension: the values are sorted once, each cluster is then a
//   contiguous run of them between the midpoints of neighbouring centroids, and its new centroid
//   is the run's mean from prefix sums: O(2^bits · log n) per iteration. An empty cluster keeps
//   its centroid. It stops when no boundary moves, or after `maxIterations`.
// - Centroids are then rounded to f32 (what the table stores) and every value takes the index of
//   its nearest f32 centroid (the lower index on a tie).

export interface Codebook {
  /** 2^bits f32 centroids, ascending. */
  readonly table: Float64Array;
  /** The centroid index of each value (in the values' order). */
  readonly indices: Uint8Array;
  /** Lloyd iterations run (to convergence, or the cap). */
  readonly iterations: number;
  readonly converged: boolean;
  /** sqrt(mean (w - table[index])^2) / sqrt(mean w^2): the weight's relative RMS error. */
  readonly relativeRms: number;
}

export const KMEANS_MAX_ITERATIONS = 300;

export function kmeansCodebook(values: ArrayLike<number>, bits: number, maxIterations = KMEANS_MAX_ITERATIONS): Codebook {
  const entries = 2 ** bits;
  const count = values.length;
  const sorted = Float64Array.from(values).sort();
  const prefix = new Float64Array(count + 1);
  for (let i = 0; i < count; i++) prefix[i + 1] = prefix[i] + sorted[i];
  const lo = count > 0 ? sorted[0] : 0;
  const hi = count > 0 ? sorted[count - 1] : 0;
  let centroids = Float64Array.from({ length: entries }, (_, i) => (entries === 1 ? lo : lo + ((hi - lo) * i) / (entries - 1)));
  // ends[c]: one past the last sorted value of cluster c.
  let ends = new Int32Array(entries).fill(-1);
  let iterations = 0;
  let converged = count === 0;
  while (!converged && iterations < maxIterations) {
    const next = new Int32Array(entries);
    for (let c = 0; c < entries; c++) next[c] = c + 1 < entries ? upperBound(sorted, (centroids[c] + centroids[c + 1]) / 2) : count;
    iterations++;
    if (next.every((e, c) => e === ends[c])) { converged = true; break; }
    ends = next;
    const updated = new Float64Array(entries);
    for (let c = 0; c < entries; c++) {
      const start = c === 0 ? 0 : ends[c - 1];
      const size = ends[c] - start;
      updated[c] = size > 0 ? (prefix[ends[c]] - prefix[start]) / size : centroids[c];
    }
    centroids = updated.sort();
  }
  const table = centroids.map((c) => Math.fround(c)).sort();
  const indices = new Uint8Array(count);
  let err = 0;
  let ref = 0;
  for (let i = 0; i < count; i++) {
    const v = values[i];
    const c = nearest(table, v);
    indices[i] = c;
    err += (v - table[c]) ** 2;
    ref += v * v;
  }
  const relativeRms = ref > 0 ? Math.sqrt(err / ref) : Math.sqrt(err);
  return { table, indices, iterations, converged, relativeRms };
}

/** The first index whose value is > x (ties at a midpoint go to the lower cluster). */
function upperBound(sorted: Float64Array, x: number): number {
  let a = 0;
  let b = sorted.length;
  while (a < b) {
    const m = (a + b) >> 1;
    if (sorted[m] <= x) a = m + 1;
    else b = m;
  }
  return a;
}

/** The index of the centroid nearest v in an ascending table (the lower one on a tie). */
function nearest(table: Float64Array, v: number): number {
  let a = 0;
  let b = table.length - 1;
  while (a < b) {
    const m = (a + b) >> 1;
    if (table[m + 1] <= v) a = m + 1;
    else b = m;
  }
  // table[a] <= v < table[a+1] (or v outside the table): compare with the next one.
  if (a + 1 < table.length && Math.abs(table[a + 1] - v) < Math.abs(v - table[a])) return a + 1;
  return a;
}
