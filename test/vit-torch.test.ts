// Our forward pass against real PyTorch: test/fixtures/vit-torch holds a tiny HF-layout
// ViT built and run with torch by make_fixture.py beside it (weights, inputs, logits and
// two module outputs). Here we load the same weights and compare.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadModel } from '../lib/io/model-folder.ts';
import { readSafetensors } from '../lib/io/safetensors.ts';
import { vitFromModel } from '../lib/models/vit.ts';

const DIR = join(import.meta.dirname, 'fixtures', 'vit-torch');

describe('ViT against PyTorch', () => {
  it('logits and captured activations match torch to 1e-4', async () => {
    const model = await vitFromModel(await loadModel(DIR));
    const expected = (await readSafetensors(join(DIR, 'expected.safetensors'))).tensors as Map<string, { shape: number[]; data: Float32Array }>;
    const pixels = expected.get('pixel_values')!;
    const batch = pixels.shape[0];
    const { logits } = await model.forward(pixels.data, batch);
    const want = expected.get('logits')!.data;
    assert.equal(logits.length, want.length);
    let worst = 0;
    logits.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - want[i]))));
    assert.ok(worst < 1e-4, `logits differ from torch by ${worst}`);

    const store = model.createActivationStore({ numSamples: batch });
    await model.capture(store, pixels.data, batch);
    for (const name of ['vit.encoder.layer.1.intermediate.dense', 'vit.layernorm']) {
      const got = store.copy(name), ref = expected.get(name)!;
      assert.deepEqual([got.rows, got.cols], [ref.shape[0] * ref.shape[1], ref.shape[2]]);
      let w = 0;
      got.data.forEach((v, i) => (w = Math.max(w, Math.abs(v - ref.data[i]))));
      assert.ok(w < 1e-4, `${name} differs from torch by ${w}`);
    }
  });
});
