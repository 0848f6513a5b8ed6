/**
 * Per-neuron statistics of models' linear outputs on the fusion samples, for statistics
 * repair: captures of every token, then natively computed column means and standard
 * deviations of the asked entries. The samples are staged in the model and carry their
 * residual streams from layer to layer: a parent is measured in one pass (split into
 * spans of layers where the captures would not fit in memory at once), the fused model
 * in a session (FusedMeasures) whose group-by-group measurements cost about two passes:
 * each rescaled group's kept outputs are rescaled natively as its weights were, and the
 * next measurement re-enters the layer after it.
 */
import type { ActivationOptions, ActivationStore } from '../activations.ts';
import type { Batch } from '../data/dataset.ts';
import type { FusedMeasures, NeuronStats, RepairMeasures, RescaledOutputs } from '../fusion/repair.ts';
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
  planActivations(options: ActivationOptions): { bytes: number; limit: number };
  createActivationStore(options: ActivationOptions): ActivationStore;
  captureStaged(store: ActivationStore, options?: TaskOptions): Promise<number>;
  writeParameters(tensors: Map<string, Tensor>, names: string[], options?: TaskOptions): Promise<void>;
  rescaleStaged(points: string[], scale: Float64Array, shift: Float64Array, options?: TaskOptions): Promise<boolean>;
  readonly native: { clearStaged(): void };
}

/**
 * The statistics of `acts` (in forward order) of a model whose samples are staged, in as
 * few passes as memory allows: consecutive entries are captured together while their
 * store takes at most half the store limit (every token of every hidden layer of a
 * ViT-B/16 over 200 images would take 13 GB), each capture starting where the last one
 * left the samples.
 */
async function measureInSpans(
  model: StagedModel, acts: string[], storeFor: (acts: string[]) => ActivationOptions, signal?: AbortSignal,
): Promise<Map<string, NeuronStats>> {
  const out = new Map<string, NeuronStats>();
  // Each entry's size planned once; a span's store is about the sum of its entries'.
  const plans = acts.map((act) => model.planActivations(storeFor([act])));
  const budget = plans.length > 0 ? plans[0].limit / 2 : 0;
  for (let first = 0; first < acts.length;) {
    let end = first + 1;
    for (let bytes = plans[first].bytes; end < acts.length && bytes + plans[end].bytes <= budget; end++) bytes += plans[end].bytes;
    const span = acts.slice(first, end);
    const store = model.createActivationStore(storeFor(span));
    try {
      await model.captureStaged(store, { signal });
      for (const [name, stats] of await columnStats(store, span, signal)) out.set(name, stats);
    } finally {
      store.dispose();
    }
    first = end;
  }
  return out;
}

/** Points, scales and shifts of a group's rescaled outputs, concatenated in order. */
function concatRescaled(rescaled: RescaledOutputs[]): [string[], Float64Array, Float64Array] {
  const total = rescaled.reduce((n, r) => n + r.scale.length, 0);
  const scale = new Float64Array(total), shift = new Float64Array(total);
  let at = 0;
  for (const r of rescaled) {
    scale.set(r.scale, at);
    shift.set(r.shift, at);
    at += r.scale.length;
  }
  return [rescaled.map((r) => r.acts), scale, shift];
}

/** A model whose samples are staged already, measured store by store; `release` frees it. */
function stagedSession(
  model: StagedModel, tensors: Map<string, Tensor>, storeFor: (acts: string[]) => ActivationOptions, release: () => void, signal?: AbortSignal,
): FusedMeasures {
  return {
    measure: (acts) => measureInSpans(model, acts, storeFor, signal),
    async update(names, rescaled) {
      await model.writeParameters(tensors, names, { signal });
      // The measured group's kept outputs follow its weights; when the model cannot map
      // them (not a layer's group), its next measurement computes the layer again.
      if (rescaled?.length) await model.rescaleStaged(...concatRescaled(rescaled), { signal });
    },
    dispose() {
      model.native.clearStaged();
      release();
    },
  };
}

/** `maxStoreBytes`: the store limit the spans of measureInSpans are sized by (default: the machine's). */
export function measureOnSamples(parents: Parent[], anchor: number, samples: Batch[], signal?: AbortSignal, maxStoreBytes?: number): RepairMeasures {
  const count = samples.reduce((s, b) => s + b.count, 0);
  const storeFor = (acts: string[]): ActivationOptions => ({ numSamples: count, seqFilter: 'none', only: acts, maxBytes: maxStoreBytes });
  return {
    async parent(which, tensors, acts) {
      const model = await createVitModel(parents[which].config, tensors, { source: parents[which].folder });
      try {
        for (const b of samples) await model.stageSamples(b.images, b.count, { signal });
        return await measureInSpans(model, acts, storeFor, signal);
      } finally {
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
  configs: BertConfig[], anchor: number, batches: TokenBatch[],
  options: { maxTokens: number; device?: Device; signal?: AbortSignal; maxStoreBytes?: number },
): RepairMeasures {
  const count = batches.reduce((s, b) => s + b.count, 0);
  // Real tokens over all batches: the stores reserve those rows only, not count x maxTokens.
  const totalTokens = batches.reduce((s, b) => s + b.mask.reduce((t, m) => t + (m ? 1 : 0), 0), 0);
  const storeFor = (acts: string[]): ActivationOptions & { maxTokens: number; totalTokens: number } =>
    ({ numSamples: count, seqFilter: 'none', only: acts, maxTokens: options.maxTokens, totalTokens, maxBytes: options.maxStoreBytes });
  const { signal, device } = options;
  return {
    async parent(which, tensors, acts) {
      const model = await createBertModel(configs[which], tensors, { source: `parent ${which}`, device });
      try {
        for (const batch of batches) await model.stageSamples(batch, { signal });
        return await measureInSpans(model, acts, storeFor, signal);
      } finally {
        model.native.clearStaged();
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
