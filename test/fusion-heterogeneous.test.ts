// Fusing models of different widths: the result takes the anchor's shapes, every map is
// rectangular with rows summing to 1, per-model weights are honoured, and what cannot
// be fused across widths is refused with a clear error.
import assert from 'node:assert/strict';
import { experimentSchema } from '../lib/config/experiment.ts';
import { defaultsOf } from '../lib/config/validate.ts';
import { InputError } from '../lib/errors.ts';
import { fuse, type FusionSettings } from '../lib/fusion/index.ts';
import { createVitModel, parseVitConfig, vitFusionGraph } from '../lib/models/vit.ts';
import { capturedVitParent } from './helpers/vit-parent.ts';
import { randomImages, type RefConfig } from './helpers/vit-reference.ts';

const narrow: RefConfig = {
  image_size: 12, patch_size: 3, num_channels: 3, hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 2,
  intermediate_size: 24, num_labels: 4, layer_norm_eps: 1e-12, qkv_bias: true,
};
const wide: RefConfig = { ...narrow, hidden_size: 24, intermediate_size: 40, num_attention_heads: 3 };

function settings(overrides: Partial<FusionSettings>): FusionSettings {
  return { ...defaultsOf(experimentSchema).fusion, ...overrides };
}

const parent = capturedVitParent;

describe('heterogeneous fusion', function () {
  this.timeout(30000);
  const images = randomImages(narrow, 6, 3);

  for (const [anchorCfg, otherCfg, what] of [[narrow, wide, 'a wide model into a narrow anchor'], [wide, narrow, 'a narrow model into a wide anchor']] as const) {
    for (const solver of ['emd', 'sinkhorn'] as const) {
      it(`fuses ${what} (${solver}) into the anchor's shapes`, async () => {
        const a = await parent(otherCfg, 1, images), b = await parent(anchorCfg, 2, images);
        const graph = vitFusionGraph(parseVitConfig({ ...anchorCfg }));
        const result = await fuse([a, b], graph, settings({ ot_solver: solver, sinkhorn_reg: 0.05, resid_policy: 'weighted_matrix' }), { anchor: 1 });
        for (const [name, t] of b.tensors) assert.deepEqual(result.tensors.get(name)!.shape, t.shape, name);
        for (const m of result.maps[0]) {
          assert.ok(m.n > 0 && m.m > 0);
          assert.ok(m.marginalError < 1e-6 || solver === 'sinkhorn', `${m.piece}: marginal error ${m.marginalError}`);
        }
        const layerMaps = result.maps[0].filter((m) => m.piece.includes('mlp in'));
        assert.deepEqual(layerMaps.map((m) => [m.n, m.m]), [[otherCfg.intermediate_size, anchorCfg.intermediate_size], [otherCfg.intermediate_size, anchorCfg.intermediate_size]]);
        const fused = await createVitModel({ ...anchorCfg }, result.tensors);
        const { logits } = await fused.forward(images, 6);
        assert.ok(logits.every(Number.isFinite));
      });
    }
  }

  it('weights the models as asked: weight 1 on the anchor gives the anchor', async () => {
    const a = await parent(wide, 1, images), b = await parent(narrow, 2, images);
    const graph = vitFusionGraph(parseVitConfig({ ...narrow }));
    const result = await fuse([a, b], graph, settings({}), { anchor: 1, weights: [0, 1] });
    for (const [name, t] of b.tensors) {
      const got = result.tensors.get(name)!.data;
      for (let i = 0; i < t.data.length; i++) assert.ok(Math.abs(Number(got[i]) - Number(t.data[i])) < 1e-6, name);
    }
  });

  it('refuses, by key, to keep an unfused piece of a model of another width', async () => {
    const a = await parent(wide, 1, images), b = await parent(narrow, 2, images);
    const graph = vitFusionGraph(parseVitConfig({ ...narrow }));
    for (const key of ['fuse_src_embed', 'fuse_sa', 'fuse_norm', 'fuse_fc', 'fuse_gen'] as const)
      for (const models of [[a, b], [b, a]])
        await assert.rejects(fuse(models, graph, settings({ [key]: false }), { anchor: 1 }),
          (e) => e instanceof InputError && e.source === `fusion.${key}` && /needs models of one (hidden|MLP) width/.test(e.message), key);
    // Only the MLPs differ: the hidden width runs through everything else, which may stay unfused.
    const mlpWide = await parent({ ...narrow, intermediate_size: 40 }, 3, images);
    for (const key of ['fuse_src_embed', 'fuse_sa', 'fuse_norm', 'fuse_gen'] as const) {
      const result = await fuse([mlpWide, b], graph, settings({ [key]: false }), { anchor: 1 });
      for (const [name, t] of b.tensors) assert.deepEqual(result.tensors.get(name)!.shape, t.shape, `${key}: ${name}`);
    }
    await assert.rejects(fuse([mlpWide, b], graph, settings({ fuse_fc: false }), { anchor: 1 }),
      (e) => e instanceof InputError && e.source === 'fusion.fuse_fc' && /one MLP width/.test(e.message));
  });

  it('PCA (fusion.pca) fuses models of other widths in the anchor\'s principal directions; compared whole, they must match', async () => {
    const a = await parent(wide, 1, images), b = await parent(narrow, 2, images);
    const graph = vitFusionGraph(parseVitConfig({ ...narrow }));
    const hetero = await fuse([a, b], graph, settings({ pca: true, pca_k: 4 }), { anchor: 1 });
    assert.ok(hetero.maps[0].length > 0);
    // 1000 directions are more than the 30 captured rows: the neurons would be compared whole.
    await assert.rejects(fuse([a, b], graph, settings({ pca: true, pca_k: 1000 }), { anchor: 1 }),
      (e) => e instanceof InputError && e.source === 'fusion.pca' && /needs \d+ neurons in both models/.test(e.message));
    // Between two models of one width it changes the maps (the costs compare principal directions).
    const c = await parent(narrow, 3, images);
    const plain = await fuse([c, b], graph, settings({}), { anchor: 1 });
    const pca = await fuse([c, b], graph, settings({ pca: true, pca_k: 4 }), { anchor: 1 });
    const changed = plain.maps[0].some((m, i) => m.transportCost !== pca.maps[0][i].transportCost);
    assert.ok(changed, 'the PCA maps cost the same as the plain ones');
  });
});
