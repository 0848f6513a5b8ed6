// OT fusion of BERTs (post-LN encoder, masked-LM and classifier heads) on small random
// models: fusing a model with a function-preserving permutation of itself gives it back
// for every qk_fusion x resid_policy pair (exact OT), Sinkhorn comes close, three models
// and per-model weights work, the MLM decoder stays tied to the fused word embeddings,
// a wider parent fuses into a narrower anchor's shapes, and statistics repair walks the
// BERT graph (post-LN sublayers and the MLM transform).
import assert from 'node:assert/strict';
import { experimentSchema } from '../lib/config/experiment.ts';
import { defaultsOf } from '../lib/config/validate.ts';
import { alignPair } from '../lib/fusion/align-pair.ts';
import { fuse, type FusionParent, type FusionSettings } from '../lib/fusion/index.ts';
import { graphActivations } from '../lib/fusion/graph.ts';
import { repairStatistics, wholePassMeasures } from '../lib/fusion/repair.ts';
import { measureBert } from '../lib/pipeline/measure.ts';
import type { Tensor } from '../lib/io/tensor.ts';
import { createBertModel, type BertModel } from '../lib/models/bert.ts';
import { bertFusionGraph } from '../lib/models/bert-graph.ts';
import { bertRandomBatch, bertRandomTensors, type BertRefConfig, type RefBatch } from './helpers/bert-reference.ts';
import { countReentries } from './helpers/count-reentries.ts';
import { permuteBert } from './helpers/permute-bert.ts';
import { seededRandom } from './helpers/random.ts';

const mlm: BertRefConfig = {
  architectures: ['BertForMaskedLM'], vocab_size: 40, hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 2,
  intermediate_size: 24, max_position_embeddings: 12, type_vocab_size: 2, layer_norm_eps: 1e-12,
};
const cls: BertRefConfig = { ...mlm, architectures: ['BertForSequenceClassification'], num_labels: 3 };
const POLICIES = ['no_resid', 'only_resid', 'mean', 'weighted_scalar', 'weighted_matrix', 'resid_as_identity'] as const;
const WORD = 'bert.embeddings.word_embeddings.weight';

function settings(overrides: Partial<FusionSettings>): FusionSettings {
  return { ...defaultsOf(experimentSchema).fusion, ...overrides };
}

type Raw = BertRefConfig & { tie_word_embeddings?: boolean };

async function parent(cfg: Raw, label: string, tensors: Map<string, Tensor>, batch: RefBatch): Promise<{ parent: FusionParent; model: BertModel }> {
  const model = await createBertModel({ ...cfg }, tensors);
  const store = model.createActivationStore({ numSamples: batch.count, maxTokens: batch.tokens, only: graphActivations(bertFusionGraph(model.config)) });
  await model.capture(store, batch);
  await store.finalize('std');
  return { parent: { label, tensors, store }, model };
}

function maxDiff(a: Map<string, Tensor>, b: Map<string, Tensor>): { name: string; diff: number } {
  let worst = { name: '', diff: 0 };
  for (const [name, t] of b) {
    const u = a.get(name);
    if (!u) return { name: `${name} (missing)`, diff: Infinity };
    for (let i = 0; i < t.data.length; i++) {
      const d = Math.abs(Number(u.data[i]) - Number(t.data[i]));
      if (d > worst.diff) worst = { name, diff: d };
    }
  }
  return worst;
}

/** Random BERT tensors; an untied masked LM gets a decoder weight of its own. */
function randomBert(cfg: Raw, seed: number): Map<string, Tensor> {
  const t = bertRandomTensors(cfg, seed) as Map<string, Tensor>;
  if (cfg.tie_word_embeddings === false) {
    const rand = seededRandom(seed + 1);
    const data = Float32Array.from({ length: cfg.vocab_size * cfg.hidden_size }, () => (rand() * 2 - 1) * 0.4);
    t.set('cls.predictions.decoder.weight', { dtype: 'F32', shape: [cfg.vocab_size, cfg.hidden_size], data });
  }
  return t;
}

const batchOf = (cfg: BertRefConfig, seed: number) => bertRandomBatch(cfg, 6, 10, seed, [10, 7, 9, 5, 8, 10]);

