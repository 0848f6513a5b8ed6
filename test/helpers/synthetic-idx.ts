/** Writes a small synthetic IDX dataset (MNIST layout, 8-bit grayscale) for pipeline tests. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { seededRandom } from './random.ts';

function idx(magic: number, dims: number[], body: Uint8Array): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head.writeUInt32BE(magic, 0);
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([head, body]);
}

/** `train` and `test` examples of size x size images over `classes` labels, in `folder`. */
export function writeSyntheticIdx(folder: string, options: { train: number; test: number; size: number; classes: number; seed: number }): void {
  mkdirSync(folder, { recursive: true });
  const rand = seededRandom(options.seed);
  for (const [prefix, count] of [['train', options.train], ['t10k', options.test]] as const) {
    const pixels = new Uint8Array(count * options.size * options.size);
    const labels = new Uint8Array(count);
    for (let i = 0; i < count; i++) {
      labels[i] = i % options.classes;
      // A class-dependent bright band plus noise, so a model could learn it.
      for (let p = 0; p < options.size * options.size; p++) {
        const row = Math.floor(p / options.size);
        pixels[i * options.size * options.size + p] = Math.min(255, Math.floor(rand() * 80 + (row % options.classes === labels[i] ? 150 : 0)));
      }
    }
    writeFileSync(join(folder, `${prefix}-images-idx3-ubyte`), idx(0x803, [count, options.size, options.size], pixels));
    writeFileSync(join(folder, `${prefix}-labels-idx1-ubyte`), idx(0x801, [count], labels));
  }
}
