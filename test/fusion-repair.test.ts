// Statistics repair: a no-op on a permuted copy, an exact restoration of layers whose
// scale was shrunk, the classifier left alone, and repaired statistics that equal the
// target for two models of different widths.
import assert from 'node:assert/strict';
import { experimentSchema } from '../lib/config/experiment.ts';
import { defaultsOf } from '../lib/config/validate.ts';
import { fuse, type FusionSettings } from '../lib/fusion/index.ts';
import { repairGroups, repairStatistics, wholePassMeasures, type RepairMeasures } from '../lib/fusion/repair.ts';
import { parseHfConfig } from '../lib/io/hf-config.ts';
import type { Model } from '../lib/io/model-folder.ts';
import type { Tensor } from '../lib/io/tensor.ts';
import { vitFusionGraph } from '../lib/models/vit.ts';
import { measureOnSamples } from '../lib/pipeline/measure.ts';
import { parentsFromModels } from '../lib/pipeline/parents.ts';
import { countReentries } from './helpers/count-reentries.ts';
import { permuteVit } from './helpers/permute-vit.ts';
import { randomImages, randomTensors, type RefConfig } from './helpers/vit-reference.ts';

const cfg: RefConfig = {
  image_size: 12, patch_size: 3, num_channels: 3, hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 2,
  intermediate_size: 24, num_labels: 4, layer_norm_eps: 1e-12, qkv_bias: true,
};

function model(c: RefConfig, tensors: Map<string, Tensor>): Model {
  const config = parseHfConfig(JSON.stringify({ model_type: 'vit', architectures: ['ViTForImageClassification'], ...c }), 'config.json');
  return { config, architecture: 'ViTForImageClassification', tensors };
}

function maxDiff(a: Map<string, Tensor>, b: Map<string, Tensor>, skip: (name: string) => boolean = () => false): number {
  let worst = 0;
  for (const [name, t] of b) {
    if (skip(name)) continue;
    const u = a.get(name)!.data;
    for (let i = 0; i < t.data.length; i++) worst = Math.max(worst, Math.abs(Number(u[i]) - Number(t.data[i])));
  }
  return worst;
}

