/**
 * The programmatic API for BERT masked LMs and sequence classifiers (lib/api.ts
 * dispatches here): the fusion engine of `otfuse run` on text, and the evaluation of
 * `otfuse eval`. Text becomes tokens with the model's own tokenizer files, which
 * loadModel reads and a fused model takes from its anchor.
 */
import { bertFromModel } from '../models/bert.ts';
import { fuseBertParents, repairBertFusion, textSettings } from '../pipeline/bert-fusion.ts';
import { bertParentsFromModels } from '../pipeline/bert-parents.ts';
import { evaluateBertText, labelsFor } from '../text-eval.ts';
import { openTextDataset } from '../text/dataset.ts';
import { BertTokenizer } from '../text/tokenizer.ts';
import type { ArchitectureApi } from './types.ts';

export const bertApi: ArchitectureApi = {
  type: 'hf_bert',
  evaluateKeys: ['maxLength', 'maskSeed', 'pack', 'examples'],

  async fuse(models, anchor, experiment, hooks) {
    const parents = await bertParentsFromModels(models, experiment.runtime.device);
    const a = parents[anchor];
    const cfg = textSettings(experiment, a);
    const fusion = await fuseBertParents(parents, anchor, cfg, BertTokenizer.fromModel(a.model), hooks);
    const repaired = await repairBertFusion(parents, anchor, cfg, fusion, hooks);
    return {
      // The anchor's tokenizer files come along: the fused model reads text as the anchor does.
      model: {
        config: structuredClone(a.model.config), architecture: a.model.architecture, tensors: repaired ?? fusion.result.tensors,
        tokenizer: a.model.tokenizer && { ...a.model.tokenizer }, derivedFrom: models.flatMap((m) => (m.source ? [m.source.folder] : [])),
      },
      maps: fusion.result.maps,
      weights: fusion.result.weights,
    };
  },

  async evaluate(model, options) {
    const bert = await bertFromModel(model);
    const tokenizer = BertTokenizer.fromModel(model);
    const data = await openTextDataset(options.data, { split: options.split ?? 'test', unit: options.examples ?? 'lines', labels: labelsFor(bert.config) });
    return evaluateBertText(bert, tokenizer, data, {
      maxLength: options.maxLength ?? Math.min(128, bert.config.maxPositions), batchSize: options.batchSize, limit: options.limit,
      maskSeed: options.maskSeed ?? 0, pack: options.pack ?? false, signal: options.signal, onProgress: options.onProgress,
    });
  },
};
