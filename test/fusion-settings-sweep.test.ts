// A seeded sweep over random combinations of every fusion setting, through the public
// fuse(), on small ViTs and BERTs of equal and of different widths, two and three models:
// each combination either gives a finite model in the anchor's shapes that evaluates to a
// finite loss, or is refused with an InputError naming the config key at fault. Nothing
// else (no RangeError from deep inside the walk, no NaN weights) is acceptable.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evaluate, fuse, InputError, loadModel, type Model } from '../lib/index.ts';
import { parseHfConfig } from '../lib/io/hf-config.ts';
import { saveModel } from '../lib/io/model-folder.ts';
import type { Tensor } from '../lib/io/tensor.ts';
import { TINY_MLM, writeBert, writeText } from './helpers/bert-folders.ts';
import { seededRandom } from './helpers/random.ts';
import { writeSyntheticIdx } from './helpers/synthetic-idx.ts';
import { randomTensors, type RefConfig } from './helpers/vit-reference.ts';

const VIT: RefConfig = {
  image_size: 8, patch_size: 2, num_channels: 1, hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 2,
  intermediate_size: 24, num_labels: 3, layer_norm_eps: 1e-12, qkv_bias: true,
};
const DRAWS = { vit: 48, bert: 32 };

type Random = () => number;
const pick = <T,>(rnd: Random, xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];

/** One random draw of every fusion key (and the model set and anchor). */
function drawSettings(rnd: Random, kind: 'vit' | 'bert', count: number) {
  return {
    type: pick(rnd, ['acts', 'wts'] as const),
    resid_policy: pick(rnd, ['no_resid', 'only_resid', 'mean', 'weighted_scalar', 'weighted_matrix', 'resid_as_identity'] as const),
    fuse_src_embed: rnd() < 0.92, fuse_sa: rnd() < 0.92, fuse_norm: rnd() < 0.92, fuse_fc: rnd() < 0.92, fuse_gen: rnd() < 0.92,
    fuse_bias: rnd() < 0.8,
    qk_fusion: pick(rnd, ['separate', 'joint', 'eq_t_map'] as const),
    ot_solver: pick(rnd, ['emd', 'sinkhorn', 'sinkhorn_for_widening'] as const),
    sinkhorn_reg: pick(rnd, [1, 0.08, 0.01, 1e-3]),
    pca: rnd() < 0.2, pca_k: pick(rnd, [2, 4, 1000]),
    repair: pick(rnd, ['none', 'anchor', 'mean'] as const),
    anchor: Math.floor(rnd() * count),
    ...(rnd() < 0.3 ? { weights: Array.from({ length: count }, () => 0.1 + rnd()) } : {}),
    gnd_metric: {
      type: pick(rnd, ['euclidean', 'cosine'] as const), norm: pick(rnd, ['log', 'max', 'median', 'mean', 'none'] as const),
      squared: rnd() < 0.3, clip: rnd() < 0.3, precision: pick(rnd, ['float64', 'float32'] as const),
    },
    acts: {
      num_samples: pick(rnd, [3, 12]), avg_seq_items: rnd() < 0.2, seq_pos: rnd() < 0.15 ? 0 : -1,
      seq_filter: pick(rnd, kind === 'vit' ? [null, 'only_cls', 'window_2'] as const : [null, 'only_cls'] as const),
      std: rnd() < 0.6, center: rnd() < 0.5, norm: rnd() < 0.5, loss_thres: rnd() < 0.1 ? pick(rnd, [0.5, 5]) : (false as const), seed: Math.floor(rnd() * 3),
    },
    wts: { norm: rnd() < 0.5 },
  };
}

function assertFiniteInShape(fused: Model, anchor: Model, what: string): void {
  for (const [name, t] of anchor.tensors) {
    const f = fused.tensors.get(name);
    assert.ok(f, `${what}: ${name} missing`);
    assert.deepEqual(f.shape, t.shape, `${what}: ${name}`);
    const data = f.data as Float32Array;
    for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) assert.fail(`${what}: ${name}[${i}] = ${data[i]}`);
  }
}

