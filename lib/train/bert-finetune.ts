/**
 * `otfuse finetune` on a BERT folder without the command line: a BertForMaskedLM goes on
 * with masked-LM training on a text dataset's train split; a BertForSequenceClassification
 * trains on a labelled one (train.labels beside train.txt, docs/text-data.md). The test
 * split is evaluated before and during training; the result is an HF folder with the
 * model's own tokenizer files.
 */
import { resolve } from 'node:path';
import { InputError } from '../errors.ts';
import { preflightOutput } from '../io/atomic-folder.ts';
import { loadModel } from '../io/model-folder.ts';
import { bertConfigFromHf } from '../models/bert.ts';
import { native, type Device } from '../native.ts';
import { openTextDataset, type ExampleUnit } from '../text/dataset.ts';
import { encodeExamplesAsync } from '../text/sequences.ts';
import { BertTokenizer } from '../text/tokenizer.ts';
import { writeTrainedBert, type BertTrainingRecord } from './bert-checkpoint.ts';
import { evaluateBertTensors, trainBert, type BertCurvePoint, type BertStepProgress, type TextEvalSetup, type TextRecipe } from './bert-train.ts';
import type { RecipeKeyName } from './recipe.ts';

export interface BertFinetuneOptions {
  model: string;
  data: string;
  output: string;
  recipe: TextRecipe;
  /** Longest sequence (default: the smaller of max_position_embeddings and 128). */
  maxLength?: number | null;
  /** Masked LM: pack examples into full blocks (default false: one sequence per example). */
  pack?: boolean;
  maskProbability?: number;
  maskSeed?: number;
  examples?: ExampleUnit;
  truncation?: boolean;
  trainLimit?: number | null;
  testLimit?: number | null;
  threads?: number;
  /** Where evaluation and training run (default: defaultDevice(), 'auto' unless set). */
  device?: Device;
  force?: boolean;
  signal?: AbortSignal;
  /** How errors name the recipe's keys (default training.*; otfuse finetune names its flags). */
  recipeKey?: RecipeKeyName;
  onStep?: (p: BertStepProgress) => void;
  onEval?: (p: BertCurvePoint) => void;
}

export interface BertFinetuneReport extends BertTrainingRecord {
  model: string;
  output: string;
  parameters: number;
  trainData: string;
  testData: string | null;
  initialTest: { loss: number; perplexity: number | null; accuracy: number } | null;
}

export async function finetuneBertFolder(options: BertFinetuneOptions): Promise<BertFinetuneReport> {
  await preflightOutput(options.output, { force: options.force, protectedFolders: [options.model], protectedData: [options.data] });
  const threads = native().setThreads(options.threads ?? 0);
  const model = await loadModel(options.model, { signal: options.signal });
  if (model.config.model_type !== 'bert') throw new InputError(options.model, `is a ${model.architecture}, not a BERT`);
  const config = bertConfigFromHf(model.config, model.architecture, `${options.model}/config.json`);
  const tokenizer = await BertTokenizer.fromFolder(options.model, { vocabSize: config.vocabSize });
  const maxLength = options.maxLength ?? Math.min(config.maxPositions, 128);
  if (!Number.isInteger(maxLength) || maxLength < 3 || maxLength > config.maxPositions)
    throw new InputError('--max-length', `must be an integer in [3, ${config.maxPositions}] (max_position_embeddings), got ${maxLength}`);
  const mlm = config.head === 'masked-lm';
  const unit = options.examples ?? 'lines';
  const truncation = options.truncation ?? true;
  const pack = mlm && (options.pack ?? false);
  const labels = mlm ? undefined : { names: config.labelNames, numClasses: config.numLabels };
  const trainSplit = await openTextDataset(options.data, { split: 'train', unit, labels });
  const limit = options.trainLimit ?? Infinity;
  const train = await encodeExamplesAsync(tokenizer, trainSplit.examples, { maxLength, pack, truncation, file: trainSplit.file, limit });
  const testSplit = await openTextDataset(options.data, { split: 'test', unit, labels });
  const maskProbability = options.maskProbability ?? 0.15;
  const test: TextEvalSetup = {
    split: testSplit, maxLength, pack, truncation, maskSeed: options.maskSeed ?? 0, maskProbability, limit: options.testLimit,
  };
  const task = mlm
    ? { kind: 'masked-lm' as const, maskProbability }
    : { kind: 'classification' as const, labels: Int32Array.from(trainSplit.examples.slice(0, train.length), (e) => e.label!) };

  const initial = await evaluateBertTensors(config, model.tensors, tokenizer, test, { signal: options.signal, device: options.device });
  const result = await trainBert({
    config, tensors: model.tensors, recipe: options.recipe, task, tokenizer, train, maxTokens: maxLength, test,
    signal: options.signal, onStep: options.onStep, onEval: options.onEval, source: options.data, device: options.device,
    recipeKey: options.recipeKey,
  });
  const epochSeconds = result.curve.filter((c) => Number.isInteger(c.epoch) && c.epoch > 0).map((c) => c.trainSeconds);
  const trainData = `${trainSplit.description}, ${train.length} ${pack ? 'packed blocks' : 'sequences'} of at most ${maxLength} tokens`;
  const testData = `${testSplit.description}, max ${maxLength} tokens${options.testLimit ? `, first ${options.testLimit} sequences` : ''}`;
  const record: BertTrainingRecord = {
    setup: {
      model: resolve(options.model),
      data: { folder: resolve(options.data), max_length: maxLength, pack, examples: unit, mask_probability: mlm ? maskProbability : null, train_limit: options.trainLimit ?? null },
      training: options.recipe,
    },
    threads, steps: result.steps, totalSteps: result.length.totalSteps, stepsPerEpoch: result.length.stepsPerEpoch, epochs: result.epochs,
    completed: true, wallSeconds: result.seconds,
    secondsPerEpoch: epochSeconds.length && !options.recipe.eval_steps ? epochSeconds.reduce((a, b) => a + b, 0) / epochSeconds.length : null,
    tokensPerSecond: result.tokensPerSecond,
    finalTest: result.final ? { loss: result.final.testLoss, perplexity: result.final.testPerplexity, accuracy: result.final.testAccuracy } : null,
    initialTest: initial, data: { train: trainData, test: testData }, curve: result.curve,
  };
  const initializerRange = typeof model.config.initializer_range === 'number' ? model.config.initializer_range : 0.02;
  await writeTrainedBert(options.output, {
    config, initializerRange, tensors: result.tensors, tokenizer, maxLength: config.maxPositions, record,
  }, { force: options.force, protectedFolders: [options.model], protectedData: [options.data] });
  let parameters = 0;
  for (const t of result.tensors.values()) parameters += t.data.length;
  return { ...record, model: options.model, output: options.output, parameters, trainData, testData, initialTest: initial };
}
