// The order `mlc train` visits samples in: a seeded permutation of [0, n) per epoch, computed
// index by index in O(1) memory (no array of n indices, so memory does not grow with the
// dataset, and resuming at batch k of epoch e needs only (seed, e, k)).
//
// It is a 6-round balanced Feistel network on 2h-bit integers (2^2h >= n, h >= 1) whose round
// function mixes the half-block with a per-(seed, epoch, round) key, restricted to [0, n) by cycle
// walking: apply the bijection until the value falls inside [0, n). Because 2^2h < 4n, a walk
// takes fewer than 4 steps on average. The result is a bijection of [0, n).

export class EpochPermutation {
  private readonly half: number;
  private readonly mask: number;
  private readonly keys: Uint32Array;

  constructor(readonly n: number, seed: number, epoch: number) {
    if (!Number.isInteger(n) || n < 1 || n > 2 ** 40) throw new Error(`permutation size must be an integer in [1, 2^40], got ${n}`);
    let bits = 2;
    while (2 ** bits < n) bits += 2;
    this.half = bits / 2;
    this.mask = 2 ** this.half - 1;
    this.keys = new Uint32Array(6);
    for (let r = 0; r < 6; r++) this.keys[r] = mix32(mix32(seed >>> 0) ^ Math.imul(epoch + 1, 0x9e3779b9) ^ Math.imul(r + 1, 0x85ebca6b));
  }

  /** The sample at position `i` of the epoch. */
  at(i: number): number {
    let x = i;
    do x = this.feistel(x);
    while (x >= this.n);
    return x;
  }

  private feistel(x: number): number {
    const size = this.mask + 1;
    let left = Math.floor(x / size);
    let right = x % size;
    for (let r = 0; r < 6; r++) {
      // Halves have at most 20 bits (n <= 2^40), so 32-bit integer arithmetic is exact.
      const next = (left ^ mix32(right ^ this.keys[r])) & this.mask;
      left = right;
      right = next;
    }
    return left * size + right;
  }
}

/** A 32-bit integer finalizer (murmur3's fmix32). */
function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
