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
    for (const [name, t] of b.tensors) assert.deepEqual(fused.model.tensors.get(name)!.shape, t.shape);
    const result = await evaluate(fused.model, { data: join(dir, 'data') });
    assert.ok(result.kind === 'image-classification');
    assert.equal(result.images, 16);
    await saveModel(join(dir, 'fused'), fused.model);
    const back = await loadModel(join(dir, 'fused'));
    assert.equal((await evaluate(back, { data: join(dir, 'data') })).accuracy, result.accuracy);
  });

  it('names a misspelt fusion key', async () => {
    const [a, b] = await Promise.all([loadModel(join(dir, 'a')), loadModel(join(dir, 'b'))]);
    await assert.rejects(fuse([a, b], { data: join(dir, 'data'), fusion: { ot_solvr: 'emd' } as never }), (e) => e instanceof InputError && /fusion\.ot_solvr: unknown key; did you mean 'ot_solver'/.test(e.message));
  });
});
