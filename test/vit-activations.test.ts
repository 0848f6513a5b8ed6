// Activation capture: names, shapes, every sequence filter and transform, losses and
// sample dropping, against the float64 reference; and the memory-limit refusal.
import assert from 'node:assert/strict';
import { keepUnderLoss, transformFromFlags, type ActivationTransform, type SeqFilter } from '../lib/activations.ts';
import { InputError, isAbortError } from '../lib/errors.ts';
import { costMatrix } from '../lib/ot.ts';
import { createVitModel, vitActivationNames, parseVitConfig } from '../lib/models/vit.ts';
import { randomImages, randomTensors, referenceForward, referenceLosses, type RefActivation, type RefConfig } from './helpers/vit-reference.ts';

// 6x6 patch grid (37 tokens), 3 layers, so windows 1..6 and the last-layer rule all apply.
const cfg: RefConfig = {
  image_size: 12, patch_size: 2, num_channels: 3, hidden_size: 16, num_hidden_layers: 3, num_attention_heads: 2,
  intermediate_size: 24, num_labels: 4, layer_norm_eps: 1e-6, qkv_bias: true,
};
const GRID = 6, TOKENS = 37;
const LAST_LAYER_CLS_ONLY = new Set([
  'vit.encoder.layer.2.attention.output.dense', 'vit.encoder.layer.2.intermediate.dense', 'vit.encoder.layer.2.output.dense',
]);

/** The rows docs/fusion.md ("Activations") says an entry keeps for one sample, written independently of the native code. */
function keptTokens(name: string, a: RefActivation, filter: SeqFilter): number[] {
  const all = Array.from({ length: a.tokens }, (_, i) => i);
  if (filter === 'none' || a.tokens !== TOKENS) return all;
  if (filter === 'only_cls' || LAST_LAYER_CLS_ONLY.has(name)) return [0];
  const k = Number(filter.slice('window_'.length));
  const start = Math.floor((GRID - k) / 2);
  const out = [0];
  for (let r = start; r < start + k; r++) for (let c = start; c < start + k; c++) out.push(1 + r * GRID + c);
  return out;
}

function expectedMatrix(name: string, a: RefActivation, samples: number[], filter: SeqFilter, avg: boolean): number[][] {
  const rows: number[][] = [];
  for (const s of samples) {
    const row = (t: number) => Array.from(a.data.subarray((s * a.tokens + t) * a.width, (s * a.tokens + t + 1) * a.width));
    if (avg) {
      const mean = new Array<number>(a.width).fill(0);
      for (let t = 0; t < a.tokens; t++) row(t).forEach((v, i) => (mean[i] += v / a.tokens));
      rows.push(mean);
    } else {
      for (const t of keptTokens(name, a, filter)) rows.push(row(t));
    }
  }
  return rows;
}

function transform(rows: number[][], t: ActivationTransform): number[][] {
  if (t === 'none') return rows;
  const n = rows.length, w = rows[0].length;
  const out = rows.map((r) => r.slice());
  for (let c = 0; c < w; c++) {
    const col = rows.map((r) => r[c]);
    const mean = col.reduce((a, b) => a + b, 0) / n;
    if (t === 'norm') {
      const norm = Math.max(Math.sqrt(col.reduce((a, b) => a + b * b, 0)), 1e-12);
      out.forEach((r, i) => (r[c] = col[i] / norm));
    } else if (t === 'center') {
      out.forEach((r, i) => (r[c] = col[i] - mean));
    } else {
      const sd = Math.sqrt(col.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1));
      out.forEach((r, i) => (r[c] = (col[i] - mean) / (sd + 1e-9)));
    }
  }
  return out;
}

