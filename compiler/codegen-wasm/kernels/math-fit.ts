// Where math.ts's polynomial coefficients come from: a weighted Remez exchange (E. Remez, 1934;
// as in Muller, "Elementary Functions", ch. 3) run in float64 against float64 references.
// `npx tsx compiler/codegen-wasm/kernels/math-fit.ts` prints every fit; test/codegen-wasm/wasm-math.test.ts
// re-runs them and checks math.ts holds exactly these numbers rounded to f32.
//
// Remez finds the polynomial p of degree n minimising max |w(x) (p(x) - t(x))| over [lo, hi]:
// start from n+2 Chebyshev extrema, solve for the polynomial that errs by ±E alternately there,
// move the points to the extrema of the new error curve, repeat until the error equioscillates.
// With w = 1/|f| the error is relative, which is what f32 kernels are measured by.

import { erf, erfc } from "../../ir/ops/erf.ts";

export interface FitSpec {
  readonly name: string;
  /** The function the polynomial approximates. */
  readonly target: (x: number) => number;
  /** Error weight; 1/|f| (f the quantity the polynomial feeds) makes the error relative. */
  readonly weight: (x: number) => number;
  readonly lo: number;
  readonly hi: number;
  readonly degree: number;
  /** The polynomial is in (x - center). */
  readonly center?: number;
}

export interface Fit {
  readonly name: string;
  /** Coefficients from the constant term up, in (x - center). */
  readonly coefficients: readonly number[];
  /** Max weighted error of the float64 polynomial (an estimate on a dense grid). */
  readonly maxError: number;
}

const GRID = 20000;

function evalPoly(c: readonly number[], t: number): number {
  let acc = c[c.length - 1];
  for (let i = c.length - 2; i >= 0; i--) acc = acc * t + c[i];
  return acc;
}

/** Solves A x = b by Gaussian elimination with partial pivoting (A is small and dense). */
function solve(A: number[][], b: number[]): number[] {
  const n = b.length;
  const m = A.map((row, i) => [...row, b[i]]);
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(m[r][col]) > Math.abs(m[pivot][col])) pivot = r;
    [m[col], m[pivot]] = [m[pivot], m[col]];
    for (let r = col + 1; r < n; r++) {
      const factor = m[r][col] / m[col][col];
      for (let c = col; c <= n; c++) m[r][c] -= factor * m[col][c];
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let sum = m[r][n];
    for (let c = r + 1; c < n; c++) sum -= m[r][c] * x[c];
    x[r] = sum / m[r][r];
  }
  return x;
}

/** The extremum of each run of equal error sign, then trimmed from the ends to `count` points. */
function alternatingExtrema(xs: readonly number[], errs: readonly number[], count: number): number[] | null {
  const points: { x: number; e: number }[] = [];
  for (let i = 0; i < xs.length; i++) {
    const last = points[points.length - 1];
    if (last && Math.sign(last.e) === Math.sign(errs[i])) {
      if (Math.abs(errs[i]) > Math.abs(last.e)) points[points.length - 1] = { x: xs[i], e: errs[i] };
    } else {
      points.push({ x: xs[i], e: errs[i] });
    }
  }
  while (points.length > count) {
    if (Math.abs(points[0].e) < Math.abs(points[points.length - 1].e)) points.shift();
    else points.pop();
  }
  return points.length === count ? points.map((p) => p.x) : null;
}

export function remez(spec: FitSpec): Fit {
  const { lo, hi, degree: n } = spec;
  const center = spec.center ?? 0;
  const grid = Array.from({ length: GRID + 1 }, (_, i) => lo + ((hi - lo) * i) / GRID);
  let nodes = Array.from({ length: n + 2 }, (_, i) => (lo + hi) / 2 - ((hi - lo) / 2) * Math.cos((Math.PI * i) / (n + 1)));
  let best: Fit | null = null;
  for (let iteration = 0; iteration < 60; iteration++) {
    const A = nodes.map((x, i) => [...Array.from({ length: n + 1 }, (_, j) => (x - center) ** j), (i % 2 ? -1 : 1) / spec.weight(x)]);
    const solution = solve(A, nodes.map(spec.target));
    const coefficients = solution.slice(0, n + 1);
    const levelled = Math.abs(solution[n + 1]);
    const errs = grid.map((x) => spec.weight(x) * (evalPoly(coefficients, x - center) - spec.target(x)));
    const maxError = Math.max(...errs.map(Math.abs));
    if (!best || maxError < best.maxError) best = { name: spec.name, coefficients, maxError };
    if (maxError - levelled <= 1e-4 * maxError) break;
    const next = alternatingExtrema(grid, errs, n + 2);
    if (!next) break;
    nodes = next;
  }
  return best!;
}

