/**
 * IDX files as MNIST and Fashion-MNIST ship them: `train-images-idx3-ubyte` with
 * `train-labels-idx1-ubyte`, `t10k-*` for the test split, gzipped or not. Images are
 * (count, rows, cols) unsigned bytes, or (count, rows, cols, channels).
 */
import { existsSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { InputError } from '../errors.ts';
import { ByteReader, isGzipPath } from './byte-reader.ts';
import type { SourceShape } from './preprocess.ts';
import type { DatasetReader, RawBatch, Split } from './source.ts';

const UBYTE = 0x08;

interface IdxHeader {
  dims: number[];
  headerBytes: number;
}

/** File names a split may use, in order of preference. */
function candidates(split: Split, kind: 'images' | 'labels'): string[] {
  const prefix = split === 'train' ? 'train' : 't10k';
  const n = kind === 'images' ? 3 : 1;
  const names = [`${prefix}-${kind}-idx${n}-ubyte`, `${prefix}-${kind}.idx${n}-ubyte`];
  return names.flatMap((name) => [name, `${name}.gz`]);
}

export function findIdxFile(folder: string, split: Split, kind: 'images' | 'labels'): string | null {
  for (const name of candidates(split, kind)) if (existsSync(join(folder, name))) return join(folder, name);
  return null;
}

export function looksLikeIdx(names: string[]): boolean {
  return names.some((n) => /-(images|labels)[-.]idx\d-ubyte(\.gz)?$/.test(n));
}

/** The first bytes of a file, decompressed when gzipped (the header is at the start). */
async function readStart(path: string, bytes: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    if (!isGzipPath(path)) {
      const buf = Buffer.alloc(bytes);
      const { bytesRead } = await fh.read(buf, 0, bytes, 0);
      return buf.subarray(0, bytesRead);
    }
    // Enough compressed input for a few header bytes; a partial inflate of a prefix.
    const buf = Buffer.alloc(64 * 1024);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    try {
      return gunzipSync(buf.subarray(0, bytesRead), { finishFlush: 2 /* Z_SYNC_FLUSH */ }).subarray(0, bytes);
    } catch (err) {
      throw new InputError(path, `is not valid gzip data (${(err as Error).message})`);
    }
  } finally {
    await fh.close();
  }
}

async function readHeader(path: string, expectDims: number[]): Promise<IdxHeader> {
  const start = await readStart(path, 4 + 4 * 4);
  if (start.length < 4 || start[0] !== 0 || start[1] !== 0)
    throw new InputError(path, `is not an IDX file (magic ${start.subarray(0, 4).toString('hex') || 'missing'})`);
  if (start[2] !== UBYTE) throw new InputError(path, `holds IDX type 0x${start[2].toString(16)}, only unsigned bytes (0x08) are supported`);
  const nd = start[3];
  if (!expectDims.includes(nd)) throw new InputError(path, `has ${nd} dimensions, expected ${expectDims.join(' or ')}`);
  if (start.length < 4 + 4 * nd) throw new InputError(path, 'is truncated inside its header');
  const dims = Array.from({ length: nd }, (_, i) => start.readUInt32BE(4 + 4 * i));
  return { dims, headerBytes: 4 + 4 * nd };
}

/** Checks that a raw (not gzipped) file holds exactly what its header announces. */
async function checkRawSize(path: string, expected: number): Promise<void> {
  if (isGzipPath(path)) return; // known only when the stream ends; ByteReader reports it then
  const { size } = await stat(path);
  if (size < expected) throw new InputError(path, `is truncated: its header announces ${expected} bytes, the file has ${size}`);
  if (size > expected) throw new InputError(path, `has ${size - expected} bytes after the records its header announces`);
}

export async function openIdx(folder: string, split: Split): Promise<DatasetReader> {
  const imagesPath = findIdxFile(folder, split, 'images');
  const labelsPath = findIdxFile(folder, split, 'labels');
  if (!imagesPath || !labelsPath)
    throw new InputError(folder, `has no IDX ${split} split (expected ${candidates(split, imagesPath ? 'labels' : 'images')[0]}[.gz])`);
  const ih = await readHeader(imagesPath, [3, 4]);
  const lh = await readHeader(labelsPath, [1]);
  const [count, height, width, channels = 1] = ih.dims;
  if (lh.dims[0] !== count)
    throw new InputError(labelsPath, `has ${lh.dims[0]} labels but ${imagesPath} has ${count} images`);
  if (height === 0 || width === 0 || channels === 0) throw new InputError(imagesPath, 'has an empty image shape');
  const imageBytes = height * width * channels;
  await checkRawSize(imagesPath, ih.headerBytes + count * imageBytes);
  await checkRawSize(labelsPath, lh.headerBytes + count);
  const shape: SourceShape = { height, width, channels, planar: false };

  // Labels are small (one byte per image): read them once to know the classes.
  const labelReader = ByteReader.open(labelsPath);
  await labelReader.read(lh.headerBytes, 'the header');
  const allLabels = await labelReader.read(count, 'the labels');
  await labelReader.close();
  let numClasses = 0;
  for (const l of allLabels) numClasses = Math.max(numClasses, l + 1);

  return {
    format: 'idx', folder, split, size: count, classes: null, numClasses, shape, files: [imagesPath, labelsPath],
    async *read(batchSize: number, start: number, limit: number): AsyncGenerator<RawBatch> {
      const end = Math.min(count, start + limit);
      const reader = ByteReader.open(imagesPath);
      try {
        await reader.read(ih.headerBytes, 'the header');
        if (start > 0) await reader.skip(start * imageBytes, `image ${start}`);
        for (let i = start; i < end; i += batchSize) {
          const n = Math.min(batchSize, end - i);
          // A batch is read whole; a file ending inside it names the image it ends in.
          const pixels = await reader.read(n * imageBytes, (endsAfter) => `image ${Math.floor((endsAfter - ih.headerBytes) / imageBytes)}`);
          const labels = Int32Array.from(allLabels.subarray(i, i + n));
          yield { count: n, labels, pixels, shape };
        }
      } finally {
        await reader.close();
      }
    },
  };
}
