// A tiny seeded PRNG for property tests (mulberry32), so every generated instance is reproducible.

export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A uniform integer in [lo, hi]. */
export const randInt = (random: () => number, lo: number, hi: number): number => lo + Math.floor(random() * (hi - lo + 1));
