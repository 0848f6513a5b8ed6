/**
 * Trained models and checkpoints as Hugging Face folders: config.json, model.safetensors,
 * preprocessor_config.json with the normalisation used in training, and training.json
 * with the recipe, the data, timings and the accuracy curve. A checkpoint adds
 * training_state/: the AdamW moments per parameter (optimizer.safetensors) and
 * state.json (the step, the run's length, the random streams' seed and what the run was
 * configured with, so that a resume can refuse a changed config). Every write replaces
 * the folder atomically, so an interrupted run leaves the previous checkpoint whole.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { preprocessorConfigJson } from '../data/normalisation.ts';
import { InputError } from '../errors.ts';
import { writeChunks, writeFolderAtomically } from '../io/atomic-folder.ts';
import { hfConfigToJson, parseHfConfig } from '../io/hf-config.ts';
import { readSafetensors, safetensorsChunks } from '../io/safetensors.ts';
import type { Tensor } from '../io/tensor.ts';
import { vitConfigToHF, vitFlatParameters, vitTensorsFromFlat, type VitConfig } from '../models/vit.ts';
import type { CurvePoint } from './train.ts';
import type { OptimizerState } from './vit-trainer.ts';

export const STATE_FOLDER = 'training_state';

/** What training.json records about a run (the parts a resume must agree on are in `setup`). */
export interface TrainingRecord {
  /** The model, data and recipe keys as configured. */
  setup: Record<string, unknown>;
  /** Native threads used: the run is bit-reproducible for a fixed count. */
  threads: number;
  steps: number;
  totalSteps: number;
  stepsPerEpoch: number;
  epochs: number;
  completed: boolean;
  /** Seconds of training and evaluation over every resumed part. */
  wallSeconds: number;
  /** Mean seconds of training (without evaluation) per epoch. */
  secondsPerEpoch: number | null;
  finalTestAccuracy: number | null;
  finalTestLoss: number | null;
  curve: CurvePoint[];
  [key: string]: unknown;
}

export interface TrainingStateFile {
  step: number;
  totalSteps: number;
  stepsPerEpoch: number;
  elapsedSeconds: number;
  /** Every random stream is keyed by this seed and the step or epoch it serves. */
  rng: { seed: number; next_step: number };
  threads: number;
  setup: Record<string, unknown>;
  curve: CurvePoint[];
}

export interface ModelFolderContents {
  config: VitConfig;
  initializerRange: number;
  tensors: Map<string, Tensor>;
  normalisation: { mean: number[]; std: number[] };
  record: TrainingRecord;
  /** Written to training_state/ when given. */
  state?: { optimizer: OptimizerState; file: TrainingStateFile } | null;
}

function json(value: unknown): Uint8Array {
  return Buffer.from(`${JSON.stringify(value, null, 2)}\n`);
}

export async function writeTrainedModel(folder: string, contents: ModelFolderContents, options: { force?: boolean; protectedFolders?: string[] } = {}): Promise<void> {
  const { config } = contents;
  const hf = parseHfConfig(JSON.stringify({ ...vitConfigToHF(config), initializer_range: contents.initializerRange }), `${folder}/config.json`);
  await writeFolderAtomically(folder, { force: options.force, protectedFolders: options.protectedFolders }, async (temp) => {
    await writeChunks(join(temp, 'config.json'), [Buffer.from(hfConfigToJson(hf, 'ViTForImageClassification'))]);
    await writeChunks(join(temp, 'model.safetensors'), safetensorsChunks(contents.tensors));
    await writeChunks(join(temp, 'preprocessor_config.json'),
      [Buffer.from(preprocessorConfigJson(contents.normalisation.mean, contents.normalisation.std, config.imageSize))]);
    await writeChunks(join(temp, 'training.json'), [json(contents.record)]);
    if (contents.state) {
      const dir = join(temp, STATE_FOLDER);
      await mkdir(dir);
      const m = vitTensorsFromFlat(config, contents.state.optimizer.m), v = vitTensorsFromFlat(config, contents.state.optimizer.v);
      const moments: Array<[string, Tensor]> = [];
      for (const [name, t] of m) moments.push([`${name}.exp_avg`, t], [`${name}.exp_avg_sq`, v.get(name)!]);
      await writeChunks(join(dir, 'optimizer.safetensors'), safetensorsChunks(moments));
      await writeChunks(join(dir, 'state.json'), [json(contents.state.file)]);
    }
  });
}

/** The optimiser state and state.json of a checkpoint folder, or an InputError naming what is missing. */
export async function readTrainingState(folder: string, config: VitConfig): Promise<{ optimizer: OptimizerState; file: TrainingStateFile }> {
  const dir = join(folder, STATE_FOLDER);
  const statePath = join(dir, 'state.json');
  if (!existsSync(statePath))
    throw new InputError(folder, `has no ${STATE_FOLDER}/state.json to resume from (a finished run keeps it only with output.keep_state)`);
  let file: TrainingStateFile;
  try {
    file = JSON.parse(await readFile(statePath, 'utf8')) as TrainingStateFile;
  } catch (err) {
    throw new InputError(statePath, `is not valid JSON (${(err as Error).message})`);
  }
  if (!Number.isSafeInteger(file.step) || file.step < 0) throw new InputError(statePath, `"step" must be a non-negative integer, got ${JSON.stringify(file.step)}`);
  const { tensors } = await readSafetensors(join(dir, 'optimizer.safetensors'));
  const split = (suffix: string) => {
    const out = new Map<string, Tensor>();
    for (const [name, t] of tensors) if (name.endsWith(suffix)) out.set(name.slice(0, -suffix.length), t);
    return out;
  };
  const where = join(dir, 'optimizer.safetensors');
  const m = vitFlatParameters(config, split('.exp_avg'), where);
  const v = vitFlatParameters(config, split('.exp_avg_sq'), where);
  return { optimizer: { step: file.step, m, v }, file };
}
