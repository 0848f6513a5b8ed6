// Dataset loaders on the tiny fixtures in test/fixtures/data (made by make-fixtures.ts
// there), the image preprocessing against PIL, and the bad inputs users hand us.
import assert from 'node:assert/strict';
import { copyFileSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { detectFormat, openDataset, type Batch, type Dataset, type PreprocessConfig } from '../lib/data/dataset.ts';
import { planTarget, preprocessFromHF, preprocessInto } from '../lib/data/preprocess.ts';
import { InputError } from '../lib/errors.ts';
import { pixelValue } from './fixtures/data/pixels.ts';

const FIX = join(import.meta.dirname, 'fixtures', 'data');
const norm = (v: number) => (v / 255 - 0.5) / 0.5;

async function all(ds: Dataset, batchSize = 2, extra: { start?: number; limit?: number } = {}): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of ds.batches({ batchSize, ...extra })) out.push(b);
  return out;
}

function tmpCopy(sub: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'otfuse-data-'));
  cpSync(join(FIX, sub), dir, { recursive: true });
  return dir;
}

const rgb32: PreprocessConfig = { imageSize: 32, channels: 3 };

describe('datasets', () => {
  const temps: string[] = [];
  after(() => temps.forEach((d) => rmSync(d, { recursive: true, force: true })));
  const tmp = (sub: string) => {
    const d = tmpCopy(sub);
    temps.push(d);
    return d;
  };

  it('CIFAR-10: detected, both splits, batches across files, normalised planar pixels, class names', async () => {
    assert.equal(detectFormat(join(FIX, 'cifar10')).format, 'cifar10');
    const train = await openDataset(join(FIX, 'cifar10'), { split: 'train', preprocess: rgb32 });
    assert.equal(train.size, 6);
    assert.equal(train.classes![3], 'cat');
    const batches = await all(train, 4);
    assert.deepEqual(batches.map((b) => b.count), [4, 2]);
    assert.deepEqual([...batches[0].labels, ...batches[1].labels], [3, 7, 0, 9, 1, 2]);
    const b = batches[1]; // images 4 and 5 come from data_batch_2.bin
    for (const [i, c, y, x] of [[0, 0, 0, 0], [1, 2, 31, 17], [0, 1, 5, 30]])
      assert.ok(Math.abs(b.images[((i * 3 + c) * 32 + y) * 32 + x] - norm(pixelValue(4 + i, c, y, x))) < 1e-6);
    const window = await all(train, 3, { start: 3, limit: 2 });
    assert.deepEqual([...window[0].labels], [9, 1]);
    assert.equal(window[0].offset, 3);
    const test = await openDataset(join(FIX, 'cifar10'), { split: 'test', preprocess: rgb32 });
    assert.deepEqual([...(await all(test, 10))[0].labels], [5, 6, 8]);
  });

  it('CIFAR-100: fine and coarse labels, inside the archive subfolder', async () => {
    assert.equal(detectFormat(join(FIX, 'cifar100')).format, 'cifar100');
    const fine = await openDataset(join(FIX, 'cifar100'), { split: 'train', preprocess: rgb32 });
    assert.equal(fine.numClasses, 100);
    assert.deepEqual([...(await all(fine, 8))[0].labels], [30, 99, 0]);
    const coarse = await openDataset(join(FIX, 'cifar100'), { split: 'test', preprocess: rgb32, cifar100Labels: 'coarse' });
    assert.equal(coarse.numClasses, 20);
    const [b] = await all(coarse, 8);
    assert.deepEqual([...b.labels], [11, 2]);
    assert.ok(Math.abs(b.images[3 * 1024 + 1024 + 40] - norm(pixelValue(51, 1, 1, 8))) < 1e-6);
  });

  it('IDX: raw and gzipped give the same batches; grayscale replicated to RGB; mean/std per channel', async () => {
    const pre: PreprocessConfig = { imageSize: 4, channels: 3, mean: [0.1, 0.2, 0.3], std: [0.5, 0.25, 2] };
    const raw = await openDataset(join(FIX, 'idx-raw'), { preprocess: pre });
    const gz = await openDataset(join(FIX, 'idx-gz'), { preprocess: pre });
    assert.equal(raw.format, 'idx');
    assert.equal(raw.size, 5);
    assert.equal(raw.numClasses, 10);
    const a = await all(raw, 2), b = await all(gz, 2);
    assert.deepEqual(a.map((x) => [...x.labels]), [[9, 0], [3, 3], [1]]);
    a.forEach((batch, i) => assert.deepEqual(batch.images, b[i].images));
    const v = pixelValue(3, 0, 2, 1);
    for (let c = 0; c < 3; c++)
      assert.ok(Math.abs(a[1].images[((1 * 3 + c) * 4 + 2) * 4 + 1] - (v / 255 - pre.mean![c]) / pre.std![c]) < 1e-5);
    const train = await openDataset(join(FIX, 'idx-gz'), { split: 'train', preprocess: { imageSize: 4, channels: 1 } });
    assert.deepEqual([...(await all(train, 8))[0].labels], [2, 5, 7]);
  });

  it('RGB into a one-channel model uses luminance; conversion off is an error', async () => {
    const gray = await openDataset(join(FIX, 'cifar10'), { split: 'test', preprocess: { imageSize: 32, channels: 1, mean: [0], std: [1] } });
    const [b] = await all(gray, 1);
    const want = (0.299 * pixelValue(100, 0, 3, 4) + 0.587 * pixelValue(100, 1, 3, 4) + 0.114 * pixelValue(100, 2, 3, 4)) / 255;
    assert.ok(Math.abs(b.images[3 * 32 + 4] - want) < 1e-6);
    await assert.rejects(openDataset(join(FIX, 'cifar10'), { preprocess: { imageSize: 32, channels: 1, convertChannels: false } }),
      (e) => e instanceof InputError && /images have 3 channels, the model expects 1 \(channel conversion is off\)/.test(e.message));
  });

  it('an image size that does not fit the model is an InputError naming the dataset; resize fixes it', async () => {
    await assert.rejects(openDataset(join(FIX, 'idx-raw'), { preprocess: rgb32 }), (e) =>
      e instanceof InputError && e.message.includes('idx-raw (idx, test)') && /images are 4x4, the model expects 32x32 \(resize them: --resize/.test(e.message));
    const up = await openDataset(join(FIX, 'idx-raw'), { preprocess: { ...rgb32, resize: true } });
    const [b] = await all(up, 5);
    assert.equal(b.images.length, 5 * 3 * 32 * 32);
    // Enlarging keeps the mean of a constant image and stays within the source range.
    const src = Array.from({ length: 16 }, (_, q) => norm(pixelValue(0, 0, Math.floor(q / 4), q % 4)));
    const plane = b.images.subarray(0, 1024);
    assert.ok(Math.min(...plane) >= Math.min(...src) - 1e-6 && Math.max(...plane) <= Math.max(...src) + 1e-6);
  });

  it('image folder: sorted classes, PNG (RGB and grayscale) and JPEG, other files ignored', async () => {
    const ds = await openDataset(join(FIX, 'images'), { preprocess: { imageSize: 8, channels: 3 } });
    assert.equal(ds.format, 'image-folder');
    assert.deepEqual(ds.classes, ['cat', 'dog']);
    assert.equal(ds.size, 3);
    const [b] = await all(ds, 8);
    assert.deepEqual([...b.labels], [0, 0, 1]);
    const at = (i: number, c: number, y: number, x: number) => b.images[((i * 3 + c) * 8 + y) * 8 + x];
    assert.ok(Math.abs(at(0, 2, 5, 6) - norm(pixelValue(0, 2, 5, 6))) < 1e-6); // RGB PNG, exact
    for (let c = 0; c < 3; c++) assert.ok(Math.abs(at(1, c, 7, 3) - norm(pixelValue(1, 0, 7, 3))) < 1e-6); // gray PNG replicated
    [200, 100, 50].forEach((v, c) => assert.ok(Math.abs(at(2, c, 4, 4) - norm(v)) < 4 / 127.5, `jpeg channel ${c}`));
    const train = await openDataset(join(FIX, 'images'), { split: 'train', preprocess: { imageSize: 8, channels: 1 } });
    assert.equal(train.size, 1);
    await assert.rejects(openDataset(join(FIX, 'images'), { preprocess: { imageSize: 16, channels: 3 } }), /a.png: images are 8x8, the model expects 16x16/);
  });

  it('resizes like PIL bilinear (antialiased when shrinking)', async () => {
    const fx = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures', 'resize', 'resize.json'), 'utf8'));
    const source = { height: fx.height, width: fx.width, channels: fx.channels, planar: false };
    for (const o of fx.outputs) {
      const target = planTarget('resize', source, { imageSize: [o.height, o.width], channels: 3, mean: [0], std: [1], resize: true });
      const out = new Float32Array(3 * o.height * o.width);
      await preprocessInto(out, Uint8Array.from(fx.pixels), 1, source, target);
      for (let c = 0; c < 3; c++)
        for (let y = 0; y < o.height; y++)
          for (let x = 0; x < o.width; x++)
            assert.ok(Math.abs(out[(c * o.height + y) * o.width + x] * 255 - o.planes[c][y][x]) < 1e-3, `${o.height}x${o.width} c${c} (${y}, ${x})`);
    }
  });

  it('bad inputs: truncated, wrong magic, mismatched labels, bad labels, unknown layouts', async () => {
    const cifar = tmp('cifar10');
    truncateSync(join(cifar, 'test_batch.bin'), 3073 * 2 + 100);
    await assert.rejects(openDataset(cifar, { preprocess: rgb32 }), /test_batch.bin: is truncated or not a cifar10 batch: 6246 bytes/);
    const bytes = readFileSync(join(cifar, 'data_batch_2.bin'));
    bytes[3073] = 12;
    writeFileSync(join(cifar, 'data_batch_2.bin'), bytes);
    const train = await openDataset(cifar, { split: 'train', preprocess: rgb32 });
    await assert.rejects(all(train, 8), /data_batch_2.bin: record 1 has label 12, outside the 10 cifar10 classes/);

    const raw = tmp('idx-raw');
    truncateSync(join(raw, 't10k-images-idx3-ubyte'), 60);
    await assert.rejects(openDataset(raw, { preprocess: { imageSize: 4, channels: 1 } }), /t10k-images-idx3-ubyte: is truncated: its header announces 96 bytes, the file has 60/);
    copyFileSync(join(FIX, 'idx-raw', 't10k-images-idx3-ubyte'), join(raw, 't10k-images-idx3-ubyte'));
    copyFileSync(join(FIX, 'idx-raw', 'train-labels-idx1-ubyte'), join(raw, 't10k-labels-idx1-ubyte'));
    await assert.rejects(openDataset(raw, { preprocess: { imageSize: 4, channels: 1 } }), /t10k-labels-idx1-ubyte: has 3 labels but .* has 5 images/);
    writeFileSync(join(raw, 't10k-labels-idx1-ubyte'), Buffer.from([0x1f, 0x8b, 8, 1, 0, 0, 0, 5]));
    await assert.rejects(openDataset(raw, { preprocess: { imageSize: 4, channels: 1 } }), /t10k-labels-idx1-ubyte: is not an IDX file \(magic 1f8b0801\)/);

    const gz = tmp('idx-gz');
    const whole = gzipSync(Buffer.concat([readFileSync(join(FIX, 'idx-raw', 't10k-images-idx3-ubyte')).subarray(0, 60)]));
    writeFileSync(join(gz, 't10k-images-idx3-ubyte.gz'), whole); // valid gzip of a truncated file
    const short = await openDataset(gz, { preprocess: { imageSize: 4, channels: 1 } });
    // 60 bytes: the 16-byte header and 44 of the 16-byte images, so it ends inside image
    // 2, whatever batch that falls in.
    for (const batch of [1, 2, 4]) await assert.rejects(all(short, batch), /t10k-images-idx3-ubyte.gz: is truncated: it ends after 60 bytes, in the middle of image 2$/);
    const cut = readFileSync(join(FIX, 'idx-gz', 't10k-images-idx3-ubyte.gz')).subarray(0, 40);
    writeFileSync(join(gz, 't10k-images-idx3-ubyte.gz'), cut); // the gzip stream itself is cut
    const broken = await openDataset(gz, { preprocess: { imageSize: 4, channels: 1 } });
    await assert.rejects(all(broken, 2), (e) => e instanceof InputError && /t10k-images-idx3-ubyte.gz: is (truncated|not valid gzip)/.test(e.message));

    const images = tmp('images');
    writeFileSync(join(images, 'test', 'cat', 'a.png'), 'not a png');
    await assert.rejects(openDataset(images, { preprocess: { imageSize: 8, channels: 3 } }), /a.png: cannot be decoded as PNG/);
    await assert.rejects(openDataset(join(FIX, 'images'), { split: 'validation' as never, preprocess: rgb32 }), /split: must be train or test/);
    await assert.rejects(openDataset(join(FIX, 'cifar10', 'nope'), { preprocess: rgb32 }), /is not a folder/);
    const empty = mkdtempSync(join(tmpdir(), 'otfuse-empty-'));
    temps.push(empty);
    await assert.rejects(openDataset(empty, { preprocess: rgb32 }), /cannot tell the dataset format/);
    await assert.rejects(openDataset(join(FIX, 'idx-raw'), { format: 'cifar10', preprocess: rgb32 }), /has no CIFAR-10 test split/);
    await assert.rejects(openDataset(join(FIX, 'cifar10'), { preprocess: { ...rgb32, mean: [0.1, 0.2] } }), /preprocess.mean: has 2 values, the model has 3 channels/);
  });

  it('reads normalisation from an HF preprocessor config', () => {
    assert.deepEqual(preprocessFromHF({ image_mean: [0.4914, 0.4822, 0.4465], image_std: [0.247, 0.2435, 0.2616], do_resize: true }),
      { mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.2435, 0.2616], resize: true });
    assert.deepEqual(preprocessFromHF({ do_normalize: false }), { mean: [0], std: [1], resize: false });
    assert.throws(() => preprocessFromHF({ image_mean: 'x' }), /preprocessor_config.json: image_mean: must be a list of numbers/);
    assert.throws(() => preprocessFromHF({ rescale_factor: 1 }), /rescale_factor/);
  });

  const fashion = '/usr/share/datasets/fashion-mnist';
  (existsSync(fashion) ? it : it.skip)('reads the installed Fashion-MNIST test split (gzipped IDX)', async () => {
    const ds = await openDataset(fashion, { preprocess: { imageSize: 28, channels: 1 } });
    assert.equal(ds.size, 10000);
    assert.equal(ds.numClasses, 10);
    const first = await all(ds, 16, { limit: 16 });
    assert.equal(first[0].images.length, 16 * 28 * 28);
    assert.ok(first[0].labels.every((l) => l >= 0 && l < 10));
  });
});
