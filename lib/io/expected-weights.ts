/**
 * Which tensors a ViT or BERT checkpoint must hold, and with what shapes, given its
 * config.json: the names and shapes HF transformers' modules create. Checking a folder
 * against this list turns "transformers refuses to load the output" and "the config
 * does not match the weights" into one message that names the tensor.
 */
import { InputError } from '../errors.ts';
import { isFloatDType } from './dtype.ts';
import { type Architecture, type BertConfig, type HfConfig, patchGrid, pair, type ViTConfig } from './hf-config.ts';
import { formatShape, type Tensor } from './tensor.ts';

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
  return config.model_type === 'vit' ? expectedVit(config, architecture, prefix) : expectedBert(config, architecture, prefix);
}

function linear(list: ExpectedTensor[], name: string, out: number, inp: number, bias = true): void {
  list.push({ name: `${name}.weight`, shape: [out, inp], kind: 'weight' });
  if (bias) list.push({ name: `${name}.bias`, shape: [out], kind: 'weight' });
}

function layerNorm(list: ExpectedTensor[], name: string, size: number): void {
  list.push({ name: `${name}.weight`, shape: [size], kind: 'weight' }, { name: `${name}.bias`, shape: [size], kind: 'weight' });
}

function expectedVit(config: ViTConfig, architecture: Architecture, p: string): ExpectedTensor[] {
  const h = config.hidden_size;
  const [patchH, patchW] = pair(config.patch_size);
  const list: ExpectedTensor[] = [
    { name: `${p}embeddings.cls_token`, shape: [1, 1, h], kind: 'weight' },
    { name: `${p}embeddings.position_embeddings`, shape: [1, patchGrid(config).patches + 1, h], kind: 'weight' },
    { name: `${p}embeddings.patch_embeddings.projection.weight`, shape: [h, config.num_channels, patchH, patchW], kind: 'weight' },
    { name: `${p}embeddings.patch_embeddings.projection.bias`, shape: [h], kind: 'weight' },
  ];
  for (let i = 0; i < config.num_hidden_layers; i++) {
    const layer = `${p}encoder.layer.${i}`;
    for (const part of ['query', 'key', 'value']) linear(list, `${layer}.attention.attention.${part}`, h, h, config.qkv_bias);
    linear(list, `${layer}.attention.output.dense`, h, h);
    linear(list, `${layer}.intermediate.dense`, config.intermediate_size, h);
    linear(list, `${layer}.output.dense`, h, config.intermediate_size);
    layerNorm(list, `${layer}.layernorm_before`, h);
    layerNorm(list, `${layer}.layernorm_after`, h);
  }
  layerNorm(list, `${p}layernorm`, h);
  if (architecture === 'ViTModel') linear(list, `${p}pooler.dense`, h, h);
  else linear(list, 'classifier', config.num_labels, h);
  return list;
}

function expectedBert(config: BertConfig, architecture: Architecture, p: string): ExpectedTensor[] {
  const h = config.hidden_size;
  const positions = config.max_position_embeddings;
  const list: ExpectedTensor[] = [
    { name: `${p}embeddings.word_embeddings.weight`, shape: [config.vocab_size, h], kind: 'weight' },
    { name: `${p}embeddings.position_embeddings.weight`, shape: [positions, h], kind: 'weight' },
    { name: `${p}embeddings.token_type_embeddings.weight`, shape: [config.type_vocab_size, h], kind: 'weight' },
    // Buffers that older transformers saved and newer ones do not.
    { name: `${p}embeddings.position_ids`, shape: [1, positions], kind: 'index', optional: true },
    { name: `${p}embeddings.token_type_ids`, shape: [1, positions], kind: 'index', optional: true },
  ];
  layerNorm(list, `${p}embeddings.LayerNorm`, h);
  for (let i = 0; i < config.num_hidden_layers; i++) {
    const layer = `${p}encoder.layer.${i}`;
    for (const part of ['query', 'key', 'value']) linear(list, `${layer}.attention.self.${part}`, h, h);
    linear(list, `${layer}.attention.output.dense`, h, h);
    layerNorm(list, `${layer}.attention.output.LayerNorm`, h);
    linear(list, `${layer}.intermediate.dense`, config.intermediate_size, h);
    linear(list, `${layer}.output.dense`, h, config.intermediate_size);
    layerNorm(list, `${layer}.output.LayerNorm`, h);
  }
  if (architecture === 'BertModel' || architecture === 'BertForSequenceClassification') linear(list, `${p}pooler.dense`, h, h);
  if (architecture === 'BertForSequenceClassification') linear(list, 'classifier', config.num_labels, h);
  if (architecture === 'BertForMaskedLM') {
    list.push({ name: 'cls.predictions.bias', shape: [config.vocab_size], kind: 'weight' });
    linear(list, 'cls.predictions.transform.dense', h, h);
    layerNorm(list, 'cls.predictions.transform.LayerNorm', h);
    // Tied to the word embeddings and cls.predictions.bias: HF re-ties them on load.
    list.push(
      { name: 'cls.predictions.decoder.weight', shape: [config.vocab_size, h], kind: 'weight', optional: true },
      { name: 'cls.predictions.decoder.bias', shape: [config.vocab_size], kind: 'weight', optional: true },
    );
  }
  return list;
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
  const expected = expectedTensors(config, architecture, prefix);
  const context = `${architecture} with ${config.num_hidden_layers} layers and hidden size ${config.hidden_size}`;
  for (const item of expected) {
    const tensor = tensors.get(item.name);
    if (!tensor) {
      if (item.optional) continue;
      throw new InputError(source, `tensor "${item.name}" is missing (config.json describes a ${context})`);
    }
    if (tensor.shape.length !== item.shape.length || tensor.shape.some((size, d) => size !== item.shape[d])) {
      throw new InputError(source, `tensor "${item.name}" has shape ${formatShape(tensor.shape)} but config.json implies ${formatShape(item.shape)}`);
    }
    const isFloat = isFloatDType(tensor.dtype);
    if (item.kind === 'weight' && !isFloat) throw new InputError(source, `tensor "${item.name}" holds ${tensor.dtype} values; weights must be floating point`);
    if (item.kind === 'index' && (isFloat || tensor.dtype === 'BOOL')) throw new InputError(source, `tensor "${item.name}" holds ${tensor.dtype} values; it is an index buffer and must hold integers`);
  }
  const layerPattern = new RegExp(`^${prefix.replace('.', '\\.')}encoder\\.layer\\.(\\d+)\\.`);
  const known = new Set(expected.map((item) => item.name));
  const unexpected: string[] = [];
  for (const name of tensors.keys()) {
    const layer = layerPattern.exec(name);
    if (layer && Number(layer[1]) >= config.num_hidden_layers) {
      throw new InputError(source, `tensor "${name}" belongs to encoder layer ${layer[1]} but config.json has num_hidden_layers ${config.num_hidden_layers}`);
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
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      // v - v is 0 for finite numbers and NaN for NaN and +-Infinity: one test per element.
      if (v - v !== 0) {
        throw new InputError(source, `tensor "${name}" contains ${Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity'} (element ${i} of ${values.length}); the weights are corrupt or training diverged`);
      }
    }
  }
}
