/**
 * The Hugging Face BERT adapter (BertForMaskedLM, BertForSequenceClassification): the
 * only place that knows HF BERT parameter and module names. It reads an HF config, maps
 * HF tensors onto the native model's flat parameter buffer and names the native capture
 * points after the HF modules whose outputs they are:
 *
 *   bert.embeddings                               embeddings after their LayerNorm
 *   bert.encoder.layer.N.attention.self.query     (and .key, .value)
 *   bert.encoder.layer.N.attention.output.dense   attention projection, before the residual
 *   bert.encoder.layer.N.attention.output         after the attention LayerNorm (also the
 *                                                 output of HF's bert.encoder.layer.N.attention)
 *   bert.encoder.layer.N.intermediate.dense       before GELU
 *   bert.encoder.layer.N.output.dense             before the residual
 *   bert.encoder.layer.N                          layer output (after the output LayerNorm)
 *   cls.predictions.transform.dense               masked LM head dense, before GELU
 *   cls.predictions.transform                     masked LM head after its LayerNorm
 *   bert.pooler.dense                             classification: pooler on [CLS], before tanh
 *   classifier                                    classification logits
 *
 * Token outputs keep real tokens only (padding rows are left out by the store).
 */
import type { ActivationOptions, ActivationStore } from '../activations.ts';
import { InputError } from '../errors.ts';
import { parseHfConfig, type Architecture, type BertConfig as HfBertConfig } from '../io/hf-config.ts';
import type { Model } from '../io/model-folder.ts';
import type { Tensor } from '../io/tensor.ts';
import { defaultDevice, native, runTask, type Device, type NativeBertConfig, type NativeBertModel, type TaskOptions } from '../native.ts';
import type { TokenBatch } from '../text/batch.ts';
import { buildNative, checkUnknownTensors, createStore, namedParts, parameterParts, planStore, StagedModel, tensorsFromFlat, type ParameterPart } from './native-model.ts';

export type BertHead = 'masked-lm' | 'sequence-classification';

/** The BERT's sizes as the native model takes them (from a validated HF BertConfig). */
export interface BertConfig {
  head: BertHead;
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  intermediateSize: number;
  maxPositions: number;
  typeVocabSize: number;
  layerNormEps: number;
  /** Classes of the classification head (2 for a masked LM, unused there). */
  numLabels: number;
  /** Class names by index, from id2label, when present. */
  labelNames?: string[];
  /** The masked-LM decoder reuses the word embeddings (HF's tie_word_embeddings). */
  tiedDecoder: boolean;
  padTokenId: number | null;
}

const HEADS: Partial<Record<Architecture, BertHead>> = {
  BertForMaskedLM: 'masked-lm',
  BertForSequenceClassification: 'sequence-classification',
};

/**
 * The native sizes of a config that lib/io has validated, with the limits of the native
 * forward pass on top: exact-erf GELU, single-label classification.
 */
export function bertConfigFromHf(config: HfBertConfig, architecture: Architecture, source = 'config.json'): BertConfig {
  const head = HEADS[architecture];
  if (!head)
    throw new InputError(source, `is a ${architecture}; BertForMaskedLM or BertForSequenceClassification is needed (the forward pass needs a head)`);
  if (config.hidden_act !== 'gelu')
    throw new InputError(source, `"hidden_act" ${JSON.stringify(config.hidden_act)} is not supported by the BERT forward pass (only the exact-erf 'gelu')`);
  const problem = config.extra.problem_type;
  if (head === 'sequence-classification') {
    if (problem === 'regression' || (problem === undefined && config.num_labels === 1))
      throw new InputError(source, 'is a regression head (num_labels 1); only single-label classification is supported');
    if (problem === 'multi_label_classification')
      throw new InputError(source, '"problem_type" multi_label_classification is not supported (only single-label classification)');
  }
  const tie = config.extra.tie_word_embeddings;
  if (tie !== undefined && typeof tie !== 'boolean') throw new InputError(source, '"tie_word_embeddings" must be true or false');
  const ids = Object.keys(config.id2label).map(Number).sort((a, b) => a - b);
  return {
    head,
    vocabSize: config.vocab_size,
    hiddenSize: config.hidden_size,
    numLayers: config.num_hidden_layers,
    numHeads: config.num_attention_heads,
    intermediateSize: config.intermediate_size,
    maxPositions: config.max_position_embeddings,
    typeVocabSize: config.type_vocab_size,
    layerNormEps: config.layer_norm_eps,
    numLabels: config.num_labels,
    labelNames: ids.length === config.num_labels ? ids.map((i) => config.id2label[i]) : undefined,
    tiedDecoder: tie !== false,
    padTokenId: config.pad_token_id,
  };
}

