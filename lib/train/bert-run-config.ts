/**
 * `otfuse train` for a BERT recipe without the command line: a validated BertTrainConfig
 * in, a trained BertForMaskedLM folder out (config.json, model.safetensors, vocab.txt,
 * tokenizer files, training.json). It reads the vocabulary and the text data, builds or
 * loads the starting weights, trains with checkpoints after every epoch, and on --resume
 * continues from the output folder's last checkpoint after checking that the config still
 * describes the same run.
 */
import { resolve } from 'node:path';
import { checkDevice } from '../compute.ts';
import { InputError } from '../errors.ts';
import { preflightOutput } from '../io/atomic-folder.ts';
import { loadModel } from '../io/model-folder.ts';
import type { Tensor } from '../io/tensor.ts';
import { bertConfigFromHf, type BertConfig } from '../models/bert.ts';
import { native } from '../native.ts';
import { openTextDataset } from '../text/dataset.ts';
import { encodeExamplesAsync } from '../text/sequences.ts';
import { BertTokenizer } from '../text/tokenizer.ts';
import { readVocab } from '../text/vocab.ts';
import { readBertTrainingState, writeTrainedBert, type BertStateFile, type BertTrainingRecord } from './bert-checkpoint.ts';
import type { BertTrainConfig } from './bert-config.ts';
import { checkOutputFolder, inputGuards, parameterCount, recordBase, resumeFrom, snapshotProgress, stateFileOf, type RunProgress } from './run-record.ts';
import { trainBert, type BertCurvePoint, type BertStepProgress, type BertTrainingSnapshot, type TextEvalSetup } from './bert-train.ts';

export interface BertRunOptions {
  file: string;
  resume?: boolean;
  signal?: AbortSignal;
  onStep?: (p: BertStepProgress) => void;
  onEval?: (p: BertCurvePoint) => void;
  onCheckpoint?: (step: number) => void;
}

export interface BertTrainReport extends BertTrainingRecord {
  output: string;
  parameters: number;
  trainData: string;
  testData: string | null;
  resumedFrom: number | null;
  warnings: string[];
}

function setupOf(cfg: BertTrainConfig): Record<string, unknown> {
  const { test_split: _s, test_limit: _l, eval_mask_seed: _e, ...data } = cfg.data;
  const { eval_steps: _v, ...training } = cfg.training;
  const model = { ...cfg.model, vocab: cfg.model.vocab ? resolve(cfg.model.vocab) : null, init_from: cfg.model.init_from ? resolve(cfg.model.init_from) : null };
  return { model, data: { ...data, folder: resolve(cfg.data.folder!) }, training };
}

/** The tokenizer of a recipe: model.vocab, or init_from's (which model.vocab, when given, must equal). */
async function recipeTokenizer(cfg: BertTrainConfig): Promise<BertTokenizer> {
  const m = cfg.model;
  const fromFolder = m.init_from ? await BertTokenizer.fromFolder(m.init_from) : null;
  if (!m.vocab) return fromFolder!;
  const vocab = await readVocab(m.vocab);
  const tokenizer = new BertTokenizer(vocab, { lowerCase: m.do_lower_case }, m.vocab);
  if (fromFolder && fromFolder.vocab.tokens.join('\n') !== vocab.tokens.join('\n'))
    throw new InputError(m.vocab, `differs from the vocab.txt of model.init_from ${m.init_from}; a model keeps its vocabulary`);
  return tokenizer;
}

export function bertArchitectureOf(cfg: BertTrainConfig, tokenizer: BertTokenizer): BertConfig {
  const m = cfg.model;
  return {
    head: 'masked-lm', vocabSize: tokenizer.vocabSize, hiddenSize: m.hidden_size, numLayers: m.num_hidden_layers,
    numHeads: m.num_attention_heads, intermediateSize: m.intermediate_size, maxPositions: m.max_position_embeddings,
    typeVocabSize: m.type_vocab_size, layerNormEps: m.layer_norm_eps, numLabels: 2, tiedDecoder: true,
    padTokenId: tokenizer.specialIds.pad,
  };
}

function sameArchitecture(a: BertConfig, b: BertConfig): string | null {
  const keys: Array<[keyof BertConfig, string]> = [
    ['vocabSize', 'vocab_size (the vocab.txt)'], ['hiddenSize', 'hidden_size'], ['numLayers', 'num_hidden_layers'],
    ['numHeads', 'num_attention_heads'], ['intermediateSize', 'intermediate_size'], ['maxPositions', 'max_position_embeddings'],
    ['typeVocabSize', 'type_vocab_size'], ['head', 'the head'], ['tiedDecoder', 'tie_word_embeddings'],
  ];
  for (const [k, name] of keys) if (a[k] !== b[k]) return `model.${name} is ${String(a[k])}, the model folder has ${String(b[k])}`;
  return null;
}

