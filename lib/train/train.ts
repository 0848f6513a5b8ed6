/**
 * The training loop: batches drawn in a seeded order, one native optimiser step each,
 * test-set evaluation after every epoch (or every `eval_steps`), checkpoints handed to
 * the caller, and the accuracy curve. The same recipe, seed and thread count give
 * bit-identical weights, and a run resumed from a checkpoint continues exactly as the
 * uninterrupted run would have: the epoch order and the augmentation are functions of
 * (seed, epoch) and (seed, step), not of a generator's history.
 *
 * Programmatic entry points: `train` (from given or freshly initialised weights) and
 * `finetune` (an in-memory model, e.g. a fused one); both return the trained tensors and
 * the curve.
 */
import type { LoadedData } from '../data/dataset.ts';
import { InputError } from '../errors.ts';
import type { Tensor } from '../io/tensor.ts';
import { createVitModel, type VitConfig } from '../models/vit.ts';
import type { Device } from '../native.ts';
import { initVitTensors } from './init.ts';
import { nativeTrainerConfig, runLength, type Recipe, type RecipeKeyName, type RunLength } from './recipe.ts';
import { runStepLoop, type LoopSnapshot } from './step-loop.ts';
import { VitTrainer, type OptimizerState } from './vit-trainer.ts';

/** One evaluation on the test data, with the training statistics since the previous one. */
export interface CurvePoint {
  step: number;
  /** Epochs done, fractional between epoch ends. */
  epoch: number;
  testAccuracy: number | null;
  testLoss: number | null;
  /** Mean (smoothed) loss and accuracy of the training batches since the previous point. */
  trainLoss: number;
  trainAccuracy: number;
  /** Seconds of training (not evaluation) since the previous point. */
  trainSeconds: number;
  learningRate: number;
}

export interface StepProgress {
  step: number;
  totalSteps: number;
  epoch: number;
  /** Running mean loss and accuracy over the current epoch. */
  loss: number;
  accuracy: number;
  imagesPerSecond: number;
  learningRate: number;
}

/** A consistent snapshot to write as a checkpoint. */
export type TrainingSnapshot = LoopSnapshot<CurvePoint>;

export interface TrainOptions {
  config: VitConfig;
  /** Starting weights under HF names; fresh ones from recipe.seed when absent. */
  tensors?: Map<string, Tensor>;
  recipe: Recipe;
  train: LoadedData;
  /** Evaluated after every epoch (or eval_steps); no curve accuracies without it. */
  test?: LoadedData | null;
  /** Per-channel normalised value of a black pixel: what crop padding shows. Default 0. */
  fill?: number[];
  /** Continue from a checkpoint: `tensors` must then be its weights. */
  resume?: { optimizer: OptimizerState; curve: CurvePoint[]; elapsedSeconds: number } | null;
  /** Initial weights' std when `tensors` is absent (HF initializer_range). */
  initializerRange?: number;
  device?: Device;
  signal?: AbortSignal;
  onStep?: (progress: StepProgress) => void;
  onEval?: (point: CurvePoint) => void;
  /** Called after every epoch and every `checkpointSteps` steps; awaited before training goes on. */
  onCheckpoint?: (snapshot: TrainingSnapshot) => Promise<void>;
  checkpointSteps?: number | null;
  /** Where the data came from, for error messages. */
  source?: string;
  /** How errors name the recipe's keys (default training.*). */
  recipeKey?: RecipeKeyName;
}

export interface TrainResult {
  tensors: Map<string, Tensor>;
  curve: CurvePoint[];
  steps: number;
  epochs: number;
  length: RunLength;
  /** Seconds of this call (training plus evaluation). */
  seconds: number;
  /** Seconds over every resumed part of the run. */
  elapsedSeconds: number;
  /** Training images per second of this call (evaluation excluded). */
  imagesPerSecond: number;
  finalTestAccuracy: number | null;
  finalTestLoss: number | null;
}

/** Top-1 accuracy and mean cross-entropy (no smoothing) of weights on in-memory data. */
export async function evaluateTensors(
  config: VitConfig, tensors: Map<string, Tensor>, data: LoadedData, options: { signal?: AbortSignal; device?: Device } = {},
): Promise<{ accuracy: number; loss: number }> {
  const model = await createVitModel(config, tensors, { device: options.device });
  const { logits, losses } = await model.forward(data.images, data.count, { labels: data.labels, signal: options.signal });
  const V = config.numLabels;
  let correct = 0, lossSum = 0;
  for (let i = 0; i < data.count; i++) {
    let best = 0;
    for (let k = 1; k < V; k++) if (logits[i * V + k] > logits[i * V + best]) best = k;
    if (best === data.labels[i]) correct++;
    lossSum += losses![i];
  }
  return { accuracy: data.count ? correct / data.count : 0, loss: data.count ? lossSum / data.count : 0 };
}

