/**
 * The Hugging Face ViT adapter (ViTForImageClassification): the only place that knows
 * HF ViT parameter and module names. It reads an HF config, maps HF tensors onto the
 * native model's flat parameter buffer and names the native capture points after the
 * HF modules whose outputs they are.
 *
 * `vit.encoder.layer.N.attention` (HF's ViTAttention) holds the same values as
 * `attention.output.dense`, but keeps every token of the last layer under a sequence
 * filter: the residual policies weigh it against the block input, as the reference does.
 */
import type { ActivationOptions, ActivationStore } from '../activations.ts';
import { InputError } from '../errors.ts';
import { pair, parseHfConfig, type ViTConfig } from '../io/hf-config.ts';
import type { EncoderGraph, EncoderLayer, LinearPiece, NormPiece } from '../fusion/graph.ts';
import type { Model } from '../io/model-folder.ts';
import type { Tensor } from '../io/tensor.ts';
import { defaultDevice, native, runTask, type Device, type NativeVitConfig, type NativeVitModel, type TaskOptions } from '../native.ts';
import type { ForwardOptions, ForwardResult, ImageClassifier, ImageInput } from './classifier.ts';
import { buildNative, checkUnknownTensors, createStore, namedParts, packParts, parameterParts, planStore, StagedModel, tensorsFromFlat, type ParameterPart } from './native-model.ts';

export type { Tensor } from '../io/tensor.ts';

/** The ViT's sizes as the native model takes them (from a validated HF ViTConfig). */
export interface VitConfig {
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  intermediateSize: number;
  layerNormEps: number;
  imageSize: number;
  patchSize: number;
  numChannels: number;
  qkvBias: boolean;
  numLabels: number;
  /** Class names by index, from id2label, when present. */
  labelNames?: string[];
}

/**
 * The native sizes of a config that lib/io has validated, with the limits of the native
 * forward pass on top: exact-erf GELU and square images and patches.
 */
export function vitConfigFromHf(config: ViTConfig, source = 'config.json'): VitConfig {
  if (config.hidden_act !== 'gelu')
    throw new InputError(source, `"hidden_act" ${JSON.stringify(config.hidden_act)} is not supported by the ViT forward pass (only the exact-erf 'gelu')`);
  const [imageH, imageW] = pair(config.image_size);
  const [patchH, patchW] = pair(config.patch_size);
  if (imageH !== imageW || patchH !== patchW)
    throw new InputError(source, `only square images and patches are supported, got image_size ${JSON.stringify(config.image_size)} and patch_size ${JSON.stringify(config.patch_size)}`);
  const ids = Object.keys(config.id2label).map(Number).sort((a, b) => a - b);
  return {
    hiddenSize: config.hidden_size,
    numLayers: config.num_hidden_layers,
    numHeads: config.num_attention_heads,
    intermediateSize: config.intermediate_size,
    layerNormEps: config.layer_norm_eps,
    imageSize: imageH,
    patchSize: patchH,
    numChannels: config.num_channels,
    qkvBias: config.qkv_bias,
    numLabels: config.num_labels,
    labelNames: ids.length === config.num_labels ? ids.map((i) => config.id2label[i]) : undefined,
  };
}

/** Parses HF config.json fields (model_type defaults to vit) into native sizes; errors name `source`. */
export function parseVitConfig(raw: Record<string, unknown>, source = 'config.json'): VitConfig {
  const config = parseHfConfig(JSON.stringify({ model_type: 'vit', ...raw }), source);
  if (config.model_type !== 'vit') throw new InputError(source, `"model_type" is '${config.model_type}', not a ViT`);
  return vitConfigFromHf(config, source);
}

/** The config as an HF config.json object (what a saved fused model carries). */
export function vitConfigToHF(c: VitConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {
    model_type: 'vit',
    architectures: ['ViTForImageClassification'],
    hidden_size: c.hiddenSize,
    num_hidden_layers: c.numLayers,
    num_attention_heads: c.numHeads,
    intermediate_size: c.intermediateSize,
    hidden_act: 'gelu',
    layer_norm_eps: c.layerNormEps,
    image_size: c.imageSize,
    patch_size: c.patchSize,
    num_channels: c.numChannels,
    qkv_bias: c.qkvBias,
  };
  const names = c.labelNames ?? Array.from({ length: c.numLabels }, (_, i) => `LABEL_${i}`);
  out.id2label = Object.fromEntries(names.map((n, i) => [String(i), n]));
  out.label2id = Object.fromEntries(names.map((n, i) => [n, i]));
  return out;
}

