/**
 * Hugging Face config.json for ViT and BERT: typed configs with the defaults HF uses for
 * keys a file leaves out, validation that names the file and key at fault, and a writer
 * that keeps every key we do not model (HF configs carry many) so a saved model loads in
 * transformers exactly as its parent did. Field names are HF's own (snake_case) so they
 * read the same here, in config.json and in HF's documentation.
 */
import { InputError } from '../errors.ts';
import { parseJsonObject, readTextFile } from './json-file.ts';
import { oneLine, quoted } from './messages.ts';

export type ModelType = 'vit' | 'bert';

export type Architecture =
  | 'ViTForImageClassification' | 'ViTModel'
  | 'BertForMaskedLM' | 'BertForSequenceClassification' | 'BertModel';

export const ARCHITECTURES: Readonly<Record<Architecture, ModelType>> = {
  ViTForImageClassification: 'vit',
  ViTModel: 'vit',
  BertForMaskedLM: 'bert',
  BertForSequenceClassification: 'bert',
  BertModel: 'bert',
};

/** Activations the encoder may use; the forward pass implements each of these. */
export const SUPPORTED_HIDDEN_ACTS = ['gelu', 'gelu_new', 'gelu_pytorch_tanh', 'relu'] as const;
export type HiddenAct = (typeof SUPPORTED_HIDDEN_ACTS)[number];

/** Keys both model types share (PretrainedConfig and the encoder). */
export interface EncoderConfig {
  model_type: ModelType;
  /** As the file lists them; null when the file has none. */
  architectures: string[] | null;
  hidden_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  intermediate_size: number;
  hidden_act: HiddenAct;
  hidden_dropout_prob: number;
  attention_probs_dropout_prob: number;
  initializer_range: number;
  layer_norm_eps: number;
  /** Class index to name; HF derives num_labels from it. */
  id2label: Record<string, string>;
  label2id: Record<string, number>;
  num_labels: number;
  /** Every other key of the file, untouched, written back on save. */
  extra: Record<string, unknown>;
}

export interface ViTConfig extends EncoderConfig {
  model_type: 'vit';
  /** A side length, or [height, width]. */
  image_size: number | [number, number];
  patch_size: number | [number, number];
  num_channels: number;
  qkv_bias: boolean;
  encoder_stride: number;
}

export interface BertConfig extends EncoderConfig {
  model_type: 'bert';
  vocab_size: number;
  max_position_embeddings: number;
  type_vocab_size: number;
  pad_token_id: number | null;
  position_embedding_type: 'absolute';
  use_cache: boolean;
  classifier_dropout: number | null;
}

export type HfConfig = ViTConfig | BertConfig;

type Check = (value: unknown, fail: (fault: string) => never, key: string) => unknown;

const positiveInt: Check = (v, fail, key) => (Number.isSafeInteger(v) && (v as number) > 0 ? v : fail(`${quoted(key)} must be a positive integer (got ${show(v)})`));
const nonNegativeInt: Check = (v, fail, key) => (Number.isSafeInteger(v) && (v as number) >= 0 ? v : fail(`${quoted(key)} must be a non-negative integer (got ${show(v)})`));
const probability: Check = (v, fail, key) => (typeof v === 'number' && v >= 0 && v <= 1 ? v : fail(`${quoted(key)} must be a number from 0 to 1 (got ${show(v)})`));
const positiveNumber: Check = (v, fail, key) => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : fail(`${quoted(key)} must be a positive number (got ${show(v)})`));
const nonNegativeNumber: Check = (v, fail, key) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : fail(`${quoted(key)} must be a non-negative number (got ${show(v)})`));
const boolean: Check = (v, fail, key) => (typeof v === 'boolean' ? v : fail(`${quoted(key)} must be true or false (got ${show(v)})`));
const hiddenAct: Check = (v, fail, key) => ((SUPPORTED_HIDDEN_ACTS as readonly unknown[]).includes(v) ? v : fail(`${quoted(key)} ${show(v)} is not supported (supported: ${SUPPORTED_HIDDEN_ACTS.join(', ')})`));
const sizeOrPair: Check = (v, fail, key) =>
  Number.isSafeInteger(v) && (v as number) > 0 ? v
    : Array.isArray(v) && v.length === 2 && v.every((x) => Number.isSafeInteger(x) && x > 0) ? [v[0], v[1]]
      : fail(`${quoted(key)} must be a positive integer or a [height, width] pair (got ${show(v)})`);
const orNull = (check: Check): Check => (v, fail, key) => (v === null ? null : check(v, fail, key));
const absoluteOnly: Check = (v, fail, key) => (v === 'absolute' ? v : fail(`${quoted(key)} ${show(v)} is not supported (only "absolute" position embeddings)`));

