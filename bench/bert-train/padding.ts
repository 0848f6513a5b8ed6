/**
 * What skipping padding buys a BERT training step: the same batch of variable-length
 * sequences (32 of at most 128 tokens, 20 to 79 real ones), once with each sample's real
 * tokens first (the trainer packs it: real rows only) and once with a one-token gap in
 * every mask (the same real tokens, but it cannot be packed: every padding row is
 * computed and masked). Masked LM and classifier, the bundled fortunes BERTs' shape
 * (2 layers, hidden 96, 4 heads, MLP 384, vocabulary 2048). Not a test.
 *
 *   npx tsx bench/bert-train/padding.ts [--steps N]
 */
import { backendInfo } from '../../lib/compute.ts';
import { machineDescription } from '../machine.ts';
import { parseBertConfig } from '../../lib/models/bert.ts';
import { BertTrainer } from '../../lib/train/bert-trainer.ts';
import { bertRandomBatch, bertRandomTensors, type BertRefConfig } from '../../test/helpers/bert-reference.ts';

const steps = Number(process.argv[process.argv.indexOf('--steps') + 1]) || 10;
const B = 32, T = 128;
const lengths = Array.from({ length: B }, (_, i) => 20 + ((i * 37) % 60));

async function timeSteps(cfg: BertRefConfig): Promise<{ packed: number; padded: number }> {
  const mlm = cfg.architectures[0] === 'BertForMaskedLM';
  const batch = bertRandomBatch(cfg, B, T, 5, lengths);
  // The gap: token 1 becomes padding and the first padding token real, in every sample.
  const gapped = { ...batch, mask: batch.mask.slice() };
  for (let b = 0; b < B; b++) {
    gapped.mask[b * T + 1] = 0;
    gapped.mask[b * T + lengths[b]] = 1;
  }
  // Masked LM: a label on every 7th real token (never token 1 or the moved one).
  const labels = mlm
    ? Int32Array.from({ length: B * T }, (_, k) => {
      const t = k % T, n = lengths[Math.floor(k / T)];
      return t < n && t !== 1 && k % 7 === 0 ? k % cfg.vocab_size : -100;
    })
    : Int32Array.from({ length: B }, (_, i) => i % 2);
  const trainer = await BertTrainer.create(parseBertConfig({ ...cfg }), bertRandomTensors(cfg, 3) as never, { batchSize: B, maxTokens: T });
  trainer.configure({ schedule: 'constant', lr: 1e-4, warmupSteps: 0, totalSteps: 10_000, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, labelSmoothing: 0, maxGradNorm: 1 });
  const best = { packed: Infinity, padded: Infinity };
  for (let round = 0; round < 2; round++) {
    for (const [name, b] of [['packed', batch], ['padded', gapped]] as const) {
      await trainer.step(b, labels);
      const t = performance.now();
      for (let i = 0; i < steps; i++) await trainer.step(b, labels);
      best[name] = Math.min(best[name], (performance.now() - t) / steps);
    }
  }
  return best;
}

const shape = { vocab_size: 2048, hidden_size: 96, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 384, max_position_embeddings: 128, type_vocab_size: 2, layer_norm_eps: 1e-12 };
console.log(machineDescription(backendInfo().threads));
console.log(`${B} sequences of ${T} tokens, ${lengths.reduce((a, b) => a + b, 0)} real; best of 2 rounds of ${steps} steps\n`);
console.log('| head | packed ms/step | padded ms/step | padded / packed |\n| --- | ---: | ---: | ---: |');
for (const [head, arch] of [['masked LM', 'BertForMaskedLM'], ['classifier', 'BertForSequenceClassification']] as const) {
  const r = await timeSteps({ architectures: [arch], ...shape, num_labels: 2 });
  console.log(`| ${head} | ${r.packed.toFixed(1)} | ${r.padded.toFixed(1)} | ${(r.padded / r.packed).toFixed(2)}x |`);
}