// ---- the fits math.ts uses ----------------------------------------------------------------------

/** The standard normal upper tail Q(w) = P(Z > w) = erfc(w / sqrt 2) / 2, from erf.ts. */
export const normalTail = (w: number) => 0.5 * erfc(w * Math.SQRT1_2);
const normalDensity = (w: number) => Math.exp(-0.5 * w * w) / Math.sqrt(2 * Math.PI);

/** Mills ratio M(w) = Q(w) / phi(w). */
const millsRatio = (w: number) => normalTail(w) / normalDensity(w);

/** Below this, (f(x) - leading terms) / x^k cancels; the functions switch to their series. */
const TINY = 1e-3;

export const MATH_FITS: readonly FitSpec[] = [
  {
    // expm1(r) = r + r^2 P(r) on the Cody–Waite reduced range |r| <= ln2/2 (plus rounding slack).
    name: "expm1",
    target: (r) => (Math.abs(r) < TINY ? 1 / 2 + r / 6 + (r * r) / 24 + (r * r * r) / 120 + (r * r * r * r) / 720 : (Math.expm1(r) - r) / (r * r)),
    weight: (r) => (r === 0 ? 0.5 : Math.abs((r * r) / Math.expm1(r))),
    lo: -0.35,
    hi: 0.35,
    degree: 4,
  },
  {
    // log1p(f) = 2 atanh(s) = 2s + s z R(z), s = f / (2 + f), z = s^2 <= ((sqrt2 - 1)/(sqrt2 + 1))^2.
    name: "log1p",
    target: (z) => (z < TINY ? 2 / 3 + (2 * z) / 5 + (2 * z * z) / 7 + (2 * z * z * z) / 9 : (2 * (Math.atanh(Math.sqrt(z)) / Math.sqrt(z) - 1)) / z),
    weight: (z) => (Math.sqrt(z) * z) / (2 * Math.atanh(Math.sqrt(z))),
    lo: 1e-6, // the weight vanishes at 0: an error in R there costs nothing
    hi: 0.0295,
    degree: 2,
  },
  {
    // Phi(w) - 1/2 = w A(w^2) for w in [0, 1], with the error relative to the tail Q = 1/2 - w A.
    name: "normalCentral",
    target: (t) => (t === 0 ? 1 / Math.sqrt(2 * Math.PI) : (0.5 * erf(Math.sqrt(t) * Math.SQRT1_2)) / Math.sqrt(t)),
    weight: (t) => Math.sqrt(t) / normalTail(Math.sqrt(t)),
    lo: 1e-6, // the weight vanishes at 0
    hi: 1,
    degree: 5,
  },
  {
    // Q(w) = phi(w) M(w) for w in [1, 2.5], M in (w - 1.75).
    name: "millsNear",
    target: millsRatio,
    weight: (w) => 1 / millsRatio(w),
    lo: 1,
    hi: 2.5,
    degree: 8,
    center: 1.75,
  },
  {
    // w M(w) in u = 1/w for w in [2.5, 14] (beyond 14, x Q(x) is below f32's subnormals).
    name: "millsFar",
    target: (u) => millsRatio(1 / u) / u,
    weight: (u) => u / millsRatio(1 / u),
    lo: 1 / 14,
    hi: 0.4,
    degree: 8,
    center: 0.25,
  },
];

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const spec of MATH_FITS) {
    const fit = remez(spec);
    console.log(`${fit.name}: max weighted error ${fit.maxError.toExponential(3)}`);
    // Nine significant digits identify an f32 uniquely.
    console.log(`  [${fit.coefficients.map((c) => Number(Math.fround(c).toPrecision(9))).join(", ")}]`);
  }
}
