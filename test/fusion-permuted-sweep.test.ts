// The permuted-copy self-check over random architectures and settings (seeded): image,
// patch and grid sizes, channels, heads, depth, widths and qkv bias drawn at random, with
// every residual policy, qk_fusion, both modes, token filters, transforms and ground
// metrics; exact OT must give the original weights back every time. Left out are the
// settings under which the check cannot hold in principle: seq_filter only_cls (layer 0's
// first token is the same for every sample, see fusionWarnings), a hidden size below 4
// (LayerNorm over 2 units leaves one degree of freedom, so neurons tie), patches of one
// feature (a 1x1 patch of one channel: every patch-projection unit is an affine function
// of the same pixel, so normalised they tie, in either mode), and, under the cosine
// metric, the class token and a BERT's single token-type row (one value per unit: only
// its sign counts).
import assert from 'node:assert/strict';
import { defaultsOf } from '../lib/config/validate.ts';
import { experimentSchema } from '../lib/config/experiment.ts';
import { fuse, type FusionSettings } from '../lib/fusion/index.ts';
import type { Tensor } from '../lib/io/tensor.ts';
import { graphActivations } from '../lib/fusion/graph.ts';
import { createBertModel } from '../lib/models/bert.ts';
import { bertFusionGraph } from '../lib/models/bert-graph.ts';
import { createVitModel, parseVitConfig, vitFusionGraph } from '../lib/models/vit.ts';
import { bertRandomBatch, bertRandomTensors, type BertRefConfig } from './helpers/bert-reference.ts';
import { permuteBert } from './helpers/permute-bert.ts';
import { permuteVit } from './helpers/permute-vit.ts';
import { seededRandom } from './helpers/random.ts';
import { randomImages, randomTensors, type RefConfig } from './helpers/vit-reference.ts';

const DRAWS = 60;

type Random = () => number;
const pick = <T,>(rnd: Random, xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];

/** Every fusion setting that keeps the check meaningful, drawn at random; the rest stay at their defaults. */
function drawSettings(rnd: Random) {
  const defaults = defaultsOf(experimentSchema).fusion;
  const policy = pick(rnd, ['no_resid', 'only_resid', 'mean', 'weighted_scalar', 'weighted_matrix', 'resid_as_identity'] as const);
  const settings: FusionSettings = {
    ...defaults, type: policy.startsWith('weighted') ? 'acts' : pick(rnd, ['acts', 'wts'] as const), resid_policy: policy,
    qk_fusion: pick(rnd, ['separate', 'joint', 'eq_t_map'] as const), ot_solver: 'emd', fuse_bias: rnd() < 0.8,
    gnd_metric: { ...defaults.gnd_metric, type: pick(rnd, ['euclidean', 'cosine'] as const), norm: pick(rnd, ['log', 'max', 'median', 'mean', 'none'] as const), squared: rnd() < 0.3 },
  };
  return { settings, avgSeqItems: rnd() < 0.2, transform: pick(rnd, ['std', 'center', 'norm', 'none'] as const) };
}

function assertRecovered(fused: Map<string, Tensor>, original: Map<string, Tensor>, what: string, skip: (name: string) => boolean): void {
  for (const [name, t] of original) {
    if (skip(name)) continue;
    const got = fused.get(name)!.data;
    let worst = 0;
    for (let i = 0; i < t.data.length; i++) worst = Math.max(worst, Math.abs(Number(got[i]) - Number(t.data[i])));
    assert.ok(worst < 2e-5, `${what}: ${name} differs by ${worst}`);
  }
}

