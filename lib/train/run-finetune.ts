/**
 * `otfuse finetune` without the command line: a model folder and a dataset in, the
 * finetuned model folder out. The model folder's preprocessor_config.json gives the
 * normalisation (as `otfuse eval` reads it); the training data is the training split
 * minus the seeded holdout, as when the parents were trained.
 */
import { basename, resolve } from 'node:path';
import { resolveNormalisation } from '../data/normalisation.ts';
import type { DatasetFormat } from '../data/source.ts';
import { InputError } from '../errors.ts';
import { preflightOutput } from '../io/atomic-folder.ts';
import { loadModel } from '../io/model-folder.ts';
import { vitConfigFromHf } from '../models/vit.ts';
import { native, type Device } from '../native.ts';
import { writeTrainedModel, type TrainingRecord } from './checkpoint.ts';
import { blackPixel, loadTrainingData } from './data.ts';
import type { Recipe, RecipeKeyName } from './recipe.ts';
import { evaluateTensors, finetune, type CurvePoint, type StepProgress } from './train.ts';

export interface FinetuneFolderOptions {
  model: string;
  data: string;
  output: string;
  recipe: Recipe;
  format?: DatasetFormat;
  holdout: { fraction: number; seed: number };
  trainLimit?: number | null;
  testLimit?: number | null;
  mean?: number[] | null;
  std?: number[] | null;
  threads?: number;
  /** Where the forward passes and training steps run (default: defaultDevice(), 'auto' unless set). */
  device?: Device;
  force?: boolean;
  signal?: AbortSignal;
  /** How errors name the recipe's keys (default training.*; otfuse finetune names its flags). */
  recipeKey?: RecipeKeyName;
  onLoad?: (done: number, total: number) => void;
  onStep?: (progress: StepProgress) => void;
  onEval?: (point: CurvePoint) => void;
}

export interface FinetuneReport extends TrainingRecord {
  model: string;
  output: string;
  parameters: number;
  trainData: string;
  testData: string | null;
  normalisation: { mean: number[]; std: number[]; origin: string };
  /** Test accuracy and loss of the model before finetuning. */
  initialTestAccuracy: number | null;
  initialTestLoss: number | null;
  imagesPerSecond: number;
}

export async function finetuneFolder(options: FinetuneFolderOptions): Promise<FinetuneReport> {
  await preflightOutput(options.output, { force: options.force, protectedFolders: [options.model], protectedData: [options.data] });
  const threads = native().setThreads(options.threads ?? 0);
  const model = await loadModel(options.model, { signal: options.signal });
  if (model.config.model_type !== 'vit' || model.architecture !== 'ViTForImageClassification')
    throw new InputError(options.model, `is a ${model.architecture}; finetuning needs a ViTForImageClassification`);
  const config = vitConfigFromHf(model.config, `${options.model}/config.json`);
  const norm = resolveNormalisation({
    mean: options.mean ?? null, std: options.std ?? null, preprocessor: model.preprocessor,
    dataset: basename(resolve(options.data)).replace(/[-_]?(data|dataset)$/i, ''),
    channels: config.numChannels, names: { mean: '--mean', std: '--std' },
  });
  const C = config.numChannels;
  const mean = norm.mean!.length === 1 ? new Array(C).fill(norm.mean![0]) : norm.mean!;
  const std = norm.std!.length === 1 ? new Array(C).fill(norm.std![0]) : norm.std!;
  if (mean.length !== C || std.length !== C) throw new InputError(options.model, `normalisation has ${mean.length} values for ${C} channels`);
  const data = await loadTrainingData({
    folder: options.data, format: options.format, preprocess: { imageSize: config.imageSize, channels: C, mean, std, resize: norm.resize },
    holdout: options.holdout, trainLimit: options.trainLimit, testLimit: options.testLimit, signal: options.signal, onProgress: options.onLoad,
  });
  if (data.numClasses > config.numLabels)
    throw new InputError(options.data, `has ${data.numClasses} classes, more than the model's ${config.numLabels} labels`);

  const initial = data.test ? await evaluateTensors(config, model.tensors, data.test, { signal: options.signal, device: options.device }) : null;
  const result = await finetune({ config, tensors: model.tensors }, {
    recipe: options.recipe, train: data.train, test: data.test, fill: blackPixel(mean, std, C), signal: options.signal, device: options.device,
    onStep: options.onStep, onEval: options.onEval, source: options.data, recipeKey: options.recipeKey,
  });
  const epochSeconds = result.curve.filter((c) => Number.isInteger(c.epoch) && c.epoch > 0).map((c) => c.trainSeconds);
  const record: TrainingRecord = {
    setup: { model: resolve(options.model), data: { folder: resolve(options.data), holdout: options.holdout, train_limit: options.trainLimit ?? null }, training: options.recipe },
    threads, steps: result.steps, totalSteps: result.length.totalSteps, stepsPerEpoch: result.length.stepsPerEpoch, epochs: result.epochs,
    completed: true, wallSeconds: result.seconds,
    secondsPerEpoch: epochSeconds.length && !options.recipe.eval_steps ? epochSeconds.reduce((a, b) => a + b, 0) / epochSeconds.length : null,
    finalTestAccuracy: result.finalTestAccuracy, finalTestLoss: result.finalTestLoss,
    initialTestAccuracy: initial?.accuracy ?? null, initialTestLoss: initial?.loss ?? null,
    data: { train: data.trainDescription, test: data.testDescription, normalisation: { mean, std, origin: norm.origin } },
    curve: result.curve,
  };
  await writeTrainedModel(options.output, {
    config, initializerRange: model.config.initializer_range, tensors: result.tensors, normalisation: { mean, std }, record,
  }, { force: options.force, protectedFolders: [options.model], protectedData: [options.data] });
  let parameters = 0;
  for (const t of result.tensors.values()) parameters += t.data.length;
  return {
    ...record, model: options.model, output: options.output, parameters, trainData: data.trainDescription, testData: data.testDescription,
    normalisation: { mean, std, origin: norm.origin }, initialTestAccuracy: initial?.accuracy ?? null,
    initialTestLoss: initial?.loss ?? null, imagesPerSecond: result.imagesPerSecond,
  };
}
