/**
 * Seconds per BERT masked-LM training step, ours against PyTorch on the CPU, in one run:
 * the same BertForMaskedLM (HF layout, tied decoder), weights, masked batch, thread count,
 * loss, clipping and AdamW (decay on linear weight matrices only). Before timing, both
 * sides take the same first steps from the same weights and the driver checks that their
 * losses agree. PyTorch is timed twice: as HF's BertForMaskedLM runs (logits for every
 * token, then the loss over the masked ones), and decoding the masked tokens only, as the
 * native trainer does.
 *
 *   npx tsx bench/bert-train/run.ts [--threads 2,1] [--seconds 8] [--rounds 2] [--models bundled,wide,h256]
 *                                   [--torch-env OMP_WAIT_POLICY=PASSIVE]
 *
 * Models: `bundled` and `wide` are the architectures of models/fortunes/bert-a (and -b)
 * and bert-wide, from their recipes, with their batch (32 packed sequences of 64 tokens);
 * `h256` is a larger BERT (hidden 256, 4 layers, 4 heads, MLP 1024, vocab 8192) on 16
 * sequences of 128 tokens. 15% of the tokens carry a label. The sides alternate for
 * --rounds rounds and each keeps its best median, so background load on a shared machine
 * costs neither side more than the other.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeSafetensors } from '../../lib/io/safetensors.ts';
import type { Tensor } from '../../lib/io/tensor.ts';
import { bertConfigToHF, type BertConfig } from '../../lib/models/bert.ts';
import type { NativeTrainerConfig } from '../../lib/native.ts';
import type { TokenBatch } from '../../lib/text/batch.ts';
import { parseBertTrainConfig } from '../../lib/train/bert-config.ts';
import { initBertTensors } from '../../lib/train/bert-init.ts';
import { BertTrainer } from '../../lib/train/bert-trainer.ts';
import { seededRandom } from '../../test/helpers/random.ts';
import { medianSeconds } from '../timing.ts';
import { arg, logParity, printResults, runTorch } from '../train-compare.ts';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const threadCounts = arg('threads', '2,1').split(',').map(Number);
const seconds = Number(arg('seconds', '8'));
const rounds = Number(arg('rounds', '2'));
const modelNames = arg('models', 'bundled,wide,h256').split(',');
const PARITY_STEPS = 4;

interface BenchModel { label: string; config: BertConfig; batch: number; tokens: number }

function fromRecipe(file: string, label: string): BenchModel {
  const path = join(root, 'configs', 'train', file);
  const cfg = parseBertTrainConfig(readFileSync(path, 'utf8'), path);
  const m = cfg.model;
  const vocab = readFileSync(join(root, m.vocab!), 'utf8').trimEnd().split('\n').length;
  return {
    label, batch: cfg.training.batch_size, tokens: cfg.data.max_length,
    config: {
      head: 'masked-lm', vocabSize: vocab, hiddenSize: m.hidden_size, numLayers: m.num_hidden_layers, numHeads: m.num_attention_heads,
      intermediateSize: m.intermediate_size, maxPositions: m.max_position_embeddings, typeVocabSize: m.type_vocab_size,
      layerNormEps: m.layer_norm_eps, numLabels: 2, tiedDecoder: true, padTokenId: 0,
    },
  };
}

const MODELS: Record<string, () => BenchModel> = {
  bundled: () => fromRecipe('fortunes-bert-a.yaml', 'bundled fortunes BERT (bert-a/b)'),
  wide: () => fromRecipe('fortunes-bert-wide.yaml', 'bundled fortunes BERT (bert-wide)'),
  h256: () => ({
    label: 'BERT hidden 256', batch: 16, tokens: 128,
    config: {
      head: 'masked-lm', vocabSize: 8192, hiddenSize: 256, numLayers: 4, numHeads: 4, intermediateSize: 1024, maxPositions: 128,
      typeVocabSize: 2, layerNormEps: 1e-12, numLabels: 2, tiedDecoder: true, padTokenId: 0,
    },
  }),
};

const recipe: NativeTrainerConfig = {
  schedule: 'constant', lr: 1e-3, warmupSteps: 0, totalSteps: 1_000_000, beta1: 0.9, beta2: 0.999, eps: 1e-8,
  weightDecay: 0.01, labelSmoothing: 0, maxGradNorm: 1.0,
};

/** A full batch of random token ids (ids 5.. are ordinary tokens), 15% of them masked with their labels. */
function maskedBatch(m: BenchModel): { batch: TokenBatch; labels: Int32Array } {
  const rand = seededRandom(11);
  const n = m.batch * m.tokens, V = m.config.vocabSize;
  const ids = new Int32Array(n), labels = new Int32Array(n).fill(-100);
  for (let r = 0; r < n; r++) {
    const t = r % m.tokens;
    ids[r] = t === 0 ? 2 : t === m.tokens - 1 ? 3 : 5 + Math.floor(rand() * (V - 5));
    if (t > 0 && t < m.tokens - 1 && rand() < 0.15) {
      labels[r] = ids[r];
      ids[r] = 4;
    }
  }
  return { batch: { ids, typeIds: new Int32Array(n), mask: new Uint8Array(n).fill(1), count: m.batch, tokens: m.tokens }, labels };
}

