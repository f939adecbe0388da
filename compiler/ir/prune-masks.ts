// Magnitude pruning masks (docs/COMPRESSION.md): which elements of a weight tensor to zero for a
// target sparsity, by element, by output channel, by block or N:M. Pure functions over the
// interpreter's float64 data, shared by `mlc prune` (one-shot pruning of a weights file).
//
// A weight is viewed as a matrix: its last axis is the output channel (a dense layer's
// [in, out], a convolution's HWIO [kh, kw, cin, cout]) and every other axis together the input
// (rows). What is pruned, with k = round-half-even(sparsity · count) as torch.nn.utils.prune
// counts (`_compute_nparams_toprune`):
//   element   the k smallest |w| (torch `l1_unstructured`; global scope: `global_unstructured`)
//   channel   the k output channels of smallest Lp norm over their rows (torch `ln_structured`
//             along the output channel: Li et al. 2017's filter pruning with p = 1)
//   block     the k RxC blocks of the matrix (R rows of the input by C output channels, partial at
//             the edges) of smallest mean |w| (L1; norm 2: root-mean-square, the L2 norm over the
//             square root of the block's size, so partial edge blocks compare with whole ones)
//   n:m       in every group of m consecutive rows of a column, all but the n largest |w| (the
//             sparsity is 1 - n/m; the row count must be a multiple of m)
// Among equal scores the lower flat index is pruned first (in N:M groups, kept first), so masks
// are deterministic. Global scope ranks all
// targets' elements together; for channels and blocks it ranks mean |w| (norms grow with a
// column's length, so raw norms would prune the short layers first).

export type PruneStructure =
  | { readonly kind: "element" }
  | { readonly kind: "channel"; readonly norm: 1 | 2 }
  | { readonly kind: "block"; readonly rows: number; readonly cols: number; readonly norm?: 1 | 2 }
  | { readonly kind: "nm"; readonly n: number; readonly m: number };

export type PruneScope = "layer" | "global";

export interface PruneTarget {
  readonly name: string;
  readonly shape: readonly number[];
  readonly data: ArrayLike<number>;
}

export class PruneSpecError extends Error {
  override name = "PruneSpecError";
}

/** `element`, `channel`, `block:RxC`, or `N:M` (e.g. `2:4`). */
export function parseStructure(text: string, norm: 1 | 2 = 1): PruneStructure {
  if (text === "element") return { kind: "element" };
  if (text === "channel") return { kind: "channel", norm };
  const block = /^block:(\d+)x(\d+)$/.exec(text);
  if (block) {
    const rows = Number(block[1]);
    const cols = Number(block[2]);
    if (rows < 1 || cols < 1) throw new PruneSpecError(`--structure ${text}: a block has at least 1x1 elements`);
    return { kind: "block", rows, cols, norm };
  }
  const nm = /^(\d+):(\d+)$/.exec(text);
  if (nm) {
    const n = Number(nm[1]);
    const m = Number(nm[2]);
    if (m < 1 || n < 0 || n > m) throw new PruneSpecError(`--structure ${text}: N:M keeps N of every M, 0 <= N <= M`);
    return { kind: "nm", n, m };
  }
  throw new PruneSpecError(`--structure ${text}: expected element, channel, block:RxC (e.g. block:4x1) or N:M (e.g. 2:4)`);
}

/** Python's round(): half to even, as torch.nn.utils.prune counts what it prunes. */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** Rows (every axis but the last, together) and columns (the last axis) of a weight's matrix view. */
export function matrixView(shape: readonly number[]): { rows: number; cols: number } {
  if (shape.length === 0) return { rows: 1, cols: 1 };
  const cols = shape[shape.length - 1];
  return { rows: shape.slice(0, -1).reduce((p, d) => p * d, 1), cols };
}

/** A group of elements that is pruned or kept as one (an element, a channel, a block). */
interface Unit {
  readonly target: number;
  readonly elements: readonly number[] | { start: number; stride: number; count: number };
  readonly score: number;
  /** Order among equal scores: lower first (pruned first). */
  readonly order: number;
}

