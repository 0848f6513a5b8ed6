// The fusion's strongest self-check: fusing a ViT with a function-preserving permutation
// of itself must give the ViT back, for every qk_fusion x resid_policy pair, in acts and
// wts modes; exact OT recovers the weights to float precision and Sinkhorn at a small
// regularisation comes close.
import assert from 'node:assert/strict';
import { defaultsOf } from '../lib/config/validate.ts';
import { experimentSchema } from '../lib/config/experiment.ts';
import { fuse, type FusionParent, type FusionSettings } from '../lib/fusion/index.ts';
import type { Tensor } from '../lib/io/tensor.ts';
import { createVitModel, parseVitConfig, vitFusionGraph, type VitModel } from '../lib/models/vit.ts';
import { permuteVit } from './helpers/permute-vit.ts';
import { randomImages, randomTensors, type RefConfig } from './helpers/vit-reference.ts';

const cfg: RefConfig = {
  image_size: 12, patch_size: 3, num_channels: 3, hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 2,
  intermediate_size: 24, num_labels: 4, layer_norm_eps: 1e-12, qkv_bias: true,
};

function settings(overrides: Partial<FusionSettings>): FusionSettings {
  return { ...defaultsOf(experimentSchema).fusion, ...overrides };
}

async function parent(label: string, tensors: Map<string, Tensor>, images: Float32Array, count: number, seqFilter: 'none' | 'window_2'): Promise<{ parent: FusionParent; model: VitModel }> {
  const model = await createVitModel({ ...cfg }, tensors);
  const store = model.createActivationStore({ numSamples: count, seqFilter });
  await model.capture(store, images, count);
  await store.finalize('std');
  return { parent: { label, tensors, store }, model };
}

function maxDiff(a: Map<string, Tensor>, b: Map<string, Tensor>): { name: string; diff: number } {
  let worst = { name: '', diff: 0 };
  for (const [name, t] of b) {
    const u = a.get(name)!;
    for (let i = 0; i < t.data.length; i++) {
      const d = Math.abs(Number(u.data[i]) - Number(t.data[i]));
      if (d > worst.diff) worst = { name, diff: d };
    }
  }
  return worst;
}

