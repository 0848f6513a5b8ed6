/**
 * Per-neuron statistics of models' linear outputs on the fusion samples, for statistics
 * repair, computed natively while the samples pass: the samples are staged in the model
 * and carry their residual streams from layer to layer, each measurement's captures go
 * through a store of one chunk of samples whose rows are added to running statistics
 * and dropped (native/core/fusion/column_moments.h), so no more than a chunk's
 * activations is ever held. A parent is measured in one pass; the fused model in a
 * session (FusedMeasures) whose group-by-group measurements cost one to one and a half
 * passes: each rescaled group's kept outputs are rescaled natively as its weights were,
 * and the next measurement re-enters the layer after it.
 */
import type { Batch } from '../data/dataset.ts';
import type { FusedMeasures, NeuronStats, RepairMeasures, RescaledOutputs } from '../fusion/repair.ts';
import type { Tensor } from '../io/tensor.ts';
import type { Device, NativeStagedPasses, TaskOptions } from '../native.ts';
import { createBertModel, type BertConfig } from '../models/bert.ts';
import type { StagedModel } from '../models/native-model.ts';
import { createVitModel } from '../models/vit.ts';
import type { TokenBatch } from '../text/batch.ts';
import type { Parent } from './parents.ts';

/** What a staged session needs of a model adapter (VitModel, BertModel). */
type StagedAdapter = StagedModel<NativeStagedPasses> & {
  writeParameters(tensors: Map<string, Tensor>, names: string[], options?: TaskOptions): Promise<void>;
};

/** The statistics of `acts` over the staged samples, in one staged pass. */
async function measureStaged(model: StagedAdapter, acts: string[], signal?: AbortSignal): Promise<Map<string, NeuronStats>> {
  const stats = await model.measureStaged(acts, { signal });
  return new Map(acts.map((name, i) => [name, stats[i]]));
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

/** A model whose samples are staged already, measured pass by pass; `release` frees it. */
function stagedSession(model: StagedAdapter, tensors: Map<string, Tensor>, release: () => void, signal?: AbortSignal): FusedMeasures {
  return {
    measure: (acts) => measureStaged(model, acts, signal),
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

export function measureOnSamples(parents: Parent[], anchor: number, samples: Batch[], signal?: AbortSignal): RepairMeasures {
  return {
    async parent(which, tensors, acts) {
      const model = await createVitModel(parents[which].config, tensors, { source: parents[which].folder });
      try {
        for (const b of samples) await model.stageSamples(b.images, b.count, { signal });
        return await measureStaged(model, acts, signal);
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
      return stagedSession(model, tensors, () => model.dispose(), signal);
    },
  };
}

/**
 * The same for BERTs, on token batches: parent `which` (configs[which]) or the fused
 * model (in the anchor's config).
 */
export function measureBert(
  configs: BertConfig[], anchor: number, batches: TokenBatch[], options: { device?: Device; signal?: AbortSignal } = {},
): RepairMeasures {
  const { signal, device } = options;
  return {
    async parent(which, tensors, acts) {
      const model = await createBertModel(configs[which], tensors, { source: `parent ${which}`, device });
      try {
        for (const batch of batches) await model.stageSamples(batch, { signal });
        return await measureStaged(model, acts, signal);
      } finally {
        model.native.clearStaged();
      }
    },
    async fused(tensors) {
      const model = await createBertModel(configs[anchor], tensors, { source: 'the fused model', device });
      for (const batch of batches) await model.stageSamples(batch, { signal });
      // The BERT adapter frees its native model when the last reference goes.
      return stagedSession(model, tensors, () => {}, signal);
    },
  };
}