describe('activation capture', () => {
  const tensors = randomTensors(cfg, 41);
  const images = randomImages(cfg, 5, 42);
  const labels = Int32Array.of(0, 1, 2, 3, 1);
  const ref = referenceForward(cfg, tensors, images, 5);
  const names = vitActivationNames(parseVitConfig({ ...cfg }));

  const cases: Array<{ filter: SeqFilter; avg: boolean; t: ActivationTransform }> = [
    { filter: 'none', avg: false, t: 'none' },
    { filter: 'window_4', avg: false, t: 'std' },
    { filter: 'window_1', avg: false, t: 'center' },
    { filter: 'window_6', avg: false, t: 'norm' },
    { filter: 'window_3', avg: false, t: 'none' },
    { filter: 'only_cls', avg: false, t: 'std' },
    { filter: 'window_2', avg: true, t: 'center' },
  ];
  for (const { filter, avg, t } of cases) {
    it(`matches float64 with seq_filter=${filter} avg_seq_items=${avg} transform=${t}`, async () => {
      const model = await createVitModel({ ...cfg }, tensors);
      model.setMicroBatch(2);
      const store = model.createActivationStore({ numSamples: 5, seqFilter: filter, avgSeqItems: avg });
      // Two captures: the store appends, and only takes what fits.
      assert.equal(await model.capture(store, images, 3, { labels }), 3);
      const rest = images.subarray(3 * 3 * 12 * 12);
      assert.equal(await model.capture(store, rest, 2, { labels: labels.subarray(3) }), 2);
      assert.equal(await model.capture(store, rest, 2), 0);
      await store.finalize(t);
      assert.deepEqual(store.entries().map((e) => e.name), names);
      for (const name of names) {
        const want = transform(expectedMatrix(name, ref.acts.get(name)!, [0, 1, 2, 3, 4], filter, avg), t);
        const got = store.copy(name);
        assert.equal(got.rows, want.length, `${name} rows`);
        assert.equal(got.cols, want[0].length, `${name} cols`);
        let worst = 0;
        want.forEach((row, r) => row.forEach((v, c) => (worst = Math.max(worst, Math.abs(got.data[r * got.cols + c] - v) / (1 + Math.abs(v))))));
        assert.ok(worst < 2e-4, `${name}: off by ${worst}`);
      }
      const losses = referenceLosses(ref.logits, labels, cfg.num_labels);
      store.losses().forEach((l, i) => assert.ok(Math.abs(l - losses[i]) < 1e-4));
      store.dispose();
    });
  }

  it('keeps only the asked entries, for less memory, and names an unknown one', async () => {
    const model = await createVitModel({ ...cfg }, tensors);
    const keep = ['vit.encoder.layer.1.intermediate.dense', 'vit.embeddings'];
    const full = model.planActivations({ numSamples: 5 }).bytes;
    const part = model.planActivations({ numSamples: 5, only: keep }).bytes;
    assert.ok(part < full / 4, `${part} of ${full} bytes`);
    const store = model.createActivationStore({ numSamples: 5, only: keep });
    await model.capture(store, images, 5, { labels });
    await store.finalize('none');
    assert.deepEqual(store.entries().map((e) => e.name).sort(), [...keep].sort());
    const want = expectedMatrix(keep[0], ref.acts.get(keep[0])!, [0, 1, 2, 3, 4], 'none', false);
    const got = store.copy(keep[0]);
    want.forEach((row, r) => row.forEach((v, c) => assert.ok(Math.abs(got.data[r * got.cols + c] - v) < 1e-4 * (1 + Math.abs(v)))));
    assert.throws(() => store.copy('vit.encoder.layer.0.layernorm_before'), /no activation called/);
    assert.throws(() => model.createActivationStore({ numSamples: 5, only: ['vit.nope'] }), /no activation called 'vit.nope'/);
    store.dispose();
    model.dispose();
    await assert.rejects(async () => model.forward(images, 5), /disposed/);
  });

  it('without labels, a capture stops after the last kept entry: the same rows, no loss', async () => {
    const model = await createVitModel({ ...cfg }, tensors);
    for (const keep of [['vit.embeddings.patch_embeddings'], ['vit.encoder.layer.0.attention.attention.query', 'vit.embeddings']]) {
      const early = model.createActivationStore({ numSamples: 5, only: keep });
      const all = model.createActivationStore({ numSamples: 5 });
      await model.capture(early, images, 5);
      await model.capture(all, images, 5, { labels });
      for (const name of keep) assert.deepEqual(early.copy(name).data, all.copy(name).data, name);
      assert.ok([...early.losses()].every(Number.isNaN));
      early.dispose();
      all.dispose();
    }
    model.dispose();
  });

  it('summary statistics per entry', async () => {
    const model = await createVitModel({ ...cfg }, tensors);
    const store = model.createActivationStore({ numSamples: 5, seqFilter: 'window_2' });
    await model.capture(store, images, 5, { labels });
    const stats = await store.stats();
    const name = 'vit.encoder.layer.1.intermediate.dense';
    const s = stats.find((x) => x.name === name)!;
    const rows = expectedMatrix(name, ref.acts.get(name)!, [0, 1, 2, 3, 4], 'window_2', false).flat();
    const mean = rows.reduce((a, b) => a + b, 0) / rows.length;
    const sd = Math.sqrt(rows.reduce((a, b) => a + (b - mean) ** 2, 0) / rows.length);
    assert.ok(Math.abs(s.mean - mean) < 1e-5 && Math.abs(s.std - sd) < 1e-5);
    assert.ok(Math.abs(s.min - Math.min(...rows)) < 1e-5 && Math.abs(s.max - Math.max(...rows)) < 1e-5);
  });

  it('drops samples by mask (the loss threshold) and refills', async () => {
    const model = await createVitModel({ ...cfg }, tensors);
    const store = model.createActivationStore({ numSamples: 4, seqFilter: 'only_cls' });
    await model.capture(store, images, 4, { labels });
    const losses = store.losses();
    const thres = [...losses].sort((a, b) => a - b)[1] + 1e-6; // keeps the two smallest
    const keep = Array.from(losses, (l) => l < thres);
    assert.equal(await store.keep(keep), 2);
    const kept = keep.flatMap((k, i) => (k ? [i] : []));
    assert.equal(await model.capture(store, images.subarray(4 * 432), 1, { labels: labels.subarray(4) }), 1);
    assert.equal(store.numSamples, 3);
    const name = 'vit.layernorm';
    const got = store.copy(name);
    const want = expectedMatrix(name, ref.acts.get(name)!, [...kept, 4], 'only_cls', false);
    want.forEach((row, r) => row.forEach((v, c) => assert.ok(Math.abs(got.data[r * got.cols + c] - v) < 1e-4)));
  });

  it('loss_thres keeps a sample only if it is under the threshold in every model', async () => {
    const a = await createVitModel({ ...cfg }, tensors), b = await createVitModel({ ...cfg }, randomTensors(cfg, 77));
    const sa = a.createActivationStore({ numSamples: 5, seqFilter: 'only_cls' });
    const sb = b.createActivationStore({ numSamples: 5, seqFilter: 'only_cls' });
    await a.capture(sa, images, 5, { labels });
    await b.capture(sb, images, 5, { labels });
    const la = sa.losses(), lb = sb.losses();
    const thres = [...la].sort((x, y) => x - y)[2];
    const want = [0, 1, 2, 3, 4].filter((i) => la[i] <= thres && lb[i] <= thres);
    assert.equal(await keepUnderLoss([sa, sb], thres), want.length);
    assert.deepEqual([...sb.losses()], want.map((i) => lb[i]));
    const unlabelled = a.createActivationStore({ numSamples: 1 });
    await a.capture(unlabelled, images, 1);
    await assert.rejects(keepUnderLoss([unlabelled], 1), /fusion.acts.loss_thres: needs labels/);
  });

  it('refuses a store over the memory limit with the byte count, before allocating', async () => {
    const model = await createVitModel({ ...cfg }, tensors);
    const plan = model.planActivations({ numSamples: 1000 });
    assert.throws(() => model.createActivationStore({ numSamples: 1000, maxBytes: 1 << 20 }), (e) =>
      e instanceof InputError && e.source === 'fusion.acts.num_samples' &&
      e.message.includes(`needs ${plan.bytes} bytes for 1000 samples, over the limit of ${1 << 20} bytes`));
    // Half the physical memory by default: a million samples of every token is refused.
    assert.throws(() => model.createActivationStore({ numSamples: 10_000_000 }), /over the limit of \d+ bytes/);
    assert.throws(() => model.createActivationStore({ numSamples: 2, seqFilter: 'window_7' }), /window_7 is larger than the 6x6 patch grid/);
    assert.throws(() => model.createActivationStore({ numSamples: 2, seqFilter: 'window_x' as SeqFilter }), /unknown sequence filter/);
  });

  it('std needs two rows; a finalized store is read-only; cancellation', async () => {
    const model = await createVitModel({ ...cfg }, tensors);
    const store = model.createActivationStore({ numSamples: 1, seqFilter: 'only_cls' });
    await model.capture(store, images, 1);
    assert.ok(Number.isNaN(store.losses()[0])); // captured without labels
    await assert.rejects(store.finalize('std'), /needs at least 2 rows per activation, but 'vit.embeddings' has 1/);
    await store.finalize('center');
    await assert.rejects(store.keep([true]), /after finalize/);
    assert.equal(transformFromFlags({ std: true, center: true, norm: true }), 'std');
    assert.equal(transformFromFlags({ std: false, center: true, norm: true }), 'center');
    assert.equal(transformFromFlags({ norm: true }), 'norm');
    const fresh = model.createActivationStore({ numSamples: 5 });
    await assert.rejects(model.capture(fresh, images, 5, { signal: AbortSignal.abort() }), (e) => isAbortError(e));
    assert.equal(fresh.numSamples, 0);
  });

  it('costMatrix reads store entries in place: the same costs as from their copies', async () => {
    const a = await createVitModel({ ...cfg }, tensors), b = await createVitModel({ ...cfg }, randomTensors(cfg, 99));
    const sa = a.createActivationStore({ numSamples: 5, seqFilter: 'window_2' }), sb = b.createActivationStore({ numSamples: 5, seqFilter: 'window_2' });
    await a.capture(sa, images, 5);
    await b.capture(sb, images, 5);
    await sa.finalize('std');
    await sb.finalize('std');
    const name = 'vit.encoder.layer.1.intermediate.dense';
    const stored = await costMatrix({ store: sa, name }, { store: sb, name }, { normalize: 'max' });
    const copied = await costMatrix(sa.copy(name), sb.copy(name), { normalize: 'max' });
    assert.deepEqual(stored.data, copied.data);
    assert.equal(stored.n, copied.n);
    await assert.rejects(costMatrix({ store: sa, name }, sb.copy(name), { layout: 'rows' }), /store entry, whose neurons are columns/);
    await assert.rejects(costMatrix({ store: sa, name: 'nope' }, sb.copy(name)), /no entry 'nope'/);
  });

  it('release gives one finalized entry back; the others stay readable', async () => {
    const model = await createVitModel({ ...cfg }, tensors);
    const store = model.createActivationStore({ numSamples: 5 });
    assert.equal(store.device, model.native.device); // where the model runs
    await model.capture(store, images, 5);
    const before = store.copy('vit.embeddings.patch_embeddings').data;
    assert.throws(() => store.release('vit.embeddings'), /only after finalize/);
    await store.finalize('none');
    store.release('vit.embeddings');
    store.release('vit.embeddings'); // twice is harmless
    assert.equal(store.entry('vit.embeddings').released, true);
    assert.equal(store.entry('vit.embeddings.patch_embeddings').released, false);
    assert.throws(() => store.copy('vit.embeddings'), /'vit.embeddings' was released/);
    assert.deepEqual(store.copy('vit.embeddings.patch_embeddings').data, before);
    assert.ok((await store.stats()).every((s) => s.name !== 'vit.embeddings'));
    assert.throws(() => store.release('nope'), /no activation called 'nope'/);
  });
});
