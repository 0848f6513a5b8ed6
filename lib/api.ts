/**
 * The programmatic API in a few calls: load models, fuse them, evaluate, save.
 *
 *   const [a, b] = await Promise.all([loadModel('models/a'), loadModel('models/b')]);
 *   const fused = await fuse([a, b], { data: '/data/fashion-mnist', fusion: { ot_solver: 'sinkhorn', sinkhorn_reg: 0.08 } });
 *   console.log(await evaluate(fused.model, { data: '/data/fashion-mnist' }));
 *   await saveModel('models/fused', fused.model);
 *
 * The same calls take ViT image classifiers and BERTs (masked LMs and sequence
 * classifiers, with a text dataset as `data`); this file is the one place that tells them
 * apart, by the models' config.json, and both run the fusion engine of `otfuse run`.
 * `fusion` takes the keys of an experiment config's `fusion` section (docs/config.md),
 * validated the same way: a misspelt key is an InputError that names it.
 */
import { bertApi } from './api/bert.ts';
import type { ArchitectureApi, EvaluateOptions, Evaluation, FuseOptions, Fused } from './api/types.ts';
import { vitApi } from './api/vit.ts';
import { experimentSchema, type ExperimentConfig } from './config/experiment.ts';
import { checkConsistency } from './config/load.ts';
import { validateConfig } from './config/validate.ts';
import { InputError, throwIfAborted } from './errors.ts';
import type { Model } from './io/model-folder.ts';
import { checkModel } from './api/checks.ts';
import { checkFunction, checkInteger, checkOneOf, checkOptionKeys, checkSignal } from './options.ts';
import type { StageHooks } from './pipeline/stages.ts';
import { fusionWarnings } from './pipeline/activations.ts';

export type { EvaluateOptions, Evaluation, FuseOptions, Fused, FusionOptions, SeqFilterInput } from './api/types.ts';

const ARCHITECTURES: Record<Model['config']['model_type'], ArchitectureApi> = { vit: vitApi, bert: bertApi };

const EVALUATE_KEYS: ReadonlyArray<keyof EvaluateOptions> = [
  'data', 'split', 'limit', 'batchSize', 'signal', 'onProgress', 'format', 'mean', 'std', 'resize', 'maxLength', 'maskSeed', 'pack', 'examples',
];

/** The architecture of `models` (one for all of them); `what` names them in errors. */
function architectureOf(models: Model[], what: string): ArchitectureApi {
  const types = [...new Set(models.map((m) => m.config.model_type))];
  if (types.length > 1) throw new InputError(what, `mix ${types.join(' and ')} models; fused models share an architecture`);
  return ARCHITECTURES[types[0]];
}

/** The experiment config the options describe, validated as a config file would be. */
function fuseConfig(models: Model[], options: FuseOptions, type: ExperimentConfig['model']['type']): { cfg: ExperimentConfig; anchor: number } {
  const { anchor = Math.min(1, models.length - 1), ...fusion } = options.fusion ?? {};
  if (!Number.isInteger(anchor) || anchor < 0 || anchor >= models.length)
    throw new InputError('fuse options', `fusion.anchor: expected the index of one of the ${models.length} models, got ${String(anchor)}`);
  const names = Object.fromEntries(models.map((m, i) => [`name_${i}`, m.source?.folder ?? `model ${i}`]));
  const cfg = validateConfig(experimentSchema, {
    model: { ...names, type },
    fusion: { ...fusion, num_models: models.length, anchor: `name_${anchor}` },
    data: { ...options.dataOptions, ...(options.data ? { folder: options.data } : {}) },
  }, 'fuse options');
  checkConsistency(cfg, 'fuse options');
  return { cfg, anchor };
}

/** OT-fuses `models` (ViTs, or BERTs) into the anchor's shape. */
export async function fuse(models: Model[], options: FuseOptions = {}): Promise<Fused> {
  if (!Array.isArray(models)) throw new InputError('fuse: models', 'must be an array of models');
  if (models.length < 2) throw new InputError('fuse', `needs at least two models, got ${models.length}`);
  models.forEach((m, i) => checkModel(m, `fuse: models[${i}]`));
  checkOptionKeys(options, ['data', 'fusion', 'dataOptions', 'signal', 'onProgress'], 'fuse options');
  checkSignal(options.signal, 'fuse options: signal');
  checkFunction(options.onProgress, 'fuse options: onProgress');
  if (options.data !== undefined && typeof options.data !== 'string') throw new InputError('fuse options: data', 'must be a dataset folder path');
  if (options.fusion !== undefined && (options.fusion === null || typeof options.fusion !== 'object')) throw new InputError('fuse options: fusion', 'must be an object of fusion keys');
  const arch = architectureOf(models, 'the models');
  const { cfg, anchor } = fuseConfig(models, options, arch.type);
  const hooks: StageHooks = {
    signal: options.signal,
    stage: () => throwIfAborted(options.signal),
    done: () => {},
    progress: (s) => (d, t) => options.onProgress?.(s, d, t),
  };
  return { ...(await arch.fuse(models, anchor, cfg, hooks)), warnings: fusionWarnings(cfg) };
}

/**
 * Evaluates a model on a dataset split: an image classifier's top-1 accuracy and mean
 * loss; a masked LM's loss, perplexity and masked-token accuracy; a text classifier's
 * accuracy and mean loss. The result's `kind` says which.
 */
export async function evaluate(model: Model, options: EvaluateOptions): Promise<Evaluation> {
  checkModel(model, 'evaluate: model');
  checkOptionKeys(options, EVALUATE_KEYS, 'evaluate options');
  checkSignal(options.signal, 'evaluate options: signal');
  checkFunction(options.onProgress, 'evaluate options: onProgress');
  if (!options || typeof options.data !== 'string') throw new InputError('evaluate options: data', 'is needed: a dataset folder path');
  checkInteger(options.limit, 'evaluate options: limit', 0);
  checkInteger(options.batchSize, 'evaluate options: batchSize', 1);
  checkInteger(options.maxLength, 'evaluate options: maxLength', 3);
  checkInteger(options.maskSeed, 'evaluate options: maskSeed', 0);
  checkOneOf(options.split, 'evaluate options: split', ['test', 'train', 'validation']);
  checkOneOf(options.examples, 'evaluate options: examples', ['lines', 'paragraphs']);
  checkOneOf(options.pack, 'evaluate options: pack', [true, false]);
  checkOneOf(options.resize, 'evaluate options: resize', [true, false]);
  const arch = architectureOf([model], model.source?.folder ?? 'the model');
  for (const other of Object.values(ARCHITECTURES)) {
    if (other === arch) continue;
    const key = other.evaluateKeys.find((k) => options[k] !== undefined);
    if (key) throw new InputError(`evaluate options: ${key}`, `is for ${other.type} models; this is a ${model.architecture}`);
  }
  return arch.evaluate(model, options);
}
