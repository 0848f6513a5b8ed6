/**
 * Seeded fuzzing of the dataset readers: mutated IDX files (raw and gzipped), CIFAR-10
 * batches and PNG/JPEG images in an image folder. Each case writes one mutated file into
 * a copy of a fixture dataset and loads the whole test split through openDataset: it
 * must give consistent batches (as many pixels as the shape says, labels within the
 * classes) or one InputError naming the file or folder; nothing else.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDataset, type DatasetFormat } from '../../lib/data/dataset.ts';
import { fuzz, ITERATIONS } from '../helpers/fuzz-harness.ts';
import { GENERIC, mutateMany } from '../helpers/mutate.ts';

// Every case touches the disk and decodes a split: a fifth of the reader fuzzers' count.
const CASES = Math.max(200, Math.ceil(ITERATIONS / 5));
const fixtures = new URL('../fixtures/data/', import.meta.url).pathname;

async function fuzzFolder(fixture: string, format: DatasetFormat, files: string[]): Promise<{ successes: number; refusals: number }> {
  const dir = mkdtempSync(join(tmpdir(), `otfuse-fuzz-${fixture}-`));
  try {
    cpSync(join(fixtures, fixture), dir, { recursive: true });
    const originals = files.map((f) => [f, new Uint8Array(readFileSync(join(dir, f)))] as [string, Uint8Array]);
    const original = new Map(originals);
    const outcome = await fuzz(
      originals,
      (bytes, random) => mutateMany(bytes, random, GENERIC),
      async (bytes, target) => {
        writeFileSync(join(dir, target), bytes);
        try {
          const data = await openDataset(dir, { split: 'test', format, preprocess: { imageSize: 4, channels: 3, resize: true } });
          const all = await data.loadAll();
          assert.equal(all.images.length, all.count * 3 * 4 * 4, 'pixels for the shape');
          for (const label of all.labels) assert.ok(label >= 0 && label < data.numClasses, `label ${label} of ${data.numClasses}`);
          return all;
        } finally {
          writeFileSync(join(dir, target), original.get(target)!);
        }
      },
      () => {},
      CASES,
    );
    return outcome;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('fuzzing the dataset readers (seeded)', function () {
  this.timeout(300_000);
  const cases: Array<[string, DatasetFormat, string[]]> = [
    ['idx-raw', 'idx', ['t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte']],
    ['idx-gz', 'idx', ['t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz']],
    ['cifar10', 'cifar10', ['test_batch.bin', 'batches.meta.txt']],
    ['images', 'image-folder', ['test/cat/a.png', 'test/cat/b.png', 'test/dog/c.jpg']],
  ];
  for (const [fixture, format, files] of cases) {
    it(`${fixture}: ${CASES} mutated files give consistent batches or an InputError`, async () => {
      const started = performance.now();
      const outcome = await fuzzFolder(fixture, format, files);
      console.log(`      ${fixture}: ${outcome.successes} loaded, ${outcome.refusals} refused in ${(performance.now() - started).toFixed(0)} ms`);
    });
  }
});
