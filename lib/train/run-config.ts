/**
 * `otfuse train` without the command line: a validated TrainConfig in, a trained model
 * folder out. It loads the data (holdout excluded), builds or loads the starting
 * weights, runs the training loop with checkpoints after every epoch, and on --resume
 * continues from the output folder's last checkpoint after checking that the config
 * still describes the same run.
 */
import { basename, resolve } from 'node:path';
import { resolveNormalisation } from '../data/normalisation.ts';
import type { DatasetFormat } from '../data/source.ts';
import { InputError } from '../errors.ts';
import { preflightOutput } from '../io/atomic-folder.ts';
import { loadModel, readPreprocessor } from '../io/model-folder.ts';
import type { Tensor } from '../io/tensor.ts';
import { vitConfigFromHf, type VitConfig } from '../models/vit.ts';
import { checkDevice } from '../compute.ts';
import { native, setDefaultDevice } from '../native.ts';
import { readTrainingState, writeTrainedModel, type TrainingRecord, type TrainingStateFile } from './checkpoint.ts';
import type { TrainConfig } from './config.ts';
import { blackPixel, loadTrainingData } from './data.ts';
import { checkOutputFolder, inputGuards, parameterCount, recordBase, resumeFrom, snapshotProgress, stateFileOf, type RunProgress } from './run-record.ts';
import { train, type CurvePoint, type StepProgress, type TrainingSnapshot } from './train.ts';

export interface RunConfigOptions {
  /** The config file, for messages. */
  file: string;
  /** Continue from the output folder's checkpoint. */
  resume?: boolean;
  signal?: AbortSignal;
  onLoad?: (done: number, total: number) => void;
  onStep?: (progress: StepProgress) => void;
  onEval?: (point: CurvePoint) => void;
  onCheckpoint?: (step: number) => void;
}

export interface TrainReport extends TrainingRecord {
  output: string;
  parameters: number;
  trainData: string;
  testData: string | null;
  normalisation: { mean: number[]; std: number[]; origin: string };
  resumedFrom: number | null;
  /** Training images per second in this invocation (evaluation excluded). */
  imagesPerSecond: number;
  warnings: string[];
}

const FORMATS: Record<string, DatasetFormat | undefined> = {
  auto: undefined, cifar10: 'cifar10', cifar100: 'cifar100', idx: 'idx', image_folder: 'image-folder',
};

/** What a resumed run must agree on with its checkpoint: everything that shapes the weights. */
function setupOf(cfg: TrainConfig): Record<string, unknown> {
  const { test_split: _s, test_limit: _l, ...data } = cfg.data;
  const { eval_steps: _e, ...training } = cfg.training;
  return { model: cfg.model, data: { ...data, folder: resolve(cfg.data.folder!) }, training };
}

function architectureOf(cfg: TrainConfig, numLabels: number, labelNames: string[] | undefined): VitConfig {
  const m = cfg.model;
  return {
    hiddenSize: m.hidden_size, numLayers: m.num_hidden_layers, numHeads: m.num_attention_heads, intermediateSize: m.intermediate_size,
    layerNormEps: m.layer_norm_eps, imageSize: m.image_size, patchSize: m.patch_size, numChannels: m.num_channels,
    qkvBias: m.qkv_bias, numLabels, labelNames,
  };
}

function sameArchitecture(a: VitConfig, b: VitConfig): string | null {
  const keys: Array<[keyof VitConfig, string]> = [
    ['imageSize', 'image_size'], ['patchSize', 'patch_size'], ['numChannels', 'num_channels'], ['hiddenSize', 'hidden_size'],
    ['numLayers', 'num_hidden_layers'], ['numHeads', 'num_attention_heads'], ['intermediateSize', 'intermediate_size'],
    ['qkvBias', 'qkv_bias'], ['numLabels', 'num_labels'],
  ];
  for (const [k, name] of keys) if (a[k] !== b[k]) return `model.${name} is ${String(a[k])}, the model folder has ${String(b[k])}`;
  return null;
}

export async function trainFromConfig(cfg: TrainConfig, options: RunConfigOptions): Promise<TrainReport> {
  checkDevice(cfg.runtime.device, 'runtime.device');
  const previousDevice = setDefaultDevice(cfg.runtime.device);
  try {
    return await trainOnDevice(cfg, options);
  } finally {
    setDefaultDevice(previousDevice);
  }
}