/** Parses HF config.json fields (model_type bert) into native sizes; errors name `source`. */
export function parseBertConfig(raw: Record<string, unknown>, source = 'config.json'): BertConfig {
  const config = parseHfConfig(JSON.stringify({ model_type: 'bert', architectures: ['BertForMaskedLM'], ...raw }), source);
  if (config.model_type !== 'bert') throw new InputError(source, `"model_type" is '${config.model_type}', not a BERT`);
  return bertConfigFromHf(config, (config.architectures?.[0] ?? 'BertForMaskedLM') as Architecture, source);
}

/** The config as an HF config.json object (what a saved model carries). */
export function bertConfigToHF(c: BertConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {
    model_type: 'bert',
    architectures: [c.head === 'masked-lm' ? 'BertForMaskedLM' : 'BertForSequenceClassification'],
    vocab_size: c.vocabSize,
    hidden_size: c.hiddenSize,
    num_hidden_layers: c.numLayers,
    num_attention_heads: c.numHeads,
    intermediate_size: c.intermediateSize,
    hidden_act: 'gelu',
    max_position_embeddings: c.maxPositions,
    type_vocab_size: c.typeVocabSize,
    layer_norm_eps: c.layerNormEps,
    pad_token_id: c.padTokenId,
    position_embedding_type: 'absolute',
  };
  if (!c.tiedDecoder) out.tie_word_embeddings = false;
  if (c.head === 'sequence-classification') {
    const names = c.labelNames ?? Array.from({ length: c.numLabels }, (_, i) => `LABEL_${i}`);
    out.id2label = Object.fromEntries(names.map((n, i) => [String(i), n]));
    out.label2id = Object.fromEntries(names.map((n, i) => [n, i]));
  }
  return out;
}

export function nativeBertConfig(c: BertConfig): NativeBertConfig {
  return {
    vocabSize: c.vocabSize, hidden: c.hiddenSize, layers: c.numLayers, heads: c.numHeads, intermediate: c.intermediateSize,
    maxPositions: c.maxPositions, typeVocabSize: c.typeVocabSize, labels: c.numLabels, layerNormEps: c.layerNormEps,
    head: c.head, tiedDecoder: c.tiedDecoder,
  };
}

// Native module names -> HF module names. Parameters are these plus ".weight" / ".bias".
const MODULE_NAMES: Array<[RegExp, string]> = [
  [/^embed$/, 'bert.embeddings'],
  [/^embed\.ln$/, 'bert.embeddings.LayerNorm'],
  [/^layers\.(\d+)\.(query|key|value)$/, 'bert.encoder.layer.$1.attention.self.$2'],
  [/^layers\.(\d+)\.attn_out$/, 'bert.encoder.layer.$1.attention.output.dense'],
  [/^layers\.(\d+)\.attn_ln$/, 'bert.encoder.layer.$1.attention.output'],
  [/^layers\.(\d+)\.mlp_in$/, 'bert.encoder.layer.$1.intermediate.dense'],
  [/^layers\.(\d+)\.mlp_out$/, 'bert.encoder.layer.$1.output.dense'],
  [/^layers\.(\d+)\.out_ln$/, 'bert.encoder.layer.$1.output.LayerNorm'],
  [/^layers\.(\d+)$/, 'bert.encoder.layer.$1'],
  [/^mlm\.transform$/, 'cls.predictions.transform.dense'],
  [/^mlm\.ln$/, 'cls.predictions.transform'],
  [/^pooler$/, 'bert.pooler.dense'],
  [/^classifier$/, 'classifier'],
];

