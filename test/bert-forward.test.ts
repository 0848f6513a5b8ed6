// The native BERT forward pass (masked LM and sequence classification) against the
// float64 reference on random BERTs of several shapes with padded batches, its
// activation capture (real tokens only), and the adapter's checks on configs, tensors
// and inputs.
import assert from 'node:assert/strict';
import { InputError, isAbortError } from '../lib/errors.ts';
import { native } from '../lib/native.ts';
import {
  bertActivationNames, bertConfigToHF, bertParameterShapes, createBertModel, parseBertConfig,
} from '../lib/models/bert.ts';
import {
  bertHfShapes, bertRandomBatch, bertRandomTensors, bertReferenceForward, realRows, referenceRowLosses, type BertRefConfig,
} from './helpers/bert-reference.ts';

const mlm: BertRefConfig = {
  architectures: ['BertForMaskedLM'], vocab_size: 37, hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 2,
  intermediate_size: 32, max_position_embeddings: 12, type_vocab_size: 2, layer_norm_eps: 1e-12,
};
const cls: BertRefConfig = { ...mlm, architectures: ['BertForSequenceClassification'], num_labels: 3 };

// Depths, widths, head counts (head dims 8, 5, 16, 3), vocabularies, one token type,
// and eps values; both heads.
export const BERT_SHAPES: BertRefConfig[] = [
  mlm,
  { ...mlm, vocab_size: 50, hidden_size: 15, num_attention_heads: 3, intermediate_size: 20, num_hidden_layers: 1, type_vocab_size: 1, layer_norm_eps: 1e-5 },
  { ...mlm, hidden_size: 32, num_attention_heads: 2, intermediate_size: 64, num_hidden_layers: 3, max_position_embeddings: 20 },
  cls,
  { ...cls, hidden_size: 12, num_attention_heads: 4, intermediate_size: 24, num_labels: 2, type_vocab_size: 3 },
];

const describeShape = (c: BertRefConfig) =>
  `${c.architectures[0]} L${c.num_hidden_layers} d${c.hidden_size} h${c.num_attention_heads} mlp${c.intermediate_size} V${c.vocab_size}`;

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    if (Number.isNaN(a[i]) || Number.isNaN(b[i])) {
      if (!(Number.isNaN(a[i]) && Number.isNaN(b[i]))) return Infinity;
      continue;
    }
    m = Math.max(m, Math.abs(a[i] - b[i]));
  }
  return m;
}

/** MLM labels: every third real token labelled with a random id, the rest -100. */
function mlmLabels(c: BertRefConfig, batch: { mask: Uint8Array; count: number; tokens: number }): Int32Array {
  return Int32Array.from({ length: batch.count * batch.tokens }, (_, r) => (batch.mask[r] && r % 3 === 1 ? (r * 7) % c.vocab_size : -100));
}

