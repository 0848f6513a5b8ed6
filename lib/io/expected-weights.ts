/**
 * Which tensors a ViT or BERT checkpoint must hold, and with what shapes, given its
 * config.json: the names and shapes HF transformers' modules create. Checking a folder
 * against this list turns "transformers refuses to load the output" and "the config
 * does not match the weights" into one message that names the tensor.
 */
import { InputError, throwIfAborted } from '../errors.ts';
import { isFloatDType } from './dtype.ts';
import { type Architecture, type BertConfig, type HfConfig, patchGrid, pair, type ViTConfig } from './hf-config.ts';
import { formatShape, type Tensor } from './tensor.ts';
import { quoted } from './messages.ts';

export interface ExpectedTensor {
  name: string;
  shape: number[];
  /** Weights are floating point; index buffers (BERT's position_ids) are integers. */
  kind: 'weight' | 'index';
  /** Tied or non-persistent tensors that checkpoints may leave out. */
  optional?: boolean;
}

/** The prefix HF puts before the base model's tensors in heads, e.g. "vit." */
const BASE_PREFIX: Record<HfConfig['model_type'], string> = { vit: 'vit.', bert: 'bert.' };

/**
 * The architecture of a checkpoint: config.json's `architectures` when it names one,
 * else read from the tensor names (a head's tensors give the head away).
 */
export function resolveArchitecture(config: HfConfig, names: Iterable<string>): Architecture {
  const listed = config.architectures?.[0];
  if (listed) return listed as Architecture;
  const all = new Set(names);
  if (config.model_type === 'vit') return all.has('classifier.weight') ? 'ViTForImageClassification' : 'ViTModel';
  if (all.has('cls.predictions.transform.dense.weight')) return 'BertForMaskedLM';
  return all.has('classifier.weight') ? 'BertForSequenceClassification' : 'BertModel';
}

/**
 * The prefix of the encoder's tensors: "vit."/"bert." inside a head; for a bare
 * ViTModel/BertModel, "" when saved on its own (HF's usual) or the prefix when the
 * checkpoint still carries it.
 */
export function basePrefix(config: HfConfig, architecture: Architecture, names: Iterable<string>): string {
  const prefix = BASE_PREFIX[config.model_type];
  if (architecture !== 'ViTModel' && architecture !== 'BertModel') return prefix;
  for (const name of names) if (name.startsWith(`${prefix}embeddings.`)) return prefix;
  return '';
}

export function expectedTensors(config: HfConfig, architecture: Architecture, prefix: string): ExpectedTensor[] {
  return [...iterateExpected(config, architecture, prefix)];
}

/**
 * The expected tensors one at a time, in model order. Checks walk this lazily so a
 * config claiming a billion layers fails at the first missing layer instead of building
 * a billion-entry list.
 */
function iterateExpected(config: HfConfig, architecture: Architecture, prefix: string): Iterable<ExpectedTensor> {
  return config.model_type === 'vit' ? expectedVit(config, architecture, prefix) : expectedBert(config, architecture, prefix);
}

function* linear(name: string, out: number, inp: number, bias = true): Generator<ExpectedTensor> {
  yield { name: `${name}.weight`, shape: [out, inp], kind: 'weight' };
  if (bias) yield { name: `${name}.bias`, shape: [out], kind: 'weight' };
}

function* layerNorm(name: string, size: number): Generator<ExpectedTensor> {
  yield { name: `${name}.weight`, shape: [size], kind: 'weight' };
  yield { name: `${name}.bias`, shape: [size], kind: 'weight' };
}