describe('BERT fusion with a permuted copy of itself', function () {
  this.timeout(60000);

  for (const [name, cfg, types] of [['masked LM', mlm, ['acts', 'wts']], ['classifier', cls, ['acts']]] as const) {
    const original = randomBert(cfg, 5);
    const batch = batchOf(cfg, 6);
    for (const qk of ['separate', 'eq_t_map', 'joint'] as const) {
      for (const policy of POLICIES) {
        for (const type of types) {
          if (type === 'wts' && policy.startsWith('weighted')) continue; // wts mode captures no activity
          it(`exact OT gives the ${name} back: ${type}, qk_fusion=${qk}, resid_policy=${policy}`, async () => {
            // resid_as_identity keeps the residual stream's order: only a copy that keeps it can come back.
            const permuted = permuteBert(cfg, original as never, 11, { hidden: policy !== 'resid_as_identity' }) as Map<string, Tensor>;
            const a = await parent(cfg, 'permuted', permuted, batch), b = await parent(cfg, 'original', original, batch);
            const graph = bertFusionGraph(b.model.config), s = settings({ type, qk_fusion: qk, resid_policy: policy });
            const result = await fuse([a.parent, b.parent], graph, s, { anchor: 1 });
            const worst = maxDiff(result.tensors, original);
            assert.ok(worst.diff < 1e-5, `${worst.name} differs by ${worst.diff}`);
            assert.equal(result.tensors.size, original.size);
            for (const m of result.maps[0]) assert.ok(m.permutationScore > 0.999, `${m.piece}: permutation score ${m.permutationScore}`);
            // Not the anchor's values passed through: every tensor of the copy, aligned alone, is the original's.
            const pair = await alignPair(graph, a.parent, b.parent, s);
            const aligned = new Map([...pair.tensors].map(([n, t]) => {
              assert.equal(t.kind, 'aligned', `${n} was not aligned`);
              return [n, { dtype: 'F32', shape: original.get(n)!.shape, data: (t as { data: Float32Array }).data } as Tensor];
            }));
            const worstAligned = maxDiff(aligned, original);
            assert.ok(worstAligned.diff < 1e-5, `aligned copy: ${worstAligned.name} differs by ${worstAligned.diff}`);
          });
        }
      }
    }
  }

  it('an untied MLM decoder is an output layer: its inputs follow the transform\'s own map', async () => {
    const cfg: Raw = { ...mlm, tie_word_embeddings: false };
    const original = randomBert(cfg, 7), batch = batchOf(cfg, 8);
    const permuted = permuteBert(cfg, original as never, 12, { untied: true }) as Map<string, Tensor>;
    const a = await parent(cfg, 'permuted', permuted, batch), b = await parent(cfg, 'original', original, batch);
    const result = await fuse([a.parent, b.parent], bertFusionGraph(b.model.config), settings({ resid_policy: 'mean' }), { anchor: 1 });
    const worst = maxDiff(result.tensors, original);
    assert.ok(worst.diff < 1e-5, `${worst.name} differs by ${worst.diff}`);
    assert.ok(result.maps[0].some((m) => m.piece === 'mlm transform'));
  });

  it('the fused masked LM computes what the original computes, and its decoder stays the fused word embeddings', async () => {
    const original = randomBert(mlm, 9), batch = batchOf(mlm, 10);
    const permuted = permuteBert(mlm, original as never, 13) as Map<string, Tensor>;
    const a = await parent(mlm, 'permuted', permuted, batch), b = await parent(mlm, 'original', original, batch);
    const result = await fuse([a.parent, b.parent], bertFusionGraph(b.model.config), settings({ resid_policy: 'weighted_matrix', qk_fusion: 'joint' }), { anchor: 1 });
    assert.ok(!result.tensors.has('cls.predictions.decoder.weight'), 'a tied decoder has no weight of its own');
    assert.ok(!result.maps[0].some((m) => m.piece === 'mlm transform'), 'the tied transform takes the word embeddings\' map');
    const fused = await createBertModel({ ...mlm }, result.tensors);
    assert.equal(fused.config.tiedDecoder, true);
    const want = await b.model.forward(batch), got = await fused.forward(batch), perm = await a.model.forward(batch);
    for (let i = 0; i < want.logits!.length; i++) {
      assert.ok(Math.abs(want.logits![i] - got.logits![i]) < 1e-4);
      assert.ok(Math.abs(want.logits![i] - perm.logits![i]) < 1e-4); // the permutation is a symmetry
    }
  });

  it('three models: two permuted copies and the anchor give the anchor back, each weighted 1/3', async () => {
    const original = randomBert(mlm, 14), batch = batchOf(mlm, 15);
    const copies = [21, 22].map((s) => permuteBert(mlm, original as never, s) as Map<string, Tensor>);
    const parents = [await parent(mlm, 'copy 1', copies[0], batch), await parent(mlm, 'copy 2', copies[1], batch), await parent(mlm, 'original', original, batch)];
    const result = await fuse(parents.map((p) => p.parent), bertFusionGraph(parents[2].model.config), settings({ resid_policy: 'mean' }), { anchor: 2 });
    assert.deepEqual(result.weights.map((w) => w.toFixed(6)), ['0.333333', '0.333333', '0.333333']);
    assert.equal(result.maps[2].length, 0);
    const worst = maxDiff(result.tensors, original);
    assert.ok(worst.diff < 1e-5, `${worst.name} differs by ${worst.diff}`);
  });

  it('Sinkhorn at a small regularisation comes close', async () => {
    const original = randomBert(cls, 16), batch = batchOf(cls, 17);
    const permuted = permuteBert(cls, original as never, 18) as Map<string, Tensor>;
    const a = await parent(cls, 'permuted', permuted, batch), b = await parent(cls, 'original', original, batch);
    const result = await fuse([a.parent, b.parent], bertFusionGraph(b.model.config), settings({ ot_solver: 'sinkhorn', sinkhorn_reg: 0.005, resid_policy: 'mean' }), { anchor: 1 });
    const worst = maxDiff(result.tensors, original);
    assert.ok(worst.diff < 0.05, `${worst.name} differs by ${worst.diff}`);
    const scores = result.maps[0].map((m) => m.permutationScore);
    assert.ok(Math.min(...scores) > 0.9, `permutation scores ${scores.join(', ')}`);
  });
});

