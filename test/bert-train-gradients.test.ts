// The native BERT training pass on tiny models: the gradient of every parameter (masked
// LM with its tied decoder, and the classification head) against central differences of
// the float64 reference forward (test/helpers/bert-reference.ts), with padded sequences
// (packed, and padded with masked keys) and micro-batches that split the batch.
import assert from 'node:assert/strict';
import type { Tensor } from '../lib/io/tensor.ts';
import { parseBertConfig } from '../lib/models/bert.ts';
import { BertTrainer } from '../lib/train/bert-trainer.ts';
import { bertRandomBatch, bertRandomTensors, bertReferenceTrainingLoss, type BertRefConfig, type RefTensor } from './helpers/bert-reference.ts';

const mlm: BertRefConfig = {
  architectures: ['BertForMaskedLM'], vocab_size: 13, hidden_size: 8, num_hidden_layers: 2, num_attention_heads: 2,
  intermediate_size: 12, max_position_embeddings: 8, type_vocab_size: 2, layer_norm_eps: 1e-6,
};
const classifier: BertRefConfig = { ...mlm, architectures: ['BertForSequenceClassification'], num_labels: 3, num_hidden_layers: 1, num_attention_heads: 4 };

function asTensors(t: Map<string, RefTensor>): Map<string, Tensor> {
  return new Map([...t].map(([k, v]) => [k, { dtype: 'F32', shape: v.shape, data: Float32Array.from(v.data) }]));
}

/** dL/dθ by central differences, stepping each float32 value by ±h (the actual float32 step). */
function numericGradient(tensors: Map<string, RefTensor>, name: string, loss: () => number, h = 1e-3): Float64Array {
  const data = tensors.get(name)!.data;
  const g = new Float64Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const keep = data[i];
    data[i] = keep + h;
    const up = data[i], lUp = loss();
    data[i] = keep - h;
    const down = data[i], lDown = loss();
    data[i] = keep;
    g[i] = (lUp - lDown) / (up - down);
  }
  return g;
}

function relativeError(got: ArrayLike<number>, want: ArrayLike<number>, floor: number): number {
  let err = 0, scale = floor;
  for (let i = 0; i < want.length; i++) {
    err = Math.max(err, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  return err / scale;
}

const CONSTANT = { schedule: 'constant' as const, lr: 0, warmupSteps: 0, totalSteps: 1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxGradNorm: 0 };

/**
 * Sequences whose real tokens come first run packed (no padding rows); `mask` can
 * rewrite the batch's mask, e.g. with a gap, which keeps it padded (masked keys).
 */
async function checkGradients(cfg: BertRefConfig, labels: Int32Array, lengths: number[], smoothing: number, mask?: (m: Uint8Array) => void): Promise<void> {
  const tensors = bertRandomTensors(cfg, 21);
  const tokens = 6;
  const batch = bertRandomBatch(cfg, lengths.length, tokens, 22, lengths);
  mask?.(batch.mask);
  const config = parseBertConfig({ ...cfg });
  const trainer = await BertTrainer.create(config, asTensors(tensors), { batchSize: 4, maxTokens: 8, microBatch: 2 });
  trainer.configure({ ...CONSTANT, labelSmoothing: smoothing });
  const { loss, grads, labelled } = await trainer.gradients(batch, labels);
  const refLoss = bertReferenceTrainingLoss(cfg, tensors, batch, labels, smoothing);
  assert.ok(Math.abs(loss - refLoss) < 1e-5 * Math.max(1, refLoss), `loss ${loss} vs ${refLoss}`);
  assert.equal(labelled, labels.filter((l) => l !== -100).length);
  const numeric = new Map([...grads.keys()].map((name) => [name, numericGradient(tensors, name, () => bertReferenceTrainingLoss(cfg, tensors, batch, labels, smoothing))]));
  let largest = 0;
  for (const fd of numeric.values()) for (const x of fd) largest = Math.max(largest, Math.abs(x));
  const errors: Array<[string, number]> = [...grads].map(([name, g]) => [name, relativeError(g.data as Float32Array, numeric.get(name)!, 1e-3 * largest)]);
  const worst = errors.reduce((a, b) => (b[1] > a[1] ? b : a));
  // eslint-disable-next-line no-console
  console.log(`      ${errors.length} tensors, worst relative error ${worst[1].toExponential(2)} (${worst[0]})`);
  for (const [name, e] of errors) assert.ok(e < 2e-4, `${name}: relative error ${e}`);
}

describe('BERT training: gradients against float64 finite differences', () => {
  it('masked LM: every parameter, the tied decoder into the word embeddings, padded keys, labels on some tokens only', async () => {
    // 3 sequences of 6 tokens with 6, 4 and 2 real ones; labels (-100 = none) on real tokens.
    const L = -100;
    const labels = Int32Array.from([
      L, 3, L, 7, L, 12,
      5, L, L, 0, L, L,
      L, 9, L, L, L, L,
    ]);
    await checkGradients(mlm, labels, [6, 4, 2], 0);
  });

  it('sequence classification: pooler tanh, classifier, label smoothing 0.1, padded keys', async () => {
    await checkGradients(classifier, Int32Array.from([2, 0, 1]), [6, 3, 5], 0.1);
  });

  // A real token after padding: the batch cannot be packed and runs padded, masked keys and all.
  const gap = (m: Uint8Array) => {
    m[6 + 3] = 0;
    m[6 + 4] = 1;
  };
  it('masked LM, a sequence with a gap in its mask (the padded path)', async () => {
    const L = -100;
    const labels = Int32Array.from([L, 3, L, 7, L, 12, 5, L, L, L, 2, L, L, 9, L, L, L, L]);
    await checkGradients(mlm, labels, [6, 4, 2], 0, gap);
  });

  it('sequence classification, a sequence with a gap in its mask (the padded path)', async () => {
    await checkGradients(classifier, Int32Array.from([2, 0, 1]), [6, 4, 5], 0.1, gap);
  });
});
