/**
 * Which inputs the activations are captured on: by default the first `num_samples`
 * examples, in file order, of a seeded held-out part of the training split (the
 * reference takes the first 200 of a seeded 10 % validation split; lib/data/holdout.ts
 * makes the same holdout that `otfuse train` keeps out of training), so that the fusion
 * never sees the test set. The same inputs go through every model.
 */
import type { Batch, Dataset } from '../data/dataset.ts';
import { SeededRandom } from '../data/random.ts';
import { InputError } from '../errors.ts';

/** Stream of SeededRandom for the choice of fusion samples (holdouts and training use others). */
const SAMPLE_STREAM = 0x46555345;

/**
 * Indices into `size` examples: the first `count`, or with `shuffle` a seeded random
 * choice of `count` (in the order they were drawn).
 */
export function chooseSamples(size: number, count: number, shuffle: boolean, seed: number): number[] {
  if (size < count) throw new InputError('fusion.acts.num_samples', `asks for ${count} samples, the fusion data has ${size}`);
  if (!shuffle) return Array.from({ length: count }, (_, i) => i);
  const rng = new SeededRandom(seed, SAMPLE_STREAM);
  const order = Array.from({ length: size }, (_, i) => i);
  for (let i = 0; i < count; i++) {
    const j = i + rng.below(size - i);
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order.slice(0, count);
}

/** Streams `dataset` once and yields the chosen examples (normalised) in the chosen order, in batches. */
export async function* selectedBatches(dataset: Dataset, indices: number[], batchSize: number, signal?: AbortSignal): AsyncGenerator<Batch> {
  const position = new Map(indices.map((idx, k) => [idx, k]));
  const last = indices.reduce((a, b) => Math.max(a, b), -1);  // no spread: there may be more indices than call arguments
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
