/**
 * The finetuning stage of an experiment (the `finetune:` section): the fused model (and,
 * with `baselines`, the vanilla-fused model and the better parent, for the same steps)
 * trained on the training split minus the fusion holdout, with the test accuracy curve
 * that shows where, and whether, the fused model overtakes its parents.
 */
import type { ExperimentConfig } from '../config/experiment.ts';
import type { Normalisation } from '../data/normalisation.ts';
import type { Tensor } from '../io/tensor.ts';
import type { VitConfig } from '../models/vit.ts';
import { blackPixel, loadTrainingData, type TrainingData } from '../train/data.ts';
import type { Recipe } from '../train/recipe.ts';
import { finetune, type CurvePoint, type StepProgress } from '../train/train.ts';

export interface FinetuneCandidate {
  name: string;
  tensors: Map<string, Tensor>;
  config: VitConfig;
}

export interface FinetuneResult {
  name: string;
  tensors: Map<string, Tensor>;
  curve: CurvePoint[];
  steps: number;
  seconds: number;
  finalTestAccuracy: number | null;
}

export function finetuneRecipe(cfg: ExperimentConfig): Recipe {
  const { enabled: _enabled, baselines: _baselines, ...recipe } = cfg.finetune;
  return recipe as Recipe;
}

/** Training and test data of the finetuning, normalised like the rest of the experiment. */
export async function loadFinetuneData(cfg: ExperimentConfig, config: VitConfig, norm: Normalisation, signal?: AbortSignal): Promise<TrainingData> {
  const C = config.numChannels;
  const per = (v: number[]) => (v.length === 1 ? new Array<number>(C).fill(v[0]) : v);
  return loadTrainingData({
    folder: cfg.data.folder!,
    format: cfg.data.format === 'auto' ? undefined : cfg.data.format === 'image_folder' ? 'image-folder' : cfg.data.format,
    preprocess: { imageSize: config.imageSize, channels: C, mean: per(norm.mean ?? [0.5]), std: per(norm.std ?? [0.5]), resize: cfg.data.resize || norm.resize },
    holdout: { fraction: cfg.data.activations.holdout_fraction, seed: cfg.data.activations.holdout_seed },
    testSplit: cfg.data.test_split,
    testLimit: cfg.data.test_limit,
    signal,
  });
}

export async function finetuneCandidates(
  candidates: FinetuneCandidate[], recipe: Recipe, data: TrainingData, norm: Normalisation,
  options: { signal?: AbortSignal; onStep?: (name: string, p: StepProgress) => void },
): Promise<FinetuneResult[]> {
  const out: FinetuneResult[] = [];
  for (const c of candidates) {
    const C = c.config.numChannels;
    const per = (v: number[]) => (v.length === 1 ? new Array<number>(C).fill(v[0]) : v);
    const r = await finetune({ config: c.config, tensors: c.tensors }, {
      recipe, train: data.train, test: data.test, fill: blackPixel(per(norm.mean ?? [0.5]), per(norm.std ?? [0.5]), C),
      signal: options.signal, onStep: (p) => options.onStep?.(c.name, p), source: data.trainDescription,
    });
    out.push({ name: c.name, tensors: r.tensors, curve: r.curve, steps: r.steps, seconds: r.seconds, finalTestAccuracy: r.finalTestAccuracy });
  }
  return out;
}