export function nativeVitConfig(c: VitConfig): NativeVitConfig {
  return {
    imageSize: c.imageSize, patchSize: c.patchSize, channels: c.numChannels, hidden: c.hiddenSize,
    layers: c.numLayers, heads: c.numHeads, intermediate: c.intermediateSize, labels: c.numLabels,
    layerNormEps: c.layerNormEps, qkvBias: c.qkvBias,
  };
}

// Native names -> HF module names. Parameters are these plus ".weight" / ".bias".
const MODULE_NAMES: Array<[RegExp, string]> = [
  [/^embed\.patch$/, 'vit.embeddings.patch_embeddings'],
  [/^embed$/, 'vit.embeddings'],
  [/^layers\.(\d+)\.ln1$/, 'vit.encoder.layer.$1.layernorm_before'],
  [/^layers\.(\d+)\.(query|key|value)$/, 'vit.encoder.layer.$1.attention.attention.$2'],
  [/^layers\.(\d+)\.attn_out$/, 'vit.encoder.layer.$1.attention.output.dense'],
  [/^layers\.(\d+)\.attention$/, 'vit.encoder.layer.$1.attention'],
  [/^layers\.(\d+)\.ln2$/, 'vit.encoder.layer.$1.layernorm_after'],
  [/^layers\.(\d+)\.mlp_in$/, 'vit.encoder.layer.$1.intermediate.dense'],
  [/^layers\.(\d+)\.mlp_out$/, 'vit.encoder.layer.$1.output.dense'],
  [/^layers\.(\d+)$/, 'vit.encoder.layer.$1'],
  [/^final_ln$/, 'vit.layernorm'],
  [/^head$/, 'classifier'],
];

function hfModuleName(name: string): string {
  for (const [re, hf] of MODULE_NAMES) if (re.test(name)) return name.replace(re, hf);
  throw new Error(`vit adapter: no HF name for native point '${name}'`);
}

/** The HF parameter name of a native parameter ("layers.0.query.weight" -> "vit.encoder.layer.0.attention.attention.query.weight"). */
export function hfParameterName(name: string): string {
  if (name === 'embed.patch.weight') return 'vit.embeddings.patch_embeddings.projection.weight';
  if (name === 'embed.patch.bias') return 'vit.embeddings.patch_embeddings.projection.bias';
  if (name === 'embed.cls_token') return 'vit.embeddings.cls_token';
  if (name === 'embed.position') return 'vit.embeddings.position_embeddings';
  const m = /^(.*)\.(weight|bias)$/.exec(name);
  if (!m) throw new Error(`vit adapter: no HF name for native parameter '${name}'`);
  return `${hfModuleName(m[1])}.${m[2]}`;
}

/** HF parameter names with their shapes, in the native buffer order. */
export function vitParameterShapes(config: VitConfig): Array<{ name: string; shape: number[] }> {
  return native().vitLayout(nativeVitConfig(config)).tensors.map((t) => ({ name: hfParameterName(t.name), shape: t.shape }));
}

/** HF module names of the outputs a capture records, in forward order. */
export function vitActivationNames(config: VitConfig): string[] {
  return native().vitLayout(nativeVitConfig(config)).capturePoints.map((p) => hfModuleName(p.name));
}

// Tensors a ViTForImageClassification checkpoint may carry that the forward pass does not use.
const IGNORED_TENSORS = /^vit\.pooler\./;

export interface VitModelOptions extends Pick<TaskOptions, 'signal'> {
  /** `auto` and `cpu` run on the CPU; `cuda` asks for the GPU explicitly. */
  device?: Device;
  /** Where the tensors came from, for error messages (e.g. the model folder). */
  source?: string;
}

export interface CaptureOptions extends ForwardOptions {}

/** The images a ViT of `config` takes. */
export function vitInput(config: VitConfig): ImageInput {
  return { channels: config.numChannels, height: config.imageSize, width: config.imageSize };
}