describe('heterogeneous BERT fusion', function () {
  this.timeout(60000);
  for (const [name, narrow] of [['masked LM', mlm], ['classifier', cls]] as const) {
    const wide: BertRefConfig = { ...narrow, hidden_size: 24, intermediate_size: 40 };
    for (const solver of ['emd', 'sinkhorn'] as const) {
      it(`fuses a wider ${name} into a narrower anchor's shapes (${solver}) and the result runs`, async () => {
        const batch = batchOf(narrow, 3);
        const a = await parent(wide, 'wide', randomBert(wide, 1), batch), b = await parent(narrow, 'narrow', randomBert(narrow, 2), batch);
        const result = await fuse([a.parent, b.parent], bertFusionGraph(b.model.config), settings({ ot_solver: solver, sinkhorn_reg: 0.05, resid_policy: 'weighted_matrix' }), { anchor: 1 });
        assert.equal(result.tensors.size, b.parent.tensors.size);
        for (const [n, t] of b.parent.tensors) assert.deepEqual(result.tensors.get(n)!.shape, t.shape, n);
        const mlpMaps = result.maps[0].filter((m) => m.piece.includes('mlp in'));
        assert.deepEqual(mlpMaps.map((m) => [m.n, m.m]), [[40, 24], [40, 24]]);
        assert.deepEqual(result.maps[0].find((m) => m.piece === 'word embeddings')!.n, 24);
        const fused = await createBertModel({ ...narrow }, result.tensors);
        const out = await fused.forward(batch);
        assert.ok(out.logits!.every(Number.isFinite));
      });
    }
  }

  it('weights 0 and 1 give the anchor', async () => {
    const wide: BertRefConfig = { ...mlm, hidden_size: 24, intermediate_size: 40 };
    const batch = batchOf(mlm, 4);
    const a = await parent(wide, 'wide', randomBert(wide, 1), batch), b = await parent(mlm, 'narrow', randomBert(mlm, 2), batch);
    const result = await fuse([a.parent, b.parent], bertFusionGraph(b.model.config), settings({}), { anchor: 1, weights: [0, 1] });
    const worst = maxDiff(result.tensors, b.parent.tensors);
    assert.ok(worst.diff < 1e-6, `${worst.name} differs by ${worst.diff}`);
  });

  it('keeps the anchor\'s embeddings (and so its decoder) when fuse_src_embed is off', async () => {
    const batch = batchOf(mlm, 4);
    const a = await parent(mlm, 'a', randomBert(mlm, 1), batch), b = await parent(mlm, 'b', randomBert(mlm, 2), batch);
    const result = await fuse([a.parent, b.parent], bertFusionGraph(b.model.config), settings({ fuse_src_embed: false }), { anchor: 1 });
    assert.deepEqual(result.tensors.get(WORD)!.data, b.parent.tensors.get(WORD)!.data);
    assert.ok(result.maps[0].some((m) => m.piece === 'mlm transform'), 'without the table\'s map the transform gets its own');
    const out = await (await createBertModel({ ...mlm }, result.tensors)).forward(batch);
    assert.ok(out.logits!.every(Number.isFinite));
  });
});