describe('fusion of a ViT with a permuted copy of itself', function () {
  this.timeout(60000);
  const original = randomTensors(cfg, 7) as Map<string, Tensor>;
  const images = randomImages(cfg, 6, 8);
  const graph = vitFusionGraph(parseVitConfig({ ...cfg }));

  for (const qk of ['separate', 'eq_t_map', 'joint'] as const) {
    for (const policy of ['no_resid', 'only_resid', 'mean', 'weighted_scalar', 'weighted_matrix', 'resid_as_identity'] as const) {
      for (const type of ['acts', 'wts'] as const) {
        if (type === 'wts' && policy.startsWith('weighted')) continue; // covered in acts mode; wts mode has no captured activity
        it(`exact OT gives the original back: ${type}, qk_fusion=${qk}, resid_policy=${policy}`, async () => {
          // resid_as_identity keeps the residual stream's order, so only a copy that
          // permutes everything else can be recovered with it.
          const permuted = permuteVit(cfg, original as never, 11, { hidden: policy !== 'resid_as_identity' }) as Map<string, Tensor>;
          const a = await parent('permuted', permuted, images, 6, 'none');
          const b = await parent('original', original, images, 6, 'none');
          const s = settings({ type, qk_fusion: qk, resid_policy: policy, ot_solver: 'emd' });
          const result = await fuse([a.parent, b.parent], graph, s, { anchor: 1 });
          const worst = maxDiff(result.tensors, original);
          assert.ok(worst.diff < 2e-5, `${worst.name} differs by ${worst.diff}`);
          for (const m of result.maps[0]) assert.ok(m.permutationScore > 0.999, `${m.piece}: permutation score ${m.permutationScore}`);
        });
      }
    }
  }

  it('the fused model computes what the original computes', async () => {
    const permuted = permuteVit(cfg, original as never, 12) as Map<string, Tensor>;
    const a = await parent('permuted', permuted, images, 6, 'window_2');
    const b = await parent('original', original, images, 6, 'window_2');
    const result = await fuse([a.parent, b.parent], graph, settings({ resid_policy: 'mean' }), { anchor: 1 });
    const fused = await createVitModel({ ...cfg }, result.tensors);
    const want = await b.model.forward(images, 6), got = await fused.forward(images, 6);
    for (let i = 0; i < want.logits.length; i++) assert.ok(Math.abs(want.logits[i] - got.logits[i]) < 1e-4);
    // The permuted copy itself computes the same function too (the permutation is a symmetry).
    const perm = await a.model.forward(images, 6);
    for (let i = 0; i < want.logits.length; i++) assert.ok(Math.abs(want.logits[i] - perm.logits[i]) < 1e-4);
  });

  it('three models: two permuted copies and the anchor give the anchor back, each weighted 1/3', async () => {
    const p1 = permuteVit(cfg, original as never, 21) as Map<string, Tensor>;
    const p2 = permuteVit(cfg, original as never, 22) as Map<string, Tensor>;
    const parents = [await parent('copy 1', p1, images, 6, 'none'), await parent('copy 2', p2, images, 6, 'none'), await parent('original', original, images, 6, 'none')];
    const result = await fuse(parents.map((x) => x.parent), graph, settings({ resid_policy: 'mean' }), { anchor: 2 });
    assert.deepEqual(result.weights.map((w) => w.toFixed(6)), ['0.333333', '0.333333', '0.333333']);
    assert.equal(result.maps[2].length, 0);
    assert.ok(result.maps[0].length > 0 && result.maps[1].length > 0);
    const worst = maxDiff(result.tensors, original);
    assert.ok(worst.diff < 2e-5, `${worst.name} differs by ${worst.diff}`);
  });

  it('float32 costs (gnd_metric.precision) recover the original too, in acts and wts modes', async () => {
    const permuted = permuteVit(cfg, original as never, 14) as Map<string, Tensor>;
    const a = await parent('permuted', permuted, images, 6, 'none');
    const b = await parent('original', original, images, 6, 'none');
    for (const type of ['acts', 'wts'] as const) {
      const s = settings({ type, resid_policy: 'mean', ot_solver: 'emd' });
      const result = await fuse([a.parent, b.parent], graph, { ...s, gnd_metric: { ...s.gnd_metric, precision: 'float32' } }, { anchor: 1 });
      const worst = maxDiff(result.tensors, original);
      assert.ok(worst.diff < 2e-5, `${type}: ${worst.name} differs by ${worst.diff}`);
    }
  });

  it('PCA of the activations (fusion.pca) recovers the original too', async () => {
    const permuted = permuteVit(cfg, original as never, 15) as Map<string, Tensor>;
    const a = await parent('permuted', permuted, images, 6, 'none');
    const b = await parent('original', original, images, 6, 'none');
    // 8 of 16 hidden and 24 MLP directions: the projection drops the anchor's means, so a
    // permuted neuron lands exactly on its original.
    for (const qk of ['separate', 'joint'] as const) {
      const result = await fuse([a.parent, b.parent], graph, settings({ qk_fusion: qk, resid_policy: 'mean', ot_solver: 'emd', pca: true, pca_k: 8 }), { anchor: 1 });
      const worst = maxDiff(result.tensors, original);
      assert.ok(worst.diff < 2e-5, `${qk}: ${worst.name} differs by ${worst.diff}`);
    }
  });

  it('Sinkhorn at a small regularisation comes close', async () => {
    const permuted = permuteVit(cfg, original as never, 13) as Map<string, Tensor>;
    const a = await parent('permuted', permuted, images, 6, 'none');
    const b = await parent('original', original, images, 6, 'none');
    const result = await fuse([a.parent, b.parent], graph, settings({ ot_solver: 'sinkhorn', sinkhorn_reg: 0.005, resid_policy: 'mean' }), { anchor: 1 });
    const worst = maxDiff(result.tensors, original);
    assert.ok(worst.diff < 0.05, `${worst.name} differs by ${worst.diff}`);
    const scores = result.maps[0].map((m) => m.permutationScore);
    assert.ok(Math.min(...scores) > 0.9, `permutation scores ${scores.join(', ')}`);
  });
});
