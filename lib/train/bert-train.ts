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
import { SeededRandom } from '../data/random.ts';
import { InputError } from '../errors.ts';
import type { Tensor } from '../io/tensor.ts';
import { createBertModel, type BertConfig } from '../models/bert.ts';
import type { Device, NativeTrainerConfig } from '../native.ts';
import { evaluateMaskedLm, evaluateTextClassifier } from '../text-eval.ts';
import type { TextSplit } from '../text/dataset.ts';
import { maskTokens } from '../text/mlm-masking.ts';
import type { BertTokenizer, Encoding } from '../text/tokenizer.ts';
import { BertTrainer } from './bert-trainer.ts';
import { initBertTensors } from './bert-init.ts';
import { runLength, type Recipe, type RunLength } from './recipe.ts';
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

export interface BertTrainingSnapshot {
  step: number;
  epoch: number;
  length: RunLength;
  tensors: Map<string, Tensor>;
  optimizer: OptimizerState;
  curve: BertCurvePoint[];
  elapsedSeconds: number;
}

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

/** Stream of SeededRandom for epoch e's order: EPOCH_STREAM + e (as train.ts). */
const EPOCH_STREAM = 0x45504f00;
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
  const model = createBertModel(config, tensors, { device: options.device === 'cuda' ? 'cuda' : 'cpu' });
  if (config.head === 'masked-lm') {
    const r = await evaluateMaskedLm(model, tokenizer, setup.split, {
      maxLength: setup.maxLength, pack: setup.pack, truncation: setup.truncation, maskSeed: setup.maskSeed,
      maskProbability: setup.maskProbability, limit: setup.limit ?? undefined, batchSize: 64, signal: options.signal,
    });
    return { loss: r.loss, perplexity: r.perplexity, accuracy: r.accuracy };
  }
  const r = await evaluateTextClassifier(model, tokenizer, setup.split, {
    maxLength: setup.maxLength, truncation: setup.truncation, limit: setup.limit ?? undefined, batchSize: 64, signal: options.signal,
  });
  return { loss: r.meanLoss, perplexity: null, accuracy: r.accuracy };
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
  const length = runLength({ ...recipe, augment: { crop_padding: 0, horizontal_flip: false } }, N, 'training');
  const tensors = options.tensors ?? initBertTensors(config, recipe.seed, options.initializerRange);
  const trainer = BertTrainer.create(config, tensors, {
    batchSize: recipe.batch_size, maxTokens: options.maxTokens, microBatch: recipe.micro_batch ?? undefined,
    device: options.device, source,
  });
  trainer.configure(nativeTextTrainerConfig(recipe, length));
  const curve: BertCurvePoint[] = [...(options.resume?.curve ?? [])];
  if (options.resume) trainer.loadOptimizerState(options.resume.optimizer);
  const startStep = trainer.steps;
  if (startStep > length.totalSteps)
    throw new InputError(source, `the checkpoint is at step ${startStep}, past the run's ${length.totalSteps} steps`);

  const started = performance.now();
  const priorSeconds = options.resume?.elapsedSeconds ?? 0;
  const B = recipe.batch_size, spe = length.stepsPerEpoch;
  let order: Int32Array | null = null, orderEpoch = -1;
  let since = { loss: 0, correct: 0, labelled: 0, seconds: 0 };
  let epochStats = { loss: 0, correct: 0, labelled: 0 };
  let trainedTokens = 0, trainSeconds = 0, lastLr = 0;

  const evaluateNow = async (step: number): Promise<void> => {
    let testLoss: number | null = null, testPerplexity: number | null = null, testAccuracy: number | null = null;
    if (options.test) {
      const r = await evaluateBertTensors(config, trainer.parameters(), tokenizer, options.test, { signal, device: options.device });
      testLoss = r.loss;
      testPerplexity = r.perplexity;
      testAccuracy = r.accuracy;
    }
    const point: BertCurvePoint = {
      step, epoch: step / spe, testLoss, testPerplexity, testAccuracy,
      trainLoss: since.labelled ? since.loss / since.labelled : NaN,
      trainAccuracy: since.labelled ? since.correct / since.labelled : NaN,
      trainSeconds: since.seconds, learningRate: lastLr,
    };
    since = { loss: 0, correct: 0, labelled: 0, seconds: 0 };
    curve.push(point);
    options.onEval?.(point);
  };

  for (let step = startStep; step < length.totalSteps; step++) {
    signal?.throwIfAborted();
    const epoch = Math.floor(step / spe), k = step % spe;
    if (epoch !== orderEpoch) {
      order = new SeededRandom(recipe.seed, EPOCH_STREAM + epoch).permutation(N);
      orderEpoch = epoch;
      if (k === 0) epochStats = { loss: 0, correct: 0, labelled: 0 };
    }
    const from = k * B, n = Math.min(B, N - from);
    const picked = Array.from({ length: n }, (_, j) => order![from + j]);
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
    const r = await trainer.step(inputs, labels, { signal });
    const dt = (performance.now() - t0) / 1000;
    let real = 0;
    for (let i = 0; i < batch.mask.length; i++) real += batch.mask[i];
    trainSeconds += dt;
    trainedTokens += real;
    lastLr = r.lr;
    for (const s of [since, epochStats]) {
      s.loss += r.loss * r.labelled;
      s.correct += r.correct;
      s.labelled += r.labelled;
    }
    since.seconds += dt;
    options.onStep?.({
      step: r.step, totalSteps: length.totalSteps, epoch: r.step / spe,
      loss: epochStats.labelled ? epochStats.loss / epochStats.labelled : NaN,
      accuracy: epochStats.labelled ? epochStats.correct / epochStats.labelled : NaN,
      tokensPerSecond: trainSeconds > 0 ? trainedTokens / trainSeconds : 0, learningRate: r.lr,
    });
    const done = r.step;
    const epochEnd = done % spe === 0;
    const last = done === length.totalSteps;
    const evalDue = recipe.eval_steps ? done % recipe.eval_steps === 0 : epochEnd;
    if (evalDue || last) await evaluateNow(done);
    const checkpointDue = epochEnd || (options.checkpointSteps ? done % options.checkpointSteps === 0 : false);
    if (options.onCheckpoint && (checkpointDue || last)) {
      await options.onCheckpoint({
        step: done, epoch: done / spe, length, tensors: trainer.parameters(), optimizer: trainer.optimizerState(),
        curve: [...curve], elapsedSeconds: priorSeconds + (performance.now() - started) / 1000,
      });
    }
  }
  if (curve.length === 0 || curve[curve.length - 1].step !== length.totalSteps) await evaluateNow(trainer.steps);
  const seconds = (performance.now() - started) / 1000;
  return {
    tensors: trainer.parameters(), curve, steps: trainer.steps, epochs: trainer.steps / spe, length, seconds,
    elapsedSeconds: priorSeconds + seconds, tokensPerSecond: trainSeconds > 0 ? trainedTokens / trainSeconds : 0,
    final: curve[curve.length - 1] ?? null,
  };
}
