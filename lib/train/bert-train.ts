/**
 * The BERT training loop (the text twin of train.ts): sequences drawn in a seeded order
 * per epoch, padded per batch, one native optimiser step each, test-set evaluation after
 * every epoch (or every `eval_steps`), checkpoints handed to the caller.
 *
 * Masked LM: every step masks its batch afresh (dynamic masking, lib/text/mlm-masking.ts)
 * from the stream keyed by (seed, step * batch_size + j) for its j-th sequence, so the
 * same sequence is masked differently from epoch to epoch, and a resumed run masks
 * exactly as the uninterrupted one. Evaluation masks the test data with a fixed seed, so
 * every evaluation scores the same tokens: mean cross-entropy, perplexity, masked-token
 * accuracy. Classification: labels per sequence, accuracy and mean cross-entropy.
 *
 * The same recipe, seed and thread count give bit-identical weights.
 */
import { InputError } from '../errors.ts';
import type { Tensor } from '../io/tensor.ts';
import { createBertModel, type BertConfig } from '../models/bert.ts';
import type { Device, NativeTrainerConfig } from '../native.ts';
import { evaluateBertText } from '../text-eval.ts';
import type { TextSplit } from '../text/dataset.ts';
import { maskTokens } from '../text/mlm-masking.ts';
import type { BertTokenizer, Encoding } from '../text/tokenizer.ts';
import { BertTrainer } from './bert-trainer.ts';
import { initBertTensors } from './bert-init.ts';
import { runLength, type Recipe, type RecipeKeyName, type RunLength } from './recipe.ts';
import { runStepLoop, type LoopSnapshot } from './step-loop.ts';
import type { OptimizerState } from './vit-trainer.ts';

/** A recipe without image augmentation. */
export type TextRecipe = Omit<Recipe, 'augment'>;

/** What the model learns: masked-LM on plain sequences, or a class per sequence. */
export type TextTask =
  | { kind: 'masked-lm'; maskProbability: number }
  | { kind: 'classification'; labels: Int32Array };

export interface TextEvalSetup {
  split: TextSplit;
  maxLength: number;
  pack: boolean;
  truncation: boolean;
  /** Masked LM: the fixed masking of the test data. */
  maskSeed: number;
  maskProbability: number;
  limit?: number | null;
}

/** One evaluation, with the training statistics since the previous one. */
export interface BertCurvePoint {
  step: number;
  epoch: number;
  /** Masked LM: mean cross-entropy over masked test tokens; classification: mean over examples. */
  testLoss: number | null;
  /** Masked LM: exp(testLoss). */
  testPerplexity: number | null;
  /** Masked-token accuracy (masked LM) or classification accuracy. */
  testAccuracy: number | null;
  trainLoss: number;
  trainAccuracy: number;
  trainSeconds: number;
  learningRate: number;
}

export interface BertStepProgress {
  step: number;
  totalSteps: number;
  epoch: number;
  loss: number;
  accuracy: number;
  tokensPerSecond: number;
  learningRate: number;
}

export type BertTrainingSnapshot = LoopSnapshot<BertCurvePoint>;

export interface BertTrainOptions {
  config: BertConfig;
  /** Starting weights under HF names; fresh ones from recipe.seed when absent. */
  tensors?: Map<string, Tensor>;
  initializerRange?: number;
  recipe: TextRecipe;
  task: TextTask;
  tokenizer: BertTokenizer;
  /** The training sequences (with [CLS] ... [SEP]), at most maxTokens long. */
  train: Encoding[];
  maxTokens: number;
  test?: TextEvalSetup | null;
  resume?: { optimizer: OptimizerState; curve: BertCurvePoint[]; elapsedSeconds: number } | null;
  device?: Device;
  signal?: AbortSignal;
  onStep?: (p: BertStepProgress) => void;
  onEval?: (p: BertCurvePoint) => void;
  onCheckpoint?: (s: BertTrainingSnapshot) => Promise<void>;
  checkpointSteps?: number | null;
  source?: string;
  /** How errors name the recipe's keys (default training.*). */
  recipeKey?: RecipeKeyName;
}

export interface BertTrainResult {
  tensors: Map<string, Tensor>;
  curve: BertCurvePoint[];
  steps: number;
  epochs: number;
  length: RunLength;
  seconds: number;
  elapsedSeconds: number;
  /** Real (non-padding) training tokens per second of this call (evaluation excluded). */
  tokensPerSecond: number;
  final: BertCurvePoint | null;
}

/** Added to the seed for the masking streams, so they are not the test masking's. */
const MASK_SEED_OFFSET = 0x4d41534b;

export function nativeTextTrainerConfig(recipe: TextRecipe, length: RunLength): NativeTrainerConfig {
  return {
    schedule: recipe.lr_schedule, lr: recipe.learning_rate, warmupSteps: length.warmupSteps, totalSteps: length.totalSteps,
    beta1: recipe.adam_beta1, beta2: recipe.adam_beta2, eps: recipe.adam_epsilon, weightDecay: recipe.weight_decay,
    labelSmoothing: recipe.label_smoothing, maxGradNorm: recipe.max_grad_norm, augment: null,
  };
}

