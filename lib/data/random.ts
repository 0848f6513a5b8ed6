/**
 * Seeded random numbers for data handling (holdout splits, shuffling): a small counter
 * based generator whose output depends only on (seed, stream), identical on every
 * platform and Node version, so a split or an epoch order can always be recomputed from
 * its seed instead of being stored.
 */

/** 32-bit finaliser of MurmurHash3: a bijective mix. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function checkSeed(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${what} must be a non-negative integer, got ${value}`);
}

/** mulberry32: a small, well-spread stream of uniform 32-bit integers from a 32-bit seed. */
export function mulberry32U32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** The same stream as floats in [0, 1) with 32 random bits. */
export function mulberry32(seed: number): () => number {
  const next = mulberry32U32(seed);
  return () => next() / 0x100000000;
}

export class SeededRandom {
  /** Uniform in [0, 2^32) (mulberry32). */
  readonly nextU32: () => number;

  /** Stream `stream` of seed `seed` (both non-negative integers up to 2^53). */
  constructor(seed: number, stream = 0) {
    checkSeed(seed, 'seed');
    checkSeed(stream, 'stream');
    const lo = seed >>> 0, hi = Math.floor(seed / 0x100000000) >>> 0;
    const slo = stream >>> 0, shi = Math.floor(stream / 0x100000000) >>> 0;
    this.nextU32 = mulberry32U32(fmix32(fmix32(fmix32(lo ^ 0x9e3779b9) ^ hi) ^ fmix32(slo + 0x7f4a7c15) ^ fmix32(shi ^ 0x2545f491)));
  }

  /** Uniform in [0, 1) with 32 random bits. */
  next(): number {
    return this.nextU32() / 0x100000000;
  }

  /** Uniform integer in [0, n), 1 <= n <= 2^32, without modulo bias. */
  below(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > 0x100000000) throw new RangeError(`below: n must be an integer in [1, 2^32], got ${n}`);
    const limit = 0x100000000 - (0x100000000 % n);
    let x: number;
    do x = this.nextU32();
    while (x >= limit);
    return x % n;
  }

  /** A uniformly random permutation of 0 .. n-1 (Fisher-Yates). */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.below(i + 1);
      const t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }
}
