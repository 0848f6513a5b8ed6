/**
 * A small learnable dataset written as IDX files (the Fashion-MNIST layout): class k's
 * images are a bright horizontal band at row 2k plus seeded noise, so a tiny ViT can
 * learn them in a few steps.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { seededRandom } from './random.ts';

function idx(dims: number[], data: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  const view = new DataView(out.buffer);
  out[2] = 0x08;
  out[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

export interface SyntheticOptions {
  train: number;
  test: number;
  size?: number;
  classes?: number;
  seed?: number;
}

/** Writes train/t10k IDX files into `folder`; returns the labels of both splits. */
export function writeSyntheticIdx(folder: string, o: SyntheticOptions): { train: Uint8Array; test: Uint8Array } {
  const size = o.size ?? 8, classes = o.classes ?? 3;
  const rand = seededRandom(o.seed ?? 1);
  mkdirSync(folder, { recursive: true });
  const make = (n: number) => {
    const labels = new Uint8Array(n), px = new Uint8Array(n * size * size);
    for (let i = 0; i < n; i++) {
      const k = Math.floor(rand() * classes);
      labels[i] = k;
      for (let y = 0; y < size; y++)
        for (let x = 0; x < size; x++) {
          const band = Math.floor(y / Math.max(1, Math.floor(size / classes))) === k ? 160 : 0;
          px[(i * size + y) * size + x] = Math.min(255, band + Math.floor(rand() * 90));
        }
    }
    return { labels, px };
  };
  const tr = make(o.train), te = make(o.test);
  writeFileSync(join(folder, 'train-images-idx3-ubyte'), idx([o.train, size, size], tr.px));
  writeFileSync(join(folder, 'train-labels-idx1-ubyte'), idx([o.train], tr.labels));
  writeFileSync(join(folder, 't10k-images-idx3-ubyte'), idx([o.test, size, size], te.px));
  writeFileSync(join(folder, 't10k-labels-idx1-ubyte'), idx([o.test], te.labels));
  return { train: tr.labels, test: te.labels };
}
