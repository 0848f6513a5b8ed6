import assert from 'node:assert/strict';
import { defaultsOf } from '../lib/config/validate.ts';
import { experimentSchema } from '../lib/config/experiment.ts';
import { fuse, type FusionSettings } from '../lib/fusion/index.ts';
import type { Tensor } from '../lib/io/tensor.ts';
import { createVitModel, parseVitConfig, vitFusionGraph } from '../lib/models/vit.ts';
import { permuteVit } from './helpers/permute-vit.ts';
import { seededRandom } from './helpers/random.ts';
import { randomImages, randomTensors, type RefConfig } from './helpers/vit-reference.ts';

const N = Number(process.env.DRAWS ?? 100);
describe('perm sweep', function () {
  this.timeout(600000);
  it('recovers', async () => {
    const rnd = seededRandom(Number(process.env.SEED ?? 3));
    const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
    let fails = 0;
    for (let d = 0; d < N; d++) {
      const patch = pick([1, 2, 3, 4]), grid = pick([1, 2, 3, 4, 5]);
      const heads = pick([1, 2, 3]);
      const cfg: RefConfig = {
        image_size: patch * grid, patch_size: patch, num_channels: pick([1, 2, 3]), hidden_size: heads * pick([2, 4, 5]), num_hidden_layers: pick([1, 2, 3]),
        num_attention_heads: heads, intermediate_size: pick([3, 8, 17]), num_labels: pick([2, 5]), layer_norm_eps: pick([1e-12, 1e-6]), qkv_bias: rnd() < 0.6,
      };
      const policy = pick(['no_resid', 'only_resid', 'mean', 'weighted_scalar', 'weighted_matrix', 'resid_as_identity'] as const);
      const type = policy.startsWith('weighted') ? 'acts' : pick(['acts', 'wts'] as const);
      const seqFilter0 = pick(['none', 'only_cls', `window_${1 + Math.floor(rnd() * grid)}`]); const seqFilter = seqFilter0 === 'only_cls' ? 'none' : seqFilter0;
      const avg = rnd() < 0.2;
      const s: FusionSettings = { ...defaultsOf(experimentSchema).fusion, type, resid_policy: policy, qk_fusion: pick(['separate', 'joint', 'eq_t_map'] as const), ot_solver: 'emd', fuse_bias: rnd() < 0.8 };
      s.gnd_metric = { ...s.gnd_metric, type: (rnd() < 2 ? 'euclidean' : 'cosine') as 'euclidean', norm: pick(['log', 'max', 'median', 'mean', 'none'] as const), squared: rnd() < 0.3 };
      const transform = pick(['std', 'center', 'norm', 'none'] as const);
      const original = randomTensors(cfg, d + 1) as Map<string, Tensor>;
      const permuted = permuteVit(cfg, original as never, d + 100, { hidden: policy !== 'resid_as_identity' }) as Map<string, Tensor>;
      const count = pick([4, 9]);
      const images = randomImages(cfg, count, d + 7);
      const mk = async (label: string, tensors: Map<string, Tensor>) => {
        const model = await createVitModel({ ...cfg }, tensors);
        const store = model.createActivationStore({ numSamples: count, seqFilter: seqFilter as never, avgSeqItems: avg });
        await model.capture(store, images, count);
        await store.finalize(transform as never);
        return { label, tensors, store };
      };
      const desc = JSON.stringify({ d, cfg, type, policy, qk: s.qk_fusion, seqFilter, avg, transform, gnd: s.gnd_metric, count, fuse_bias: s.fuse_bias });
      try {
        const result = await fuse([await mk('perm', permuted), await mk('orig', original)], vitFusionGraph(parseVitConfig({ ...cfg })), s, { anchor: 1 });
        let worst = 0, where = '';
        for (const [name, t] of original) { const u = result.tensors.get(name)!; for (let i = 0; i < t.data.length; i++) { const x = Math.abs(Number(u.data[i]) - Number(t.data[i])); if (x > worst) { worst = x; where = name; } } }
        if (!(worst < 2e-5)) { fails++; console.log(`NOT RECOVERED ${worst} at ${where}: ${desc}`); }
      } catch (e) { fails++; console.log(`THROW ${(e as Error).message}: ${desc}`); }
    }
    assert.equal(fails, 0);
  });
});
