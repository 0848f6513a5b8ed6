/**
 * Small BERT model folders and text datasets for pipeline and API tests: random weights
 * (or given ones) saved as an HF folder with the fixture vocabulary, and lines of random
 * whole words of that vocabulary with labels 0..2.
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseHfConfig } from '../../lib/io/hf-config.ts';
import { saveModel } from '../../lib/io/model-folder.ts';
import type { Tensor } from '../../lib/io/tensor.ts';
import { bertRandomTensors, type BertRefConfig, type RefTensor } from './bert-reference.ts';
import { fixture } from './fixtures.ts';
import { seededRandom } from './random.ts';

export const BERT_VOCAB = fixture('bert-torch', 'mlm', 'vocab.txt');

/** A small masked LM over the fixture vocabulary (212 tokens, 16 positions). */
export const TINY_MLM: BertRefConfig = {
  architectures: ['BertForMaskedLM'], vocab_size: 212, hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 2,
  intermediate_size: 24, max_position_embeddings: 16, type_vocab_size: 2, layer_norm_eps: 1e-12,
};

/** Saves a BERT folder: random weights from `seed`, or `tensors`, and the fixture vocab.txt. */
export async function writeBert(folder: string, cfg: BertRefConfig, seed: number, tensors?: Map<string, RefTensor>): Promise<void> {
  const config = parseHfConfig(JSON.stringify({ model_type: 'bert', hidden_act: 'gelu', pad_token_id: 0, ...cfg }), folder);
  await saveModel(folder, { config, architecture: cfg.architectures[0], tensors: (tensors ?? bertRandomTensors(cfg, seed)) as Map<string, Tensor> });
  copyFileSync(BERT_VOCAB, join(folder, 'vocab.txt'));
}

/** train.txt (40 lines) and test.txt (16 lines) of random vocabulary words, each with a .labels file. */
export function writeText(folder: string, seed: number): void {
  const words = readFileSync(BERT_VOCAB, 'utf8').split('\n').filter((w) => /^[a-z]+$/.test(w));
  const rand = seededRandom(seed);
  mkdirSync(folder, { recursive: true });
  for (const [split, n] of [['train', 40], ['test', 16]] as const) {
    const lines = Array.from({ length: n }, () => Array.from({ length: 4 + Math.floor(rand() * 8) }, () => words[Math.floor(rand() * words.length)]).join(' '));
    writeFileSync(join(folder, `${split}.txt`), `${lines.join('\n')}\n`);
    writeFileSync(join(folder, `${split}.labels`), `${lines.map((_, i) => String(i % 3)).join('\n')}\n`);
  }
}