function hfModuleName(name: string): string {
  for (const [re, hf] of MODULE_NAMES) if (re.test(name)) return name.replace(re, hf);
  throw new Error(`bert adapter: no HF name for native point '${name}'`);
}

// Parameters whose HF name is not "<module>.weight|bias" of a capture point's module.
const PARAMETER_NAMES: Record<string, string> = {
  'embed.word': 'bert.embeddings.word_embeddings.weight',
  'embed.position': 'bert.embeddings.position_embeddings.weight',
  'embed.token_type': 'bert.embeddings.token_type_embeddings.weight',
  'mlm.ln.weight': 'cls.predictions.transform.LayerNorm.weight',
  'mlm.ln.bias': 'cls.predictions.transform.LayerNorm.bias',
  'mlm.decoder.weight': 'cls.predictions.decoder.weight',
  'mlm.decoder.bias': 'cls.predictions.bias',
};

/** The HF parameter name of a native parameter ("layers.0.query.weight" -> "bert.encoder.layer.0.attention.self.query.weight"). */
export function hfParameterName(name: string): string {
  if (Object.hasOwn(PARAMETER_NAMES, name)) return PARAMETER_NAMES[name];
  const m = /^(.*)\.(weight|bias)$/.exec(name);
  if (!m) throw new Error(`bert adapter: no HF name for native parameter '${name}'`);
  if (/^layers\.\d+\.attn_ln$/.test(m[1])) return `${m[1].replace(/^layers\.(\d+)\.attn_ln$/, 'bert.encoder.layer.$1.attention.output.LayerNorm')}.${m[2]}`;
  return `${hfModuleName(m[1])}.${m[2]}`;
}

/** HF parameter names with their shapes, in the native buffer order (the tied decoder has none of its own). */
export function bertParameterShapes(config: BertConfig): Array<{ name: string; shape: number[] }> {
  return native().bertLayout(nativeBertConfig(config)).tensors.map((t) => ({ name: hfParameterName(t.name), shape: t.shape }));
}

/** HF module names of the outputs a capture records, in forward order. */
export function bertActivationNames(config: BertConfig): string[] {
  return native().bertLayout(nativeBertConfig(config)).capturePoints.map((p) => hfModuleName(p.name));
}

// Checkpoint tensors the forward pass does not use: HF's index buffers, the pooler of a
// masked LM converted from pretraining, a pretraining checkpoint's other heads.
const IGNORED: Record<BertHead, RegExp> = {
  'masked-lm': /^bert\.embeddings\.(position_ids|token_type_ids)$|^bert\.pooler\.|^cls\.seq_relationship\./,
  'sequence-classification': /^bert\.embeddings\.(position_ids|token_type_ids)$|^cls\./,
};

export interface BertModelOptions extends Pick<TaskOptions, 'signal'> {
  /** `auto` (default: defaultDevice()) runs on the GPU when one is usable, else on the CPU. */
  device?: Device;
  /** Where the tensors came from, for error messages (e.g. the model folder). */
  source?: string;
}

export interface BertForwardOptions extends TaskOptions {
  /** Masked LM: count x tokens token labels, -100 where no loss is wanted. Classification: one class per sequence. */
  labels?: Int32Array;
  /** Return the logits (default true; a masked LM's are count x tokens x vocab floats). */
  logits?: boolean;
  /** Return the argmax per row (masked LM: per token, -1 where the decoder did not run: unlabelled tokens when labels are given, padding unless logits are wanted). */
  predictions?: boolean;
}

export interface BertForwardResult {
  logits: Float32Array | null;
  /** Per token (masked LM, NaN where unlabelled) or per sequence, when labels were given. */
  losses: Float32Array | null;
  predictions: Int32Array | null;
}

export interface BertActivationOptions extends ActivationOptions {
  /** The longest sequence (in tokens) that will be captured: sizes the store. Default: max_position_embeddings. */
  maxTokens?: number;
  /**
   * The real tokens all the captured sequences hold together, when known: entries kept
   * token by token are sized for these instead of numSamples x maxTokens (short
   * sequences with a long maxTokens then reserve only what they use).
   */
  totalTokens?: number;
}

