/**
 * Per-neuron statistics of models' linear outputs on the fusion samples, for statistics
 * repair: captures of every token, then natively computed column means and standard
 * deviations of the asked entries. A parent is measured in one pass; the fused model in
 * a session whose samples carry their residual streams from layer to layer
 * (FusedMeasures), so that repair's group-by-group measurements cost a few passes.
 */
import type { ActivationOptions, ActivationStore } from '../activations.ts';
import type { Batch } from '../data/dataset.ts';
import type { FusedMeasures, NeuronStats, RepairMeasures } from '../fusion/repair.ts';
import type { Tensor } from '../io/tensor.ts';
import { native, runTask, type Device, type TaskOptions } from '../native.ts';
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

/** What a staged session needs of a model adapter (VitModel, BertModel). */
interface StagedModel {
  createActivationStore(options: ActivationOptions): ActivationStore;
  captureStaged(store: ActivationStore, options?: TaskOptions): Promise<number>;
  writeParameters(tensors: Map<string, Tensor>, names: string[], options?: TaskOptions): Promise<void>;
  readonly native: { clearStaged(): void };
}

/** A model whose samples are staged already, measured store by store; `release` frees it. */
function stagedSession(
  model: StagedModel, tensors: Map<string, Tensor>, storeFor: (acts: string[]) => ActivationOptions, release: () => void, signal?: AbortSignal,
): FusedMeasures {
  return {
    async measure(acts) {
      const store = model.createActivationStore(storeFor(acts));
      try {
        await model.captureStaged(store, { signal });
        return await columnStats(store, acts, signal);
      } finally {
        store.dispose();
      }
    },
    update: (names) => model.writeParameters(tensors, names, { signal }),
    dispose() {
      model.native.clearStaged();
      release();
    },
  };
}

export function measureOnSamples(parents: Parent[], anchor: number, samples: Batch[], signal?: AbortSignal): RepairMeasures {
  const count = samples.reduce((s, b) => s + b.count, 0);
  const storeFor = (acts: string[]): ActivationOptions => ({ numSamples: count, seqFilter: 'none', only: acts });
  return {
    async parent(which, tensors, acts) {
      const model = await createVitModel(parents[which].config, tensors, { source: parents[which].folder });
      const store = model.createActivationStore(storeFor(acts));
      try {
        for (const b of samples) await model.capture(store, b.images, b.count, { signal });
        return await columnStats(store, acts, signal);
      } finally {
        store.dispose();
        model.dispose();
      }
    },
    async fused(tensors) {
      const model = await createVitModel(parents[anchor].config, tensors, { source: 'the fused model' });
      try {
        for (const b of samples) await model.stageSamples(b.images, b.count, { signal });
      } catch (err) {
        model.dispose();
        throw err;
      }
      return stagedSession(model, tensors, storeFor, () => model.dispose(), signal);
    },
  };
}

/**
 * The same for BERTs, on token batches: parent `which` (configs[which]) or the fused
 * model (in the anchor's config).
 */
export function measureBert(
  configs: BertConfig[], anchor: number, batches: TokenBatch[], options: { maxTokens: number; device?: Device; signal?: AbortSignal },
): RepairMeasures {
  const count = batches.reduce((s, b) => s + b.count, 0);
  // Real tokens over all batches: the stores reserve those rows only, not count x maxTokens.
  const totalTokens = batches.reduce((s, b) => s + b.mask.reduce((t, m) => t + (m ? 1 : 0), 0), 0);
  const storeFor = (acts: string[]): ActivationOptions & { maxTokens: number; totalTokens: number } =>
    ({ numSamples: count, seqFilter: 'none', only: acts, maxTokens: options.maxTokens, totalTokens });
  const { signal, device } = options;
  return {
    async parent(which, tensors, acts) {
      const model = await createBertModel(configs[which], tensors, { source: `parent ${which}`, device });
      const store = model.createActivationStore(storeFor(acts));
      try {
        for (const batch of batches) await model.capture(store, batch, { signal });
        return await columnStats(store, acts, signal);
      } finally {
        store.dispose();
      }
    },
    async fused(tensors) {
      const model = await createBertModel(configs[anchor], tensors, { source: 'the fused model', device });
      for (const batch of batches) await model.stageSamples(batch, { signal });
      // The BERT adapter frees its native model when the last reference goes.
      return stagedSession(model, tensors, storeFor, () => {}, signal);
    },
  };
}
