// The bundled BERT parents (models/fortunes, trained by `otfuse train` from
// configs/train/fortunes-bert-*.yaml on data/fortunes-short): each loads with its
// tokenizer, reproduces its recorded test numbers under the documented evaluation, and
// beats the unigram baseline; A and B share an architecture and differ in their weights,
// bert-wide is wider with the same vocabulary.
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '../lib/io/model-folder.ts';
import { bertFromModel } from '../lib/models/bert.ts';
import { evaluateMaskedLm } from '../lib/text-eval.ts';
import { openTextDataset } from '../lib/text/dataset.ts';
import { BertTokenizer } from '../lib/text/tokenizer.ts';

const root = join(import.meta.dirname, '..');
const UNIGRAM_PERPLEXITY = 523.42; // models/fortunes/unigram-baseline.ts

describe('bundled BERT parents', function () {
  this.timeout(60000);

  it('reproduce their recorded masked-LM numbers on the test split and beat the unigram baseline', async () => {
    const data = await openTextDataset(join(root, 'data', 'fortunes-short'), { split: 'test' });
    const vocab = readFileSync(join(root, 'data', 'fortunes-short', 'vocab.txt'), 'utf8');
    const configs: Record<string, { hidden_size: number; intermediate_size: number; num_hidden_layers: number }> = {};
    const words = new Map<string, Float32Array>();
    for (const name of ['bert-a', 'bert-b', 'bert-wide']) {
      const folder = join(root, 'models', 'fortunes', name);
      assert.ok(statSync(join(folder, 'model.safetensors')).size < 3 * 2 ** 20, `${name} is over 3 MB`);
      assert.equal(readFileSync(join(folder, 'vocab.txt'), 'utf8'), vocab, `${name} has another vocabulary`);
      const loaded = await loadModel(folder);
      configs[name] = loaded.config as unknown as (typeof configs)[string];
      words.set(name, loaded.tensors.get('bert.embeddings.word_embeddings.weight')!.data as Float32Array);
      const model = await bertFromModel(loaded);
      const tokenizer = await BertTokenizer.fromFolder(folder, { vocabSize: model.config.vocabSize });
      const r = await evaluateMaskedLm(model, tokenizer, data, { maxLength: 64, pack: true, maskSeed: 0, batchSize: 64 });
      const recorded = JSON.parse(readFileSync(join(folder, 'training.json'), 'utf8')).finalTest;
      assert.ok(Math.abs(r.loss - recorded.loss) < 1e-4, `${name}: loss ${r.loss}, recorded ${recorded.loss}`);
      assert.ok(Math.abs(r.accuracy - recorded.accuracy) < 1e-9, `${name}: accuracy ${r.accuracy}, recorded ${recorded.accuracy}`);
      assert.ok(r.perplexity < 0.8 * UNIGRAM_PERPLEXITY, `${name}: perplexity ${r.perplexity} against the unigram's ${UNIGRAM_PERPLEXITY}`);
    }
    assert.deepEqual(configs['bert-a'], configs['bert-b']);
    assert.notDeepEqual(words.get('bert-a'), words.get('bert-b'));
    assert.ok(configs['bert-wide'].hidden_size > configs['bert-a'].hidden_size);
    assert.ok(configs['bert-wide'].intermediate_size > configs['bert-a'].intermediate_size);
    assert.equal(configs['bert-wide'].num_hidden_layers, configs['bert-a'].num_hidden_layers);
  });
});