describe('fusion of random models with permuted copies (seeded sweep)', function () {
  this.timeout(120000);
  it(`ViTs: exact OT gives the original back for ${DRAWS} random architectures and settings`, async () => {
    const rnd = seededRandom(0x9e47);
    for (let d = 0; d < DRAWS; d++) {
      const patch = pick(rnd, [1, 2, 3, 4]), grid = pick(rnd, [1, 2, 3, 4, 5]), heads = pick(rnd, [1, 2, 3]);
      const cfg: RefConfig = {
        image_size: patch * grid, patch_size: patch, num_channels: patch === 1 ? pick(rnd, [2, 3]) : pick(rnd, [1, 2, 3]), hidden_size: heads * pick(rnd, [4, 5]),
        num_hidden_layers: pick(rnd, [1, 2, 3]), num_attention_heads: heads, intermediate_size: pick(rnd, [3, 8, 17]), num_labels: pick(rnd, [2, 5]),
        layer_norm_eps: pick(rnd, [1e-12, 1e-6]), qkv_bias: rnd() < 0.6,
      };
      const { settings: s, avgSeqItems, transform } = drawSettings(rnd);
      const seqFilter = pick(rnd, ['none', `window_${1 + Math.floor(rnd() * grid)}`] as const);
      const count = pick(rnd, [4, 9]);
      const original = randomTensors(cfg, d + 1) as Map<string, Tensor>;
      const permuted = permuteVit(cfg, original as never, d + 100, { hidden: s.resid_policy !== 'resid_as_identity' }) as Map<string, Tensor>;
      const images = randomImages(cfg, count, d + 7);
      const parent = async (label: string, tensors: Map<string, Tensor>) => {
        const model = await createVitModel({ ...cfg }, tensors);
        const store = model.createActivationStore({ numSamples: count, seqFilter, avgSeqItems });
        await model.capture(store, images, count);
        await store.finalize(transform);
        return { label, tensors, store };
      };
      const what = `draw ${d}: ${JSON.stringify({ cfg, type: s.type, policy: s.resid_policy, qk: s.qk_fusion, seqFilter, avgSeqItems, transform, metric: s.gnd_metric.type, count })}`;
      const result = await fuse([await parent('permuted', permuted), await parent('original', original)], vitFusionGraph(parseVitConfig({ ...cfg })), s, { anchor: 1 });
      assertRecovered(result.tensors, original, what, (name) => s.gnd_metric.type === 'cosine' && name === 'vit.embeddings.cls_token');
    }
  });

  it(`BERTs: exact OT gives the original back for ${DRAWS / 2} random architectures and settings`, async () => {
    const rnd = seededRandom(0x9e48);
    for (let d = 0; d < DRAWS / 2; d++) {
      const heads = pick(rnd, [1, 2, 3]);
      const cfg: BertRefConfig = {
        architectures: [pick(rnd, ['BertForMaskedLM', 'BertForSequenceClassification'])], vocab_size: pick(rnd, [20, 50]),
        hidden_size: heads * pick(rnd, [4, 5]), num_hidden_layers: pick(rnd, [1, 2, 3]), num_attention_heads: heads,
        intermediate_size: pick(rnd, [3, 8, 17]), max_position_embeddings: 12, type_vocab_size: pick(rnd, [1, 2]), layer_norm_eps: 1e-12,
        num_labels: pick(rnd, [2, 3]),
      };
      const classifier = cfg.architectures[0] === 'BertForSequenceClassification';
      const { settings: s, avgSeqItems, transform } = drawSettings(rnd);
      // A classifier in wts mode aligns its pooler by weights; every other combination is covered in acts mode too.
      if (classifier) s.type = 'acts';
      const count = pick(rnd, [4, 7]), tokens = 10;
      const batch = bertRandomBatch(cfg, count, tokens, d + 7, Array.from({ length: count }, (_, i) => (i === 0 ? tokens : 3 + Math.floor(rnd() * (tokens - 2)))));
      const original = bertRandomTensors(cfg, d + 1) as Map<string, Tensor>;
      const permuted = permuteBert(cfg, original as never, d + 100, { hidden: s.resid_policy !== 'resid_as_identity' }) as Map<string, Tensor>;
      const parent = async (label: string, tensors: Map<string, Tensor>) => {
        const model = await createBertModel({ ...cfg }, tensors);
        const store = model.createActivationStore({ numSamples: count, maxTokens: tokens, avgSeqItems, only: graphActivations(bertFusionGraph(model.config)) });
        await model.capture(store, batch);
        await store.finalize(transform);
        return { label, tensors, store, config: model.config };
      };
      const a = await parent('permuted', permuted), b = await parent('original', original);
      const what = `draw ${d}: ${JSON.stringify({ cfg, type: s.type, policy: s.resid_policy, qk: s.qk_fusion, avgSeqItems, transform, metric: s.gnd_metric.type, count })}`;
      const result = await fuse([a, b], bertFusionGraph(b.config), s, { anchor: 1 });
      // One token type: a one-row table, which the cosine metric sees by sign only (as the ViT's class token).
      assertRecovered(result.tensors, original, what, (name) => s.gnd_metric.type === 'cosine' && cfg.type_vocab_size === 1 && name === 'bert.embeddings.token_type_embeddings.weight');
    }
  });
});