function* expectedVit(config: ViTConfig, architecture: Architecture, p: string): Generator<ExpectedTensor> {
  const h = config.hidden_size;
  const [patchH, patchW] = pair(config.patch_size);
  yield* [
    { name: `${p}embeddings.cls_token`, shape: [1, 1, h], kind: 'weight' },
    { name: `${p}embeddings.position_embeddings`, shape: [1, patchGrid(config).patches + 1, h], kind: 'weight' },
    { name: `${p}embeddings.patch_embeddings.projection.weight`, shape: [h, config.num_channels, patchH, patchW], kind: 'weight' },
    { name: `${p}embeddings.patch_embeddings.projection.bias`, shape: [h], kind: 'weight' },
  ] satisfies ExpectedTensor[];
  for (let i = 0; i < config.num_hidden_layers; i++) {
    const layer = `${p}encoder.layer.${i}`;
    for (const part of ['query', 'key', 'value']) yield* linear(`${layer}.attention.attention.${part}`, h, h, config.qkv_bias);
    yield* linear(`${layer}.attention.output.dense`, h, h);
    yield* linear(`${layer}.intermediate.dense`, config.intermediate_size, h);
    yield* linear(`${layer}.output.dense`, h, config.intermediate_size);
    yield* layerNorm(`${layer}.layernorm_before`, h);
    yield* layerNorm(`${layer}.layernorm_after`, h);
  }
  yield* layerNorm(`${p}layernorm`, h);
  if (architecture === 'ViTModel') yield* linear(`${p}pooler.dense`, h, h);
  else yield* linear('classifier', config.num_labels, h);
}

function* expectedBert(config: BertConfig, architecture: Architecture, p: string): Generator<ExpectedTensor> {
  const h = config.hidden_size;
  const positions = config.max_position_embeddings;
  yield* [
    { name: `${p}embeddings.word_embeddings.weight`, shape: [config.vocab_size, h], kind: 'weight' },
    { name: `${p}embeddings.position_embeddings.weight`, shape: [positions, h], kind: 'weight' },
    { name: `${p}embeddings.token_type_embeddings.weight`, shape: [config.type_vocab_size, h], kind: 'weight' },
    // Buffers that older transformers saved and newer ones do not.
    { name: `${p}embeddings.position_ids`, shape: [1, positions], kind: 'index', optional: true },
    { name: `${p}embeddings.token_type_ids`, shape: [1, positions], kind: 'index', optional: true },
  ] satisfies ExpectedTensor[];
  yield* layerNorm(`${p}embeddings.LayerNorm`, h);
  for (let i = 0; i < config.num_hidden_layers; i++) {
    const layer = `${p}encoder.layer.${i}`;
    for (const part of ['query', 'key', 'value']) yield* linear(`${layer}.attention.self.${part}`, h, h);
    yield* linear(`${layer}.attention.output.dense`, h, h);
    yield* layerNorm(`${layer}.attention.output.LayerNorm`, h);
    yield* linear(`${layer}.intermediate.dense`, config.intermediate_size, h);
    yield* linear(`${layer}.output.dense`, h, config.intermediate_size);
    yield* layerNorm(`${layer}.output.LayerNorm`, h);
  }
  if (architecture === 'BertModel' || architecture === 'BertForSequenceClassification') yield* linear(`${p}pooler.dense`, h, h);
  if (architecture === 'BertForSequenceClassification') yield* linear('classifier', config.num_labels, h);
  if (architecture === 'BertForMaskedLM') {
    yield { name: 'cls.predictions.bias', shape: [config.vocab_size], kind: 'weight' };
    yield* linear('cls.predictions.transform.dense', h, h);
    yield* layerNorm('cls.predictions.transform.LayerNorm', h);
    // Tied to the word embeddings and cls.predictions.bias: HF re-ties them on load.
    yield { name: 'cls.predictions.decoder.weight', shape: [config.vocab_size, h], kind: 'weight', optional: true };
    yield { name: 'cls.predictions.decoder.bias', shape: [config.vocab_size], kind: 'weight', optional: true };
  }
}

/**
 * Checks `tensors` against what config.json implies: every expected tensor present with
 * its shape and kind of dtype, and no encoder layer beyond num_hidden_layers. Returns the
 * names of tensors the architecture does not use (HF ignores those with a warning).
 */
