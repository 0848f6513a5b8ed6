/**
 * A Hugging Face model folder in, a model folder out.
 *
 * loadModel reads config.json and the weights: model.safetensors, a sharded safetensors
 * index, pytorch_model.bin or its sharded index, in that order of preference. It checks
 * the weights against the config (every tensor present with its shape, no NaN or
 * infinity), and never writes to the folder. Float weights arrive as F32 whatever the
 * file stored; the stored dtypes are kept per tensor for `otfuse inspect`. The
 * preprocessor and tokenizer files come along when the folder has them.
 *
 * saveModel writes config.json, the preprocessor and tokenizer files the model carries,
 * and F32 safetensors (sharded above a size, with HF's index) into a temporary folder
 * beside the destination and renames it into place.
 */
import { readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { InputError, throwIfAborted } from '../errors.ts';
import { type AtomicOutputOptions, writeChunks, writeFolderAtomically } from './atomic-folder.ts';
import { describeFsError } from './byte-source.ts';
import { type StoredDType } from './dtype.ts';
import { checkFiniteInSlices, checkTensorsMatchConfig, resolveArchitecture } from './expected-weights.ts';
import { type Architecture, type HfConfig, hfConfigToJson, readHfConfig } from './hf-config.ts';
import { safetensorsChunks, readSafetensors, type TensorFileContents } from './safetensors.ts';
import { parseByteSize, planShards, readShardIndex, shardFileName, shardIndexJson } from './shard-index.ts';
import type { Tensor } from './tensor.ts';
import { readTokenizerFiles, type TokenizerFiles } from './tokenizer-files.ts';
import { readTorchBin } from './torch-bin.ts';
import { parseJsonObject, readTextFile } from './json-file.ts';
import { oneLine, quoted } from './messages.ts';
import { checkBoolean, checkOptionKeys, checkSignal } from '../options.ts';

export type ModelFormat = 'safetensors' | 'pytorch';

export interface ModelSource {
  /** The folder as given to loadModel. */
  folder: string;
  format: ModelFormat;
  sharded: boolean;
  /** Weight files read (and the index, first, when sharded), relative to the folder. */
  files: string[];
  /** Each tensor's dtype as its file stores it (F16, BF16, ... before widening). */
  storedDtypes: Map<string, StoredDType>;
  /** Tensors the architecture does not use (HF ignores them with a warning). */
  unexpectedTensors: string[];
}

export interface Model {
  config: HfConfig;
  architecture: Architecture;
  /** In the checkpoint's order; float tensors are F32. */
  tensors: Map<string, Tensor>;
  /** Where the model was read from; absent for models built in memory (a fused model). */
  source?: ModelSource;
  /** The folders of the models this one was made from (a fused model's parents): saveModel never writes there. */
  derivedFrom?: string[];
  /**
   * The folder's preprocessor_config.json (HF's image processor: image_mean, image_std,
   * ...), when it has one: how images become this model's input. Saved with the model.
   */
  preprocessor?: Record<string, unknown>;
  /**
   * The folder's tokenizer files (vocab.txt, tokenizer_config.json, ...), when it has
   * them: how text becomes this model's input. Saved with the model.
   */
  tokenizer?: TokenizerFiles;
}

export interface LoadOptions {
  /** Refuse NaN and infinite weights (default true). */
  checkFinite?: boolean;
  /** Aborting rejects the load with an AbortError between tensors; nothing is kept. */
  signal?: AbortSignal;
}

interface WeightLayout { format: ModelFormat; sharded: boolean; file: string }

/** Candidate weight files, most preferred first. */
const LAYOUTS: WeightLayout[] = [
  { format: 'safetensors', sharded: false, file: 'model.safetensors' },
  { format: 'safetensors', sharded: true, file: 'model.safetensors.index.json' },
  { format: 'pytorch', sharded: false, file: 'pytorch_model.bin' },
  { format: 'pytorch', sharded: true, file: 'pytorch_model.bin.index.json' },
];

export async function loadModel(folder: string, options: LoadOptions = {}): Promise<Model> {
  if (typeof folder !== 'string' || folder.trim() === '') throw new InputError('loadModel: folder', 'must be a non-empty path');
  checkOptionKeys(options, ['checkFinite', 'signal'], 'loadModel options');
  checkBoolean(options.checkFinite, 'loadModel options: checkFinite');
  checkSignal(options.signal, 'loadModel options: signal');
  const { signal } = options;
  throwIfAborted(signal);
  const names = await listFolder(folder);
  if (!names.has('config.json')) throw new InputError(folder, 'has no config.json: not a Hugging Face model folder');
  const layout = LAYOUTS.find((candidate) => names.has(candidate.file));
  if (!layout) throw new InputError(folder, `has no weights (looked for ${LAYOUTS.map((l) => l.file).join(', ')})`);

  const config = await readHfConfig(join(folder, 'config.json'));
  const read = layout.format === 'safetensors' ? readSafetensors : readTorchBin;
  let contents: TensorFileContents;
  let files: string[];
  if (layout.sharded) {
    ({ contents, files } = await readSharded(folder, layout.file, names, read, signal));
  } else {
    contents = await read(join(folder, layout.file), { signal });
    files = [layout.file];
  }
  const weightsSource = layout.sharded ? folder : join(folder, layout.file);
  const tensors = widenFloats(contents.tensors);
  const architecture = resolveArchitecture(config, tensors.keys());
  const { unexpected } = checkTensorsMatchConfig(config, architecture, tensors, weightsSource);
  if (options.checkFinite ?? true) await checkFiniteInSlices(tensors, weightsSource, signal);
  const preprocessor = await readPreprocessor(folder);
  const tokenizer = await readTokenizerFiles(folder);
  return {
    config,
    architecture,
    tensors,
    ...(preprocessor ? { preprocessor } : {}),
    ...(tokenizer ? { tokenizer } : {}),
    source: { folder, format: layout.format, sharded: layout.sharded, files, storedDtypes: contents.storedDtypes, unexpectedTensors: unexpected },
  };
}

const PREPROCESSOR_FILE = 'preprocessor_config.json';

/** A model folder's preprocessor_config.json as an object, or undefined when it has none. */
export async function readPreprocessor(folder: string): Promise<Record<string, unknown> | undefined> {
  const names = await listFolder(folder);
  const path = join(folder, PREPROCESSOR_FILE);
  return names.has(PREPROCESSOR_FILE) ? parseJsonObject(await readTextFile(path), path) : undefined;
}

async function listFolder(folder: string): Promise<Set<string>> {
  try {
    if (!(await stat(folder)).isDirectory()) throw new InputError(folder, 'is not a folder');
    return new Set(await readdir(folder));
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(folder, `model folder ${describeFsError(err)}`, { cause: err });
  }
}

async function readSharded(
  folder: string, indexFile: string, names: Set<string>,
  read: (path: string, options: { signal?: AbortSignal }) => Promise<TensorFileContents>, signal?: AbortSignal,
): Promise<{ contents: TensorFileContents; files: string[] }> {
  const indexPath = join(folder, indexFile);
  const index = await readShardIndex(indexPath);
  const tensors = new Map<string, Tensor>();
  const storedDtypes = new Map<string, StoredDType>();
  const shardOf = new Map<string, string>();
  for (const file of index.files) {
    if (!names.has(file)) throw new InputError(indexPath, `names shard ${quoted(file)}, which is not in the folder`);
    const shard = await read(join(folder, file), { signal });
    for (const [name, tensor] of shard.tensors) {
      if (shardOf.has(name)) throw new InputError(join(folder, file), `tensor ${quoted(name)} is also in ${oneLine(shardOf.get(name)!)}`);
      shardOf.set(name, file);
      tensors.set(name, tensor);
      storedDtypes.set(name, shard.storedDtypes.get(name)!);
    }
  }
  for (const [name, file] of index.weightMap) {
    if (shardOf.get(name) !== file) throw new InputError(indexPath, `says tensor ${quoted(name)} is in ${oneLine(file)}, but it is not there`);
  }
  return { contents: { tensors, storedDtypes }, files: [indexFile, ...index.files] };
}

/** Float tensors as F32 (F64 files are narrowed: every later step works in float32). */
function widenFloats(tensors: Map<string, Tensor>): Map<string, Tensor> {
  for (const [name, tensor] of tensors) {
    if (tensor.dtype === 'F64') tensors.set(name, { dtype: 'F32', shape: tensor.shape, data: Float32Array.from(tensor.data as Float64Array) });
  }
  return tensors;
}

export interface SaveOptions extends AtomicOutputOptions {
  /** Largest shard, in bytes or as "500MB"/"5GB"; default "5GB" as in transformers. */
  maxShardSize?: number | string;
  /** Aborting rejects the save with an AbortError between tensors; nothing is left behind. */
  signal?: AbortSignal;
}

/** The preprocessor and tokenizer files a model carries, checked before anything is written. */
function checkSidecars(model: Model, folder: string): void {
  if (model.preprocessor !== undefined && (model.preprocessor === null || typeof model.preprocessor !== 'object' || Array.isArray(model.preprocessor)))
    throw new InputError(`model to save in ${folder}: preprocessor`, 'must be an object (the preprocessor_config.json contents)');
  const written = new Set(['config.json', PREPROCESSOR_FILE, 'model.safetensors', 'model.safetensors.index.json']);
  for (const [name, text] of Object.entries(model.tokenizer ?? {})) {
    if (text === undefined) continue;
    // Plain file names only: a path would write outside the folder.
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name) || written.has(name) || /^model-\d+-of-\d+\.safetensors$/.test(name))
      throw new InputError(`model to save in ${folder}: tokenizer`, `file name ${JSON.stringify(name)} is not a plain file name of its own`);
    if (typeof text !== 'string') throw new InputError(`model to save in ${folder}: tokenizer`, `${name} must be text, got ${typeof text}`);
  }
}

