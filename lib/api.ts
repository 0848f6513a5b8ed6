/**
 * The programmatic API in a few calls: load models, fuse them, evaluate, save.
 *
 *   const [a, b] = await Promise.all([loadModel('models/a'), loadModel('models/b')]);
 *   const fused = await fuse([a, b], { data: '/data/fashion-mnist', fusion: { ot_solver: 'sinkhorn', sinkhorn_reg: 0.08 } });
 *   console.log(await evaluate(fused.model, { data: '/data/fashion-mnist' }));
 *   await saveModel('models/fused', fused.model);
 *
 * `fusion` takes the keys of an experiment config's `fusion` section (docs/config.md),
 * validated the same way: a misspelt key is an InputError that names it.
 */
import type { ExperimentConfig } from './config/experiment.ts';
import { experimentSchema } from './config/experiment.ts';
import { validateConfig } from './config/validate.ts';
import { openDataset, type DatasetFormat } from './data/dataset.ts';
import { preprocessorConfig, resolveNormalisation } from './data/normalisation.ts';
import { preprocessForInput } from './data/preprocess.ts';
import { evaluate as evaluateClassifier, type EvaluationResult } from './eval.ts';
import type { MapReport } from './fusion/index.ts';
import type { Model } from './io/model-folder.ts';
import { repairStatistics } from './fusion/repair.ts';
import { vitFromModel, vitFusionGraph } from './models/vit.ts';
import { measureOnSamples } from './pipeline/measure.ts';
import { parentsFromModels } from './pipeline/parents.ts';
import { fuseParents } from './pipeline/run.ts';

type DeepPartial<T> = { [K in keyof T]?: T[K] extends Array<unknown> | null ? T[K] : T[K] extends object ? DeepPartial<T[K]> : T[K] };

export interface FuseOptions {
  /** Dataset folder for the fusion samples (needed in acts mode). */
  data?: string;
  /** Keys of the config's `fusion` section; the anchor is the second model by default, as in the reference. */
  fusion?: DeepPartial<Omit<ExperimentConfig['fusion'], 'anchor' | 'num_models'>> & { anchor?: number };
  /** Keys of the config's `data` section (activations split and holdout, normalisation, batch size). */
  dataOptions?: DeepPartial<ExperimentConfig['data']>;
  signal?: AbortSignal;
  onProgress?: (stage: string, done: number, total: number) => void;
}

export interface Fused {
  /** The fused model, in the anchor's shape and config (statistics repaired when fusion.repair asks). */
  model: Model;
  /** Per model, the transport maps computed while aligning it onto the anchor (empty for the anchor). */
  maps: MapReport[][];
  weights: number[];
}

/** OT-fuses `models` into the anchor's shape. */
export async function fuse(models: Model[], options: FuseOptions = {}): Promise<Fused> {
  const { anchor = Math.min(1, models.length - 1), ...fusion } = options.fusion ?? {};
  const names = Object.fromEntries(models.map((m, i) => [`name_${i}`, m.source?.folder ?? `model ${i}`]));
  const cfg = validateConfig(experimentSchema, {
    model: names,
    fusion: { ...fusion, num_models: models.length, anchor: `name_${anchor}` },
    data: { ...options.dataOptions, ...(options.data ? { folder: options.data } : {}) },
  }, 'fuse options');
  const parents = parentsFromModels(models);
  const norm = resolveNormalisation({ mean: cfg.data.mean, std: cfg.data.std, preprocessor: parents[anchor].model.preprocessor, channels: parents[anchor].config.numChannels });
  const fusion_ = await fuseParents(parents, anchor, cfg, norm, {
    signal: options.signal,
    stage: () => options.signal?.throwIfAborted(),
    done: () => {},
    progress: (s) => (d, t) => options.onProgress?.(s, d, t),
  });
  for (const s of fusion_.captured?.stores ?? []) s.dispose();
  let tensors = fusion_.result.tensors;
  if (cfg.fusion.repair !== 'none') {
    tensors = await repairStatistics({
      graph: vitFusionGraph(parents[anchor].config), fused: tensors, parents: parents.map((p) => p.model.tensors), anchor,
      outputMaps: fusion_.result.outputMaps, weights: fusion_.result.weights,
      measure: measureOnSamples(parents, anchor, fusion_.samples, options.signal), signal: options.signal,
      onGroup: (d, t) => options.onProgress?.('repair', d, t),
    }, cfg.fusion.repair);
  }
  const a = models[anchor];
  // The fused model takes images the way the anchor does: it keeps its preprocessor config.
  const preprocessor = preprocessorConfig(norm.mean ?? [0.5], norm.std ?? [0.5], parents[anchor].config.imageSize);
  return {
    model: { config: a.config, architecture: a.architecture, tensors, preprocessor },
    maps: fusion_.result.maps,
    weights: fusion_.result.weights,
  };
}

export interface EvaluateOptions {
  /** Dataset folder (CIFAR-10/100 binary, IDX, image folder). */
  data: string;
  split?: 'test' | 'train';
  format?: DatasetFormat;
  limit?: number;
  batchSize?: number;
  /** Normalisation (default: the model's preprocessor_config.json, a known dataset's statistics, or 0.5 / 0.5). */
  mean?: number[];
  std?: number[];
  resize?: boolean;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

/** Top-1 accuracy and mean loss of an image classifier model on a dataset split. */
export async function evaluate(model: Model, options: EvaluateOptions): Promise<EvaluationResult> {
  const vit = vitFromModel(model);
  const norm = resolveNormalisation({ mean: options.mean, std: options.std, preprocessor: model.preprocessor, channels: model.config.model_type === 'vit' ? model.config.num_channels : undefined });
  const dataset = await openDataset(options.data, {
    split: options.split ?? 'test',
    format: options.format,
    preprocess: preprocessForInput(vit.input, { mean: norm.mean, std: norm.std, resize: options.resize ?? norm.resize }),
  });
  return evaluateClassifier(vit, dataset, options);
}