export function checkTensorsMatchConfig(
  config: HfConfig, architecture: Architecture, tensors: Map<string, Tensor>, source: string,
): { unexpected: string[] } {
  const prefix = basePrefix(config, architecture, tensors.keys());
  const context = `${architecture} with ${config.num_hidden_layers} layers and hidden size ${config.hidden_size}`;
  const known = new Set<string>();
  for (const item of iterateExpected(config, architecture, prefix)) {
    known.add(item.name);
    const tensor = tensors.get(item.name);
    if (!tensor) {
      if (item.optional) continue;
      throw new InputError(source, `tensor ${quoted(item.name)} is missing (config.json describes a ${context})`);
    }
    if (tensor.shape.length !== item.shape.length || tensor.shape.some((size, d) => size !== item.shape[d])) {
      throw new InputError(source, `tensor ${quoted(item.name)} has shape ${formatShape(tensor.shape)} but config.json implies ${formatShape(item.shape)}`);
    }
    // A tensor built in memory can disagree with its own shape; one read from a file cannot.
    const size = tensor.shape.reduce((a, b) => a * b, 1);
    if (tensor.data?.length !== size) throw new InputError(source, `tensor ${quoted(item.name)} holds ${tensor.data?.length} values, its shape ${formatShape(tensor.shape)} needs ${size}`);
    const isFloat = isFloatDType(tensor.dtype);
    if (item.kind === 'weight' && !isFloat) throw new InputError(source, `tensor ${quoted(item.name)} holds ${tensor.dtype} values; weights must be floating point`);
    if (item.kind === 'index' && (isFloat || tensor.dtype === 'BOOL')) throw new InputError(source, `tensor ${quoted(item.name)} holds ${tensor.dtype} values; it is an index buffer and must hold integers`);
  }
  const layerPattern = new RegExp(`^${prefix.replace('.', '\\.')}encoder\\.layer\\.(\\d+)\\.`);
  const unexpected: string[] = [];
  for (const name of tensors.keys()) {
    const layer = layerPattern.exec(name);
    if (layer && Number(layer[1]) >= config.num_hidden_layers) {
      throw new InputError(source, `tensor ${quoted(name)} belongs to encoder layer ${layer[1]} but config.json has num_hidden_layers ${config.num_hidden_layers}`);
    }
    if (!known.has(name)) unexpected.push(name);
  }
  return { unexpected };
}

/** Refuses weights holding NaN or infinity, naming the tensor and the first bad element. */
export function checkFinite(tensors: Map<string, Tensor>, source: string): void {
  for (const [name, tensor] of tensors) {
    if (tensor.dtype !== 'F32' && tensor.dtype !== 'F64') continue;
    const values = tensor.data as Float32Array | Float64Array;
    const at = firstNonFinite(values, 0, values.length);
    if (at >= 0) throw nonFiniteError(source, name, values, at);
  }
}

/** Elements checked between two turns of the event loop (about a millisecond's work). */
const FINITE_SLICE = 1 << 20;

/**
 * checkFinite in slices of about a millisecond, yielding to the event loop between them
 * (a ViT-B's 86M weights take ~80 ms in one go); aborting stops it between slices.
 */
export async function checkFiniteInSlices(tensors: Map<string, Tensor>, source: string, signal?: AbortSignal): Promise<void> {
  let sinceYield = 0;
  for (const [name, tensor] of tensors) {
    if (tensor.dtype !== 'F32' && tensor.dtype !== 'F64') continue;
    const values = tensor.data as Float32Array | Float64Array;
    for (let from = 0; from < values.length; from += FINITE_SLICE) {
      const to = Math.min(values.length, from + FINITE_SLICE);
      const at = firstNonFinite(values, from, to);
      if (at >= 0) throw nonFiniteError(source, name, values, at);
      sinceYield += to - from;
      if (sinceYield >= FINITE_SLICE) {
        sinceYield = 0;
        await new Promise<void>((done) => setImmediate(done));
        throwIfAborted(signal);
      }
    }
  }
}

function firstNonFinite(values: Float32Array | Float64Array, from: number, to: number): number {
  for (let i = from; i < to; i++) {
    const v = values[i];
    // v - v is 0 for finite numbers and NaN for NaN and +-Infinity: one test per element.
    if (v - v !== 0) return i;
  }
  return -1;
}

function nonFiniteError(source: string, name: string, values: Float32Array | Float64Array, i: number): InputError {
  const v = values[i];
  return new InputError(source, `tensor ${quoted(name)} contains ${Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity'} (element ${i} of ${values.length}); the weights are corrupt or training diverged`);
}