export interface SavedModel {
  folder: string;
  /** Files written, relative to the folder. */
  files: string[];
}

/**
 * Writes `model` as a Hugging Face folder: config.json, its preprocessor and tokenizer
 * files, then model.safetensors or shards with model.safetensors.index.json. The model's
 * own source folder is protected, so a model can never overwrite the folder it was read
 * from.
 */
export async function saveModel(folder: string, model: Model, options: SaveOptions = {}): Promise<SavedModel> {
  if (typeof folder !== 'string' || folder.trim() === '') throw new InputError('saveModel: folder', 'must be a non-empty path');
  if (!model || typeof model !== 'object' || !(model.tensors instanceof Map)) throw new InputError('saveModel: model', 'is not a model: expected { config, architecture, tensors: Map }');
  checkOptionKeys(options, ['force', 'protectedFolders', 'forceHint', 'maxShardSize', 'signal'], 'saveModel options');
  checkBoolean(options.force, 'saveModel options: force');
  checkSignal(options.signal, 'saveModel options: signal');
  const { signal } = options;
  throwIfAborted(signal);
  checkSidecars(model, folder);
  const maxBytes = parseByteSize(options.maxShardSize ?? '5GB');
  const tensors = new Map<string, Tensor>();
  for (const [name, tensor] of model.tensors) {
    tensors.set(name, tensor.dtype === 'F64' ? { dtype: 'F32', shape: tensor.shape, data: Float32Array.from(tensor.data as Float64Array) } : tensor);
  }
  // A folder transformers cannot load is worse than no folder: check before writing.
  checkTensorsMatchConfig(model.config, model.architecture, tensors, `model to save in ${folder}`);

  const shards = planShards([...tensors].map(([name, t]) => [name, t.data.byteLength]), maxBytes);
  const files = ['config.json'];
  const protectedFolders = [...(options.protectedFolders ?? []), ...(model.source ? [model.source.folder] : []), ...(model.derivedFrom ?? [])];
  await writeFolderAtomically(folder, { force: options.force, protectedFolders }, async (temp) => {
    await writeChunks(join(temp, 'config.json'), [Buffer.from(hfConfigToJson(model.config, model.architecture))]);
    if (model.preprocessor) {
      await writeChunks(join(temp, PREPROCESSOR_FILE), [Buffer.from(`${JSON.stringify(model.preprocessor, null, 2)}\n`)]);
      files.push(PREPROCESSOR_FILE);
    }
    for (const [name, text] of Object.entries(model.tokenizer ?? {})) {
      if (text === undefined) continue;
      await writeChunks(join(temp, name), [Buffer.from(text)]);
      files.push(name);
    }
    if (shards.length === 1) {
      await writeChunks(join(temp, 'model.safetensors'), safetensorsChunks(tensors), signal);
      files.push('model.safetensors');
      return;
    }
    const weightMap = new Map<string, string>();
    for (const [i, names] of shards.entries()) {
      const file = shardFileName('model', 'safetensors', i, shards.length);
      await writeChunks(join(temp, file), safetensorsChunks(names.map((name) => [name, tensors.get(name)!])), signal);
      for (const name of names) weightMap.set(name, file);
      files.push(file);
    }
    const total = [...tensors.values()].reduce((sum, t) => sum + t.data.byteLength, 0);
    await writeChunks(join(temp, 'model.safetensors.index.json'), [Buffer.from(shardIndexJson(total, weightMap))]);
    files.push('model.safetensors.index.json');
  });
  return { folder: resolve(folder), files };
}
