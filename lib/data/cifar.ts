/**
 * CIFAR-10 and CIFAR-100 in their binary versions. CIFAR-10: data_batch_1..5.bin (train)
 * and test_batch.bin, records of 1 label byte + 3072 pixel bytes. CIFAR-100: train.bin
 * and test.bin, records of a coarse and a fine label byte + 3072 pixel bytes. Pixels are
 * 32x32 planar RGB (all red, then green, then blue). The files may sit in the archive's
 * own subfolder (cifar-10-batches-bin, cifar-100-binary).
 */
import { existsSync, readFileSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '../errors.ts';
import type { SourceShape } from './preprocess.ts';
import type { DatasetReader, RawBatch, Split } from './source.ts';

const PIXELS = 32 * 32 * 3;
const SHAPE: SourceShape = { height: 32, width: 32, channels: 3, planar: true };

export type CifarLabels = 'fine' | 'coarse';

export function cifar10Files(folder: string, split: Split): string[] {
  if (split === 'test') return existsSync(join(folder, 'test_batch.bin')) ? [join(folder, 'test_batch.bin')] : [];
  const files: string[] = [];
  for (let i = 1; i <= 5 && existsSync(join(folder, `data_batch_${i}.bin`)); i++) files.push(join(folder, `data_batch_${i}.bin`));
  return files;
}

function classNames(path: string, count: number): string[] | null {
  if (!existsSync(path)) return null;
  const names = readFileSync(path, 'utf8').split(/\r?\n/).map((s) => s.trim()).filter((s) => s.length > 0);
  return names.length === count ? names : null;
}

interface CifarLayout {
  format: 'cifar10' | 'cifar100';
  labelBytes: number;
  labelIndex: number; // which label byte is the label
  numClasses: number;
  classes: string[] | null;
}

async function openRecords(folder: string, split: Split, files: string[], layout: CifarLayout): Promise<DatasetReader> {
  const record = layout.labelBytes + PIXELS;
  const counts: number[] = [];
  for (const f of files) {
    const { size } = await stat(f);
    if (size === 0 || size % record !== 0)
      throw new InputError(f, `is truncated or not a ${layout.format} batch: ${size} bytes is not a whole number of ${record}-byte records`);
    counts.push(size / record);
  }
  const size = counts.reduce((a, b) => a + b, 0);
  return {
    format: layout.format, folder, split, size, classes: layout.classes, numClasses: layout.numClasses, shape: SHAPE, files,
    async *read(batchSize: number, start: number, limit: number): AsyncGenerator<RawBatch> {
      const end = Math.min(size, start + limit);
      let i = start;
      let fileIndex = 0, fileStart = 0;
      while (fileIndex < files.length && fileStart + counts[fileIndex] <= i) fileStart += counts[fileIndex++];
      while (i < end) {
        const n = Math.min(batchSize, end - i);
        const pixels = new Uint8Array(n * PIXELS);
        const labels = new Int32Array(n);
        // A batch may span two files.
        for (let k = 0; k < n; ) {
          const file = files[fileIndex];
          const inFile = Math.min(n - k, fileStart + counts[fileIndex] - (i + k));
          const buf = Buffer.alloc(inFile * record);
          const fh = await open(file, 'r');
          try {
            await fh.read(buf, 0, buf.length, (i + k - fileStart) * record);
          } finally {
            await fh.close();
          }
          for (let r = 0; r < inFile; r++) {
            const label = buf[r * record + layout.labelIndex];
            if (label >= layout.numClasses)
              throw new InputError(file, `record ${i + k + r - fileStart} has label ${label}, outside the ${layout.numClasses} ${layout.format} classes`);
            labels[k + r] = label;
            pixels.set(buf.subarray(r * record + layout.labelBytes, (r + 1) * record), (k + r) * PIXELS);
          }
          k += inFile;
          if (fileStart + counts[fileIndex] <= i + k) fileStart += counts[fileIndex++];
        }
        yield { count: n, labels, pixels, shape: SHAPE };
        i += n;
      }
    },
  };
}

export async function openCifar10(folder: string, split: Split): Promise<DatasetReader> {
  const files = cifar10Files(folder, split);
  if (files.length === 0)
    throw new InputError(folder, `has no CIFAR-10 ${split} split (expected ${split === 'train' ? 'data_batch_1.bin ...' : 'test_batch.bin'})`);
  return openRecords(folder, split, files, {
    format: 'cifar10', labelBytes: 1, labelIndex: 0, numClasses: 10, classes: classNames(join(folder, 'batches.meta.txt'), 10),
  });
}

export async function openCifar100(folder: string, split: Split, labels: CifarLabels = 'fine'): Promise<DatasetReader> {
  const file = join(folder, `${split}.bin`);
  if (!existsSync(file)) throw new InputError(folder, `has no CIFAR-100 ${split} split (expected ${split}.bin)`);
  const fine = labels === 'fine';
  return openRecords(folder, split, [file], {
    format: 'cifar100', labelBytes: 2, labelIndex: fine ? 1 : 0, numClasses: fine ? 100 : 20,
    classes: classNames(join(folder, fine ? 'fine_label_names.txt' : 'coarse_label_names.txt'), fine ? 100 : 20),
  });
}