interface Field { check: Check; default: unknown }

const ENCODER_FIELDS: Record<string, Field> = {
  hidden_size: { check: positiveInt, default: 768 },
  num_hidden_layers: { check: positiveInt, default: 12 },
  num_attention_heads: { check: positiveInt, default: 12 },
  intermediate_size: { check: positiveInt, default: 3072 },
  hidden_act: { check: hiddenAct, default: 'gelu' },
  initializer_range: { check: nonNegativeNumber, default: 0.02 },
  layer_norm_eps: { check: positiveNumber, default: 1e-12 },
};

// HF's own defaults (transformers ViTConfig / BertConfig) for keys a file leaves out.
const MODEL_FIELDS: Record<ModelType, Record<string, Field>> = {
  vit: {
    ...ENCODER_FIELDS,
    hidden_dropout_prob: { check: probability, default: 0.0 },
    attention_probs_dropout_prob: { check: probability, default: 0.0 },
    image_size: { check: sizeOrPair, default: 224 },
    patch_size: { check: sizeOrPair, default: 16 },
    num_channels: { check: positiveInt, default: 3 },
    qkv_bias: { check: boolean, default: true },
    encoder_stride: { check: positiveInt, default: 16 },
  },
  bert: {
    ...ENCODER_FIELDS,
    hidden_dropout_prob: { check: probability, default: 0.1 },
    attention_probs_dropout_prob: { check: probability, default: 0.1 },
    vocab_size: { check: positiveInt, default: 30522 },
    max_position_embeddings: { check: positiveInt, default: 512 },
    type_vocab_size: { check: positiveInt, default: 2 },
    pad_token_id: { check: orNull(nonNegativeInt), default: 0 },
    position_embedding_type: { check: absoluteOnly, default: 'absolute' },
    use_cache: { check: boolean, default: true },
    classifier_dropout: { check: orNull(probability), default: null },
  },
};

/** Keys the typed config owns; everything else in a file goes to `extra`. */
const LABEL_KEYS = ['id2label', 'label2id', 'num_labels'];

/** Reads and validates a config.json. */
export async function readHfConfig(path: string): Promise<HfConfig> {
  return parseHfConfig(await readTextFile(path), path);
}

/** Parses and validates config.json text; `source` names the file in errors. */
export function parseHfConfig(text: string, source: string): HfConfig {
  const fail = (fault: string): never => { throw new InputError(source, fault); };
  const file = parseJsonObject(text, source);

  const architectures = file.architectures ?? null;
  if (architectures !== null && (!Array.isArray(architectures) || !architectures.every((a) => typeof a === 'string'))) {
    fail('"architectures" must be a list of class names');
  }
  const modelType = resolveModelType(file.model_type, architectures as string[] | null, fail);

  const config: Record<string, unknown> = { model_type: modelType, architectures };
  const fields = MODEL_FIELDS[modelType];
  for (const [key, field] of Object.entries(fields)) {
    config[key] = Object.hasOwn(file, key) ? field.check(file[key], fail, key) : field.default;
  }
  Object.assign(config, parseLabels(file, fail));
  const extra: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(file)) {
    if (key !== 'model_type' && key !== 'architectures' && !Object.hasOwn(fields, key) && !LABEL_KEYS.includes(key)) extra[key] = value;
  }
  config.extra = extra;
  const typed = config as unknown as HfConfig;
  checkConsistency(typed, fail);
  return typed;
}

function resolveModelType(value: unknown, architectures: string[] | null, fail: (fault: string) => never): ModelType {
  const first = architectures?.[0];
  if (first !== undefined && !Object.hasOwn(ARCHITECTURES, first)) {
    fail(`architecture ${quoted(first)} is not supported (supported: ${Object.keys(ARCHITECTURES).join(', ')})`);
  }
  const fromArchitecture = first === undefined ? undefined : ARCHITECTURES[first as Architecture];
  if (value === undefined) {
    return fromArchitecture ?? fail('has neither "model_type" nor "architectures"; cannot tell which model this is');
  }
  if (value !== 'vit' && value !== 'bert') fail(`"model_type" ${show(value)} is not supported (supported: vit, bert)`);
  if (fromArchitecture && fromArchitecture !== value) fail(`"model_type" is ${quoted(String(value))} but "architectures" names ${quoted(first!)}`);
  return value as ModelType;
}

