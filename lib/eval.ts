/**
 * Top-1 accuracy and mean cross-entropy of an image classifier on a dataset split. The
 * next batch is read and preprocessed while the native forward pass runs on the current
 * one, so reading overlaps compute.
 */
import type { Dataset } from './data/dataset.ts';
import { inputShape } from './data/preprocess.ts';
import { InputError } from './errors.ts';
import type { ImageClassifier } from './models/classifier.ts';

export interface EvaluateOptions {
  batchSize?: number;
  /** Evaluate at most this many examples (the first ones, in file order). */
  limit?: number;
  /** Images done so far and the total, after every batch. */
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface EvaluationResult {
  /** Fraction of examples whose highest logit is their label. */
  accuracy: number;
  /** Mean per-example cross-entropy (natural log). */
  meanLoss: number;
  images: number;
  imagesPerSecond: number;
  seconds: number;
}

/** Index of the largest of n values starting at `offset` (the first on ties). */
function argmax(values: Float32Array, offset: number, n: number): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (values[offset + i] > values[offset + best]) best = i;
  return best;
}

export async function evaluate(model: ImageClassifier, dataset: Dataset, options: EvaluateOptions = {}): Promise<EvaluationResult> {
  const want = model.input;
  const got = inputShape(dataset.preprocess);
  if (got.channels !== want.channels || got.height !== want.height || got.width !== want.width)
    throw new InputError(dataset.folder, `was opened for ${got.channels}x${got.height}x${got.width} input, the model takes ${want.channels}x${want.height}x${want.width}`);
  if (dataset.numClasses > model.numLabels)
    throw new InputError(dataset.folder, `has ${dataset.numClasses} classes, more than the model's ${model.numLabels} labels`);
  const limit = options.limit ?? Infinity;
  if (!(limit >= 0)) throw new InputError('limit', `must be a non-negative number, got ${options.limit}`);
  const total = Math.min(dataset.size, limit);

  const started = performance.now();
  let images = 0, correct = 0, lossSum = 0;
  const batches = dataset.batches({ batchSize: options.batchSize ?? 64, limit, signal: options.signal })[Symbol.asyncIterator]();
  let next = batches.next();
  try {
    for (;;) {
      const step = await next;
      if (step.done) break;
      next = batches.next(); // prepare the following batch while this one runs
      next.catch(() => {}); // its error, if any, surfaces when awaited
      const batch = step.value;
      const { logits, losses } = await model.forward(batch.images, batch.count, { labels: batch.labels, signal: options.signal });
      for (let i = 0; i < batch.count; i++) {
        if (argmax(logits, i * model.numLabels, model.numLabels) === batch.labels[i]) correct++;
        lossSum += losses![i];
      }
      images += batch.count;
      options.onProgress?.(images, total);
    }
  } finally {
    await batches.return?.(undefined);
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    accuracy: images ? correct / images : 0,
    meanLoss: images ? lossSum / images : 0,
    images,
    imagesPerSecond: seconds > 0 ? images / seconds : 0,
    seconds,
  };
}
