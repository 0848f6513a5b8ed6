// Our fusion against the published reference implementation: test/fixtures/reference-fusion
// holds two small ViTs, activation samples and what the reference's code fused them into
// for a set of configurations (made by make_fixture.py beside it, from a checkout of the
// reference). Same models, same samples, same config keys: the same fused weights.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { experimentSchema } from '../lib/config/experiment.ts';
import { validateConfig } from '../lib/config/validate.ts';
import { transformFromFlags } from '../lib/activations.ts';
import { fuse } from '../lib/fusion/index.ts';
import { parseHfConfig } from '../lib/io/hf-config.ts';
import { readSafetensors } from '../lib/io/safetensors.ts';
import type { Tensor } from '../lib/io/tensor.ts';
import { createVitModel, vitConfigFromHf, vitFusionGraph } from '../lib/models/vit.ts';
import { seqFilterOf } from '../lib/pipeline/activations.ts';

const DIR = join(import.meta.dirname, 'fixtures', 'reference-fusion');

describe('fusion against the reference implementation', function () {
  this.timeout(60000);
  const hf = parseHfConfig(readFileSync(join(DIR, 'config.json'), 'utf8'), 'config.json');
  const config = vitConfigFromHf(hf as Parameters<typeof vitConfigFromHf>[0]);
  const cases = JSON.parse(readFileSync(join(DIR, 'cases.json'), 'utf8')) as Record<string, Record<string, unknown>>;

  for (const [name, fusionKeys] of Object.entries(cases)) {
    it(`gives the reference's weights: ${name}`, async () => {
      const cfg = validateConfig(experimentSchema, { model: { name_0: 'a', name_1: 'b' }, fusion: fusionKeys }, `cases.json ${name}`);
      const models = await Promise.all([0, 1].map(async (i) => (await readSafetensors(join(DIR, `model_${i}.safetensors`))).tensors));
      const pixels = (await readSafetensors(join(DIR, 'samples.safetensors'))).tensors.get('pixel_values')!;
      const count = pixels.shape[0];
      const parents = await Promise.all(models.map(async (tensors, i) => {
        const vit = await createVitModel(config, tensors);
        const store = vit.createActivationStore({ numSamples: count, seqFilter: seqFilterOf(cfg), avgSeqItems: cfg.fusion.acts.avg_seq_items });
        await vit.capture(store, pixels.data as Float32Array, count);
        await store.finalize(transformFromFlags(cfg.fusion.acts));
        return { label: `model_${i}`, tensors, store };
      }));
      const result = await fuse(parents, vitFusionGraph(config), cfg.fusion, { anchor: 1 });
      const sinkhorn = cfg.fusion.ot_solver !== 'emd';
      const want = (await readSafetensors(join(DIR, `fused_${name}.safetensors`))).tensors;
      let worst = { name: '', diff: 0, scale: 0 };
      for (const [tname, t] of want) {
        // In wts mode the class token's map differs on purpose: the reference scales its
        // one-value neurons to unit norm, leaving only their signs to match.
        if (cfg.fusion.type === 'wts' && tname === 'vit.embeddings.cls_token') continue;
        // With exact OT, one-value neurons tie (|x_i - y_j| has many optimal matchings), so
        // the class token may be matched differently; both matchings must cost the same.
        if (cfg.fusion.ot_solver !== 'sinkhorn' && tname === 'vit.embeddings.cls_token') {
          const b = models[1].get(tname)!.data as Float32Array;
          const cost = (fused: ArrayLike<number>) => Array.from(b, (y, j) => Math.abs(2 * Number(fused[j]) - y - y)).reduce((s, v) => s + v, 0);
          assert.ok(Math.abs(cost(result.tensors.get(tname)!.data as Float32Array) - cost(t.data as Float32Array)) < 1e-5, 'class token matching is not optimal');
          continue;
        }
        const got = result.tensors.get(tname) as Tensor;
        assert.ok(got, `missing ${tname}`);
        assert.equal(got.data.length, t.data.length, tname);
        for (let i = 0; i < t.data.length; i++) {
          const d = Math.abs(Number(got.data[i]) - Number(t.data[i]));
          if (d > worst.diff) worst = { name: tname, diff: d, scale: Math.abs(Number(t.data[i])) };
        }

      }
      // EMD: the same permutations, so float32 rounding only. Sinkhorn: the reference runs
      // POT on float32 costs, we iterate in float64.
      if (process.env.OTFUSE_SHOW_DIFFS) console.log(`      ${name}: largest difference ${worst.diff.toExponential(2)} in ${worst.name}`);
      assert.ok(worst.diff < (sinkhorn ? 1e-5 : 1e-6), `${worst.name} differs by ${worst.diff} (value ${worst.scale})`);
      for (const p of parents) p.store.dispose();
    });
  }
});
