/**
 * Datasets for evaluation and activations: a folder in its format's standard layout plus
 * a split, streamed in batches of normalised model input. The format is detected from
 * the folder's files unless given.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InputError, throwIfAborted } from '../errors.ts';
import type { TaskOptions } from '../native.ts';
import { cifar10Files, openCifar10, openCifar100, type CifarLabels } from './cifar.ts';
import { checkHoldout, holdoutSplit, subsetReader, type HoldoutOption } from './holdout.ts';
import { looksLikeIdx, openIdx } from './idx.ts';
import { decodeImage, looksLikeImageFolder, openImageFolder } from './image-folder.ts';
import { inputShape, planTarget, preprocessInto, type PreprocessConfig } from './preprocess.ts';
import type { DatasetFormat, DatasetReader, Split } from './source.ts';

export type { DatasetFormat, Split } from './source.ts';
export type { PreprocessConfig } from './preprocess.ts';
export type { HoldoutOption } from './holdout.ts';

export interface OpenDatasetOptions {
  split?: Split;
  /** Detected from the folder when absent. */
  format?: DatasetFormat;
  /** The model's input and the normalisation (dataset images -> model input). */
  preprocess: PreprocessConfig;
  /** CIFAR-100 only: the 100 fine labels (default) or the 20 coarse ones. */
  cifar100Labels?: CifarLabels;
  /**
   * Present only one part of a seeded holdout split of the split: `rest` for training,
   * `holdout` for data no model trained with the same holdout has seen (fusion
   * activations). Both parts keep file order.
   */
  holdout?: HoldoutOption;
}

export interface Batch {
  /** count x C x H x W normalised floats. */
  images: Float32Array;
  labels: Int32Array;
  count: number;
  /** Index of the batch's first example in the split. */
  offset: number;
}

/** A whole dataset (part) as model input in memory. */
export interface LoadedData {
  /** count x C x H x W normalised floats. */
  images: Float32Array;
  labels: Int32Array;
  count: number;
}

export interface BatchOptions {
  batchSize?: number;
  /** Start at this example (default 0). */
  start?: number;
  /** At most this many examples. */
  limit?: number;
  signal?: AbortSignal;
}

// Subfolders the official archives unpack into.
const ARCHIVE_FOLDERS = ['cifar-10-batches-bin', 'cifar-100-binary'];

function listNames(folder: string): string[] {
  return readdirSync(folder);
}

/** The format of the dataset in `folder` (after stepping into an archive subfolder), or an InputError. */
export function detectFormat(folder: string, split: Split = 'test'): { format: DatasetFormat; folder: string } {
  if (!existsSync(folder) || !statSync(folder).isDirectory()) throw new InputError(folder, 'is not a folder');
  for (const sub of ARCHIVE_FOLDERS)
    if (existsSync(join(folder, sub)) && statSync(join(folder, sub)).isDirectory()) return detectFormat(join(folder, sub), split);
  const names = listNames(folder);
  if (cifar10Files(folder, 'train').length > 0 || names.includes('test_batch.bin')) return { format: 'cifar10', folder };
  if (names.includes('train.bin') || names.includes('test.bin')) return { format: 'cifar100', folder };
  if (looksLikeIdx(names)) return { format: 'idx', folder };
  if (looksLikeImageFolder(folder, split) || looksLikeImageFolder(folder, split === 'train' ? 'test' : 'train'))
    return { format: 'image-folder', folder };
  throw new InputError(folder, 'cannot tell the dataset format: expected CIFAR-10/100 binary batches, IDX files ' +
    '(train-images-idx3-ubyte[.gz], ...) or an image folder (<split>/<class>/*.png|jpg)');
}

export class Dataset {
  private constructor(
    readonly reader: DatasetReader,
    readonly preprocess: PreprocessConfig,
    private readonly fixedTarget: ReturnType<typeof planTarget> | null,
    /** The holdout part presented, when the dataset was opened with one. */
    readonly holdout: (HoldoutOption & { seed: number; examples: number; of: number }) | null = null,
  ) {}

  get format(): DatasetFormat { return this.reader.format; }
  get folder(): string { return this.reader.folder; }
  get split(): Split { return this.reader.split; }
  get size(): number { return this.reader.size; }
  get classes(): string[] | null { return this.reader.classes; }
  get numClasses(): number { return this.reader.numClasses; }
  /** "cifar10 test split of /data/cifar10", with the holdout part when there is one. */
  get description(): string {
    const h = this.holdout;
    const part = h ? ` (${h.part === 'holdout' ? 'held-out' : 'remaining'} ${h.examples} of ${h.of}: holdout fraction ${h.fraction}, seed ${h.seed})` : '';
    return `${this.format} ${this.split} split of ${this.folder}${part}`;
  }

