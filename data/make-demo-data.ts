/**
 * Makes the data the demo ships with, from Debian's dataset-fashion-mnist package
 * (/usr/share/datasets/fashion-mnist), so `otfuse demo` needs no download:
 *
 *   data/fashion-mnist/         the full test split (10,000 images) and 12,000 training
 *                               images the bundled parents trained on (for finetuning)
 *   data/fashion-mnist-fusion/  the first 1,000 images, in file order, of the 10 % of the
 *                               training split the parents never saw (holdout seed 0):
 *                               where the fusion's activation samples come from
 *
 *   npx tsx data/make-demo-data.ts [/usr/share/datasets/fashion-mnist]
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';
import { holdoutSplit } from '../lib/data/holdout.ts';

const source = process.argv[2] ?? '/usr/share/datasets/fashion-mnist';
const here = dirname(fileURLToPath(import.meta.url));
const TRAIN_FOR_FINETUNING = 12000;
const FUSION_SAMPLES = 1000;

function readIdx(file: string): { dims: number[]; body: Uint8Array } {
  const raw = gunzipSync(readFileSync(join(source, file)));
  const rank = raw[3];
  const dims = Array.from({ length: rank }, (_, i) => raw.readUInt32BE(4 + 4 * i));
  return { dims, body: raw.subarray(4 + 4 * rank) };
}

function writeIdx(folder: string, file: string, dims: number[], body: Uint8Array): void {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head[2] = 0x08;
  head[3] = dims.length;
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  mkdirSync(folder, { recursive: true });
  writeFileSync(join(folder, `${file}.gz`), gzipSync(Buffer.concat([head, body]), { level: 9 }));
}

function pick(images: { dims: number[]; body: Uint8Array }, labels: { body: Uint8Array }, indices: ArrayLike<number>) {
  const per = images.dims[1] * images.dims[2];
  const px = new Uint8Array(indices.length * per), lb = new Uint8Array(indices.length);
  for (let k = 0; k < indices.length; k++) {
    px.set(images.body.subarray(indices[k] * per, (indices[k] + 1) * per), k * per);
    lb[k] = labels.body[indices[k]];
  }
  return { px, lb, dims: [indices.length, images.dims[1], images.dims[2]] };
}

const trainImages = readIdx('train-images-idx3-ubyte.gz'), trainLabels = readIdx('train-labels-idx1-ubyte.gz');
const { holdout, rest } = holdoutSplit(trainImages.dims[0], 0.1, 0);

const finetuning = pick(trainImages, trainLabels, rest.subarray(0, TRAIN_FOR_FINETUNING));
writeIdx(join(here, 'fashion-mnist'), 'train-images-idx3-ubyte', finetuning.dims, finetuning.px);
writeIdx(join(here, 'fashion-mnist'), 'train-labels-idx1-ubyte', [finetuning.lb.length], finetuning.lb);
const testImages = readIdx('t10k-images-idx3-ubyte.gz'), testLabels = readIdx('t10k-labels-idx1-ubyte.gz');
writeIdx(join(here, 'fashion-mnist'), 't10k-images-idx3-ubyte', testImages.dims, testImages.body);
writeIdx(join(here, 'fashion-mnist'), 't10k-labels-idx1-ubyte', testLabels.dims, testLabels.body);

const fusion = pick(trainImages, trainLabels, holdout.subarray(0, FUSION_SAMPLES));
writeIdx(join(here, 'fashion-mnist-fusion'), 'train-images-idx3-ubyte', fusion.dims, fusion.px);
writeIdx(join(here, 'fashion-mnist-fusion'), 'train-labels-idx1-ubyte', [fusion.lb.length], fusion.lb);
console.log(`wrote ${TRAIN_FOR_FINETUNING} training, ${testImages.dims[0]} test and ${FUSION_SAMPLES} fusion images under ${here}`);