function oursMedian(trainer: BertTrainer, batch: TokenBatch, labels: Int32Array): Promise<number> {
  return medianSeconds(() => trainer.step(batch, labels), seconds);
}

async function benchModel(name: string, threads: number): Promise<string> {
  const m = MODELS[name]();
  const tensors = initBertTensors(m.config, 1);
  const { batch, labels } = maskedBatch(m);
  const dir = mkdtempSync(join(tmpdir(), 'otfuse-bench-bert-train-'));
  try {
    writeFileSync(join(dir, 'config.json'), JSON.stringify(bertConfigToHF(m.config)));
    writeFileSync(join(dir, 'recipe.json'), JSON.stringify(recipe));
    await writeSafetensors(join(dir, 'model.safetensors'), tensors);
    const shape = [m.batch, m.tokens];
    await writeSafetensors(join(dir, 'batch.safetensors'), new Map<string, Tensor>([
      ['input_ids', { dtype: 'I32', shape, data: batch.ids }], ['token_type_ids', { dtype: 'I32', shape, data: batch.typeIds }],
      ['attention_mask', { dtype: 'I32', shape, data: Int32Array.from(batch.mask) }], ['labels', { dtype: 'I32', shape, data: labels }],
    ]));
    const fresh = async () => {
      const t = await BertTrainer.create(m.config, tensors, { batchSize: m.batch, maxTokens: m.tokens });
      t.configure(recipe);
      return t;
    };
    const parity = await fresh();
    const ourLosses: number[] = [];
    for (let i = 0; i < PARITY_STEPS; i++) ourLosses.push((await parity.step(batch, labels)).loss);
    let ours = Infinity, all = Infinity, selected = Infinity;
    let info: { torch: string; threads: number; losses: number[] } | undefined;
    for (let round = 0; round < rounds; round++) {
      ours = Math.min(ours, await oursMedian(await fresh(), batch, labels));
      const out = runTorch<{ torch: string; threads: number; losses: number[]; seconds: { all: number; selected: number } }>(
        join(here, 'torch_bert_train.py'), [dir, String(threads), String(seconds), String(PARITY_STEPS)], threads);
      all = Math.min(all, out.seconds.all);
      selected = Math.min(selected, out.seconds.selected);
      info = out;
    }
    logParity(m.label, info!, ourLosses);
    const c = m.config;
    const desc = `${m.label}: ${c.numLayers} layers, hidden ${c.hiddenSize}, ${c.numHeads} heads, MLP ${c.intermediateSize}, vocab ${c.vocabSize}`;
    const tokens = m.batch * m.tokens;
    return `| ${threads} | ${desc} | ${m.batch} x ${m.tokens} | ${(ours * 1000).toFixed(1)} | ${(all * 1000).toFixed(1)} | ${(selected * 1000).toFixed(1)} | ${(all / ours).toFixed(2)}x | ${(selected / ours).toFixed(2)}x | ${(tokens / ours).toFixed(0)} |`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  await printResults('BERT masked-LM training-step benchmark', '', threadCounts, modelNames, [
    'threads', 'model', 'batch x tokens', 'ours ms/step', 'torch (HF, all logits) ms/step', 'torch (masked rows only) ms/step',
    'HF torch / ours', 'masked-rows torch / ours', 'ours tokens/s',
  ], benchModel);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
