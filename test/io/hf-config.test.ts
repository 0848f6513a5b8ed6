import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { hfConfigToJson, parseHfConfig, readHfConfig, type BertConfig, type ViTConfig } from '../../lib/io/hf-config.ts';
import { expectInputError } from '../helpers/expect-error.ts';
import { fixture } from '../helpers/fixtures.ts';

const parse = (value: unknown) => parseHfConfig(JSON.stringify(value), 'config.json');

describe('HF config.json', () => {
  it('reads the ViT fixture with its labels and keeps unknown keys', async () => {
    const config = await readHfConfig(fixture('vit-tiny-bin', 'config.json')) as ViTConfig;
    assert.equal(config.model_type, 'vit');
    assert.equal(config.hidden_size, 8);
    assert.equal(config.image_size, 8);
    assert.equal(config.num_labels, 3);
    assert.deepEqual(config.id2label, { 0: 'airplane', 1: 'cat', 2: 'ship' });
    assert.deepEqual(config.extra.some_future_key, { kept: true });
    assert.equal(config.extra.problem_type, 'single_label_classification');
  });

  it("fills HF's ViT defaults for missing keys", () => {
    const config = parse({ model_type: 'vit' }) as ViTConfig;
    assert.deepEqual(
      [config.hidden_size, config.num_hidden_layers, config.num_attention_heads, config.intermediate_size, config.hidden_act, config.layer_norm_eps,
        config.image_size, config.patch_size, config.num_channels, config.qkv_bias, config.hidden_dropout_prob, config.num_labels],
      [768, 12, 12, 3072, 'gelu', 1e-12, 224, 16, 3, true, 0, 2],
    );
    assert.deepEqual(config.id2label, { 0: 'LABEL_0', 1: 'LABEL_1' });
    assert.deepEqual(config.label2id, { LABEL_0: 0, LABEL_1: 1 });
    assert.equal(config.architectures, null);
  });

  it("fills HF's BERT defaults for missing keys", () => {
    const config = parse({ architectures: ['BertForMaskedLM'] }) as BertConfig;
    assert.equal(config.model_type, 'bert');
    assert.deepEqual(
      [config.vocab_size, config.hidden_size, config.max_position_embeddings, config.type_vocab_size, config.pad_token_id, config.hidden_dropout_prob, config.position_embedding_type],
      [30522, 768, 512, 2, 0, 0.1, 'absolute'],
    );
  });

  it('derives labels from num_labels when id2label is absent, and lets id2label win when both are given', () => {
    assert.deepEqual(parse({ model_type: 'vit', num_labels: 3 }).id2label, { 0: 'LABEL_0', 1: 'LABEL_1', 2: 'LABEL_2' });
    assert.equal(parse({ model_type: 'vit', num_labels: 5, id2label: { 0: 'a' } }).num_labels, 1);
  });

  it('accepts [height, width] image and patch sizes', () => {
    const config = parse({ model_type: 'vit', image_size: [32, 64], patch_size: [8, 16] }) as ViTConfig;
    assert.deepEqual(config.image_size, [32, 64]);
  });

  it('writes back every key it read, the typed ones included, sorted as HF writes them', async () => {
    const path = fixture('vit-tiny-bin', 'config.json');
    const original = JSON.parse(readFileSync(path, 'utf8'));
    const written = JSON.parse(hfConfigToJson(await readHfConfig(path)));
    assert.deepEqual(written, original);
    const text = hfConfigToJson(parse({ model_type: 'bert', zeta: 1, alpha: 2 }), 'BertModel');
    assert.deepEqual(Object.keys(JSON.parse(text)), Object.keys(JSON.parse(text)).sort());
    assert.deepEqual(JSON.parse(text).architectures, ['BertModel']);
    assert.equal(JSON.parse(text).torch_dtype, 'float32');
  });

  const bad: Array<[string, unknown, RegExp]> = [
    ['hidden_size not divisible by the heads', { model_type: 'vit', hidden_size: 10, num_attention_heads: 4 }, /"hidden_size" 10 is not divisible by "num_attention_heads" 4/],
    ['a negative size', { model_type: 'bert', num_hidden_layers: -1 }, /"num_hidden_layers" must be a positive integer \(got -1\)/],
    ['a fractional size', { model_type: 'bert', intermediate_size: 7.5 }, /"intermediate_size" must be a positive integer \(got 7\.5\)/],
    ['a size given as a string', { model_type: 'vit', hidden_size: '768' }, /"hidden_size" must be a positive integer \(got "768"\)/],
    ['an unsupported activation', { model_type: 'vit', hidden_act: 'swishy' }, /"hidden_act" "swishy" is not supported \(supported: gelu/],
    ['a negative layer_norm_eps', { model_type: 'vit', layer_norm_eps: -1 }, /"layer_norm_eps" must be a positive number/],
    ['a dropout above 1', { model_type: 'bert', hidden_dropout_prob: 1.5 }, /"hidden_dropout_prob" must be a number from 0 to 1/],
    ['an image not divisible into patches', { model_type: 'vit', image_size: 30, patch_size: 16 }, /"image_size" 30x30 is not a whole number of "patch_size" 16x16 patches/],
    ['an unknown model type', { model_type: 'gpt2' }, /"model_type" "gpt2" is not supported \(supported: vit, bert\)/],
    ['an unknown architecture', { architectures: ['ViTForMaskedImageModeling'] }, /architecture "ViTForMaskedImageModeling" is not supported/],
    ['a model type that contradicts the architecture', { model_type: 'vit', architectures: ['BertModel'] }, /"model_type" is "vit" but "architectures" names "BertModel"/],
    ['neither model_type nor architectures', { hidden_size: 8 }, /neither "model_type" nor "architectures"/],
    ['relative position embeddings', { model_type: 'bert', position_embedding_type: 'relative_key' }, /"position_embedding_type" "relative_key" is not supported/],
    ['a pad token outside the vocabulary', { model_type: 'bert', vocab_size: 10, pad_token_id: 10 }, /"pad_token_id" 10 is outside the vocabulary/],
    ['id2label with a non-index key', { model_type: 'vit', id2label: { first: 'a' } }, /"id2label" key "first" is not a class index/],
    ['a JSON array', [1], /must hold a JSON object/],
    ['qkv_bias as a string', { model_type: 'vit', qkv_bias: 'yes' }, /"qkv_bias" must be true or false/],
  ];
  for (const [what, value, pattern] of bad) {
    it(`refuses ${what}, naming the file and key`, async () => {
      const err = await expectInputError(() => parse(value), pattern);
      assert.equal(err.source, 'config.json');
    });
  }

  it('refuses text that is not JSON', async () => {
    await expectInputError(() => parseHfConfig('{"model_type": vit}', 'm/config.json'), /^m\/config\.json: is not valid JSON/);
  });
});
