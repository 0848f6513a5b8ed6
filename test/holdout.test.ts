// The seeded holdout split of lib/data: sizes, disjoint parts that cover the split,
// determinism, and a Dataset presenting either part in file order.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDataset } from '../lib/data/dataset.ts';
import { holdoutSplit } from '../lib/data/holdout.ts';
import { SeededRandom } from '../lib/data/random.ts';
import { InputError } from '../lib/errors.ts';
import { writeSyntheticIdx } from './helpers/synthetic-idx.ts';

describe('holdout splits', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'otfuse-holdout-'));
    writeSyntheticIdx(dir, { train: 100, test: 10 });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('holds out ceil(fraction * size) examples, disjoint from the rest, both ascending, fixed by the seed', () => {
    const { holdout, rest } = holdoutSplit(60000, 0.1, 0);
    assert.equal(holdout.length, 6000);
    assert.equal(rest.length, 54000);
    const seen = new Uint8Array(60000);
    for (const part of [holdout, rest]) {
      for (let i = 0; i < part.length; i++) {
        assert.equal(seen[part[i]], 0);
        seen[part[i]] = 1;
        if (i > 0) assert.ok(part[i] > part[i - 1]);
      }
    }
    assert.ok(seen.every((s) => s === 1));
    assert.deepEqual(holdoutSplit(60000, 0.1, 0).holdout, holdout);
    assert.notDeepEqual(holdoutSplit(60000, 0.1, 1).holdout, holdout);
    assert.equal(holdoutSplit(101, 0.1, 3).holdout.length, 11);
    assert.equal(holdoutSplit(50, 0, 3).holdout.length, 0);
    // A uniform choice: about a tenth of each stretch of the split is held out.
    for (let s = 0; s < 60000; s += 15000) {
      const inStretch = holdout.filter((i) => i >= s && i < s + 15000).length;
      assert.ok(inStretch > 1350 && inStretch < 1650, `stretch ${s}: ${inStretch}`);
    }
  });

  it('presents the held-out part or the rest of a split in file order, in batches of any size', async () => {
    const pre = { imageSize: 8, channels: 1 };
    const whole = await openDataset(dir, { split: 'train', preprocess: pre });
    const all = await whole.loadAll();
    const { holdout, rest } = holdoutSplit(100, 0.2, 7);
    for (const [part, indices] of [['holdout', holdout], ['rest', rest]] as const) {
      const ds = await openDataset(dir, { split: 'train', preprocess: pre, holdout: { fraction: 0.2, seed: 7, part } });
      assert.equal(ds.size, indices.length);
      assert.match(ds.description, part === 'holdout' ? /held-out 20 of 100/ : /remaining 80 of 100/);
      for (const batchSize of [3, 64]) {
        const got: number[] = [];
        let offset = 0;
        for await (const b of ds.batches({ batchSize, start: 2, limit: indices.length - 3 })) {
          assert.equal(b.offset, 2 + offset);
          for (let i = 0; i < b.count; i++) {
            const src = indices[2 + offset + i];
            assert.equal(b.labels[i], all.labels[src]);
            assert.deepEqual(b.images.subarray(i * 64, (i + 1) * 64), all.images.subarray(src * 64, (src + 1) * 64));
            got.push(src);
          }
          offset += b.count;
        }
        assert.deepEqual(got, Array.from(indices.subarray(2, indices.length - 1)));
      }
    }
    await assert.rejects(openDataset(dir, { split: 'train', preprocess: pre, holdout: { fraction: 1.5, part: 'rest' } }),
      (e: unknown) => e instanceof InputError && /holdout\.fraction/.test(e.message));
  });

  it('SeededRandom: uniform permutations and ranges, the same for the same (seed, stream)', () => {
    const p = new SeededRandom(5, 2).permutation(1000);
    assert.deepEqual([...p].sort((a, b) => a - b), Array.from({ length: 1000 }, (_, i) => i));
    assert.deepEqual(new SeededRandom(5, 2).permutation(1000), p);
    assert.notDeepEqual(new SeededRandom(5, 3).permutation(1000), p);
    const r = new SeededRandom(2 ** 40 + 3);
    const counts = new Array(7).fill(0);
    for (let i = 0; i < 7000; i++) counts[r.below(7)]++;
    assert.ok(counts.every((c) => c > 850 && c < 1150), counts.join(','));
  });
});