/** 1 = keep, 0 = pruned, per element of each target (same order as `targets`). */
export function pruneMasks(targets: readonly PruneTarget[], sparsity: number, structure: PruneStructure, scope: PruneScope = "layer"): Uint8Array[] {
  if (!(sparsity >= 0 && sparsity <= 1)) throw new PruneSpecError(`--sparsity ${sparsity}: a fraction in [0, 1]`);
  const masks = targets.map((t) => new Uint8Array(t.data.length).fill(1));
  if (structure.kind === "nm") {
    targets.forEach((t, i) => nmMask(t, structure.n, structure.m, masks[i]));
    return masks;
  }
  const units = targets.map((t, i) => unitsOf(t, i, structure, scope === "global"));
  const groups = scope === "global" ? [units.flat()] : units;
  for (const group of groups) {
    const k = roundHalfEven(sparsity * group.length);
    const ranked = [...group].sort((a, b) => a.score - b.score || a.target - b.target || a.order - b.order);
    for (let u = 0; u < k; u++) for (const e of elementsOf(ranked[u])) masks[ranked[u].target][e] = 0;
  }
  return masks;
}

function elementsOf(u: Unit): Iterable<number> {
  if (Array.isArray(u.elements)) return u.elements;
  const { start, stride, count } = u.elements as { start: number; stride: number; count: number };
  return Array.from({ length: count }, (_, r) => start + r * stride);
}

function unitsOf(t: PruneTarget, target: number, s: PruneStructure, comparable: boolean): Unit[] {
  const { rows, cols } = matrixView(t.shape);
  const abs = (e: number) => Math.abs(t.data[e]);
  if (s.kind === "element") return Array.from({ length: t.data.length }, (_, e) => ({ target, elements: [e], score: abs(e), order: e }));
  if (s.kind === "channel") {
    return Array.from({ length: cols }, (_, c) => {
      let sum = 0;
      for (let r = 0; r < rows; r++) sum += s.norm === 1 ? abs(r * cols + c) : abs(r * cols + c) ** 2;
      const norm = s.norm === 1 ? sum : Math.sqrt(sum);
      return { target, elements: { start: c, stride: cols, count: rows }, score: comparable ? norm / (s.norm === 1 ? rows : Math.sqrt(rows)) : norm, order: c };
    });
  }
  if (s.kind === "block") {
    const units: Unit[] = [];
    for (let r0 = 0; r0 < rows; r0 += s.rows) {
      for (let c0 = 0; c0 < cols; c0 += s.cols) {
        const elements: number[] = [];
        for (let r = r0; r < Math.min(r0 + s.rows, rows); r++) for (let c = c0; c < Math.min(c0 + s.cols, cols); c++) elements.push(r * cols + c);
        const score = s.norm === 2
          ? Math.sqrt(elements.reduce((sum, e) => sum + abs(e) ** 2, 0) / elements.length)
          : elements.reduce((sum, e) => sum + abs(e), 0) / elements.length;
        units.push({ target, elements, score, order: r0 * cols + c0 });
      }
    }
    return units;
  }
  throw new Error(`unitsOf: ${s.kind} is not ranked by units`);
}

function nmMask(t: PruneTarget, n: number, m: number, mask: Uint8Array): void {
  const { rows, cols } = matrixView(t.shape);
  if (rows % m !== 0) throw new PruneSpecError(`--structure ${n}:${m}: '${t.name}' has ${rows} input rows (shape [${t.shape.join(",")}]), not a multiple of ${m}`);
  for (let c = 0; c < cols; c++) {
    for (let r0 = 0; r0 < rows; r0 += m) {
      const group = Array.from({ length: m }, (_, j) => (r0 + j) * cols + c);
      // Largest |w| first; among equals the lower index is kept.
      const ranked = [...group].sort((a, b) => Math.abs(t.data[b]) - Math.abs(t.data[a]) || a - b);
      for (let j = n; j < m; j++) mask[ranked[j]] = 0;
    }
  }
}
