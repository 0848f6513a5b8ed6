/**
 * The training_state/ part of a checkpoint folder, shared by the ViT and BERT
 * checkpoints: the AdamW moments per parameter (optimizer.safetensors, HF names with
 * `.exp_avg` / `.exp_avg_sq`) and state.json. The two model kinds differ only in how
 * their native flat parameter layout maps to named tensors, which the callers pass in.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '../errors.ts';
import { writeChunks } from '../io/atomic-folder.ts';
import { readSafetensors, safetensorsChunks } from '../io/safetensors.ts';
import type { Tensor } from '../io/tensor.ts';
import type { OptimizerState } from './vit-trainer.ts';

export const STATE_FOLDER = 'training_state';

/** Pretty-printed JSON file contents, as every JSON file of a model folder is written. */
export function json(value: unknown): Uint8Array {
  return Buffer.from(`${JSON.stringify(value, null, 2)}\n`);
}

/** Writes training_state/ into the (temporary) model folder `temp`. */
export async function writeStateFolder(
  temp: string, state: { optimizer: OptimizerState; file: unknown },
  tensorsFromFlat: (flat: Float32Array) => Map<string, Tensor>,
): Promise<void> {
  const dir = join(temp, STATE_FOLDER);
  await mkdir(dir);
  const m = tensorsFromFlat(state.optimizer.m), v = tensorsFromFlat(state.optimizer.v);
  const moments: Array<[string, Tensor]> = [];
  for (const [name, t] of m) moments.push([`${name}.exp_avg`, t], [`${name}.exp_avg_sq`, v.get(name)!]);
  await writeChunks(join(dir, 'optimizer.safetensors'), safetensorsChunks(moments));
  await writeChunks(join(dir, 'state.json'), [json(state.file)]);
}

/** The optimiser state and state.json of a checkpoint folder, or an InputError naming what is missing. */
export async function readStateFolder<File extends { step: number }>(
  folder: string, flatParameters: (tensors: Map<string, Tensor>, where: string) => Float32Array,
): Promise<{ optimizer: OptimizerState; file: File }> {
  const dir = join(folder, STATE_FOLDER);
  const statePath = join(dir, 'state.json');
  if (!existsSync(statePath))
    throw new InputError(folder, `has no ${STATE_FOLDER}/state.json to resume from (a finished run keeps it only with output.keep_state)`);
  let file: File;
  try {
    file = JSON.parse(await readFile(statePath, 'utf8')) as File;
  } catch (err) {
    throw new InputError(statePath, `is not valid JSON (${(err as Error).message})`);
  }
  if (!Number.isSafeInteger(file.step) || file.step < 0) throw new InputError(statePath, `"step" must be a non-negative integer, got ${JSON.stringify(file.step)}`);
  const where = join(dir, 'optimizer.safetensors');
  const { tensors } = await readSafetensors(where);
  const split = (suffix: string) => {
    const out = new Map<string, Tensor>();
    for (const [name, t] of tensors) if (name.endsWith(suffix)) out.set(name.slice(0, -suffix.length), t);
    return out;
  };
  const m = flatParameters(split('.exp_avg'), where);
  const v = flatParameters(split('.exp_avg_sq'), where);
  return { optimizer: { step: file.step, m, v }, file };
}
