// Activation maps solved ahead of the walk, all together (fusion::transport_maps; what
// runs batched on a GPU) give exactly the fusion that solving each map as the walk meets
// it gives, for every way of fusing Q and K, models of other widths, N = 3, and BERT;
// and the list of problems solved ahead covers every activation map the walk asks for.
import assert from 'node:assert/strict';
import { experimentSchema } from '../lib/config/experiment.ts';
import { defaultsOf } from '../lib/config/validate.ts';
import { actsMapProblems, canSolveAhead } from '../lib/fusion/batched-maps.ts';
import { graphActivations, type EncoderGraph } from '../lib/fusion/graph.ts';
import { fuse, type FusionParent, type FusionResult, type FusionSettings } from '../lib/fusion/index.ts';
import type { Tensor } from '../lib/io/tensor.ts';
import { createBertModel } from '../lib/models/bert.ts';
import { bertFusionGraph } from '../lib/models/bert-graph.ts';
import { parseVitConfig, vitFusionGraph } from '../lib/models/vit.ts';
import { native } from '../lib/native.ts';
import { bertRandomBatch, bertRandomTensors, type BertRefConfig } from './helpers/bert-reference.ts';
import { capturedVitParent } from './helpers/vit-parent.ts';
import { randomImages, type RefConfig } from './helpers/vit-reference.ts';

const narrow: RefConfig = {
  image_size: 12, patch_size: 3, num_channels: 3, hidden_size: 16, num_hidden_layers: 3, num_attention_heads: 2,
  intermediate_size: 24, num_labels: 4, layer_norm_eps: 1e-12, qkv_bias: true,
};
const wide: RefConfig = { ...narrow, hidden_size: 24, intermediate_size: 40, num_attention_heads: 3 };
const mlm: BertRefConfig = {
  architectures: ['BertForMaskedLM'], vocab_size: 40, hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 2,
  intermediate_size: 24, max_position_embeddings: 12, type_vocab_size: 2, layer_norm_eps: 1e-12,
};

function settings(overrides: Partial<FusionSettings>): FusionSettings {
  return { ...defaultsOf(experimentSchema).fusion, type: 'acts', ot_solver: 'sinkhorn', sinkhorn_reg: 0.05, ...overrides };
}

const images = randomImages(narrow, 6, 3);

const vitParent = (cfg: RefConfig, seed: number) => capturedVitParent(cfg, seed, images);

/** The fusion with the maps solved ahead and as met, and how many single maps each solved. */
async function bothWays(parents: FusionParent[], graph: EncoderGraph, s: FusionSettings) {
  const addon = native() as unknown as { fusionTransportMap: (...args: unknown[]) => unknown };
  const single = addon.fusionTransportMap;
  let calls = 0;
  addon.fusionTransportMap = (...args: unknown[]) => { calls++; return single(...args); };
  try {
    const asMet = await fuse(parents, graph, s, { anchor: parents.length - 1, solveAhead: false });
    const singleAsMet = calls;
    calls = 0;
    const ahead = await fuse(parents, graph, s, { anchor: parents.length - 1, solveAhead: true });
    return { asMet, ahead, singleAsMet, singleAhead: calls };
  } finally {
    addon.fusionTransportMap = single;
  }
}

function assertSame(x: FusionResult, y: FusionResult): void {
  for (const [name, t] of x.tensors) assert.deepEqual(y.tensors.get(name)!.data, t.data, name);
  const strip = (maps: FusionResult['maps']) => maps.map((ms) => ms.map(({ seconds: _, ...rest }) => rest));
  assert.deepEqual(strip(y.maps), strip(x.maps));
}