function checkData(config: VitConfig, data: LoadedData, what: string, source: string): void {
  const per = config.numChannels * config.imageSize * config.imageSize;
  if (data.images.length < data.count * per)
    throw new InputError(source, `${what} data holds ${data.images.length} floats, ${data.count} images of ${config.numChannels}x${config.imageSize}x${config.imageSize} need ${data.count * per}`);
  for (let i = 0; i < data.count; i++) {
    const label = data.labels[i];
    if (!(label >= 0 && label < config.numLabels))
      throw new InputError(source, `${what} example ${i} has label ${label}, outside the model's ${config.numLabels} labels`);
  }
}

export async function train(options: TrainOptions): Promise<TrainResult> {
  const { config, recipe, signal } = options;
  const source = options.source ?? 'training';
  checkData(config, options.train, 'training', source);
  if (options.test) checkData(config, options.test, 'test', source);
  const length = runLength(recipe, options.train.count, options.recipeKey);
  const tensors = options.tensors ?? initVitTensors(config, recipe.seed, options.initializerRange);
  const trainer = await VitTrainer.create(config, tensors, {
    batchSize: recipe.batch_size, microBatch: recipe.micro_batch ?? undefined, device: options.device, source,
  });
  trainer.configure(nativeTrainerConfig(recipe, length, options.fill ?? new Array(config.numChannels).fill(0)));
  const per = config.numChannels * config.imageSize * config.imageSize;
  const images = new Float32Array(recipe.batch_size * per);
  const labels = new Int32Array(recipe.batch_size);
  const run = await runStepLoop<CurvePoint>({
    trainer, length, seed: recipe.seed, examples: options.train.count, batchSize: recipe.batch_size,
    evalSteps: recipe.eval_steps, checkpointSteps: options.checkpointSteps, resume: options.resume, signal, source,
    runStep: async (indices) => {
      const n = indices.length;
      for (let j = 0; j < n; j++) {
        const idx = indices[j];
        images.set(options.train.images.subarray(idx * per, (idx + 1) * per), j * per);
        labels[j] = options.train.labels[idx];
      }
      const t0 = performance.now();
      const result = await trainer.step(images, labels, n, { signal });
      return { result, labelled: n, units: n, seconds: (performance.now() - t0) / 1000 };
    },
    testMetrics: async () => {
      if (!options.test || options.test.count === 0) return { testAccuracy: null, testLoss: null };
      const r = await evaluateTensors(config, await trainer.parameters(), options.test, { signal, device: options.device });
      return { testAccuracy: r.accuracy, testLoss: r.loss };
    },
    onStep: options.onStep && ((r, mean, imagesPerSecond) => options.onStep!({
      step: r.step, totalSteps: length.totalSteps, epoch: r.step / length.stepsPerEpoch,
      loss: mean.loss, accuracy: mean.accuracy, imagesPerSecond, learningRate: r.lr,
    })),
    onEval: options.onEval, onCheckpoint: options.onCheckpoint,
  });

  const final = run.curve[run.curve.length - 1];
  return {
    tensors: await trainer.parameters(), curve: run.curve, steps: trainer.steps, epochs: trainer.steps / length.stepsPerEpoch, length,
    seconds: run.seconds, elapsedSeconds: run.elapsedSeconds, imagesPerSecond: run.unitsPerSecond,
    finalTestAccuracy: final?.testAccuracy ?? null, finalTestLoss: final?.testLoss ?? null,
  };
}

export interface FinetuneOptions extends Omit<TrainOptions, 'config' | 'tensors' | 'resume'> {}

/**
 * Finetunes an in-memory model (HF-named tensors and its config), e.g. a fused one.
 * Returns the finetuned tensors and the test-accuracy curve; the input is not modified.
 */
export function finetune(model: { config: VitConfig; tensors: Map<string, Tensor> }, options: FinetuneOptions): Promise<TrainResult> {
  return train({ ...options, config: model.config, tensors: model.tensors });
}
