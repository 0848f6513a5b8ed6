/**
 * The ViT side of the finetuning stage (finetune-stage.ts): the images of data.folder's
 * training split minus the fusion holdout and its test split, normalised like the rest of
 * the experiment, and the training of one candidate on them.
 */
import type { ExperimentConfig } from '../config/experiment.ts';
import type { Normalisation } from '../data/normalisation.ts';
import type { VitConfig } from '../models/vit.ts';
import { blackPixel, loadTrainingData, type TrainingData } from '../train/data.ts';
import { finetuneKey, type Recipe } from '../train/recipe.ts';
import { finetune, type CurvePoint } from '../train/train.ts';
import type { FinetuneOne } from './finetune-stage.ts';

/** A normalisation value per channel (a single value stands for every channel). */
function perChannel(v: number[] | undefined, channels: number): number[] {
  const values = v ?? [0.5];
  return values.length === 1 ? new Array<number>(channels).fill(values[0]) : values;
}

/** Training and test data of the finetuning, normalised like the rest of the experiment. */
export async function loadFinetuneData(cfg: ExperimentConfig, config: VitConfig, norm: Normalisation, signal?: AbortSignal): Promise<TrainingData> {
  const C = config.numChannels;
  return loadTrainingData({
    folder: cfg.data.folder!,
    format: cfg.data.format === 'auto' ? undefined : cfg.data.format === 'image_folder' ? 'image-folder' : cfg.data.format,
    preprocess: { imageSize: config.imageSize, channels: C, mean: perChannel(norm.mean, C), std: perChannel(norm.std, C), resize: cfg.data.resize || norm.resize },
    holdout: { fraction: cfg.data.activations.holdout_fraction, seed: cfg.data.activations.holdout_seed },
    testSplit: cfg.data.test_split,
    testLimit: cfg.data.test_limit,
    signal,
  });
}

/** Finetunes one ViT on `data` with `recipe`; crop padding shows black pixels. */
export function vitFinetuner(data: TrainingData, recipe: Recipe, norm: Normalisation, signal?: AbortSignal): FinetuneOne<VitConfig, CurvePoint> {
  return async (c, onStep) => {
    const C = c.config.numChannels;
    const r = await finetune({ config: c.config, tensors: c.tensors }, {
      recipe, train: data.train, test: data.test, fill: blackPixel(perChannel(norm.mean, C), perChannel(norm.std, C), C),
      signal, onStep: (p) => onStep(p.step, p.totalSteps), source: data.trainDescription, recipeKey: finetuneKey,
    });
    return { name: c.name, tensors: r.tensors, curve: r.curve, steps: r.steps, seconds: r.seconds };
  };
}