export class BertModel extends StagedModel<NativeBertModel> {
  readonly config: BertConfig;

  constructor(config: BertConfig, nativeModel: NativeBertModel) {
    super(nativeModel);
    this.config = config;
  }

  get head(): BertHead { return this.config.head; }

  /**
   * Runs a batch of token sequences. Bad inputs (token ids outside the vocabulary,
   * sequences longer than max_position_embeddings, labels out of range) reject with an
   * error naming the sample and position.
   */
  async forward(batch: TokenBatch, options: BertForwardOptions = {}): Promise<BertForwardResult> {
    return runTask(options, (o) => this.native.forward(
      { ids: batch.ids, typeIds: batch.typeIds, mask: batch.mask, count: batch.count, tokens: batch.tokens },
      options.labels ?? null, { logits: options.logits ?? true, predictions: options.predictions ?? false }, o,
    ));
  }

  /** Sizes a store for `numSamples` sequences of up to maxTokens tokens; throws InputError over the limit. */
  planActivations(options: BertActivationOptions): { bytes: number; limit: number } {
    return planStore(this.native, options, () => this.tokenBounds(options));
  }

  /** A store for this model's activations; refused with an InputError when over the memory limit. */
  createActivationStore(options: BertActivationOptions): ActivationStore {
    return createStore(this.native, options, this.planActivations(options), this.tokenBounds(options));
  }

  /** The native store options beyond the common ones: the entries kept, and the token bounds that size them. */
  private tokenBounds(options: BertActivationOptions): { only?: string[]; maxTokens: number; maxTotalTokens?: number } {
    const maxTokens = options.maxTokens ?? this.config.maxPositions;
    if (!Number.isInteger(maxTokens) || maxTokens < 1) throw new InputError('max_tokens', `must be a positive integer, got ${maxTokens}`);
    const total = options.totalTokens;
    if (total === undefined) return { only: options.only, maxTokens };
    if (!Number.isInteger(total) || total < 1) throw new InputError('total_tokens', `must be a positive integer, got ${total}`);
    return { only: options.only, maxTokens, maxTotalTokens: total };
  }

  /**
   * Runs sequences through the model and files their activations (real tokens only) and
   * per-sequence losses (with labels; a masked LM's is the mean over its labelled
   * tokens) in `store`, up to its remaining capacity. Returns how many it took.
   */
  async capture(store: ActivationStore, batch: TokenBatch, options: { labels?: Int32Array } & TaskOptions = {}): Promise<number> {
    return runTask(options, (o) => this.native.capture(
      store.native, { ids: batch.ids, typeIds: batch.typeIds, mask: batch.mask, count: batch.count, tokens: batch.tokens },
      options.labels ?? null, o,
    ));
  }

  /** The parameters under their HF names (copies, read off the JS thread). A tied decoder is the word embeddings and is not repeated. */
  async parameters(): Promise<Map<string, Tensor>> {
    return tensorsFromFlat(native().bertLayout(nativeBertConfig(this.config)), hfParameterName, await this.native.readParameters());
  }

  /** Overwrites the native copies of the tensors `names` with their values in `tensors` (the model's own shapes). */
  async writeParameters(tensors: Map<string, Tensor>, names: string[], options: TaskOptions = {}): Promise<void> {
    const parts = namedParts(native().bertLayout(nativeBertConfig(this.config)), hfParameterName, tensors, names, 'the BERT');
    await runTask(options, (o) => this.native.writeParameters(parts, o));
  }

  /** Staged passes (statistics repair), as VitModel's: the batch's sequences are copied once. */
  async stageSamples(batch: TokenBatch, options: TaskOptions = {}): Promise<void> {
    await runTask(options, (o) => this.native.stageSamples(
      { ids: batch.ids, typeIds: batch.typeIds, mask: batch.mask, count: batch.count, tokens: batch.tokens }, o));
  }

  /** Sequences per native encoder pass (0: about 1024 tokens' worth, the default). */
  setMicroBatch(n: number): void {
    this.native.setMicroBatch(n);
  }
}

