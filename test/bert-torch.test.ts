// Our BERT forward pass against real PyTorch: test/fixtures/bert-torch holds a tiny
// HF-layout BertForMaskedLM and BertForSequenceClassification built and run with torch by
// make_fixture.py (weights, padded inputs, logits, losses and module outputs).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadModel } from '../lib/io/model-folder.ts';
import { readSafetensors } from '../lib/io/safetensors.ts';
import { bertFromModel } from '../lib/models/bert.ts';
import type { TokenBatch } from '../lib/text/batch.ts';
import { fixture } from './helpers/fixtures.ts';

const DIR = join(import.meta.dirname, 'fixtures', 'bert-torch');

type Loaded = Map<string, { shape: number[]; data: Float32Array | Int32Array }>;

async function expected(folder: string): Promise<Loaded> {
  return (await readSafetensors(join(folder, 'expected.safetensors'))).tensors as Loaded;
}

function batchOf(e: Loaded): TokenBatch {
  const ids = e.get('input_ids')!;
  const [count, tokens] = ids.shape;
  return {
    ids: Int32Array.from(ids.data), typeIds: Int32Array.from(e.get('token_type_ids')!.data),
    mask: Uint8Array.from(e.get('attention_mask')!.data), count, tokens,
  };
}

function worst(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let w = 0;
  for (let i = 0; i < a.length; i++) w = Math.max(w, Math.abs(a[i] - b[i]));
  return w;
}

/** The real-token rows of a (batch, tokens, width) torch output, in order. */
function realRows(t: { shape: number[]; data: ArrayLike<number> }, mask: Uint8Array): number[] {
  const [count, tokens, width] = t.shape;
  const out: number[] = [];
  for (let b = 0; b < count; b++)
    for (let s = 0; s < tokens; s++)
      if (mask[b * tokens + s]) for (let i = 0; i < width; i++) out.push(t.data[(b * tokens + s) * width + i]);
  return out;
}

describe('BERT against PyTorch', () => {
  it('masked LM: logits at every position, per-token and mean losses, captured modules to 1e-4', async () => {
    const folder = join(DIR, 'mlm');
    const model = await bertFromModel(await loadModel(folder));
    const e = await expected(folder);
    const batch = batchOf(e);
    const labels = Int32Array.from(e.get('labels')!.data);
    const out = await model.forward(batch, { labels });
    assert.ok(worst(out.logits!, e.get('logits')!.data) < 1e-4, `logits differ from torch by ${worst(out.logits!, e.get('logits')!.data)}`);
    const torchLosses = e.get('token_losses')!.data;
    let sum = 0, n = 0, w = 0;
    labels.forEach((l, r) => {
      if (l === -100) return assert.ok(Number.isNaN(out.losses![r]));
      sum += out.losses![r];
      n++;
      w = Math.max(w, Math.abs(out.losses![r] - torchLosses[r]));
    });
    assert.ok(w < 1e-4, `token losses differ by ${w}`);
    assert.ok(Math.abs(sum / n - e.get('loss')!.data[0]) < 1e-5);

    const store = model.createActivationStore({ numSamples: batch.count, maxTokens: batch.tokens });
    await model.capture(store, batch);
    for (const name of ['bert.embeddings', 'bert.encoder.layer.0.attention.output', 'bert.encoder.layer.1.intermediate.dense', 'cls.predictions.transform']) {
      const got = store.copy(name), want = realRows(e.get(name)!, batch.mask);
      assert.ok(worst(got.data, want) < 1e-4, `${name} differs from torch by ${worst(got.data, want)}`);
    }
  });

  it('sequence classification: logits, losses, pooler and last layer to 1e-4', async () => {
    const folder = join(DIR, 'classifier');
    const model = await bertFromModel(await loadModel(folder));
    assert.deepEqual(model.config.labelNames, ['negative', 'neutral', 'positive']);
    const e = await expected(folder);
    const batch = batchOf(e);
    const out = await model.forward(batch, { labels: Int32Array.from(e.get('labels')!.data) });
    assert.ok(worst(out.logits!, e.get('logits')!.data) < 1e-4);
    assert.ok(worst(out.losses!, e.get('losses')!.data) < 1e-4);
    const store = model.createActivationStore({ numSamples: batch.count, maxTokens: batch.tokens });
    await model.capture(store, batch);
    assert.ok(worst(store.copy('bert.pooler.dense').data, e.get('bert.pooler.dense')!.data) < 1e-4);
    const last = store.copy('bert.encoder.layer.1'), want = realRows(e.get('bert.encoder.layer.1')!, batch.mask);
    assert.ok(worst(last.data, want) < 1e-4);
  });

  it('both checkpoint formats of one BERT give the same logits', async () => {
    const fromBin = await bertFromModel(await loadModel(fixture('bert-tiny-bin')));
    const fromShards = await bertFromModel(await loadModel(fixture('bert-tiny-safetensors-sharded')));
    const batch: TokenBatch = {
      ids: Int32Array.of(1, 5, 9, 2, 0, 1, 7, 2, 0, 0), typeIds: new Int32Array(10), mask: Uint8Array.of(1, 1, 1, 1, 0, 1, 1, 1, 0, 0), count: 2, tokens: 5,
    };
    const a = await fromBin.forward(batch), b = await fromShards.forward(batch);
    assert.equal(worst(a.logits!, b.logits!), 0);
  });
});
