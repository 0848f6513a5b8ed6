// The programmatic API as the README shows it: loadModel, fuse, evaluate, saveModel,
// through the package's entry point.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evaluate, fuse, InputError, loadModel, parseHfConfig, saveModel } from '../lib/index.ts';
import type { Tensor } from '../lib/io/tensor.ts';
import { writeSyntheticIdx } from './helpers/synthetic-idx.ts';
import { randomTensors, type RefConfig } from './helpers/vit-reference.ts';

const cfg: RefConfig = {
  image_size: 8, patch_size: 2, num_channels: 1, hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 2,
  intermediate_size: 24, num_labels: 4, layer_norm_eps: 1e-12, qkv_bias: true,
};

describe('programmatic API', function () {
  this.timeout(30000);
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'otfuse-api-'));
    writeSyntheticIdx(join(dir, 'data'), { train: 120, test: 16, size: 8, classes: 4, seed: 2 });
    const config = parseHfConfig(JSON.stringify({ model_type: 'vit', architectures: ['ViTForImageClassification'], ...cfg }), 'config');
    for (const [name, seed] of [['a', 1], ['b', 2]] as const)
      await saveModel(join(dir, name), { config, architecture: 'ViTForImageClassification', tensors: randomTensors(cfg, seed) as Map<string, Tensor> });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('loads, fuses, evaluates and saves', async () => {
    const [a, b] = await Promise.all([loadModel(join(dir, 'a')), loadModel(join(dir, 'b'))]);
    const stages = new Set<string>();
    const fused = await fuse([a, b], {
      data: join(dir, 'data'),
      fusion: { ot_solver: 'sinkhorn', sinkhorn_reg: 0.08, acts: { num_samples: 10, seq_filter: { kind: 'window', size: 2 } } },
      onProgress: (stage) => stages.add(stage),
    });
    assert.deepEqual([...stages].sort(), ['activations', 'fusion', 'repair']);
    assert.equal(fused.maps[1].length, 0);
    assert.ok(fused.maps[0].every((m) => m.solver === 'sinkhorn'));
    assert.deepEqual(fused.warnings, []);
    // The settings' warnings come back as report.json has them; seq_filter as a config file writes it.
    const clsOnly = await fuse([a, b], { data: join(dir, 'data'), fusion: { repair: 'none', acts: { num_samples: 10, seq_filter: 'only_cls' } } });
    assert.match(clsOnly.warnings[0], /^fusion\.acts\.seq_filter only_cls: layer 0's query, key and value/);
    for (const [name, t] of b.tensors) assert.deepEqual(fused.model.tensors.get(name)!.shape, t.shape);
    const result = await evaluate(fused.model, { data: join(dir, 'data') });
    assert.ok(result.kind === 'image-classification');
    assert.equal(result.images, 16);
    await saveModel(join(dir, 'fused'), fused.model);
    const back = await loadModel(join(dir, 'fused'));
    assert.equal((await evaluate(back, { data: join(dir, 'data') })).accuracy, result.accuracy);
  });

  it('checks its arguments at the door: models, option keys and values, and what saveModel may write', async () => {
    const [a, b] = await Promise.all([loadModel(join(dir, 'a')), loadModel(join(dir, 'b'))]);
    const data = join(dir, 'data');
    // Models: not a model, a config its tensors do not fit (an absurd depth fails at the first missing layer), data shorter than its shape.
    await assert.rejects(fuse([a, null as never]), /fuse: models\[1\]: is not a model/);
    const deep = { ...a, source: undefined, config: { ...a.config, num_hidden_layers: 1_000_000 } };
    await assert.rejects(evaluate(deep, { data }), /tensor "vit\.encoder\.layer\.2\.[\w.]+" is missing/);
    const short = new Map(a.tensors);
    short.set('classifier.weight', { ...a.tensors.get('classifier.weight')!, data: (a.tensors.get('classifier.weight')!.data as Float32Array).subarray(0, 10) });
    await assert.rejects(evaluate({ ...a, tensors: short }, { data }), /tensor "classifier\.weight" holds 10 values, its shape 4 x 16 needs 64/);
    // Options: unknown keys, fractions, bad normalisation.
    await assert.rejects(evaluate(a, { data, limt: 10 } as never), /evaluate options: limt: unknown option; did you mean 'limit'/);
    await assert.rejects(fuse([a, b], { data, fuison: {} } as never), /fuse options: fuison: unknown option; did you mean 'fusion'/);
    await assert.rejects(evaluate(a, { data, limit: 2.5 }), /evaluate options: limit: must be an integer >= 0, got 2\.5/);
    await assert.rejects(evaluate(a, { data, mean: [NaN], std: [1] }), /mean: must be a non-empty list of finite numbers/);
    await assert.rejects(evaluate(a, { data, signal: 5 as never }), /evaluate options: signal: must be an AbortSignal, got number/);
    await assert.rejects(fuse([a, b], { data, signal: {} as never }), /fuse options: signal: must be an AbortSignal, got object/);
    await assert.rejects(fuse([a, b], { data, onProgress: 'log' as never }), /fuse options: onProgress: must be a function, got string/);
    // A weights-mode fusion of a model built in memory checks its values as a capture would.
    const nan = new Map(a.tensors);
    const w = (a.tensors.get('vit.layernorm.weight')!.data as Float32Array).slice();
    w[0] = NaN;
    nan.set('vit.layernorm.weight', { ...a.tensors.get('vit.layernorm.weight')!, data: w });
    await assert.rejects(fuse([{ ...a, source: undefined, tensors: nan }, b], { fusion: { type: 'wts', repair: 'none' } }), /vit\.layernorm\.weight: holds a non-finite value \(NaN\)/);
    // Without data, the error says which setting needs it.
    await assert.rejects(fuse([a, b], { fusion: { type: 'wts' } }), /data\.folder: is needed .*statistics repair \(fusion\.repair: anchor\).*set fusion\.repair: none/);
    await assert.rejects(fuse([a, b], { fusion: { type: 'acts' } }), /data\.folder: is needed .*acts mode/);
    // The fused model is its own: its config is not the anchor's object, and its parents' folders are never written.
    const fused = await fuse([a, b], { fusion: { type: 'wts', repair: 'none' } });
    assert.notEqual(fused.model.config, b.config);
    await assert.rejects(saveModel(join(dir, 'b'), fused.model, { force: true }), /would replace the input model folder/);
    await assert.rejects(saveModel(join(dir, 'a', 'fused'), fused.model), /is inside the input model folder/);
    await assert.rejects(saveModel(join(dir, 'out'), { ...fused.model, tokenizer: { '../evil.txt': 'x' } as never }), /tokenizer: file name "\.\.\/evil\.txt" is not a plain file name/);
    await assert.rejects(saveModel(join(dir, 'out'), fused.model, { forse: true } as never), /saveModel options: forse: unknown option; did you mean 'force'/);
  });

  it('runs several fusions and evaluations at once in one process, each giving what it gives alone', async () => {
    const [a, b] = await Promise.all([loadModel(join(dir, 'a')), loadModel(join(dir, 'b'))]);
    const data = join(dir, 'data');
    const settings = [
      { ot_solver: 'sinkhorn', sinkhorn_reg: 0.08, acts: { num_samples: 12 } },
      { ot_solver: 'emd', acts: { num_samples: 12 } },
      { type: 'wts', ot_solver: 'emd', resid_policy: 'no_resid', acts: { num_samples: 12 } },
    ] as const;
    const orders = [[a, b], [b, a], [a, b]];
    const alone = [];
    for (const [i, fusion] of settings.entries()) alone.push(await fuse(orders[i], { data, fusion }));
    const together = await Promise.all(settings.map((fusion, i) => fuse(orders[i], { data, fusion })));
    for (const [i, fused] of together.entries()) {
      assert.deepEqual([...fused.model.tensors.keys()], [...alone[i].model.tensors.keys()]);
      for (const [name, t] of fused.model.tensors) assert.deepEqual(t.data, alone[i].model.tensors.get(name)!.data, `fusion ${i}: ${name}`);
    }
    const models = [a, b, ...alone.map((f) => f.model)];
    const evaluations = await Promise.all(models.map((m) => evaluate(m, { data })));
    const scores = (r: Awaited<ReturnType<typeof evaluate>>) => (r.kind === 'image-classification' ? [r.accuracy, r.meanLoss, r.images] : [r.kind]);
    for (const [i, m] of models.entries()) assert.deepEqual(scores(evaluations[i]), scores(await evaluate(m, { data })), `model ${i}`);
  });

  it('names a misspelt fusion key', async () => {
    const [a, b] = await Promise.all([loadModel(join(dir, 'a')), loadModel(join(dir, 'b'))]);
    await assert.rejects(fuse([a, b], { data: join(dir, 'data'), fusion: { ot_solvr: 'emd' } as never }), (e) => e instanceof InputError && /fusion\.ot_solvr: unknown key; did you mean 'ot_solver'/.test(e.message));
  });
});