async function trainOnDevice(cfg: TrainConfig, options: RunConfigOptions): Promise<TrainReport> {
  const output = cfg.output.folder!;
  const warnings: string[] = [];
  checkOutputFolder(output, { force: cfg.output.force, resume: options.resume });
  // Resumed or forced, the folder is replaced at every checkpoint: the rest of the checks hold either way.
  await preflightOutput(output, { force: true, ...inputGuards(cfg, options.file) });
  const threads = cfg.runtime.threads > 0 ? native().setThreads(cfg.runtime.threads) : native().setThreads(0);

  const folder = cfg.data.folder!;
  const norm = resolveNormalisation({
    mean: cfg.data.mean, std: cfg.data.std, preprocessor: cfg.model.init_from ? await readPreprocessor(cfg.model.init_from) : undefined,
    dataset: cfg.data.dataset ?? basename(resolve(folder)).replace(/[-_]?(data|dataset)$/i, ''),
    names: { mean: 'data.mean', std: 'data.std' },
  });
  const channels = cfg.model.num_channels;
  const mean = norm.mean!.length === 1 ? new Array(channels).fill(norm.mean![0]) : norm.mean!;
  const std = norm.std!.length === 1 ? new Array(channels).fill(norm.std![0]) : norm.std!;
  const data = await loadTrainingData({
    folder, format: FORMATS[cfg.data.format],
    preprocess: { imageSize: cfg.model.image_size, channels, mean, std, resize: cfg.data.resize || norm.resize },
    holdout: { fraction: cfg.data.holdout_fraction, seed: cfg.data.holdout_seed },
    trainLimit: cfg.data.train_limit, testSplit: cfg.data.test_split, testLimit: cfg.data.test_limit,
    signal: options.signal, onProgress: options.onLoad,
  });
  const numLabels = cfg.model.num_labels ?? data.numClasses;
  if (data.numClasses > numLabels)
    throw new InputError(options.file, `model.num_labels: ${numLabels}, but ${folder} has ${data.numClasses} classes`);
  const labelNames = cfg.model.labels ?? (data.classes && data.classes.length === numLabels ? data.classes : undefined);
  if (labelNames && labelNames.length !== numLabels)
    throw new InputError(options.file, `model.labels: ${labelNames.length} names for ${numLabels} labels`);
  const config = architectureOf(cfg, numLabels, labelNames);
  const setup = setupOf(cfg);

  let tensors: Map<string, Tensor> | undefined;
  let resume: Parameters<typeof train>[0]['resume'] = null;
  if (options.resume) {
    ({ tensors, resume } = await resumeFrom(output, await readTrainingState(output, config), { setup, threads, file: options.file, warnings }));
  } else if (cfg.model.init_from) {
    const start = await loadModel(cfg.model.init_from, { signal: options.signal });
    if (start.config.model_type !== 'vit') throw new InputError(cfg.model.init_from, `is a ${start.architecture}, not a ViT`);
    const mismatch = sameArchitecture(config, vitConfigFromHf(start.config, `${cfg.model.init_from}/config.json`));
    if (mismatch) throw new InputError(options.file, mismatch);
    tensors = start.tensors;
  }

  const record = (s: RunProgress<CurvePoint>): TrainingRecord => {
    const final = s.curve[s.curve.length - 1];
    return {
      ...recordBase(setup, threads, s, cfg.training.eval_steps),
      finalTestAccuracy: final?.testAccuracy ?? null, finalTestLoss: final?.testLoss ?? null,
      data: { train: data.trainDescription, test: data.testDescription, normalisation: { mean, std, origin: norm.origin } },
      curve: s.curve,
    };
  };
  const contents = (tensorsNow: Map<string, Tensor>, rec: TrainingRecord) => ({
    config, initializerRange: cfg.model.initializer_range, tensors: tensorsNow, normalisation: { mean, std }, record: rec,
  });
  const guards = inputGuards(cfg, options.file);
  let firstWrite = !options.resume;
  const onCheckpoint = async (snap: TrainingSnapshot) => {
    const rec = record(snapshotProgress(snap));
    const file: TrainingStateFile = stateFileOf(snap, cfg.training.seed, threads, setup);
    await writeTrainedModel(output, { ...contents(snap.tensors, rec), state: { optimizer: snap.optimizer, file } },
      { force: firstWrite ? cfg.output.force : true, ...guards });
    firstWrite = false;
    options.onCheckpoint?.(snap.step);
  };

  const result = await train({
    config, tensors, recipe: cfg.training, train: data.train, test: data.test, fill: blackPixel(mean, std, channels),
    resume, initializerRange: cfg.model.initializer_range, signal: options.signal, onStep: options.onStep, onEval: options.onEval,
    onCheckpoint, checkpointSteps: cfg.output.checkpoint_steps, source: options.file,
  });
  const finalRecord = record({ step: result.steps, curve: result.curve, elapsed: result.elapsedSeconds, totalSteps: result.length.totalSteps, spe: result.length.stepsPerEpoch });
  // The final folder: the checkpoint without its optimiser state, unless asked to keep it.
  if (!cfg.output.keep_state) await writeTrainedModel(output, contents(result.tensors, finalRecord), { force: true, ...guards });
  const parameters = parameterCount(result.tensors);
  return {
    ...finalRecord, output, parameters, trainData: data.trainDescription, testData: data.testDescription,
    normalisation: { mean, std, origin: norm.origin }, resumedFrom: resume ? resume.optimizer.step : null,
    imagesPerSecond: result.imagesPerSecond, warnings,
  };
}
