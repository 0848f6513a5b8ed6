/**
 * Per-neuron statistics of a model's linear outputs on the fusion samples, for
 * statistics repair: a forward pass with a capture of every token, then natively
 * computed column means and standard deviations of the asked entries.
 */
import type { ActivationStore } from '../activations.ts';
import type { Batch } from '../data/dataset.ts';
import type { MeasureStats, NeuronStats } from '../fusion/repair.ts';
import { native, runTask, type Device } from '../native.ts';
import { createBertModel, type BertConfig } from '../models/bert.ts';
import { createVitModel } from '../models/vit.ts';
import type { TokenBatch } from '../text/batch.ts';
import type { Parent } from './parents.ts';

/** Finalises a filled store (no transform) and reads the per-neuron mean and std of the entries `acts`. */
export async function columnStats(store: ActivationStore, acts: string[], signal?: AbortSignal): Promise<Map<string, NeuronStats>> {
  await store.finalize('none', { signal });
  const out = new Map<string, NeuronStats>();
  for (const name of acts) out.set(name, await runTask({ signal }, (o) => native().fusionColumnStats({ store: store.native, name }, o)));
  return out;
}

export function measureOnSamples(parents: Parent[], anchor: number, samples: Batch[], signal?: AbortSignal): MeasureStats {
  const count = samples.reduce((s, b) => s + b.count, 0);
  return async (which, tensors, acts) => {
    const config = parents[which === 'fused' ? anchor : which].config;
    const model = await createVitModel(config, tensors, { source: which === 'fused' ? 'the fused model' : parents[which].folder });
    const store = model.createActivationStore({ numSamples: count, seqFilter: 'none', only: acts });
    try {
      for (const b of samples) await model.capture(store, b.images, b.count, { signal });
      return await columnStats(store, acts, signal);
    } finally {
      store.dispose();
      model.dispose();
    }
  };
}

/**
 * The same for BERTs, on token batches: parent `which` (configs[which]) or the fused
 * model (in the anchor's config).
 */
export function measureBert(
  configs: BertConfig[], anchor: number, batches: TokenBatch[], options: { maxTokens: number; device?: Device; signal?: AbortSignal },
): MeasureStats {
  const count = batches.reduce((s, b) => s + b.count, 0);
  // Real tokens over all batches: the stores reserve those rows only, not count x maxTokens.
  const totalTokens = batches.reduce((s, b) => s + b.mask.reduce((t, m) => t + (m ? 1 : 0), 0), 0);
  return async (which, tensors, acts) => {
    const config = configs[which === 'fused' ? anchor : which];
    const model = await createBertModel(config, tensors, { source: which === 'fused' ? 'the fused model' : `parent ${which}`, device: options.device });
    const store = model.createActivationStore({ numSamples: count, seqFilter: 'none', only: acts, maxTokens: options.maxTokens, totalTokens });
    try {
      for (const batch of batches) await model.capture(store, batch, { signal: options.signal });
      return await columnStats(store, acts, options.signal);
    } finally {
      store.dispose();
    }
  };
}