export async function trainBertFromConfig(cfg: BertTrainConfig, options: BertRunOptions): Promise<BertTrainReport> {
  const output = cfg.output.folder!;
  const warnings: string[] = [];
  checkOutputFolder(output, { force: cfg.output.force, resume: options.resume });
  // Resumed or forced, the folder is replaced at every checkpoint: the rest of the checks hold either way.
  await preflightOutput(output, { force: true, ...inputGuards(cfg, options.file) });
  checkDevice(cfg.runtime.device, 'runtime.device');
  const threads = native().setThreads(cfg.runtime.threads > 0 ? cfg.runtime.threads : 0);

  const tokenizer = await recipeTokenizer(cfg);
  const config = bertArchitectureOf(cfg, tokenizer);
  const d = cfg.data;
  const truncation = d.overlong === 'truncate';
  const trainSplit = await openTextDataset(d.folder!, { split: 'train', unit: d.examples });
  const train = await encodeExamplesAsync(tokenizer, trainSplit.examples, {
    maxLength: d.max_length, pack: d.pack, truncation, file: trainSplit.file, limit: d.train_limit ?? Infinity,
  });
  const testSplit = await openTextDataset(d.folder!, { split: d.test_split, unit: d.examples });
  const test: TextEvalSetup = {
    split: testSplit, maxLength: d.max_length, pack: d.pack, truncation, maskSeed: d.eval_mask_seed,
    maskProbability: d.mask_probability, limit: d.test_limit,
  };
  const describe = (split: typeof trainSplit, n: number, limit: number | null) =>
    `${split.description}, ${n}${limit !== null && limit < n ? ` (first ${limit})` : ''} ${d.pack ? 'packed blocks' : 'sequences'} of at most ${d.max_length} tokens`;
  const trainData = describe(trainSplit, train.length, null);
  const testData = `${testSplit.description}, ${d.pack ? 'packed' : 'one sequence per example'}, max ${d.max_length} tokens${d.test_limit ? `, first ${d.test_limit} sequences` : ''}`;
  const setup = setupOf(cfg);

  let tensors: Map<string, Tensor> | undefined;
  let resume: Parameters<typeof trainBert>[0]['resume'] = null;
  if (options.resume) {
    ({ tensors, resume } = await resumeFrom(output, await readBertTrainingState(output, config), { setup, threads, file: options.file, warnings }));
  } else if (cfg.model.init_from) {
    const start = await loadModel(cfg.model.init_from, { signal: options.signal });
    if (start.config.model_type !== 'bert') throw new InputError(cfg.model.init_from, `is a ${start.architecture}, not a BERT`);
    const mismatch = sameArchitecture(config, bertConfigFromHf(start.config, start.architecture, `${cfg.model.init_from}/config.json`));
    if (mismatch) throw new InputError(options.file, mismatch);
    tensors = start.tensors;
  }

  const record = (s: RunProgress<BertCurvePoint> & { tokensPerSecond: number }): BertTrainingRecord => {
    const final = s.curve[s.curve.length - 1];
    return {
      ...recordBase(setup, threads, s, cfg.training.eval_steps),
      tokensPerSecond: s.tokensPerSecond,
      finalTest: final ? { loss: final.testLoss, perplexity: final.testPerplexity, accuracy: final.testAccuracy } : null,
      data: { train: trainData, test: testData }, curve: s.curve,
    };
  };
  const contents = (t: Map<string, Tensor>, rec: BertTrainingRecord) => ({
    config, initializerRange: cfg.model.initializer_range, tensors: t, tokenizer, maxLength: cfg.model.max_position_embeddings, record: rec,
  });
  const guards = inputGuards(cfg, options.file);
  let firstWrite = !options.resume;
  let lastTokensPerSecond = 0;
  const onCheckpoint = async (snap: BertTrainingSnapshot) => {
    const rec = record({ ...snapshotProgress(snap), tokensPerSecond: lastTokensPerSecond });
    const file: BertStateFile = stateFileOf(snap, cfg.training.seed, threads, setup);
    await writeTrainedBert(output, { ...contents(snap.tensors, rec), state: { optimizer: snap.optimizer, file } },
      { force: firstWrite ? cfg.output.force : true, ...guards });
    firstWrite = false;
    options.onCheckpoint?.(snap.step);
  };

  const result = await trainBert({
    config, tensors, initializerRange: cfg.model.initializer_range, recipe: cfg.training,
    task: { kind: 'masked-lm', maskProbability: d.mask_probability }, tokenizer, train, maxTokens: d.max_length, test, resume,
    signal: options.signal, onStep: (p) => { lastTokensPerSecond = p.tokensPerSecond; options.onStep?.(p); }, onEval: options.onEval,
    onCheckpoint, checkpointSteps: cfg.output.checkpoint_steps, source: options.file, device: cfg.runtime.device,
  });
  const finalRecord = record({ step: result.steps, curve: result.curve, elapsed: result.elapsedSeconds, totalSteps: result.length.totalSteps, spe: result.length.stepsPerEpoch, tokensPerSecond: result.tokensPerSecond });
  if (!cfg.output.keep_state) await writeTrainedBert(output, contents(result.tensors, finalRecord), { force: true, ...guards });
  const parameters = parameterCount(result.tensors);
  return { ...finalRecord, output, parameters, trainData, testData, resumedFrom: resume ? resume.optimizer.step : null, warnings };
}
