/**
 * Which inputs the activations are captured on: by default the first `num_samples`
 * examples, in file order, of a seeded held-out part of the training split (the
 * reference takes the first 200 of a seeded 10 % validation split), so that the fusion
 * never sees the test set. The same inputs go through every model.
 */
import type { Batch, Dataset } from '../data/dataset.ts';
import { InputError } from '../errors.ts';

export interface SampleChoice {
  count: number;
  /** Fraction of the split held out (0: the split itself). */
  holdoutFraction: number;
  seed: number;
  /** A seeded random choice of the held-out examples instead of the first ones. */
  shuffle: boolean;
}

/** A seeded PRNG (mulberry32): the same seed gives the same holdout on every machine. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The held-out example indices of a split of `size`: a seeded permutation's first fraction x size. */
export function holdoutIndices(size: number, fraction: number, seed: number): number[] {
  if (fraction <= 0) return Array.from({ length: size }, (_, i) => i);
  const perm = Array.from({ length: size }, (_, i) => i);
  const rand = rng(seed);
  for (let i = size - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [perm[i], perm[j]] = [perm[j], perm[i]];
  }
  return perm.slice(0, Math.round(fraction * size));
}

/** The examples the activations are captured on, in the order they are fed. */
export function chooseSamples(size: number, choice: SampleChoice): number[] {
  const pool = holdoutIndices(size, choice.holdoutFraction, choice.seed);
  if (pool.length < choice.count)
    throw new InputError('fusion.acts.num_samples', `asks for ${choice.count} samples, the fusion data has ${pool.length}`);
  return choice.shuffle ? pool.slice(0, choice.count) : pool.sort((a, b) => a - b).slice(0, choice.count);
}

/** Streams `dataset` once and yields the chosen examples (normalised) in the chosen order, in batches. */
export async function* selectedBatches(dataset: Dataset, indices: number[], batchSize: number, signal?: AbortSignal): AsyncGenerator<Batch> {
  const position = new Map(indices.map((idx, k) => [idx, k]));
  const last = Math.max(...indices);
  let perImage = 0;
  let images: Float32Array | null = null;
  const labels = new Int32Array(indices.length);
  for await (const batch of dataset.batches({ batchSize: 256, limit: last + 1, signal })) {
    perImage ||= batch.images.length / batch.count;
    images ??= new Float32Array(indices.length * perImage);
    for (let i = 0; i < batch.count; i++) {
      const k = position.get(batch.offset + i);
      if (k === undefined) continue;
      images.set(batch.images.subarray(i * perImage, (i + 1) * perImage), k * perImage);
      labels[k] = batch.labels[i];
    }
  }
  if (!images) return;
  for (let start = 0; start < indices.length; start += batchSize) {
    const count = Math.min(batchSize, indices.length - start);
    yield { images: images.subarray(start * perImage, (start + count) * perImage), labels: labels.subarray(start, start + count), count, offset: start };
  }
}
