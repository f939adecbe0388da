// The 2:4 weight format of a dense layer's constant weight W [K, N] (docs/COMPRESSION.md
// "2:4 kernels"): in every group of four consecutive input rows 4g..4g+3 of an output channel at
// most two weights are nonzero (what `mlc prune --structure 2:4` leaves), so each group keeps two:
//
//   values  f32 [N, K/2]   channel n's kept weights in input order: entry 2g + i is the i-th kept
//                          weight of its group g (i = 0, 1)
//   index   u8  [N, K/2]   its row within the group (0..3): W[4g + index[n, 2g+i], n] = values[n, 2g+i]
//
// Channel-major, so a kernel walks one channel's kept weights contiguously. A group with fewer
// than two nonzeros keeps zeros at its lowest free rows. Half the weights and a byte per kept one:
// 62.5% of the dense bytes.

export interface Sparse24Weight {
  readonly k: number;
  readonly n: number;
  readonly values: Float64Array;
  readonly index: Float64Array;
}

/** Whether every group of four input rows of each output channel holds at most two nonzeros (K a multiple of 4). */
export function fits24(w: ArrayLike<number>, k: number, n: number): boolean {
  if (k % 4 !== 0 || k === 0) return false;
  for (let g = 0; g < k / 4; g++) {
    for (let c = 0; c < n; c++) {
      let nonzero = 0;
      for (let r = 0; r < 4; r++) if (!(w[(4 * g + r) * n + c] === 0)) nonzero++;
      if (nonzero > 2) return false;
    }
  }
  return true;
}

/** Packs a row-major [K, N] weight that fits 2:4 (fits24). */
export function pack24(w: ArrayLike<number>, k: number, n: number): Sparse24Weight {
  if (!fits24(w, k, n)) throw new Error(`pack24: the [${k}, ${n}] weight is not 2:4 (some group of four rows keeps more than two, or K is not a multiple of 4)`);
  const values = new Float64Array((k / 2) * n);
  const index = new Float64Array((k / 2) * n);
  for (let g = 0; g < k / 4; g++) {
    for (let c = 0; c < n; c++) {
      const rows = [0, 1, 2, 3].filter((r) => !(w[(4 * g + r) * n + c] === 0));
      for (let r = 0; rows.length < 2; r++) if (!rows.includes(r)) rows.push(r);
      rows.sort((a, b) => a - b);
      rows.forEach((r, i) => {
        values[c * (k / 2) + 2 * g + i] = w[(4 * g + r) * n + c];
        index[c * (k / 2) + 2 * g + i] = r;
      });
    }
  }
  return { k, n, values, index };
}

/** The dense [K, N] weight of a packed one. */
export function unpack24(s: Sparse24Weight): Float64Array {
  const w = new Float64Array(s.k * s.n);
  for (let c = 0; c < s.n; c++) {
    for (let p = 0; p < s.k / 2; p++) w[(4 * Math.floor(p / 2) + s.index[c * (s.k / 2) + p]) * s.n + c] += s.values[c * (s.k / 2) + p];
  }
  return w;
}