export class VitModel extends StagedModel<NativeVitModel> implements ImageClassifier {
  readonly config: VitConfig;

  constructor(config: VitConfig, nativeModel: NativeVitModel) {
    super(nativeModel);
    this.config = config;
  }

  get numLabels(): number { return this.config.numLabels; }
  get labelNames(): string[] | undefined { return this.config.labelNames; }
  get input(): ImageInput {
    return vitInput(this.config);
  }

  async forward(images: Float32Array, count: number, options: ForwardOptions = {}): Promise<ForwardResult> {
    return runTask(options, (o) => this.native.forward(images, count, options.labels ?? null, o));
  }

  /** Sizes a store for `numSamples` samples; throws InputError (with the byte count) over the limit. */
  planActivations(options: ActivationOptions): { bytes: number; limit: number } {
    return planStore(this.native, options, () => ({ only: options.only }));
  }

  /** A store for this model's activations; refused with an InputError when over the memory limit. */
  createActivationStore(options: ActivationOptions): ActivationStore {
    return createStore(this.native, options, this.planActivations(options), { only: options.only });
  }

  /**
   * Runs images through the model and files their activations (and losses, with labels)
   * in `store`, up to its remaining capacity. Returns how many images it took.
   */
  async capture(store: ActivationStore, images: Float32Array, count: number, options: CaptureOptions = {}): Promise<number> {
    return runTask(options, (o) => this.native.capture(store.native, images, count, options.labels ?? null, o));
  }

  /** The parameters under their HF names (copies, read off the JS thread). */
  async parameters(): Promise<Map<string, Tensor>> {
    return vitTensorsFromFlat(this.config, await this.native.readParameters());
  }

  /** Overwrites the native copies of the tensors `names` with their values in `tensors` (the model's own shapes). */
  async writeParameters(tensors: Map<string, Tensor>, names: string[], options: TaskOptions = {}): Promise<void> {
    const parts = namedParts(native().vitLayout(nativeVitConfig(this.config)), hfParameterName, tensors, names, 'the ViT');
    await runTask(options, (o) => this.native.writeParameters(parts, o));
  }

  /**
   * Staged passes (statistics repair): the images are copied once, then each
   * captureStaged fills a store from the residual streams the samples carry from one
   * layer to the next (NativeStagedPasses).
   */
  async stageSamples(images: Float32Array, count: number, options: TaskOptions = {}): Promise<void> {
    await runTask(options, (o) => this.native.stageSamples(images, count, o));
  }

  /** Frees the native copy of the weights and the working buffers now instead of at garbage collection. */
  dispose(): void {
    this.native.dispose();
  }

  /** How many images the native pass runs at once (bounds its working memory). */
  setMicroBatch(n: number): void {
    this.native.setMicroBatch(n);
  }
}

/**
 * HF-named tensors -> their places in the flat buffer of `config`, read in place. Every
 * tensor the model needs must be present with HF's shape; checkpoint extras that the
 * classifier does not use (the pooler) are ignored, anything else unknown is an error
 * naming `source`. Finiteness is checked where the parts are packed.
 */
export function vitParameterParts(config: VitConfig, tensors: Map<string, Tensor>, source = 'model'): { parts: ParameterPart[]; total: number } {
  const layout = native().vitLayout(nativeVitConfig(config));
  const { parts, expected, total } = parameterParts(layout, hfParameterName, { kind: 'ViT', source, lookup: (name) => tensors.get(name) });
  checkUnknownTensors(tensors, expected, (k) => IGNORED_TENSORS.test(k), 'ViT', source);
  return { parts, total };
}

/** HF-named tensors -> the native flat parameter buffer of `config` (vitParameterParts' checks, and finite values). */
export function vitFlatParameters(config: VitConfig, tensors: Map<string, Tensor>, source = 'model'): Float32Array {
  const { parts, total } = vitParameterParts(config, tensors, source);
  return packParts(parts, total, source);
}

/** The native flat parameter buffer of `config` -> HF-named tensors (copies), in buffer order. */
export function vitTensorsFromFlat(config: VitConfig, flat: Float32Array): Map<string, Tensor> {
  return tensorsFromFlat(native().vitLayout(nativeVitConfig(config)), hfParameterName, flat);
}