describe('fusion settings sweep (seeded)', function () {
  this.timeout(120000);
  let dir: string;
  const vits: Record<string, Model> = {};
  const berts: Record<string, Model> = {};
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'otfuse-sweep-'));
    writeSyntheticIdx(join(dir, 'images'), { train: 24, test: 8, size: 8, classes: 3, seed: 1 });
    const shapes: Record<string, RefConfig> = {
      a: VIT, b: VIT, wide: { ...VIT, hidden_size: 24, intermediate_size: 40, num_attention_heads: 3 }, mlp: { ...VIT, intermediate_size: 40 },
    };
    for (const [name, cfg] of Object.entries(shapes)) {
      const folder = join(dir, `vit-${name}`);
      const config = parseHfConfig(JSON.stringify({ model_type: 'vit', architectures: ['ViTForImageClassification'], ...cfg }), folder);
      await saveModel(folder, { config, architecture: 'ViTForImageClassification', tensors: randomTensors(cfg, name.length * 7 + name.charCodeAt(0)) as Map<string, Tensor> });
      vits[name] = await loadModel(folder);
    }
    writeText(join(dir, 'text'), 2);
    const bertShapes = { a: TINY_MLM, b: TINY_MLM, wide: { ...TINY_MLM, hidden_size: 24, intermediate_size: 32 } };
    let seed = 1;
    for (const [name, cfg] of Object.entries(bertShapes)) {
      await writeBert(join(dir, `bert-${name}`), cfg, seed++);
      berts[name] = await loadModel(join(dir, `bert-${name}`));
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const sets = [['a', 'b'], ['wide', 'b'], ['b', 'wide'], ['mlp', 'a'], ['a', 'b', 'wide'], ['a', 'wide', 'b']];
  for (const kind of ['vit', 'bert'] as const) {
    it(`${kind}: ${DRAWS[kind]} random settings each fuse to a finite model in the anchor's shapes, or are refused by key`, async () => {
      const rnd = seededRandom(kind === 'vit' ? 0x5eed01 : 0x5eed02);
      const models = kind === 'vit' ? vits : berts;
      const data = join(dir, kind === 'vit' ? 'images' : 'text');
      let fused = 0;
      const refusals = new Set<string>();
      for (let draw = 0; draw < DRAWS[kind]; draw++) {
        const set = pick(rnd, sets.filter((s) => s.every((n) => n in models)));
        const fusion = drawSettings(rnd, kind, set.length);
        const what = `draw ${draw}: ${JSON.stringify({ set, fusion })}`;
        const dataOptions = kind === 'vit'
          ? { activations: { holdout_fraction: 0 }, batch_size: 5 }
          : { text: { max_length: pick(rnd, [8, 16]), pack: rnd() < 0.5 }, activations: { holdout_fraction: 0 }, batch_size: 5 };
        try {
          const result = await fuse(set.map((n) => models[n]), { data, fusion, dataOptions });
          assertFiniteInShape(result.model, models[set[fusion.anchor]], what);
          const scored = await evaluate(result.model, { data, limit: 8, ...(kind === 'bert' ? { maxLength: dataOptions.text!.max_length } : {}) });
          const loss = 'meanLoss' in scored ? scored.meanLoss : scored.loss;
          assert.ok(Number.isFinite(loss), `${what}: loss ${loss}`);
          fused++;
        } catch (e) {
          if (!(e instanceof InputError)) throw new Error(`${what}: ${(e as Error).stack}`);
          assert.match(e.source, /^(fusion|data)\./, `${what}: refused without naming a key: ${e.message}`);
          refusals.add(e.source);
        }
      }
      // Most draws fuse (the refusals are mostly parts kept unfused across widths).
      assert.ok(fused >= DRAWS[kind] / 2, `only ${fused} of ${DRAWS[kind]} draws fused; refused by ${[...refusals].join(', ')}`);
    });
  }
});
