// The native ViT forward pass against the float64 reference on random ViTs of several
// shapes, and the adapter's checks on configs and tensors.
import assert from 'node:assert/strict';
import { InputError, isAbortError } from '../lib/errors.ts';
import { createVitModel, nativeVitConfig, parseVitConfig, vitActivationNames, vitConfigToHF, vitFlatParameters, vitParameterShapes } from '../lib/models/vit.ts';
import { native } from '../lib/native.ts';
import { hfShapes, randomImages, randomTensors, referenceForward, referenceLosses, type RefConfig } from './helpers/vit-reference.ts';

const base: RefConfig = {
  image_size: 8, patch_size: 4, num_channels: 3, hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 2,
  intermediate_size: 32, num_labels: 5, layer_norm_eps: 1e-12, qkv_bias: true,
};

// Image and patch sizes, 1 and 3 channels, depths, widths, heads, MLP sizes, qkv_bias
// both ways, head dims that are and are not multiples of the vector width.
export const SHAPES: RefConfig[] = [
  base,
  { ...base, image_size: 12, patch_size: 3, num_channels: 1, hidden_size: 24, num_hidden_layers: 1, num_attention_heads: 3, intermediate_size: 40, num_labels: 3, qkv_bias: false },
  { ...base, image_size: 10, patch_size: 5, hidden_size: 32, num_hidden_layers: 3, num_attention_heads: 4, intermediate_size: 64, num_labels: 10, layer_norm_eps: 1e-6 },
  { ...base, image_size: 16, patch_size: 4, num_channels: 1, hidden_size: 12, num_hidden_layers: 2, num_attention_heads: 1, intermediate_size: 12, num_labels: 2, qkv_bias: false },
  { ...base, image_size: 32, patch_size: 4, hidden_size: 64, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 128, num_labels: 10, layer_norm_eps: 1e-5 },
];

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('ViT forward pass', () => {
  SHAPES.forEach((cfg, index) => {
    const label = `${cfg.image_size}px/p${cfg.patch_size} c${cfg.num_channels} L${cfg.num_hidden_layers} d${cfg.hidden_size} h${cfg.num_attention_heads} mlp${cfg.intermediate_size} bias=${cfg.qkv_bias}`;
    it(`logits and losses match float64 (${label})`, async () => {
      const tensors = randomTensors(cfg, 100 + index);
      const model = await createVitModel({ ...cfg }, tensors);
      const batch = 5;
      model.setMicroBatch(2); // several micro-batches, one of them partial
      const images = randomImages(cfg, batch, 200 + index);
      const labels = Int32Array.from({ length: batch }, (_, i) => (i * 3) % cfg.num_labels);
      const { logits, losses } = await model.forward(images, batch, { labels });
      const ref = referenceForward(cfg, tensors, images, batch);
      assert.ok(maxAbsDiff(logits, ref.logits) < 1e-4, `logits differ by ${maxAbsDiff(logits, ref.logits)}`);
      const refLoss = referenceLosses(ref.logits, labels, cfg.num_labels);
      assert.ok(losses && maxAbsDiff(losses, refLoss) < 1e-4);
      // Without labels there are no losses, and one call of a whole batch agrees.
      model.setMicroBatch(64);
      const again = await model.forward(images, batch);
      assert.equal(again.losses, null);
      assert.ok(maxAbsDiff(again.logits, logits) < 1e-5);
    });
  });

  it('maps every HF parameter name and shape, and reads them back', async () => {
    const cfg = SHAPES[1];
    const shapes = vitParameterShapes(parseVitConfig({ ...cfg }));
    const want = new Map(hfShapes(cfg));
    assert.equal(shapes.length, want.size);
    for (const { name, shape } of shapes) assert.deepEqual(shape, want.get(name), name);
    const tensors = randomTensors(cfg, 7);
    const back = await (await createVitModel({ ...cfg }, tensors)).parameters();
    for (const [name, t] of tensors) assert.deepEqual(back.get(name)!.data, t.data, name);
  });

  it('builds off the JS thread from the tensors in place, which it leaves as they were', async () => {
    // ~13M parameters: packing and checking them takes milliseconds on the worker, in which
    // the event loop must keep turning (the constructor alone used to hold it ~380 ms for a ViT-B).
    const cfg: RefConfig = { ...SHAPES[0], hidden_size: 512, num_attention_heads: 8, intermediate_size: 2048, num_hidden_layers: 4 };
    const tensors = new Map([...randomTensors(cfg, 12)].map(([name, t]) => [name, { ...t, data: Float32Array.from(t.data) }]));
    const before = new Map([...tensors].map(([name, t]) => [name, t.data.slice()]));
    let turned = false;
    setImmediate(() => { turned = true; });
    const building = createVitModel({ ...cfg }, tensors);
    const model = await building;
    assert.ok(turned, 'an immediate callback ran while the model was built');
    for (const [name, t] of tensors) assert.deepEqual(t.data, before.get(name), `${name} unchanged`);
    const back = await model.parameters();
    for (const [name, t] of tensors) assert.deepEqual(back.get(name)!.data, t.data, name);
    model.dispose();
  });

  it('build() checks its parts and reports the first non-finite value by part and index', async () => {
    const cfg = SHAPES[1];
    const nc = nativeVitConfig(parseVitConfig({ ...cfg }));
    const total = native().vitLayout(nc).total;
    const build = (parts: Array<{ data: Float32Array; offset: number }>) => native().VitModel.build(nc, parts, null, {});
    assert.throws(() => build([{ data: new Float32Array(4), offset: total - 3 }]), /VitModel.build: parts\[0\]: 4 values at offset .* do not fit/);
    assert.throws(() => build([{ data: new Float32Array(4), offset: -1 }]), /parts\[0\]/);
    assert.throws(() => build([{ data: new Float64Array(4) as unknown as Float32Array, offset: 0 }]), /parts\[0\]\.data must be a Float32Array/);
    const bad = new Float32Array(5);
    bad[2] = Infinity;
    const result = await build([{ data: new Float32Array(3), offset: 0 }, { data: bad, offset: 10 }]);
    assert.deepEqual(result, { nonFinite: { part: 1, index: 2, value: Infinity } });
    const ok = await build([{ data: new Float32Array(total).fill(0.5), offset: 0 }]);
    assert.ok('built' in ok);
    assert.ok((await ok.built.readParameters()).every((v) => v === 0.5));
    ok.built.dispose();
  });

  it('native models and trainers are made by build() only', () => {
    const config = parseVitConfig({ ...SHAPES[1] });
    const flat = vitFlatParameters(config, randomTensors(SHAPES[1], 8));
    const addon = native() as unknown as Record<'VitModel' | 'BertModel' | 'VitTrainer' | 'BertTrainer', new (...args: unknown[]) => unknown>;
    assert.throws(() => new addon.VitModel(nativeVitConfig(config), flat, null, {}), /VitModel: models are made by VitModel.build/);
    assert.throws(() => new addon.BertModel({}, flat), /BertModel: models are made by BertModel.build/);
    assert.throws(() => new addon.VitTrainer(nativeVitConfig(config), flat, { batchSize: 2 }), /VitTrainer: trainers are made by VitTrainer.build/);
    assert.throws(() => new addon.BertTrainer({}, flat, {}), /BertTrainer: trainers are made by BertTrainer.build/);
  });

  it('reads HF configs: defaults, id2label, and errors naming the key', async () => {
    const c = parseVitConfig({ model_type: 'vit', image_size: 32, patch_size: 4, id2label: { 0: 'cat', 1: 'dog' } });
    assert.equal(c.hiddenSize, 768);
    assert.equal(c.numLabels, 2);
    assert.deepEqual(c.labelNames, ['cat', 'dog']);
    assert.equal(c.layerNormEps, 1e-12);
    assert.deepEqual(parseVitConfig(vitConfigToHF(c)), c);
    assert.throws(() => parseVitConfig({ hidden_size: '768' }), (e) => e instanceof InputError && /"hidden_size" must be a positive integer/.test(e.message));
    assert.throws(() => parseVitConfig({ hidden_act: 'relu' }), /hidden_act/);
    assert.throws(() => parseVitConfig({ image_size: 30, patch_size: 4 }), /"image_size" 30x30 is not a whole number of "patch_size" 4x4 patches/);
    assert.throws(() => parseVitConfig({ hidden_size: 10, num_attention_heads: 3 }), /num_attention_heads/);
    assert.throws(() => parseVitConfig({ model_type: 'bert' }), /model_type/);
  });

  it('refuses missing, misshapen, non-finite and unknown tensors with the name at fault', async () => {
    const cfg = SHAPES[0];
    const good = () => randomTensors(cfg, 3);
    const missing = good();
    missing.delete('vit.encoder.layer.1.output.dense.bias');
    await assert.rejects(() => createVitModel({ ...cfg }, missing, { source: 'models/a' }),
      (e) => e instanceof InputError && /models\/a: missing ViT parameters: vit.encoder.layer.1.output.dense.bias/.test(e.message));
    const shaped = good();
    shaped.get('classifier.weight')!.shape = [cfg.num_labels + 1, cfg.hidden_size];
    await assert.rejects(() => createVitModel({ ...cfg }, shaped), /classifier.weight: has shape \[6, 16\], the config needs \[5, 16\]/);
    const nan = good();
    nan.get('vit.layernorm.bias')!.data[3] = NaN;
    await assert.rejects(() => createVitModel({ ...cfg }, nan), /vit.layernorm.bias: holds a non-finite value/);
    const extra = good();
    extra.set('vit.pooler.dense.weight', { dtype: 'F32', shape: [1], data: new Float32Array(1) });
    await createVitModel({ ...cfg }, extra); // the pooler is ignored
    extra.set('something.else', { dtype: 'F32', shape: [1], data: new Float32Array(1) });
    await assert.rejects(() => createVitModel({ ...cfg }, extra), /unexpected tensors for this ViT config: something.else/);
  });

  it('reports progress in images and can be cancelled between micro-batches', async () => {
    const cfg = SHAPES[4];
    const model = await createVitModel({ ...cfg }, randomTensors(cfg, 5));
    model.setMicroBatch(2);
    const images = randomImages(cfg, 7, 6);
    const seen: Array<[number, number]> = [];
    await model.forward(images, 7, { onProgress: (d, t) => seen.push([d, t]) });
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(seen[seen.length - 1], [7, 7]);
    // Long enough (a few hundred ms) that the first progress report arrives well before the end.
    const many = randomImages(cfg, 3000, 7);
    const controller = new AbortController();
    const started = performance.now();
    await assert.rejects(model.forward(many, 3000, { signal: controller.signal, onProgress: () => controller.abort() }), (e) => isAbortError(e));
    assert.ok(performance.now() - started < 5000);
  });

  it('checks the image buffer against the count', async () => {
    const cfg = SHAPES[0];
    const model = await createVitModel({ ...cfg }, randomTensors(cfg, 1));
    await assert.rejects(model.forward(new Float32Array(10), 2), /images holds 10 floats, 2 images of 3x8x8 need 384/);
    await assert.rejects(model.forward(randomImages(cfg, 1, 1), 1, { labels: Int32Array.of(7) }), /label 7 of sample 0 is outside \[0, 5\)/);
  });

  it('names its activations after HF modules, in forward order', async () => {
    const names = vitActivationNames(parseVitConfig({ ...SHAPES[0] }));
    assert.deepEqual(names.slice(0, 4), ['vit.embeddings.patch_embeddings', 'vit.embeddings', 'vit.encoder.layer.0.layernorm_before', 'vit.encoder.layer.0.attention.attention.query']);
    assert.deepEqual(names.slice(-3), ['vit.encoder.layer.1', 'vit.layernorm', 'classifier']);
    assert.ok(names.includes('vit.encoder.layer.1.attention'));
    assert.equal(names.length, 2 + 10 * 2 + 2);
  });

  it('auto runs on the GPU when one is usable, else on the CPU; cuda without a GPU fails clearly', async () => {
    const cfg = SHAPES[0];
    const gpu = native().info().cudaAvailable;
    const model = await createVitModel({ ...cfg }, randomTensors(cfg, 1), { device: 'auto' });
    assert.equal(model.native.device, gpu ? 'cuda' : 'cpu');
    assert.equal((await createVitModel({ ...cfg }, randomTensors(cfg, 1), { device: 'cpu' })).native.device, 'cpu');
    if (gpu) assert.equal((await createVitModel({ ...cfg }, randomTensors(cfg, 1), { device: 'cuda' })).native.device, 'cuda');
    else await assert.rejects(() => createVitModel({ ...cfg }, randomTensors(cfg, 1), { device: 'cuda' }), /CUDA is not available/);
  });
});
