/**
 * The data of a training run in memory, as model input: the remaining part of the
 * training split after the seeded holdout (lib/data/holdout.ts), and the test split.
 */
import { openDataset, type DatasetFormat, type LoadedData, type Split } from '../data/dataset.ts';
import type { PreprocessConfig } from '../data/preprocess.ts';

export interface TrainingDataOptions {
  folder: string;
  format?: DatasetFormat;
  preprocess: PreprocessConfig;
  /** Held out of training: ceil(fraction * size) examples of the training split; 0 keeps them all. */
  holdout: { fraction: number; seed: number };
  trainLimit?: number | null;
  testSplit?: Split;
  testLimit?: number | null;
  /** false: no test data. */
  test?: boolean;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

export interface TrainingData {
  train: LoadedData;
  test: LoadedData | null;
  trainDescription: string;
  testDescription: string | null;
  numClasses: number;
  classes: string[] | null;
}

export async function loadTrainingData(options: TrainingDataOptions): Promise<TrainingData> {
  const holdout = options.holdout.fraction > 0 ? { ...options.holdout, part: 'rest' as const } : undefined;
  const trainSet = await openDataset(options.folder, { split: 'train', format: options.format, preprocess: options.preprocess, holdout });
  const wantTest = options.test ?? true;
  const testSet = wantTest
    ? await openDataset(options.folder, { split: options.testSplit ?? 'test', format: options.format, preprocess: options.preprocess })
    : null;
  const trainCount = Math.min(trainSet.size, options.trainLimit ?? Infinity);
  const testCount = testSet ? Math.min(testSet.size, options.testLimit ?? Infinity) : 0;
  const total = trainCount + testCount;
  const train = await trainSet.loadAll({
    limit: trainCount, signal: options.signal, onProgress: (done) => options.onProgress?.(done, total),
  });
  const test = testSet
    ? await testSet.loadAll({ limit: testCount, signal: options.signal, onProgress: (done) => options.onProgress?.(trainCount + done, total) })
    : null;
  return {
    train, test,
    trainDescription: trainSet.description + (trainCount < trainSet.size ? `, first ${trainCount}` : ''),
    testDescription: testSet ? testSet.description + (testCount < testSet.size ? `, first ${testCount}` : '') : null,
    numClasses: Math.max(trainSet.numClasses, testSet?.numClasses ?? 0),
    classes: trainSet.classes,
  };
}

/** The normalised value of a black pixel per channel: what crop padding shows. */
export function blackPixel(mean: number[], std: number[], channels: number): number[] {
  const at = (v: number[], c: number) => (v.length === 1 ? v[0] : v[c]);
  return Array.from({ length: channels }, (_, c) => (0 - at(mean, c)) / at(std, c));
}