/** Test metrics of weights: masked LM (loss, perplexity, masked-token accuracy) or classification. */
export async function evaluateBertTensors(
  config: BertConfig, tensors: Map<string, Tensor>, tokenizer: BertTokenizer, setup: TextEvalSetup,
  options: { signal?: AbortSignal; device?: Device } = {},
): Promise<{ loss: number; perplexity: number | null; accuracy: number }> {
  const model = await createBertModel(config, tensors, { device: options.device });
  const r = await evaluateBertText(model, tokenizer, setup.split, {
    maxLength: setup.maxLength, pack: setup.pack, truncation: setup.truncation, maskSeed: setup.maskSeed,
    maskProbability: setup.maskProbability, limit: setup.limit ?? undefined, batchSize: 64, signal: options.signal,
  });
  return r.kind === 'masked-lm'
    ? { loss: r.loss, perplexity: r.perplexity, accuracy: r.accuracy }
    : { loss: r.meanLoss, perplexity: null, accuracy: r.accuracy };
}

export async function trainBert(options: BertTrainOptions): Promise<BertTrainResult> {
  const { config, recipe, signal, tokenizer, task } = options;
  const source = options.source ?? 'training';
  const N = options.train.length;
  if (task.kind === 'masked-lm' && config.head !== 'masked-lm') throw new InputError(source, 'masked-LM training needs a BertForMaskedLM');
  if (task.kind === 'classification') {
    if (config.head !== 'sequence-classification') throw new InputError(source, 'classification training needs a BertForSequenceClassification');
    if (task.labels.length !== N) throw new InputError(source, `${task.labels.length} labels for ${N} training sequences`);
  }
  for (let i = 0; i < N; i++)
    if (options.train[i].ids.length > options.maxTokens)
      throw new InputError(source, `training sequence ${i} has ${options.train[i].ids.length} tokens, more than ${options.maxTokens}`);
  const length = runLength({ ...recipe, augment: { crop_padding: 0, horizontal_flip: false } }, N, options.recipeKey);
  const tensors = options.tensors ?? initBertTensors(config, recipe.seed, options.initializerRange);
  const trainer = await BertTrainer.create(config, tensors, {
    batchSize: recipe.batch_size, maxTokens: options.maxTokens, microBatch: recipe.micro_batch ?? undefined,
    device: options.device, source,
  });
  trainer.configure(nativeTextTrainerConfig(recipe, length));
  const B = recipe.batch_size;
  const run = await runStepLoop<BertCurvePoint>({
    trainer, length, seed: recipe.seed, examples: N, batchSize: B,
    evalSteps: recipe.eval_steps, checkpointSteps: options.checkpointSteps, resume: options.resume, signal, source,
    runStep: async (indices, step) => {
      const picked = Array.from(indices);
      const batch = tokenizer.pad(picked.map((i) => options.train[i]));
      let inputs = batch, labels: Int32Array;
      if (task.kind === 'masked-lm') {
        const masked = maskTokens(batch, tokenizer, {
          seed: (recipe.seed + MASK_SEED_OFFSET) >>> 0, probability: task.maskProbability, firstSequence: step * B,
        });
        inputs = masked.inputs;
        labels = masked.labels;
      } else {
        labels = Int32Array.from(picked, (i) => task.labels[i]);
      }
      const t0 = performance.now();
      const result = await trainer.step(inputs, labels, { signal });
      const seconds = (performance.now() - t0) / 1000;
      let real = 0;
      for (let i = 0; i < batch.mask.length; i++) real += batch.mask[i];
      return { result, labelled: result.labelled, units: real, seconds };
    },
    testMetrics: async () => {
      if (!options.test) return { testLoss: null, testPerplexity: null, testAccuracy: null };
      const r = await evaluateBertTensors(config, await trainer.parameters(), tokenizer, options.test, { signal, device: options.device });
      return { testLoss: r.loss, testPerplexity: r.perplexity, testAccuracy: r.accuracy };
    },
    onStep: options.onStep && ((r, mean, tokensPerSecond) => options.onStep!({
      step: r.step, totalSteps: length.totalSteps, epoch: r.step / length.stepsPerEpoch,
      loss: mean.loss, accuracy: mean.accuracy, tokensPerSecond, learningRate: r.lr,
    })),
    onEval: options.onEval, onCheckpoint: options.onCheckpoint,
  });
  return {
    tensors: await trainer.parameters(), curve: run.curve, steps: trainer.steps, epochs: trainer.steps / length.stepsPerEpoch, length,
    seconds: run.seconds, elapsedSeconds: run.elapsedSeconds, tokensPerSecond: run.unitsPerSecond,
    final: run.curve[run.curve.length - 1] ?? null,
  };
}