  static async open(folder: string, options: OpenDatasetOptions): Promise<Dataset> {
    const split = options.split ?? 'test';
    if (split !== 'train' && split !== 'test') throw new InputError('split', `must be train or test, got '${split}'`);
    let root = resolve(folder);
    let format = options.format;
    if (!format) ({ format, folder: root } = detectFormat(root, split));
    else for (const sub of ARCHIVE_FOLDERS) if (existsSync(join(root, sub))) root = join(root, sub);
    let reader: DatasetReader;
    switch (format) {
      case 'cifar10': reader = await openCifar10(root, split); break;
      case 'cifar100': reader = await openCifar100(root, split, options.cifar100Labels); break;
      case 'idx': reader = await openIdx(root, split); break;
      case 'image-folder': reader = await openImageFolder(root, split); break;
      default: throw new InputError('format', `unknown dataset format '${format as string}' (expected cifar10, cifar100, idx or image-folder)`);
    }
    let holdout: Dataset['holdout'] = null;
    if (options.holdout) {
      checkHoldout(options.holdout);
      const seed = options.holdout.seed ?? 0;
      const parts = holdoutSplit(reader.size, options.holdout.fraction, seed);
      const indices = options.holdout.part === 'holdout' ? parts.holdout : parts.rest;
      if (indices.length === 0)
        throw new InputError(root, `holdout fraction ${options.holdout.fraction} of ${reader.size} examples leaves no ${options.holdout.part === 'holdout' ? 'held-out' : 'remaining'} examples`);
      holdout = { ...options.holdout, seed, examples: indices.length, of: reader.size };
      reader = subsetReader(reader, indices);
    }
    const where = `${root} (${format}, ${split})`;
    // Fixed-shape formats are checked against the model once, here; image folders are
    // checked on their first image here and on every image as it streams.
    let target = null;
    if (reader.shape) target = planTarget(where, reader.shape, options.preprocess);
    else {
      const first = await decodeImage(reader.files[0]);
      planTarget(first.file, first.shape, options.preprocess);
    }
    return new Dataset(reader, options.preprocess, target, holdout);
  }

  /** Every example (or the first `limit`) as model input in one buffer, read batch by batch. */
  async loadAll(options: { limit?: number; signal?: AbortSignal; onProgress?: (done: number, total: number) => void } = {}): Promise<LoadedData> {
    const count = Math.min(this.size, options.limit ?? Infinity);
    const { channels, height, width } = inputShape(this.preprocess);
    const perImage = channels * height * width;
    const images = new Float32Array(count * perImage);
    const labels = new Int32Array(count);
    let done = 0;
    for await (const batch of this.batches({ batchSize: 1024, limit: count, signal: options.signal })) {
      images.set(batch.images, done * perImage);
      labels.set(batch.labels, done);
      done += batch.count;
      options.onProgress?.(done, count);
    }
    return { images, labels, count: done };
  }

  /** The split's examples as normalised model input, batch by batch. */
  async *batches(options: BatchOptions = {}): AsyncGenerator<Batch> {
    const batchSize = options.batchSize ?? 64;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new InputError('batch_size', `must be a positive integer, got ${batchSize}`);
    const start = options.start ?? 0;
    const limit = options.limit ?? Infinity;
    const { channels, height, width } = inputShape(this.preprocess);
    const perImage = channels * height * width;
    const task: TaskOptions = { signal: options.signal };
    let offset = start;
    for await (const raw of this.reader.read(batchSize, start, limit)) {
      throwIfAborted(options.signal);
      const images = new Float32Array(raw.count * perImage);
      if (raw.pixels && raw.shape && this.fixedTarget) {
        await preprocessInto(images, raw.pixels, raw.count, raw.shape, this.fixedTarget, task);
      } else if (raw.images) {
        for (let i = 0; i < raw.images.length; i++) {
          const img = raw.images[i];
          const target = planTarget(img.file, img.shape, this.preprocess);
          await preprocessInto(images.subarray(i * perImage, (i + 1) * perImage), img.pixels, 1, img.shape, target, task);
        }
      }
      yield { images, labels: raw.labels, count: raw.count, offset };
      offset += raw.count;
    }
  }
}

export function openDataset(folder: string, options: OpenDatasetOptions): Promise<Dataset> {
  return Dataset.open(folder, options);
}
