/**
 * Two BERT-base-sized masked LMs with random weights (12 layers, hidden 768, 12 heads, MLP
 * 3072, 512 positions, a 30522-entry vocabulary; 110M parameters each, the MLM decoder
 * tied to the word embeddings) and an experiment config that fuses them on the shipped
 * fortunes text (data/fortunes-short, 200 sequences of at most 128 tokens): the BERT scale
 * measurement of bench/fusion. The tokenizer is the bundled fortunes BERTs' (2048 WordPiece
 * entries) padded with [unused<i>] entries to 30522 (never looked up; their rows are fused).
 *
 *   npx tsx bench/fusion/make-bert-base-pair.ts <folder>
 *   npx tsx bench/fusion/run.ts <folder>/experiment.yaml
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseHfConfig } from '../../lib/io/hf-config.ts';
import { saveModel } from '../../lib/io/model-folder.ts';
import { bertRandomTensors, type BertRefConfig } from '../../test/helpers/bert-reference.ts';
import { writePairExperiment } from './pair-experiment.ts';

const folder = process.argv[2];
if (!folder) throw new Error('usage: bench/fusion/make-bert-base-pair.ts <folder>');
const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const tokenizer = join(root, 'models/fortunes/bert-a');
const shape: BertRefConfig = {
  architectures: ['BertForMaskedLM'], vocab_size: 30522, hidden_size: 768, num_hidden_layers: 12, num_attention_heads: 12,
  intermediate_size: 3072, max_position_embeddings: 512, type_vocab_size: 2, layer_norm_eps: 1e-12,
};
mkdirSync(folder, { recursive: true });
for (const [name, seed] of [['a', 1], ['b', 2]] as const) {
  const config = parseHfConfig(JSON.stringify({ model_type: 'bert', hidden_act: 'gelu', pad_token_id: 0, ...shape }), `${name}/config.json`);
  await saveModel(join(folder, name), { config, architecture: 'BertForMaskedLM', tensors: bertRandomTensors(shape, seed) as never }, { force: true });
  for (const f of ['tokenizer_config.json', 'special_tokens_map.json']) copyFileSync(join(tokenizer, f), join(folder, name, f));
  const vocab = readFileSync(join(tokenizer, 'vocab.txt'), 'utf8').split('\n').filter((t) => t.length > 0);
  for (let i = 0; vocab.length < shape.vocab_size; i++) vocab.push(`[unused${i}]`);
  writeFileSync(join(folder, name, 'vocab.txt'), `${vocab.join('\n')}\n`);
}
writePairExperiment(folder, "BERT-base-sized random pair: bench/fusion's BERT scale measurement.", {
  model: { type: 'hf_bert' },
  data: { folder: join(root, 'data/fortunes-short'), test_limit: 64, text: { max_length: 128 } },
});
console.log(`wrote ${resolve(folder)}/{a,b,experiment.yaml}`);
