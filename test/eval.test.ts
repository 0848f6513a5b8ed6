// evaluate(): accuracy and mean loss against the float64 reference on the CIFAR fixture,
// limits, progress, cancellation and mismatches between model and dataset.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openDataset } from '../lib/data/dataset.ts';
import { preprocessForInput } from '../lib/data/preprocess.ts';
import { InputError, isAbortError } from '../lib/errors.ts';
import { evaluate } from '../lib/eval.ts';
import { createVitModel } from '../lib/models/vit.ts';
import { randomTensors, referenceForward, referenceLosses, type RefConfig } from './helpers/vit-reference.ts';

const CIFAR = join(import.meta.dirname, 'fixtures', 'data', 'cifar10');
const cfg: RefConfig = {
  image_size: 32, patch_size: 8, num_channels: 3, hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 2,
  intermediate_size: 32, num_labels: 10, layer_norm_eps: 1e-12, qkv_bias: true,
};

describe('evaluate', () => {
  const tensors = randomTensors(cfg, 9);
  // Make the classifier confident so that accuracy is not decided by float noise.
  for (const v of [tensors.get('classifier.weight')!.data]) v.forEach((x, i) => (v[i] = x * 20));

  it('accuracy and mean loss equal the float64 reference over batches', async () => {
    const model = await createVitModel({ ...cfg }, tensors);
    const ds = await openDataset(CIFAR, { split: 'train', preprocess: preprocessForInput(model.input) });
    const images: Float32Array[] = [];
    const labels: number[] = [];
    for await (const b of ds.batches({ batchSize: 6 })) {
      images.push(b.images);
      labels.push(...b.labels);
    }
    const ref = referenceForward(cfg, tensors, images[0], 6);
    const refLoss = referenceLosses(ref.logits, Int32Array.from(labels), 10);
    let correct = 0;
    labels.forEach((l, i) => {
      const row = Array.from(ref.logits.subarray(i * 10, i * 10 + 10));
      if (row.indexOf(Math.max(...row)) === l) correct++;
    });
    const seen: number[] = [];
    const r = await evaluate(model, ds, { batchSize: 4, onProgress: (done, total) => { seen.push(done); assert.equal(total, 6); } });
    assert.equal(r.images, 6);
    assert.equal(r.accuracy, correct / 6);
    assert.ok(Math.abs(r.meanLoss - refLoss.reduce((a, b) => a + b, 0) / 6) < 1e-4);
    assert.deepEqual(seen, [4, 6]);
    assert.ok(r.imagesPerSecond > 0);
    const limited = await evaluate(model, ds, { batchSize: 4, limit: 3 });
    assert.equal(limited.images, 3);
  });

  it('refuses a dataset with more classes than labels or opened for another input; cancels', async () => {
    const small = await createVitModel({ ...cfg, num_labels: 5 }, randomTensors({ ...cfg, num_labels: 5 }, 2));
    const ds = await openDataset(CIFAR, { preprocess: preprocessForInput(small.input) });
    await assert.rejects(evaluate(small, ds), (e) => e instanceof InputError && /has 10 classes, more than the model's 5 labels/.test(e.message));
    const model = await createVitModel({ ...cfg }, tensors);
    const gray = await openDataset(CIFAR, { preprocess: { imageSize: 32, channels: 1 } });
    await assert.rejects(evaluate(model, gray), /was opened for 1x32x32 input, the model takes 3x32x32/);
    await assert.rejects(evaluate(model, ds, { signal: AbortSignal.abort() }), (e) => isAbortError(e));
  });
});
