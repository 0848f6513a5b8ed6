// The native training pass on tiny ViTs: the gradient of every parameter against
// central differences of the float64 reference forward (test/helpers/vit-reference.ts),
// and AdamW steps (clipping, decoupled decay, schedule) against a float64 re-derivation.
import assert from 'node:assert/strict';
import type { Tensor } from '../lib/io/tensor.ts';
import { parseVitConfig } from '../lib/models/vit.ts';
import { VitTrainer } from '../lib/train/vit-trainer.ts';
import { randomImages, randomTensors, referenceTrainingLoss, type RefConfig, type RefTensor } from './helpers/vit-reference.ts';

const tiny: RefConfig = {
  image_size: 8, patch_size: 4, num_channels: 2, hidden_size: 8, num_hidden_layers: 2, num_attention_heads: 2,
  intermediate_size: 12, num_labels: 3, layer_norm_eps: 1e-6, qkv_bias: true,
};

/**
 * Largest |got - want| over the tensor, relative to the largest |want| (or to `floor`
 * when that is larger: a gradient that is zero in exact arithmetic, as the key bias's
 * is, since softmax ignores a shift shared by every key, has no scale of its own).
 */
function relativeError(got: ArrayLike<number>, want: ArrayLike<number>, floor = 1e-12): number {
  let err = 0, scale = floor;
  for (let i = 0; i < want.length; i++) {
    err = Math.max(err, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  return err / scale;
}

/** dL/dθ by central differences of the float64 reference, stepping the float32 value by ±h. */
function numericGradient(cfg: RefConfig, tensors: Map<string, RefTensor>, name: string, loss: () => number, h = 1e-3): Float64Array {
  const data = tensors.get(name)!.data;
  const g = new Float64Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const keep = data[i];
    data[i] = keep + h;
    const up = data[i];
    const lUp = loss();
    data[i] = keep - h;
    const down = data[i];
    const lDown = loss();
    data[i] = keep;
    g[i] = (lUp - lDown) / (up - down); // the actual float32 step
  }
  void cfg;
  return g;
}

function asTensors(t: Map<string, RefTensor>): Map<string, Tensor> {
  return new Map([...t].map(([k, v]) => [k, { dtype: 'F32', shape: v.shape, data: Float32Array.from(v.data) }]));
}

describe('training: gradients and optimiser steps', () => {
  for (const [label, cfg, smoothing] of [
    ['2 layers, qkv bias, label smoothing 0.1', tiny, 0.1],
    ['1 layer, no qkv bias, 3 heads, no smoothing', { ...tiny, num_hidden_layers: 1, hidden_size: 12, num_attention_heads: 3, qkv_bias: false, num_channels: 1 }, 0],
  ] as Array<[string, RefConfig, number]>) {
    it(`every parameter's gradient matches float64 finite differences (${label})`, async () => {
      const tensors = randomTensors(cfg, 11);
      const batch = 3;
      const images = randomImages(cfg, batch, 12);
      const labels = Int32Array.from([0, 2, 1]);
      const config = parseVitConfig({ ...cfg });
      const trainer = await VitTrainer.create(config, asTensors(tensors), { batchSize: 4, microBatch: 2 });
      trainer.configure({
        schedule: 'constant', lr: 0, warmupSteps: 0, totalSteps: 1, beta1: 0.9, beta2: 0.999, eps: 1e-8,
        weightDecay: 0, labelSmoothing: smoothing, maxGradNorm: 0,
      });
      const { loss, grads } = await trainer.gradients(images, labels, batch);
      const refLoss = referenceTrainingLoss(cfg, tensors, images, labels, smoothing);
      assert.ok(Math.abs(loss - refLoss) < 1e-5, `loss ${loss} vs ${refLoss}`);
      const numeric = new Map([...grads.keys()].map((name) =>
        [name, numericGradient(cfg, tensors, name, () => referenceTrainingLoss(cfg, tensors, images, labels, smoothing))]));
      let largest = 0;
      for (const fd of numeric.values()) for (const x of fd) largest = Math.max(largest, Math.abs(x));
      const errors: Array<[string, number]> = [...grads].map(([name, g]) =>
        [name, relativeError(g.data as Float32Array, numeric.get(name)!, 1e-3 * largest)]);
      const worst = errors.reduce((a, b) => (b[1] > a[1] ? b : a));
      // eslint-disable-next-line no-console
      console.log(`      ${errors.length} tensors, worst relative error ${worst[1].toExponential(2)} (${worst[0]}); median ${errors.map((e) => e[1]).sort((a, b) => a - b)[errors.length >> 1].toExponential(2)}`);
      for (const [name, e] of errors) assert.ok(e < 1e-4, `${name}: relative error ${e}`);
    });
  }

  it('AdamW steps with clipping, decoupled decay and a warmup schedule match a float64 re-derivation', async () => {
    const cfg = tiny;
    const tensors = asTensors(randomTensors(cfg, 21));
    const images = randomImages(cfg, 4, 22);
    const labels = Int32Array.from([1, 0, 2, 1]);
    const config = parseVitConfig({ ...cfg });
    const trainer = await VitTrainer.create(config, tensors, { batchSize: 4 });
    const recipe = { lr: 0.05, warmupSteps: 2, totalSteps: 5, beta1: 0.8, beta2: 0.95, eps: 1e-6, weightDecay: 0.3, maxGradNorm: 0.5 };
    trainer.configure({ schedule: 'cosine', labelSmoothing: 0.1, ...recipe });
    // The reference state: float64 parameters and moments per HF name.
    const P = new Map([...tensors].map(([k, t]) => [k, Float64Array.from(t.data as Float32Array)]));
    const M = new Map([...tensors].map(([k, t]) => [k, new Float64Array(t.data.length)]));
    const V = new Map([...tensors].map(([k, t]) => [k, new Float64Array(t.data.length)]));
    const decays = (name: string) => name.endsWith('.weight') && !name.includes('layernorm');
    for (let step = 0; step < 4; step++) {
      const { grads } = await trainer.gradients(images, labels, 4);
      let sq = 0;
      for (const g of grads.values()) for (const x of g.data as Float32Array) sq += x * x;
      const norm = Math.sqrt(sq);
      const clip = Math.min(1, recipe.maxGradNorm / (norm + 1e-6));
      const lr = step < recipe.warmupSteps ? (recipe.lr * step) / recipe.warmupSteps
        : recipe.lr * 0.5 * (1 + Math.cos((Math.PI * (step - recipe.warmupSteps)) / (recipe.totalSteps - recipe.warmupSteps)));
      const t = step + 1;
      for (const [name, g] of grads) {
        const p = P.get(name)!, m = M.get(name)!, v = V.get(name)!;
        for (let i = 0; i < p.length; i++) {
          const gi = (g.data as Float32Array)[i] * clip;
          if (decays(name)) p[i] *= 1 - lr * recipe.weightDecay;
          m[i] = recipe.beta1 * m[i] + (1 - recipe.beta1) * gi;
          v[i] = recipe.beta2 * v[i] + (1 - recipe.beta2) * gi * gi;
          p[i] -= (lr * (m[i] / (1 - recipe.beta1 ** t))) / (Math.sqrt(v[i] / (1 - recipe.beta2 ** t)) + recipe.eps);
        }
      }
      const result = await trainer.step(images, labels, 4);
      assert.equal(result.step, step + 1);
      assert.ok(Math.abs(result.lr - lr) < 1e-12, `step ${step}: lr ${result.lr} vs ${lr}`);
      assert.ok(Math.abs(result.gradNorm - norm) < 1e-5 * norm);
      let worst = 0;
      for (const [name, t2] of await trainer.parameters()) worst = Math.max(worst, relativeError(t2.data as Float32Array, P.get(name)!));
      assert.ok(worst < 1e-5, `step ${step}: parameters differ by ${worst}`);
    }
    assert.equal(trainer.steps, 4);
    const state = await trainer.optimizerState();
    assert.equal(state.step, 4);
  });

  it('a trainer is built off the JS thread from the tensors in place: they stay as they were, a non-finite one is named', async () => {
    const tensors = asTensors(randomTensors(tiny, 23));
    const before = new Map([...tensors].map(([name, t]) => [name, (t.data as Float32Array).slice()]));
    const config = parseVitConfig({ ...tiny });
    const trainer = await VitTrainer.create(config, tensors, { batchSize: 2 });
    for (const [name, t] of await trainer.parameters()) assert.deepEqual(t.data, before.get(name), name);
    trainer.configure({ schedule: 'constant', lr: 0.1, warmupSteps: 0, totalSteps: 1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxGradNorm: 0, labelSmoothing: 0 });
    await trainer.step(randomImages(tiny, 2, 24), Int32Array.from([0, 1]), 2);
    for (const [name, t] of tensors) assert.deepEqual(t.data, before.get(name), `${name} untouched by training`);
    (tensors.get('classifier.bias')!.data as Float32Array)[1] = NaN;
    await assert.rejects(VitTrainer.create(config, tensors, { batchSize: 2, source: 'models/x' }), /models\/x: classifier.bias: holds a non-finite value \(NaN\) at index 1/);
  });
});
