/** The programmatic API for ViT image classifiers (lib/api.ts dispatches here). */
import { openDataset } from '../data/dataset.ts';
import { preprocessorConfig, resolveNormalisation } from '../data/normalisation.ts';
import { preprocessForInput } from '../data/preprocess.ts';
import { InputError } from '../errors.ts';
import { evaluate as evaluateClassifier } from '../eval.ts';
import { vitFromModel } from '../models/vit.ts';
import { parentsFromModels } from '../pipeline/parents.ts';
import { fuseParents, repairVitFusion } from '../pipeline/vit-fusion.ts';
import type { ArchitectureApi } from './types.ts';

export const vitApi: ArchitectureApi = {
  type: 'hf_vit',
  evaluateKeys: ['format', 'mean', 'std', 'resize'],

  async fuse(models, anchor, cfg, hooks) {
    const parents = parentsFromModels(models);
    const a = parents[anchor];
    const norm = resolveNormalisation({ mean: cfg.data.mean, std: cfg.data.std, preprocessor: a.model.preprocessor, channels: a.config.numChannels, names: { mean: 'data.mean', std: 'data.std' } });
    const fusion = await fuseParents(parents, anchor, cfg, norm, hooks);
    const repaired = await repairVitFusion(parents, anchor, cfg, fusion, hooks);
    // The fused model takes images the way the anchor does: it keeps its preprocessor config.
    const preprocessor = preprocessorConfig(norm.mean ?? [0.5], norm.std ?? [0.5], a.config.imageSize);
    return {
      model: {
        config: structuredClone(a.model.config), architecture: a.model.architecture, tensors: repaired ?? fusion.result.tensors, preprocessor,
        derivedFrom: models.flatMap((m) => (m.source ? [m.source.folder] : [])),
      },
      maps: fusion.result.maps,
      weights: fusion.result.weights,
    };
  },

  async evaluate(model, options) {
    const split = options.split ?? 'test';
    if (split === 'validation') throw new InputError('split', 'validation is a split of text datasets; image datasets have train and test');
    const vit = await vitFromModel(model);
    const norm = resolveNormalisation({ mean: options.mean, std: options.std, preprocessor: model.preprocessor, channels: vit.config.numChannels });
    const dataset = await openDataset(options.data, {
      split,
      format: options.format,
      preprocess: preprocessForInput(vit.input, { mean: norm.mean, std: norm.std, resize: options.resize ?? norm.resize }),
    });
    return { kind: 'image-classification', ...(await evaluateClassifier(vit, dataset, options)) };
  },
};