describe('activation maps solved ahead of the walk', function () {
  this.timeout(60000);

  for (const qk of ['separate', 'eq_t_map', 'joint'] as const) {
    for (const fuseGen of [true, false]) {
      // Models of other widths need a fused head (the last layer's outputs must otherwise match).
      const other = fuseGen ? wide : narrow;
      it(`give the same fusion as maps solved one by one (qk_fusion ${qk}, fuse_gen ${fuseGen}, widths ${other.hidden_size} -> ${narrow.hidden_size})`, async () => {
        const s = settings({ qk_fusion: qk, fuse_gen: fuseGen, resid_policy: 'weighted_matrix' });
        const graph = vitFusionGraph(parseVitConfig({ ...narrow }));
        const { asMet, ahead, singleAsMet, singleAhead } = await bothWays([await vitParent(other, 1), await vitParent(narrow, 2)], graph, s);
        assertSame(asMet, ahead);
        // Solved ahead, only the value tables' maps (class token, positions) are left to single calls.
        assert.equal(singleAhead, graph.embeddings.tables.length);
        assert.equal(singleAsMet, asMet.maps[0].length);
      });
    }
  }

  it('give the same fusion of three models, with some pieces left unfused', async () => {
    const s = settings({ fuse_sa: false, qk_fusion: 'joint' });
    const parents = [await vitParent(narrow, 4), await vitParent(narrow, 5), await vitParent(narrow, 6)];
    const { asMet, ahead } = await bothWays(parents, vitFusionGraph(parseVitConfig({ ...narrow })), s);
    assertSame(asMet, ahead);
    const mlp = settings({ fuse_fc: false, fuse_src_embed: false });
    const again = await bothWays(parents, vitFusionGraph(parseVitConfig({ ...narrow })), mlp);
    assertSame(again.asMet, again.ahead);
  });

  it('give the same BERT fusion (post-LN, tied decoder, head transform solved as met)', async () => {
    const batch = bertRandomBatch(mlm, 6, 10, 3, [10, 7, 9, 5, 8, 10]);
    const parent = async (seed: number): Promise<FusionParent> => {
      const tensors = bertRandomTensors(mlm, seed) as Map<string, Tensor>;
      const model = await createBertModel({ ...mlm }, tensors);
      const store = model.createActivationStore({ numSamples: 6, maxTokens: 10, only: graphActivations(bertFusionGraph(model.config)) });
      await model.capture(store, batch);
      await store.finalize('std');
      return { label: `seed ${seed}`, tensors, store };
    };
    const { asMet, ahead } = await bothWays([await parent(1), await parent(2)], bertFusionGraph((await createBertModel({ ...mlm }, bertRandomTensors(mlm, 1))).config), settings({ qk_fusion: 'eq_t_map' }));
    assertSame(asMet, ahead);
  });

  it('only for activations mode with plain Sinkhorn; the problem list follows the settings', () => {
    assert.ok(canSolveAhead(settings({})));
    assert.ok(!canSolveAhead(settings({ type: 'wts' })));
    assert.ok(!canSolveAhead(settings({ ot_solver: 'emd' })));
    assert.ok(!canSolveAhead(settings({ ot_solver: 'sinkhorn_for_widening' })));
    assert.ok(!canSolveAhead(settings({ pca: true })));
    const graph = vitFusionGraph(parseVitConfig({ ...narrow }));
    const rows = () => 8;
    // Per layer: Q, K, V, attention output, MLP in and out; the last layer's MLP out is the model's last map unless the head is fused.
    assert.equal(actsMapProblems(graph, settings({ fuse_gen: true }), rows).length, 1 + 3 * 6);
    assert.equal(actsMapProblems(graph, settings({ fuse_gen: false }), rows).length, 1 + 3 * 6 - 1);
    assert.equal(actsMapProblems(graph, settings({ qk_fusion: 'joint', fuse_src_embed: false }), rows).length, 3 * 5);
  });

  it('fusionTransportMaps answers each problem as fusionTransportMap does, and names a bad problem', async () => {
    const rand = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 31 + i * 7.3));
    const side = (rows: number, cols: number, seed: number) => ({ layout: 'rows' as const, parts: [{ data: rand(rows * cols, seed), rows, cols }] });
    const problems = [{ a: side(5, 3, 1), b: side(4, 3, 2) }, { a: side(5, 3, 3), b: side(4, 3, 4) }, { a: side(7, 3, 5), b: side(7, 3, 6) }];
    const options = { solver: 'sinkhorn' as const, cost: { metric: 'euclidean', normalize: 'max' }, sinkhorn: { reg: 0.1 } };
    const together = await native().fusionTransportMaps(problems, options);
    for (const [k, p] of problems.entries()) assert.deepEqual(together[k], await native().fusionTransportMap(p.a, p.b, options), `problem ${k}`);
    assert.throws(() => native().fusionTransportMaps([problems[0], { a: side(5, 3, 1), b: side(4, 2, 2) }], options),
      /fusionTransportMaps: problems\[1\]: the two sides' neurons have different numbers of features/);
  });
});
