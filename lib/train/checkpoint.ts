/**
 * Trained models and checkpoints as Hugging Face folders: config.json, model.safetensors,
 * preprocessor_config.json with the normalisation used in training, and training.json
 * with the recipe, the data, timings and the accuracy curve. A checkpoint adds
 * training_state/: the AdamW moments per parameter (optimizer.safetensors) and
 * state.json (the step, the run's length, the random streams' seed and what the run was
 * configured with, so that a resume can refuse a changed config). Every write replaces
 * the folder atomically, so an interrupted run leaves the previous checkpoint whole.
 */
import { join } from 'node:path';
import { preprocessorConfigJson } from '../data/normalisation.ts';
import { writeChunks, type AtomicOutputOptions, writeFolderAtomically } from '../io/atomic-folder.ts';
import { hfConfigToJson, parseHfConfig } from '../io/hf-config.ts';
import { safetensorsChunks } from '../io/safetensors.ts';
import type { Tensor } from '../io/tensor.ts';
import { vitConfigToHF, vitFlatParameters, vitTensorsFromFlat, type VitConfig } from '../models/vit.ts';
import type { CurvePoint } from './train.ts';
import type { RunRecord, RunStateFile } from './run-record.ts';
import { json, readStateFolder, writeStateFolder } from './state-folder.ts';
import type { OptimizerState } from './vit-trainer.ts';

/** Re-exported: the ViT checkpoint module is where callers have always found it. */
export { STATE_FOLDER } from './state-folder.ts';

/** What training.json records about a ViT run. */
export interface TrainingRecord extends RunRecord {
  finalTestAccuracy: number | null;
  finalTestLoss: number | null;
  curve: CurvePoint[];
  [key: string]: unknown;
}

/** state.json of a ViT checkpoint. */
export type TrainingStateFile = RunStateFile<CurvePoint>;

export interface ModelFolderContents {
  config: VitConfig;
  initializerRange: number;
  tensors: Map<string, Tensor>;
  normalisation: { mean: number[]; std: number[] };
  record: TrainingRecord;
  /** Written to training_state/ when given. */
  state?: { optimizer: OptimizerState; file: TrainingStateFile } | null;
}

export async function writeTrainedModel(folder: string, contents: ModelFolderContents, options: Pick<AtomicOutputOptions, 'force' | 'protectedFolders' | 'protectedData' | 'protectedFiles'> = {}): Promise<void> {
  const { config } = contents;
  const hf = parseHfConfig(JSON.stringify({ ...vitConfigToHF(config), initializer_range: contents.initializerRange }), `${folder}/config.json`);
  await writeFolderAtomically(folder, { force: options.force, protectedFolders: options.protectedFolders, protectedData: options.protectedData, protectedFiles: options.protectedFiles }, async (temp) => {
    await writeChunks(join(temp, 'config.json'), [Buffer.from(hfConfigToJson(hf, 'ViTForImageClassification'))]);
    await writeChunks(join(temp, 'model.safetensors'), safetensorsChunks(contents.tensors));
    await writeChunks(join(temp, 'preprocessor_config.json'),
      [Buffer.from(preprocessorConfigJson(contents.normalisation.mean, contents.normalisation.std, config.imageSize))]);
    await writeChunks(join(temp, 'training.json'), [json(contents.record)]);
    if (contents.state) await writeStateFolder(temp, contents.state, (flat) => vitTensorsFromFlat(config, flat));
  });
}

/** The optimiser state and state.json of a checkpoint folder, or an InputError naming what is missing. */
export function readTrainingState(folder: string, config: VitConfig): Promise<{ optimizer: OptimizerState; file: TrainingStateFile }> {
  return readStateFolder<TrainingStateFile>(folder, (tensors, where) => vitFlatParameters(config, tensors, where));
}
