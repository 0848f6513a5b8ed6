/**
 * Initial weights of a BERT trained from scratch, as Hugging Face's BertPreTrainedModel
 * initialises them: linear weights and the embedding tables from a normal distribution
 * with std `initializerRange` (not truncated, as HF's BERT draws them), the [PAD] row of
 * the word embeddings zero, biases 0, LayerNorm weights 1 and biases 0. Each tensor
 * draws from its own seeded stream, so the weights depend on the seed alone.
 */
import { SeededRandom } from '../data/random.ts';
import type { Tensor } from '../io/tensor.ts';
import type { BertConfig } from '../models/bert.ts';
import { bertLayoutOf } from './bert-params.ts';
import { normal } from './init.ts';

/** Streams of SeededRandom used for BERT's initial weights: one per tensor, from here on. */
const INIT_STREAM = 0x42455254;

export function initBertTensors(config: BertConfig, seed: number, initializerRange = 0.02): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  bertLayoutOf(config).forEach(({ name, shape, size }, index) => {
    const data = new Float32Array(size);
    const layerNorm = /LayerNorm/.test(name);
    if (layerNorm && name.endsWith('.weight')) data.fill(1);
    else if (!name.endsWith('.bias') && !layerNorm) {
      const draw = normal(new SeededRandom(seed, INIT_STREAM + index));
      for (let i = 0; i < size; i++) data[i] = draw() * initializerRange;
      if (name === 'bert.embeddings.word_embeddings.weight' && config.padTokenId !== null && config.padTokenId < config.vocabSize)
        data.fill(0, config.padTokenId * config.hiddenSize, (config.padTokenId + 1) * config.hiddenSize);
    }
    out.set(name, { dtype: 'F32', shape, data });
  });
  return out;
}