describe('BERT forward pass', () => {
  BERT_SHAPES.forEach((cfg, index) => {
    it(`logits, losses and predictions match float64 with padding (${describeShape(cfg)})`, async () => {
      const tensors = bertRandomTensors(cfg, 300 + index);
      const model = await createBertModel({ ...cfg }, tensors);
      const count = 5, tokens = Math.min(9, cfg.max_position_embeddings);
      const batch = bertRandomBatch(cfg, count, tokens, 400 + index, [tokens, 3, 1, tokens - 2, 6]);
      model.setMicroBatch(2); // several micro-batches, one of them partial
      const ref = bertReferenceForward(cfg, tensors, batch);
      const isMlm = cfg.architectures[0] === 'BertForMaskedLM';
      const classes = isMlm ? cfg.vocab_size : cfg.num_labels!;
      const labels = isMlm ? mlmLabels(cfg, batch) : Int32Array.from({ length: count }, (_, i) => (i * 2) % classes);
      const out = await model.forward(batch, { labels, predictions: true });
      const diff = maxAbsDiff(out.logits!, ref.logits);
      assert.ok(diff < 1e-4, `logits differ by ${diff}`);
      const refLoss = referenceRowLosses(ref.logits, labels, classes);
      assert.ok(maxAbsDiff(out.losses!, refLoss) < 1e-4, `losses differ by ${maxAbsDiff(out.losses!, refLoss)}`);
      for (let r = 0; r < out.predictions!.length; r++) {
        const row = ref.logits.subarray(r * classes, (r + 1) * classes);
        assert.equal(row[out.predictions![r]], Math.max(...row), `prediction of row ${r}`);
      }
      // One pass of the whole batch agrees; without labels there are no losses.
      model.setMicroBatch(0);
      const again = await model.forward(batch);
      assert.equal(again.losses, null);
      assert.equal(again.predictions, null);
      assert.ok(maxAbsDiff(again.logits!, out.logits!) < 1e-5);
    });
  });

  it('a batch without padding takes the unmasked attention kernel and agrees', async () => {
    const cfg = BERT_SHAPES[2];
    const tensors = bertRandomTensors(cfg, 11);
    const model = await createBertModel({ ...cfg }, tensors);
    const batch = bertRandomBatch(cfg, 3, 16, 12, [16, 16, 16]);
    const out = await model.forward(batch);
    assert.ok(maxAbsDiff(out.logits!, bertReferenceForward(cfg, tensors, batch).logits) < 1e-4);
  });

  it('masked LM without logits decodes only the labelled tokens, with the same losses', async () => {
    const cfg = BERT_SHAPES[0];
    const model = await createBertModel({ ...cfg }, bertRandomTensors(cfg, 21));
    const batch = bertRandomBatch(cfg, 4, 10, 22, [10, 4, 7, 2]);
    const labels = mlmLabels(cfg, batch);
    const full = await model.forward(batch, { labels, predictions: true });
    const lean = await model.forward(batch, { labels, logits: false, predictions: true });
    assert.equal(lean.logits, null);
    assert.ok(maxAbsDiff(lean.losses!, full.losses!) < 1e-6);
    for (let r = 0; r < labels.length; r++) {
      if (labels[r] === -100) {
        assert.ok(Number.isNaN(lean.losses![r]));
        assert.equal(lean.predictions![r], -1);
      } else {
        assert.equal(lean.predictions![r], full.predictions![r]);
      }
    }
  });

  it('maps every HF parameter name and shape, and reads them back', async () => {
    for (const cfg of [BERT_SHAPES[0], BERT_SHAPES[3]]) {
      const shapes = bertParameterShapes(parseBertConfig({ ...cfg }));
      const want = new Map(bertHfShapes(cfg));
      assert.equal(shapes.length, want.size);
      for (const { name, shape } of shapes) assert.deepEqual(shape, want.get(name), name);
      const tensors = bertRandomTensors(cfg, 7);
      const back = await (await createBertModel({ ...cfg }, tensors)).parameters();
      assert.equal(back.size, tensors.size);
      for (const [name, t] of tensors) assert.deepEqual(back.get(name)!.data, t.data, name);
    }
  });

  it('an untied decoder is a tensor of its own; tied copies must agree with what they copy', async () => {
    const cfg = BERT_SHAPES[0];
    const tensors = bertRandomTensors(cfg, 31);
    const decoder = bertRandomTensors({ ...cfg }, 32).get('bert.embeddings.word_embeddings.weight')!;
    tensors.set('cls.predictions.decoder.weight', decoder);
    await assert.rejects(() => createBertModel({ ...cfg }, tensors), (e) => e instanceof InputError && /cls.predictions.decoder.weight: differs from bert.embeddings.word_embeddings.weight.*tie_word_embeddings/.test(e.message));
    const untied = await createBertModel({ ...cfg, tie_word_embeddings: false }, tensors);
    assert.equal(untied.config.tiedDecoder, false);
    assert.ok((await untied.parameters()).has('cls.predictions.decoder.weight'));
    const batch = bertRandomBatch(cfg, 2, 6, 33);
    const out = await untied.forward(batch);
    assert.ok(maxAbsDiff(out.logits!, bertReferenceForward(cfg, tensors, batch).logits) < 1e-4);
    // HF's extra copies: equal copies and index buffers load; a differing bias does not.
    const copies = bertRandomTensors(cfg, 34);
    copies.set('cls.predictions.decoder.weight', copies.get('bert.embeddings.word_embeddings.weight')!);
    copies.set('cls.predictions.decoder.bias', copies.get('cls.predictions.bias')!);
    copies.set('bert.embeddings.position_ids', { dtype: 'F32', shape: [1, 12], data: new Float32Array(12) });
    await createBertModel({ ...cfg }, copies);
    copies.set('cls.predictions.decoder.bias', { dtype: 'F32', shape: [cfg.vocab_size], data: new Float32Array(cfg.vocab_size) });
    await assert.rejects(() => createBertModel({ ...cfg }, copies), /cls.predictions.decoder.bias: differs from cls.predictions.bias/);
  });

  it('reads HF configs: defaults, heads, labels, and errors naming the key', async () => {
    const c = parseBertConfig({});
    assert.equal(c.head, 'masked-lm');
    assert.equal(c.vocabSize, 30522);
    assert.equal(c.maxPositions, 512);
    assert.equal(c.layerNormEps, 1e-12);
    assert.deepEqual(parseBertConfig(bertConfigToHF(c)), c);
    const k = parseBertConfig({ architectures: ['BertForSequenceClassification'], id2label: { 0: 'neg', 1: 'pos', 2: 'neutral' } });
    assert.equal(k.head, 'sequence-classification');
    assert.deepEqual(k.labelNames, ['neg', 'pos', 'neutral']);
    assert.deepEqual(parseBertConfig(bertConfigToHF(k)), k);
    assert.throws(() => parseBertConfig({ hidden_act: 'relu' }), (e) => e instanceof InputError && /hidden_act/.test(e.message));
    assert.throws(() => parseBertConfig({ architectures: ['BertModel'] }), /BertForMaskedLM or BertForSequenceClassification is needed/);
    assert.throws(() => parseBertConfig({ architectures: ['BertForSequenceClassification'], num_labels: 1 }), /regression/);
    assert.throws(() => parseBertConfig({ hidden_size: 10, num_attention_heads: 3 }), /num_attention_heads/);
    assert.throws(() => parseBertConfig({ model_type: 'vit', architectures: ['ViTForImageClassification'] }), /not a BERT|model_type/);
  });

  it('refuses missing, misshapen, non-finite and unknown tensors with the name at fault', async () => {
    const cfg = BERT_SHAPES[3];
    const good = () => bertRandomTensors(cfg, 3);
    const missing = good();
    missing.delete('bert.encoder.layer.1.output.LayerNorm.bias');
    await assert.rejects(() => createBertModel({ ...cfg }, missing, { source: 'models/b' }),
      (e) => e instanceof InputError && /models\/b: missing BERT parameters: bert.encoder.layer.1.output.LayerNorm.bias/.test(e.message));
    const shaped = good();
    shaped.get('classifier.weight')!.shape = [4, cfg.hidden_size];
    await assert.rejects(() => createBertModel({ ...cfg }, shaped), /classifier.weight: has shape \[4, 16\], the config needs \[3, 16\]/);
    const nan = good();
    nan.get('bert.embeddings.LayerNorm.bias')!.data[3] = NaN;
    await assert.rejects(() => createBertModel({ ...cfg }, nan), /bert.embeddings.LayerNorm.bias: holds a non-finite value/);
    const extra = good();
    extra.set('cls.seq_relationship.weight', { dtype: 'F32', shape: [1], data: new Float32Array(1) });
    await createBertModel({ ...cfg }, extra); // another head of a pretraining checkpoint is ignored
    extra.set('something.else', { dtype: 'F32', shape: [1], data: new Float32Array(1) });
    await assert.rejects(() => createBertModel({ ...cfg }, extra), /unexpected tensors for this BERT config: something.else/);
  });

  it('refuses bad inputs naming the sample and position', async () => {
    const cfg = BERT_SHAPES[0];
    const model = await createBertModel({ ...cfg }, bertRandomTensors(cfg, 41));
    const batch = () => bertRandomBatch(cfg, 2, 6, 42, [6, 4]);
    const ids = batch();
    ids.ids[7] = cfg.vocab_size;
    await assert.rejects(model.forward(ids), /token id 37 at sample 1, position 1 is outside the vocabulary \[0, 37\)/);
    ids.ids[7] = -1;
    await assert.rejects(model.forward(ids), /token id -1 at sample 1, position 1/);
    const types = batch();
    types.typeIds[2] = 2;
    await assert.rejects(model.forward(types), /token type 2 at sample 0, position 2 is outside \[0, 2\) \(type_vocab_size\)/);
    const long = bertRandomBatch(cfg, 1, 13, 43);
    await assert.rejects(model.forward(long), /sequences of 13 tokens are longer than the model's 12 positions \(max_position_embeddings\)/);
    const empty = batch();
    empty.mask.fill(0, 6, 12);
    await assert.rejects(model.forward(empty), /sample 1 has no real token/);
    const two = batch();
    two.mask[0] = 2;
    await assert.rejects(model.forward(two), /attention mask value 2 at sample 0, position 0/);
    const labels = mlmLabels(cfg, batch());
    labels[3] = cfg.vocab_size;
    await assert.rejects(model.forward(batch(), { labels }), /label 37 at sample 0, position 3 is neither -100 nor in the vocabulary/);
    await assert.rejects(model.forward(batch(), { labels: new Int32Array(3) }), /3 labels, 12 needed/);
    const c = await createBertModel({ ...cls }, bertRandomTensors(cls, 44));
    await assert.rejects(c.forward(batch(), { labels: Int32Array.of(0, 3) }), /label 3 of sample 1 is outside \[0, 3\)/);
  });

  it('reports progress in sequences and can be cancelled between micro-batches', async () => {
    const cfg = BERT_SHAPES[2];
    const model = await createBertModel({ ...cfg }, bertRandomTensors(cfg, 51));
    model.setMicroBatch(2);
    const seen: Array<[number, number]> = [];
    await model.forward(bertRandomBatch(cfg, 7, 8, 52), { onProgress: (d, t) => seen.push([d, t]) });
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(seen[seen.length - 1], [7, 7]);
    const many = bertRandomBatch(cfg, 4000, 16, 53);
    const controller = new AbortController();
    await assert.rejects(model.forward(many, { logits: false, signal: controller.signal, onProgress: () => controller.abort() }), (e) => isAbortError(e));
  });

  it('names its activations after HF modules, in forward order', async () => {
    const m = bertActivationNames(parseBertConfig({ ...BERT_SHAPES[0] }));
    assert.deepEqual(m.slice(0, 4), ['bert.embeddings', 'bert.encoder.layer.0.attention.self.query', 'bert.encoder.layer.0.attention.self.key', 'bert.encoder.layer.0.attention.self.value']);
    assert.deepEqual(m.slice(4, 9), ['bert.encoder.layer.0.attention.output.dense', 'bert.encoder.layer.0.attention.output', 'bert.encoder.layer.0.intermediate.dense', 'bert.encoder.layer.0.output.dense', 'bert.encoder.layer.0']);
    assert.deepEqual(m.slice(-2), ['cls.predictions.transform.dense', 'cls.predictions.transform']);
    assert.equal(m.length, 1 + 8 * 2 + 2);
    const c = bertActivationNames(parseBertConfig({ ...BERT_SHAPES[3] }));
    assert.deepEqual(c.slice(-3), ['bert.encoder.layer.1', 'bert.pooler.dense', 'classifier']);
  });

  it('auto runs on the GPU when one is usable, else on the CPU; cuda without a GPU fails clearly', async () => {
    const cfg = BERT_SHAPES[0];
    const gpu = native().info().cudaAvailable;
    const model = await createBertModel({ ...cfg }, bertRandomTensors(cfg, 1), { device: 'auto' });
    assert.equal(model.native.device, gpu ? 'cuda' : 'cpu');
    assert.equal((await createBertModel({ ...cfg }, bertRandomTensors(cfg, 1), { device: 'cpu' })).native.device, 'cpu');
    if (gpu) assert.equal((await createBertModel({ ...cfg }, bertRandomTensors(cfg, 1), { device: 'cuda' })).native.device, 'cuda');
    else await assert.rejects(() => createBertModel({ ...cfg }, bertRandomTensors(cfg, 1), { device: 'cuda' }), /CUDA is not available/);
  });
});

describe('BERT activation capture', () => {
  for (const cfg of [BERT_SHAPES[0], BERT_SHAPES[3]]) {
    it(`keeps real tokens only, every module matches float64 (${describeShape(cfg)})`, async () => {
      const tensors = bertRandomTensors(cfg, 61);
      const model = await createBertModel({ ...cfg }, tensors);
      model.setMicroBatch(2);
      const lengths = [8, 2, 5, 1, 8];
      const batch = bertRandomBatch(cfg, 5, 8, 62, lengths);
      const isMlm = cfg.architectures[0] === 'BertForMaskedLM';
      const labels = isMlm ? mlmLabels(cfg, batch) : Int32Array.from([0, 1, 2, 0, 1]);
      const store = model.createActivationStore({ numSamples: 4, maxTokens: 8 });
      assert.equal(await model.capture(store, batch, { labels }), 4); // capacity 4 of 5
      assert.deepEqual([...store.sampleTokens()], lengths.slice(0, 4));
      const ref = bertReferenceForward(cfg, tensors, batch);
      const head = { count: 4, tokens: 8, mask: batch.mask.subarray(0, 32) };
      for (const name of bertActivationNames(model.config)) {
        const got = store.copy(name);
        const act = ref.acts.get(name)!;
        const want = realRows({ ...act, data: act.data.subarray(0, 4 * act.tokens * act.width) }, head.mask, 4);
        assert.equal(got.cols, act.width, name);
        assert.equal(got.rows * got.cols, want.length, `${name}: ${got.rows} rows`);
        assert.ok(maxAbsDiff(got.data, want) < 1e-4, `${name} differs by ${maxAbsDiff(got.data, want)}`);
      }
      // Per-sample losses: the classifier's cross-entropy, or the mean over labelled tokens.
      const classes = isMlm ? cfg.vocab_size : cfg.num_labels!;
      const rowLoss = referenceRowLosses(ref.logits, labels, classes);
      const losses = store.losses();
      for (let s = 0; s < 4; s++) {
        let want: number;
        if (isMlm) {
          const own = [...rowLoss.subarray(s * 8, s * 8 + 8)].filter((v) => !Number.isNaN(v));
          want = own.length ? own.reduce((a, b) => a + b, 0) / own.length : NaN;
        } else {
          want = rowLoss[s];
        }
        if (Number.isNaN(want)) assert.ok(Number.isNaN(losses[s]));
        else assert.ok(Math.abs(losses[s] - want) < 1e-4, `loss of sample ${s}`);
      }
      // keep() drops whole samples of different lengths.
      await store.keep([true, false, true, true]);
      assert.deepEqual([...store.sampleTokens()], [8, 5, 1]);
      const emb = store.copy('bert.embeddings');
      assert.equal(emb.rows, 14);
      store.dispose();
    });
  }

  it('sized for the samples\' real tokens (totalTokens): the same rows in a fraction of the memory, and no more', async () => {
    const cfg = BERT_SHAPES[0];
    const model = await createBertModel({ ...cfg }, bertRandomTensors(cfg, 63));
    const lengths = [8, 2, 5, 1];
    const batch = bertRandomBatch(cfg, 4, 8, 64, lengths);
    const full = model.createActivationStore({ numSamples: 4, maxTokens: 8 });
    const tight = model.createActivationStore({ numSamples: 4, maxTokens: 8, totalTokens: 16 });
    // Token-by-token entries shrink from 4 x 8 rows to 16; [CLS]-only or averaged ones would not.
    assert.ok(tight.bytes < full.bytes * 0.6, `${tight.bytes} of ${full.bytes} bytes`);
    assert.equal(model.planActivations({ numSamples: 4, maxTokens: 8, totalTokens: 16 }).bytes, tight.bytes);
    await model.capture(full, batch);
    await model.capture(tight, batch);
    for (const name of bertActivationNames(model.config)) assert.deepEqual(tight.copy(name).data, full.copy(name).data, name);
    // A store planned for fewer real tokens than the samples bring refuses them.
    const small = model.createActivationStore({ numSamples: 4, maxTokens: 8, totalTokens: 10 });
    await assert.rejects(model.capture(small, batch), /more than the 10 real tokens the store was planned for/);
    assert.throws(() => model.createActivationStore({ numSamples: 4, totalTokens: 0 }), /total_tokens: must be a positive integer/);
    for (const s of [full, tight, small]) s.dispose();
  });

  it('keeps only the asked entries; without labels, a capture stops after the last of them: the same rows', async () => {
    for (const cfg of [BERT_SHAPES[0], BERT_SHAPES[3]]) {
      const model = await createBertModel({ ...cfg }, bertRandomTensors(cfg, 65));
      const batch = bertRandomBatch(cfg, 4, 8, 66, [8, 3, 5, 6]);
      const names = bertActivationNames(model.config);
      const keep = [names[0], names[2]];
      const early = model.createActivationStore({ numSamples: 4, maxTokens: 8, only: keep });
      const all = model.createActivationStore({ numSamples: 4, maxTokens: 8 });
      // Only the asked entries are kept, in a fraction of the memory.
      assert.deepEqual(early.entries().map((e) => e.name).sort(), [...keep].sort());
      assert.ok(early.bytes < all.bytes / 4, `${early.bytes} of ${all.bytes} bytes`);
      assert.equal(model.planActivations({ numSamples: 4, maxTokens: 8, only: keep }).bytes, early.bytes);
      await model.capture(early, batch);
      await model.capture(all, batch);
      for (const name of keep) assert.deepEqual(early.copy(name).data, all.copy(name).data, `${describeShape(cfg)} ${name}`);
      early.dispose();
      all.dispose();
    }
  });

  it('averages over real tokens and keeps [CLS] under only_cls', async () => {
    const cfg = BERT_SHAPES[3];
    const tensors = bertRandomTensors(cfg, 71);
    const model = await createBertModel({ ...cfg }, tensors);
    const batch = bertRandomBatch(cfg, 3, 7, 72, [7, 3, 1]);
    const ref = bertReferenceForward(cfg, tensors, batch);
    const avg = model.createActivationStore({ numSamples: 3, avgSeqItems: true, maxTokens: 7 });
    await model.capture(avg, batch);
    const layer = ref.acts.get('bert.encoder.layer.1')!;
    const got = avg.copy('bert.encoder.layer.1');
    assert.equal(got.rows, 3);
    [7, 3, 1].forEach((len, s) => {
      for (let i = 0; i < layer.width; i++) {
        let m = 0;
        for (let t = 0; t < len; t++) m += layer.data[(s * 7 + t) * layer.width + i];
        assert.ok(Math.abs(got.data[s * layer.width + i] - m / len) < 1e-4);
      }
    });
    const only = model.createActivationStore({ numSamples: 3, seqFilter: 'only_cls', maxTokens: 7 });
    await model.capture(only, batch);
    const q = only.copy('bert.encoder.layer.0.attention.self.query'), qr = ref.acts.get('bert.encoder.layer.0.attention.self.query')!;
    assert.equal(q.rows, 3);
    for (let s = 0; s < 3; s++) for (let i = 0; i < qr.width; i++) assert.ok(Math.abs(q.data[s * qr.width + i] - qr.data[s * 7 * qr.width + i]) < 1e-4);
    assert.throws(() => model.createActivationStore({ numSamples: 3, seqFilter: 'window_2' }), /needs a patch grid/);
  });

  it('sizes the store by maxTokens and refuses longer sequences', async () => {
    const cfg = BERT_SHAPES[0];
    const model = await createBertModel({ ...cfg }, bertRandomTensors(cfg, 81));
    const small = model.planActivations({ numSamples: 10, maxTokens: 4 });
    const full = model.planActivations({ numSamples: 10 });
    assert.ok(full.bytes > 2.5 * small.bytes);
    const store = model.createActivationStore({ numSamples: 2, maxTokens: 4 });
    await assert.rejects(model.capture(store, bertRandomBatch(cfg, 2, 6, 82)), /6-token sequences is longer than the 4 tokens per sample/);
    assert.throws(() => model.createActivationStore({ numSamples: 1000, maxBytes: 1000 }), /activation store needs \d+ bytes/);
  });
});

describe('BERT fusion graph', () => {
  it('names only parameters the model has and activations it captures', async () => {
    const { bertFusionGraph } = await import('../lib/models/bert-graph.ts');
    const { graphActivations, graphTensors } = await import('../lib/fusion/graph.ts');
    for (const raw of [BERT_SHAPES[0], BERT_SHAPES[3], { ...BERT_SHAPES[0], tie_word_embeddings: false }]) {
      const config = parseBertConfig({ ...raw });
      const params = new Set(bertParameterShapes(config).map((p) => p.name));
      const acts = new Set(bertActivationNames(config));
      const graph = bertFusionGraph(config);
      const weights = graphTensors(graph);
      for (const w of weights) assert.ok(params.has(w), `graph names parameter ${w}`);
      for (const a of graphActivations(graph)) assert.ok(acts.has(a), `graph reads activation ${a}`);
      assert.equal(graph.layers.length, config.numLayers);
      // Every parameter is part of the walk.
      for (const p of params) assert.ok(weights.includes(p), `parameter ${p} is not in the graph`);
    }
  });
});

describe('BERT activation store entries', () => {
  it('report variable rows for token outputs and fixed rows for per-sequence ones', async () => {
    const cfg = BERT_SHAPES[3];
    const model = await createBertModel({ ...cfg }, bertRandomTensors(cfg, 91));
    const store = model.createActivationStore({ numSamples: 2, maxTokens: 6 });
    await model.capture(store, bertRandomBatch(cfg, 2, 6, 92, [6, 2]));
    const byName = new Map(store.entries().map((e) => [e.name, e]));
    const emb = byName.get('bert.embeddings')!;
    assert.deepEqual([emb.variableRows, emb.rows, emb.rowsPerSample, emb.tokens], [true, 8, 6, []]);
    const pooler = byName.get('bert.pooler.dense')!;
    assert.deepEqual([pooler.variableRows, pooler.rows, pooler.tokens], [false, 2, [0]]);
  });
});

describe('BERT batches with padding: packed, masked and unmasked paths agree', () => {
  for (const cfg of [BERT_SHAPES[0], BERT_SHAPES[3], BERT_SHAPES[4]]) {
    it(`right padding packs, holes take the masked kernel (${describeShape(cfg)})`, async () => {
      const tensors = bertRandomTensors(cfg, 101);
      const model = await createBertModel({ ...cfg }, tensors);
      const isMlm = cfg.architectures[0] === 'BertForMaskedLM';
      const classes = isMlm ? cfg.vocab_size : cfg.num_labels!;
      // Right padding (packable), then the same with a hole in sample 1 (not packable: positions would move).
      const right = bertRandomBatch(cfg, 4, 9, 102, [9, 4, 1, 6]);
      const holed = { ...right, mask: right.mask.slice() };
      holed.mask[9 + 2] = 0;
      for (const batch of [right, holed]) {
        const ref = bertReferenceForward(cfg, tensors, batch);
        const labels = isMlm ? mlmLabels(cfg, batch) : Int32Array.of(0, 1, 0, 1);
        const out = await model.forward(batch, { labels, logits: !isMlm, predictions: true });
        const refLoss = referenceRowLosses(ref.logits, labels, classes);
        assert.ok(maxAbsDiff(out.losses!, refLoss) < 1e-4, `losses differ by ${maxAbsDiff(out.losses!, refLoss)}`);
        if (!isMlm) assert.ok(maxAbsDiff(out.logits!, ref.logits) < 1e-4);
      }
      if (isMlm) {
        // Predictions alone: every real token decoded, padding not.
        const { predictions } = await model.forward(right, { logits: false, predictions: true });
        const ref = bertReferenceForward(cfg, tensors, right).logits;
        right.mask.forEach((m, r) => {
          if (!m) return assert.equal(predictions![r], -1);
          const row = ref.subarray(r * classes, (r + 1) * classes);
          assert.equal(row[predictions![r]], Math.max(...row));
        });
      } else {
        // All real tokens: the unmasked kernel, [CLS]-only last layer.
        const full = bertRandomBatch(cfg, 3, 7, 103, [7, 7, 7]);
        const out = await model.forward(full);
        assert.ok(maxAbsDiff(out.logits!, bertReferenceForward(cfg, tensors, full).logits) < 1e-4);
      }
    });
  }
});