function sameValues(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Checks the tied copies a checkpoint may carry: cls.predictions.decoder.weight must be
 * the word embeddings (when tied) and cls.predictions.decoder.bias the bias. HF would
 * silently keep one of two differing copies; we refuse instead of guessing.
 */
function checkTiedCopies(config: BertConfig, tensors: Map<string, Tensor>, source: string): void {
  if (config.head !== 'masked-lm') return;
  const pairs: Array<[string, string]> = [['cls.predictions.decoder.bias', 'cls.predictions.bias']];
  if (config.tiedDecoder) pairs.push(['cls.predictions.decoder.weight', 'bert.embeddings.word_embeddings.weight']);
  for (const [copy, original] of pairs) {
    const a = tensors.get(copy), b = tensors.get(original);
    if (a && b && !sameValues(a.data as ArrayLike<number>, b.data as ArrayLike<number>))
      throw new InputError(`${source}: ${copy}`, `differs from ${original}, which the config ties it to${copy.endsWith('weight') ? ' (set "tie_word_embeddings": false for a separate decoder)' : ''}`);
  }
}

/** A BERT parameter under its HF name; the MLM bias may be stored under the decoder's name only. */
export function bertTensor(tensors: Map<string, Tensor>, name: string): Tensor | undefined {
  return tensors.get(name) ?? (name === 'cls.predictions.bias' ? tensors.get('cls.predictions.decoder.bias') : undefined);
}

/**
 * HF-named tensors -> their places in the flat buffer of `config`, read in place: every
 * parameter present with HF's shape (native-model.ts parameterParts); extras not checked.
 */
export function bertParameterParts(config: BertConfig, tensors: Map<string, Tensor>, source: string): { parts: ParameterPart[]; expected: Set<string>; total: number } {
  const layout = native().bertLayout(nativeBertConfig(config));
  return parameterParts(layout, hfParameterName, { kind: 'BERT', source, lookup: (name) => bertTensor(tensors, name) });
}

/**
 * Builds the native BERT from an HF config object (or BertConfig) and HF-named tensors.
 * Every tensor the model needs must be present with HF's shape and finite values; the
 * extras HF checkpoints carry (index buffers, tied copies, other heads) are checked or
 * ignored, anything else unknown is an error.
 */
export async function createBertModel(
  rawConfig: Record<string, unknown> | BertConfig, tensors: Map<string, Tensor>, options: BertModelOptions = {},
): Promise<BertModel> {
  const source = options.source ?? 'model';
  const config = 'hiddenSize' in rawConfig ? (rawConfig as BertConfig) : parseBertConfig(rawConfig, `${source}/config.json`);
  const nc = nativeBertConfig(config);
  const addon = native();
  const layout = addon.bertLayout(nc);
  const { parts, expected } = bertParameterParts(config, tensors, source);
  checkTiedCopies(config, tensors, source);
  const tiedCopies = new Set(['cls.predictions.decoder.bias', ...(config.tiedDecoder ? ['cls.predictions.decoder.weight'] : [])]);
  checkUnknownTensors(tensors, expected, (k) => (config.head === 'masked-lm' && tiedCopies.has(k)) || IGNORED[config.head].test(k), 'BERT', source);
  const names = layout.capturePoints.map((p) => hfModuleName(p.name));
  // The tensors are read in place and packed, checked and uploaded off the JS thread.
  const model = await buildNative(parts, source, (p) =>
    runTask(options, (o) => addon.BertModel.build(nc, p, names, { ...o, device: options.device ?? defaultDevice() })));
  return new BertModel(config, model);
}

/** The native BERT of a model loaded by lib/io (loadModel); errors name the model folder. */
export async function bertFromModel(model: Model, options: BertModelOptions = {}): Promise<BertModel> {
  const source = options.source ?? model.source?.folder ?? 'model';
  if (model.config.model_type !== 'bert') throw new InputError(source, `is a ${model.architecture}, not a BERT`);
  return await createBertModel(bertConfigFromHf(model.config, model.architecture, `${source}/config.json`), model.tensors, { ...options, source });
}
