import assert from 'node:assert/strict';
import { describeModel, formatModelSummary } from '../../lib/io/inspect.ts';
import { expectInputError } from '../helpers/expect-error.ts';
import { fixture } from '../helpers/fixtures.ts';

describe('inspect summary', () => {
  it('describes a ViT checkpoint for people and as JSON', async () => {
    const summary = await describeModel(fixture('vit-tiny-bin'));
    assert.equal(summary.format, 'pytorch');
    assert.equal(summary.sharded, false);
    assert.equal(summary.architecture, 'ViTForImageClassification');
    assert.equal(summary.modelType, 'vit');
    assert.equal(summary.parameterCount, summary.tensors.reduce((s, t) => s + t.parameters, 0));
    assert.deepEqual(summary.tensors[0], { name: 'vit.embeddings.cls_token', dtype: 'F32', shape: [1, 1, 8], parameters: 8 });
    const json = JSON.parse(JSON.stringify(summary));
    assert.equal(json.config.hidden_size, 8);
    assert.equal(json.tensors.length, 40);

    const text = formatModelSummary(summary);
    assert.match(text, /^Model folder +.*vit-tiny-bin$/m);
    assert.match(text, /^Weights +PyTorch \(torch\.save\): pytorch_model\.bin$/m);
    assert.match(text, /^Architecture +ViTForImageClassification \(model type vit\)$/m);
    assert.match(text, /^Encoder +2 layers, hidden size 8, 2 attention heads, MLP size 16, gelu$/m);
    assert.match(text, /^Input +8x8 images, 3 channels, 4x4 patches \(4 patches \+ class token\)$/m);
    assert.match(text, /^Labels +3 \(airplane, cat, ship\)$/m);
    assert.match(text, new RegExp(`^Parameters +${summary.parameterCount.toLocaleString('en-US')} in 40 tensors, stored as F32$`, 'm'));
    assert.match(text, /^vit\.embeddings\.patch_embeddings\.projection\.weight +F32 +8 x 3 x 4 x 4 +384$/m);
  });

  it('shows stored dtypes and leaves integer buffers out of the parameter count', async () => {
    const summary = await describeModel(fixture('bert-tiny-safetensors-sharded'));
    const ids = summary.tensors.find((t) => t.name === 'bert.embeddings.position_ids')!;
    assert.equal(ids.dtype, 'I64');
    assert.equal(summary.parameterCount, summary.tensors.reduce((s, t) => s + t.parameters, 0) - ids.parameters);
    const text = formatModelSummary(summary);
    assert.match(text, /^Weights +safetensors, 3 shards listed in model\.safetensors\.index\.json: model-00001-of-00003\.safetensors, model-00002/m);
    assert.match(text, /stored as I64 \(1 tensor\), F32 \(42 tensors\)/);
    assert.match(text, /^Input +vocabulary of 20, up to 12 positions, 2 token types$/m);
    assert.doesNotMatch(text, /^Labels/m);
  });

  it('reports a broken folder as an InputError', async () => {
    await expectInputError(() => describeModel(fixture('no-such-model')), /no-such-model: model folder does not exist/);
  });
});