/**
 * Builds the native ViT from an HF config object and HF-named tensors (checked as
 * vitFlatParameters does). The tensors are read in place and packed, checked and
 * uploaded off the JS thread; they are not modified.
 */
export async function createVitModel(
  rawConfig: Record<string, unknown> | VitConfig, tensors: Map<string, Tensor>, options: VitModelOptions = {},
): Promise<VitModel> {
  const source = options.source ?? 'model';
  const config = 'hiddenSize' in rawConfig ? (rawConfig as VitConfig) : parseVitConfig(rawConfig, `${source}/config.json`);
  const nc = nativeVitConfig(config);
  const addon = native();
  const { parts } = vitParameterParts(config, tensors, source);
  const names = addon.vitLayout(nc).capturePoints.map((p) => hfModuleName(p.name));
  const model = await buildNative(parts, source, (p) =>
    runTask(options, (o) => addon.VitModel.build(nc, p, names, { ...o, device: options.device ?? defaultDevice() })));
  return new VitModel(config, model);
}

/** The native ViT of a model loaded by lib/io (loadModel); errors name the model folder. */
export async function vitFromModel(model: Model, options: VitModelOptions = {}): Promise<VitModel> {
  const source = options.source ?? model.source?.folder ?? 'model';
  if (model.config.model_type !== 'vit' || model.architecture !== 'ViTForImageClassification')
    throw new InputError(source, `is a ${model.architecture}; an image classifier (ViTForImageClassification) is needed`);
  return await createVitModel(vitConfigFromHf(model.config, `${source}/config.json`), model.tensors, { ...options, source });
}

/**
 * The ViT as the fusion walks it (lib/fusion/graph.ts): parameter and activation names of
 * every piece. The residual stream entering layer i is the embedding output for i = 0 and
 * layer i - 1's output after that; after attention it is that plus the attention output.
 */
export function vitFusionGraph(config: VitConfig): EncoderGraph {
  const linear = (module: string, hasBias = true): LinearPiece => ({ weight: `${module}.weight`, bias: hasBias ? `${module}.bias` : null, acts: module });
  const norm = (module: string): NormPiece => ({ weight: `${module}.weight`, bias: `${module}.bias` });
  const layers: EncoderLayer[] = [];
  for (let i = 0; i < config.numLayers; i++) {
    const p = `vit.encoder.layer.${i}`;
    const input = i === 0 ? 'vit.embeddings' : `vit.encoder.layer.${i - 1}`;
    layers.push({
      norms: 'pre',
      attentionNorm: norm(`${p}.layernorm_before`),
      query: linear(`${p}.attention.attention.query`, config.qkvBias),
      key: linear(`${p}.attention.attention.key`, config.qkvBias),
      value: linear(`${p}.attention.attention.value`, config.qkvBias),
      attentionOutput: linear(`${p}.attention.output.dense`),
      attentionResidual: { residual: [input], sublayer: `${p}.attention` },
      mlpNorm: norm(`${p}.layernorm_after`),
      mlpIn: linear(`${p}.intermediate.dense`),
      mlpOut: linear(`${p}.output.dense`),
      // Block input plus attention output, each as captured and transformed (as the reference sums them).
      mlpResidual: { residual: [input, `${p}.attention`], sublayer: `${p}.output.dense` },
    });
  }
  return {
    kind: 'encoder',
    embeddings: {
      // The class token's map aligns the token and goes nowhere else (as in the reference);
      // the map entering the encoder is the policy over positions (the residual branch) and
      // the patch projection (the sublayer branch).
      tables: [
        { name: 'vit.embeddings.cls_token', label: 'class token', role: 'own' },
        { name: 'vit.embeddings.position_embeddings', label: 'position embeddings', role: 'residual' },
      ],
      projection: { label: 'patch projection', piece: { ...linear('vit.embeddings.patch_embeddings.projection'), acts: 'vit.embeddings.patch_embeddings' } },
      norm: null,
    },
    layers,
    finalNorm: norm('vit.layernorm'),
    head: [{ kind: 'output', label: 'classifier', piece: linear('classifier') }],
  };
}
