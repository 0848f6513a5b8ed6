/**
 * What every dataset format reader provides: labelled 8-bit images read a batch at a
 * time, in file order. dataset.ts turns them into model input.
 */
import type { SourceShape } from './preprocess.ts';

export type DatasetFormat = 'cifar10' | 'cifar100' | 'idx' | 'image-folder';
export type Split = 'train' | 'test';

export interface RawImage {
  pixels: Uint8Array;
  shape: SourceShape;
  /** The file it came from, for error messages. */
  file: string;
}

export interface RawBatch {
  count: number;
  labels: Int32Array;
  /** count same-shape images back to back (formats with one image shape). */
  pixels?: Uint8Array;
  shape?: SourceShape;
  /** One entry per image (formats whose images may differ in size). */
  images?: RawImage[];
}

export interface DatasetReader {
  readonly format: DatasetFormat;
  readonly folder: string;
  readonly split: Split;
  /** Examples in the split. */
  readonly size: number;
  /** Class names by label, when the dataset ships them. */
  readonly classes: string[] | null;
  /** Labels lie in [0, numClasses). */
  readonly numClasses: number;
  /** The shape of every image, or null when it varies (image folders). */
  readonly shape: SourceShape | null;
  /** The files the split is read from. */
  readonly files: string[];
  /** Examples [start, start + limit) in batches of batchSize. */
  read(batchSize: number, start: number, limit: number): AsyncGenerator<RawBatch>;
}
