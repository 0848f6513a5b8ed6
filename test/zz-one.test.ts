import { defaultsOf } from '../lib/config/validate.ts';
import { experimentSchema } from '../lib/config/experiment.ts';
import { fuse, type FusionSettings } from '../lib/fusion/index.ts';
import type { Tensor } from '../lib/io/tensor.ts';
import { createVitModel, parseVitConfig, vitFusionGraph } from '../lib/models/vit.ts';
import { permuteVit } from './helpers/permute-vit.ts';
import { randomImages, randomTensors, type RefConfig } from './helpers/vit-reference.ts';
describe('one', () => { it('case', async () => {
  const c = JSON.parse(process.env.CASE!);
  const cfg: RefConfig = c.cfg;
  const s: FusionSettings = { ...defaultsOf(experimentSchema).fusion, type: c.type, resid_policy: c.policy, qk_fusion: c.qk, ot_solver: 'emd', fuse_bias: c.fuse_bias, gnd_metric: c.gnd };
  const original = randomTensors(cfg, c.d + 1) as Map<string, Tensor>;
  const permuted = permuteVit(cfg, original as never, c.d + 100, { hidden: c.policy !== 'resid_as_identity' }) as Map<string, Tensor>;
  const images = randomImages(cfg, c.count, c.d + 7);
  const mk = async (label: string, tensors: Map<string, Tensor>) => {
    const model = await createVitModel({ ...cfg }, tensors);
    const store = model.createActivationStore({ numSamples: c.count, seqFilter: c.seqFilter, avgSeqItems: c.avg });
    await model.capture(store, images, c.count);
    await store.finalize(c.transform);
    return { label, tensors, store };
  };
  const result = await fuse([await mk('perm', permuted), await mk('orig', original)], vitFusionGraph(parseVitConfig({ ...cfg })), s, { anchor: 1 });
  for (const m of result.maps[0]) console.log(m.piece, m.n, m.m, 'perm', m.permutationScore.toFixed(3), 'cost', m.transportCost.toExponential(2));
  for (const [name, t] of original) { const u = result.tensors.get(name)!; let w = 0; for (let i = 0; i < t.data.length; i++) w = Math.max(w, Math.abs(Number(u.data[i]) - Number(t.data[i]))); if (w > 1e-5) console.log('DIFF', name, w); }
}); });