describe('statistics repair', function () {
  this.timeout(60000);
  const images = randomImages(cfg, 8, 5);
  const samples = [{ images, labels: new Int32Array(8), count: 8, offset: 0 }];
  const original = randomTensors(cfg, 3) as Map<string, Tensor>;
  const settings = (o: Partial<FusionSettings> = {}): FusionSettings => ({ ...defaultsOf(experimentSchema).fusion, ...o });

  it('is a no-op on the fusion of a model with a permuted copy of itself', async () => {
    const permuted = permuteVit(cfg, original as never, 4) as Map<string, Tensor>;
    const parents = parentsFromModels([model(cfg, permuted), model(cfg, original)]);
    const stores = await Promise.all(parents.map(async (p) => {
      const s = (await p.vit()).createActivationStore({ numSamples: 8 });
      await (await p.vit()).capture(s, images, 8);
      await s.finalize('std');
      return s;
    }));
    const fused = await fuse(parents.map((p, i) => ({ label: p.folder, tensors: p.model.tensors, store: stores[i] })), vitFusionGraph(parents[1].config), settings(), { anchor: 1 });
    for (const target of ['anchor', 'mean'] as const) {
      const repaired = await repairStatistics({
        graph: vitFusionGraph(parents[1].config), fused: fused.tensors, parents: parents.map((p) => p.model.tensors), anchor: 1,
        outputMaps: fused.outputMaps, weights: fused.weights, measure: measureOnSamples(parents, 1, samples),
      }, target);
      assert.ok(maxDiff(repaired, original) < 1e-4, `${target}: repair moved the weights by ${maxDiff(repaired, original)}`);
    }
  });

  it('restores layers whose scale was shrunk, exactly, and leaves the classifier alone', async () => {
    const shrunk = new Map(original);
    const scale = (name: string, f: number) => shrunk.set(name, { ...original.get(name)!, data: (original.get(name)!.data as Float32Array).map((x) => x * f) });
    for (const [name, f] of [['vit.encoder.layer.0.intermediate.dense', 0.4], ['vit.encoder.layer.1.attention.output.dense', 0.3], ['vit.embeddings.patch_embeddings.projection', 2.5]] as const) {
      scale(`${name}.weight`, f);
      scale(`${name}.bias`, f);
    }
    const parents = parentsFromModels([model(cfg, original)]);
    const repaired = await repairStatistics({
      graph: vitFusionGraph(parents[0].config), fused: shrunk, parents: [original], anchor: 0,
      outputMaps: [null], weights: [1], measure: measureOnSamples(parents, 0, samples),
    }, 'anchor');
    assert.ok(maxDiff(repaired, original) < 1e-4, `off by ${maxDiff(repaired, original)}`);
    for (const name of ['classifier.weight', 'classifier.bias']) assert.deepEqual(repaired.get(name)!.data, shrunk.get(name)!.data);
  });

  it('carries the samples from layer to layer, re-entering layers after rescaled groups, to the weights of a whole pass per group', async () => {
    // The reference measures every group with a fresh model and a pass from the images.
    const parents = parentsFromModels([model(cfg, randomTensors(cfg, 12) as Map<string, Tensor>), model(cfg, randomTensors(cfg, 13) as Map<string, Tensor>)]);
    const stores = await Promise.all(parents.map(async (p) => {
      const s = (await p.vit()).createActivationStore({ numSamples: 8 });
      await (await p.vit()).capture(s, images, 8);
      await s.finalize('std');
      return s;
    }));
    const graph = vitFusionGraph(parents[0].config);
    const fused = await fuse(parents.map((p, i) => ({ label: p.folder, tensors: p.model.tensors, store: stores[i] })), graph, settings(), { anchor: 0 });
    const staged = measureOnSamples(parents, 0, samples);
    let passes = 0;
    const counted: RepairMeasures = { parent: (i, t, acts) => (passes++, staged.parent(i, t, acts)), fused: staged.fused };
    const wholePasses = wholePassMeasures(counted, 0);
    const input = { graph, fused: fused.tensors, parents: parents.map((p) => p.model.tensors), anchor: 0, outputMaps: fused.outputMaps, weights: fused.weights };
    for (const target of ['anchor', 'mean'] as const) {
      const want = await repairStatistics({ ...input, measure: wholePasses }, target);
      const { result: got, taken, refused } = await countReentries(() => repairStatistics({ ...input, measure: staged }, target));
      // Every group of every layer re-entered after, the patch projection alone computed again.
      assert.deepEqual({ taken, refused }, { taken: 4 * cfg.num_hidden_layers, refused: 1 });
      assert.ok(maxDiff(got, want) < 1e-5, `${target}: off by ${maxDiff(got, want)}`);
      assert.ok(maxDiff(got, fused.tensors) > 1e-3, `${target}: the repair changed nothing`);
    }
    // One pass per group and target, and one per parent measured for the 'mean' target.
    assert.equal(passes, 2 * repairGroups(graph).length + 1 + 2);
  });

  it('measures through a store of one chunk of samples the statistics of a capture of every sample', async () => {
    const parents = parentsFromModels([model(cfg, original)]);
    const acts = repairGroups(vitFusionGraph(parents[0].config)).flat().map((p) => p.acts);
    const streamed = await measureOnSamples(parents, 0, samples).parent(0, original, acts);
    // The reference: every token of every sample in one store, its columns' statistics in float64 here.
    const vit = await parents[0].vit();
    const store = vit.createActivationStore({ numSamples: 8, only: acts });
    try {
      await vit.capture(store, images, 8);
      for (const name of acts) {
        const { data, rows, cols } = store.copy(name);
        const s = streamed.get(name)!;
        for (let j = 0; j < cols; j++) {
          let mean = 0, m2 = 0;
          for (let r = 0; r < rows; r++) mean += data[r * cols + j] / rows;
          for (let r = 0; r < rows; r++) m2 += (data[r * cols + j] - mean) ** 2 / rows;
          assert.ok(Math.abs(s.mean[j] - mean) <= 1e-9 * (1 + Math.abs(mean)), `${name}[${j}] mean ${s.mean[j]} vs ${mean}`);
          assert.ok(Math.abs(s.std[j] - Math.sqrt(m2)) <= 1e-9 * (1 + Math.sqrt(m2)), `${name}[${j}] std ${s.std[j]} vs ${Math.sqrt(m2)}`);
        }
      }
    } finally {
      store.dispose();
    }
  });

  it('refuses to measure a layer the staged samples have passed, and to write its weights', async () => {
    const parents = parentsFromModels([model(cfg, original)]);
    const session = await measureOnSamples(parents, 0, samples).fused(new Map(original));
    try {
      await session.measure(['vit.encoder.layer.1.intermediate.dense']);
      await assert.rejects(session.measure(['vit.encoder.layer.0.intermediate.dense']), /passed 'vit\.encoder\.layer\.0\.intermediate\.dense'/);
      await assert.rejects(session.update(['vit.encoder.layer.0.output.dense.weight']), /passed the stage/);
      await session.update(['vit.encoder.layer.1.output.dense.weight', 'classifier.bias']);
    } finally {
      session.dispose();
    }
    // The model's own staged calls: nothing staged, a store too small, a write outside the buffer.
    const vit = await parents[0].vit();
    const store = (n: number) => vit.createActivationStore({ numSamples: n, only: ['vit.encoder.layer.0.intermediate.dense'] });
    const small = store(3), full = store(8);
    try {
      await assert.rejects(vit.captureStaged(full), /no staged samples/);
      await vit.stageSamples(images, 8);
      await assert.rejects(vit.captureStaged(small), /has room for 3 samples, 8 are staged/);
      assert.throws(() => vit.native.writeParameters([{ data: new Float32Array(4), offset: -1 }]), /do not fit/);
      assert.equal(await vit.captureStaged(full), 8);
    } finally {
      vit.native.clearStaged();
      small.dispose();
      full.dispose();
    }
  });

  it('gives every repaired neuron its target statistics, for models of two widths', async () => {
    const wide: RefConfig = { ...cfg, hidden_size: 24, intermediate_size: 32, num_attention_heads: 3 };
    const parents = parentsFromModels([model(wide, randomTensors(wide, 9) as Map<string, Tensor>), model(cfg, randomTensors(cfg, 10) as Map<string, Tensor>)]);
    const stores = await Promise.all(parents.map(async (p) => {
      const s = (await p.vit()).createActivationStore({ numSamples: 8, seqFilter: 'window_2' });
      await (await p.vit()).capture(s, images, 8);
      await s.finalize('std');
      return s;
    }));
    const graph = vitFusionGraph(parents[1].config);
    const fused = await fuse(parents.map((p, i) => ({ label: p.folder, tensors: p.model.tensors, store: stores[i] })), graph, settings({ resid_policy: 'weighted_matrix' }), { anchor: 1 });
    const measure = measureOnSamples(parents, 1, samples);
    const repaired = await repairStatistics({ graph, fused: fused.tensors, parents: parents.map((p) => p.model.tensors), anchor: 1, outputMaps: fused.outputMaps, weights: fused.weights, measure }, 'anchor');
    const acts = repairGroups(graph).flat().map((p) => p.acts);
    const session = await measure.fused(repaired);
    const after = await session.measure(acts), want = await measure.parent(1, parents[1].model.tensors, acts);
    session.dispose();
    // Repair goes in forward order, so each layer is matched after the ones before it: all match at the end.
    for (const name of acts) {
      const a = after.get(name)!, w = want.get(name)!;
      for (let j = 0; j < w.mean.length; j++) {
        assert.ok(Math.abs(a.mean[j] - w.mean[j]) < 1e-3 * (1 + Math.abs(w.mean[j])), `${name}[${j}] mean ${a.mean[j]} vs ${w.mean[j]}`);
        assert.ok(Math.abs(a.std[j] - w.std[j]) < 1e-3 * (1 + w.std[j]), `${name}[${j}] std ${a.std[j]} vs ${w.std[j]}`);
      }
    }
  });
});
