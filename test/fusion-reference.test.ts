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

/**
 * The cost of optimal transport between the values a (mass 1/n each) and b (1/m each) for
 * the cost |x - y|^p, p >= 1: on a line the sorted (north-west corner) coupling is optimal
 * for any convex function of x - y.
 */
function optimalCost1d(a: ArrayLike<number>, b: ArrayLike<number>, p: number): number {
  const x = Array.from(a).sort((u, v) => u - v), y = Array.from(b).sort((u, v) => u - v);
  let i = 0, j = 0, leftA = 1 / x.length, leftB = 1 / y.length, total = 0;
  while (i < x.length && j < y.length) {
    const mass = Math.min(leftA, leftB);
    total += mass * Math.abs(x[i] - y[j]) ** p;
    leftA -= mass;
    leftB -= mass;
    if (leftA <= 1e-15) { i++; leftA = 1 / x.length; }
    if (leftB <= 1e-15) { j++; leftB = 1 / y.length; }
  }
  return total;
}

describe('fusion against the reference implementation', function () {
  this.timeout(60000);
  const configOf = (file: string) => {
    const hf = parseHfConfig(readFileSync(join(DIR, file), 'utf8'), file);
    return vitConfigFromHf(hf as Parameters<typeof vitConfigFromHf>[0]);
  };
  const configs = { model_0: configOf('config.json'), model_1: configOf('config.json'), wide: configOf('config_wide.json') };
  const files = { model_0: 'model_0.safetensors', model_1: 'model_1.safetensors', wide: 'model_wide.safetensors' };
  type ModelName = keyof typeof files;

  /** Fuses `other` onto `anchor` with the case's keys and compares with what the reference wrote. */
  async function checkCase(name: string, fusionKeys: Record<string, unknown>, other: ModelName, anchor: ModelName): Promise<void> {
    const cfg = validateConfig(experimentSchema, { model: { name_0: 'a', name_1: 'b' }, fusion: fusionKeys }, `${name}`);
    const names = [other, anchor];
    const models = await Promise.all(names.map(async (m) => (await readSafetensors(join(DIR, files[m]))).tensors));
    const pixels = (await readSafetensors(join(DIR, 'samples.safetensors'))).tensors.get('pixel_values')!;
    const count = pixels.shape[0];
    const parents = await Promise.all(models.map(async (tensors, i) => {
      const vit = await createVitModel(configs[names[i]], tensors);
      const store = vit.createActivationStore({ numSamples: count, seqFilter: seqFilterOf(cfg), avgSeqItems: cfg.fusion.acts.avg_seq_items });
      await vit.capture(store, pixels.data as Float32Array, count);
      await store.finalize(transformFromFlags(cfg.fusion.acts));
      return { label: `model_${i}`, tensors, store };
    }));
    const result = await fuse(parents, vitFusionGraph(configs[anchor]), cfg.fusion, { anchor: 1 });
    const sinkhorn = cfg.fusion.ot_solver !== 'emd';
    const want = (await readSafetensors(join(DIR, `fused_${name}.safetensors`))).tensors;
    let worst = { name: '', diff: 0, scale: 0 };
    for (const [tname, t] of want) {
      // In wts mode the class token's map differs on purpose: the reference scales its
      // one-value neurons to unit norm, leaving only their signs to match.
      if (cfg.fusion.type === 'wts' && tname === 'vit.embeddings.cls_token') continue;
      // With exact OT, one-value neurons tie (|x_i - y_j| has many optimal plans), so the
      // class token may be matched differently. Same widths: both matchings must cost the
      // same. Different widths (a plan, not a matching): ours must cost what the optimum
      // of this one-dimensional problem costs.
      if (cfg.fusion.ot_solver !== 'sinkhorn' && tname === 'vit.embeddings.cls_token') {
        const b = models[1].get(tname)!.data as Float32Array;
        if (other === 'model_0') {
          const cost = (fused: ArrayLike<number>) => Array.from(b, (y, j) => Math.abs(2 * Number(fused[j]) - y - y)).reduce((s, v) => s + v, 0);
          assert.ok(Math.abs(cost(result.tensors.get(tname)!.data as Float32Array) - cost(t.data as Float32Array)) < 1e-5, 'class token matching is not optimal');
        } else {
          const map = result.maps[0].find((m) => m.piece === 'class token')!;
          const a = models[0].get(tname)!.data as Float32Array;
          const optimum = optimalCost1d(a, b, cfg.fusion.gnd_metric.squared ? 2 : 1);
          assert.ok(Math.abs(map.transportCost * map.costScale - optimum) < 1e-9 * Math.max(1, optimum), `class token plan costs ${map.transportCost * map.costScale}, the optimum ${optimum}`);
        }
        continue;
      }
      const got = result.tensors.get(tname) as Tensor;
      assert.ok(got, `missing ${tname}`);
      assert.deepEqual(got.shape, t.shape, tname);
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
  }

  const cases = JSON.parse(readFileSync(join(DIR, 'cases.json'), 'utf8')) as Record<string, Record<string, unknown>>;
  for (const [name, fusionKeys] of Object.entries(cases)) {
    it(`gives the reference's weights: ${name}`, () => checkCase(name, fusionKeys, 'model_0', 'model_1'));
  }

  // Models of different widths (12 neurons against the anchor's 8, MLP 20 against 12):
  // rectangular maps, the anchor's shapes.
  const heterogeneous = JSON.parse(readFileSync(join(DIR, 'heterogeneous.json'), 'utf8')) as Record<string, { model: ModelName; anchor: ModelName; fusion: Record<string, unknown> }>;
  for (const [name, { model, anchor, fusion }] of Object.entries(heterogeneous)) {
    it(`gives the reference's weights, heterogeneous: ${name} (${model} onto ${anchor})`, () => checkCase(name, fusion, model, anchor));
  }
});