describe('statistics repair of a BERT', function () {
  this.timeout(60000);
  it('restores shrunk layers exactly (post-LN sublayers and the MLM transform) and leaves the output layer alone', async () => {
    const original = randomBert(mlm, 31), batch = batchOf(mlm, 32);
    const config = (await createBertModel({ ...mlm }, original)).config;
    const shrunk = new Map(original);
    const scale = (name: string, f: number) => shrunk.set(name, { ...original.get(name)!, data: (original.get(name)!.data as Float32Array).map((x) => x * f) });
    for (const [name, f] of [['bert.encoder.layer.0.intermediate.dense', 0.4], ['bert.encoder.layer.1.attention.output.dense', 0.3], ['cls.predictions.transform.dense', 2.5]] as const) {
      scale(`${name}.weight`, f);
      scale(`${name}.bias`, f);
    }
    const repaired = await repairStatistics({
      graph: bertFusionGraph(config), fused: shrunk, parents: [original], anchor: 0, outputMaps: [null], weights: [1],
      measure: measureBert([config], 0, [batch]),
    }, 'anchor');
    const worst = maxDiff(repaired, original);
    assert.ok(worst.diff < 1e-4, `${worst.name} off by ${worst.diff}`);
    assert.deepEqual(repaired.get('cls.predictions.bias')!.data, original.get('cls.predictions.bias')!.data);
  });

  for (const [name, cfg] of [['masked LM', mlm], ['classifier', cls]] as const) {
    it(`carries padded batches from layer to layer, re-entering layers, to the weights of a whole pass per group (${name})`, async () => {
      const original = randomBert(cfg, 41), other = randomBert(cfg, 42);
      const config = (await createBertModel({ ...cfg }, original)).config;
      const batches = [batchOf(cfg, 43), bertRandomBatch(cfg, 3, 8, 44, [8, 3, 6])];
      const staged = measureBert([config, config], 0, batches);
      const wholePasses = wholePassMeasures(staged, 0);
      // The second model's weights stand in for a fusion result: far from the anchor's statistics.
      const input = { graph: bertFusionGraph(config), fused: other, parents: [original, other], anchor: 0, outputMaps: [null, null], weights: [0.5, 0.5] };
      const want = await repairStatistics({ ...input, measure: wholePasses }, 'anchor');
      const { result: got, taken, refused } = await countReentries(() => repairStatistics({ ...input, measure: staged }, 'anchor'));
      // Every group of every layer re-entered after, the head's transform or pooler computed again.
      assert.deepEqual({ taken, refused }, { taken: 4 * cfg.num_hidden_layers, refused: 1 });
      const worst = maxDiff(got, want);
      assert.ok(worst.diff < 1e-5, `${worst.name} off by ${worst.diff}`);
      assert.ok(maxDiff(got, other).diff > 1e-3, 'the repair changed nothing');
    });
  }
});