function parseLabels(file: Record<string, unknown>, fail: (fault: string) => never) {
  let id2label: Record<string, string>;
  if (file.id2label !== undefined && file.id2label !== null) {
    const given = file.id2label;
    if (typeof given !== 'object' || Array.isArray(given)) return fail('"id2label" must map class indices to names');
    id2label = {};
    for (const [key, name] of Object.entries(given as object)) {
      if (!/^(0|[1-9]\d{0,8})$/.test(key)) fail(`"id2label" key ${quoted(key)} is not a class index`);
      if (typeof name !== 'string') fail(`"id2label" name of class ${quoted(key)} must be a string`);
      id2label[key] = name as string;
    }
    if (Object.keys(id2label).length === 0) fail('"id2label" is empty');
  } else {
    // PretrainedConfig: without id2label, num_labels (default 2) names classes LABEL_0...
    const count = file.num_labels === undefined ? 2 : positiveInt(file.num_labels, fail, 'num_labels') as number;
    if (count > 1_000_000) fail(`"num_labels" ${count} is implausibly large`);
    id2label = Object.fromEntries(Array.from({ length: count }, (_, i) => [String(i), `LABEL_${i}`]));
  }
  let label2id: Record<string, number>;
  if (file.label2id !== undefined && file.label2id !== null) {
    const given = file.label2id;
    if (typeof given !== 'object' || Array.isArray(given)) return fail('"label2id" must map class names to indices');
    for (const [name, index] of Object.entries(given as object)) {
      if (!Number.isSafeInteger(index) || (index as number) < 0) fail(`"label2id" index of ${quoted(name)} must be a non-negative integer`);
    }
    label2id = { ...(given as Record<string, number>) };
  } else {
    label2id = Object.fromEntries(Object.entries(id2label).map(([index, name]) => [name, Number(index)]));
  }
  // HF lets id2label win when num_labels disagrees with it, and so do we.
  return { id2label, label2id, num_labels: Object.keys(id2label).length };
}

function checkConsistency(config: HfConfig, fail: (fault: string) => never): void {
  if (config.hidden_size % config.num_attention_heads !== 0) {
    fail(`"hidden_size" ${config.hidden_size} is not divisible by "num_attention_heads" ${config.num_attention_heads}`);
  }
  if (config.model_type === 'vit') {
    const [imageH, imageW] = pair(config.image_size);
    const [patchH, patchW] = pair(config.patch_size);
    if (imageH % patchH !== 0 || imageW % patchW !== 0) {
      fail(`"image_size" ${imageH}x${imageW} is not a whole number of "patch_size" ${patchH}x${patchW} patches`);
    }
  } else if (config.pad_token_id !== null && config.pad_token_id >= config.vocab_size) {
    fail(`"pad_token_id" ${config.pad_token_id} is outside the vocabulary ("vocab_size" ${config.vocab_size})`);
  }
}

/** Patch grid of a ViT: rows and columns of patches, and their count (without the class token). */
export function patchGrid(config: ViTConfig): { rows: number; cols: number; patches: number } {
  const [imageH, imageW] = pair(config.image_size);
  const [patchH, patchW] = pair(config.patch_size);
  const rows = imageH / patchH;
  const cols = imageW / patchW;
  return { rows, cols, patches: rows * cols };
}

export function pair(size: number | [number, number]): [number, number] {
  return typeof size === 'number' ? [size, size] : size;
}

/**
 * config.json text for `config`: the kept keys, the typed ones over them, the given
 * architecture and float32 weights (what saveModel writes). Keys sorted, as HF writes them.
 */
export function hfConfigToJson(config: HfConfig, architecture?: Architecture): string {
  const out: Record<string, unknown> = { ...config.extra };
  for (const [key, value] of Object.entries(config)) {
    if (key !== 'extra' && key !== 'num_labels' && key !== 'architectures') out[key] = value;
  }
  // Like HF's save_pretrained, leave out labels that only restate PretrainedConfig's default.
  if (isDefaultLabels(config.id2label, config.label2id)) {
    delete out.id2label;
    delete out.label2id;
  }
  const architectures = architecture ? [architecture] : config.architectures;
  if (architectures) out.architectures = architectures;
  out.torch_dtype = 'float32';
  const sorted = Object.fromEntries(Object.keys(out).sort().map((key) => [key, out[key]]));
  return `${JSON.stringify(sorted, null, 2)}\n`;
}

function isDefaultLabels(id2label: Record<string, string>, label2id: Record<string, number>): boolean {
  const names = Object.entries(id2label);
  return names.length === 2 && names.every(([index, name]) => name === `LABEL_${index}` && label2id[name] === Number(index))
    && Object.keys(label2id).length === 2;
}

function show(value: unknown): string {
  const text = oneLine(JSON.stringify(value) ?? String(value));
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}
