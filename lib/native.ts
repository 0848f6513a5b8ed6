/**
 * Loads the native addon and gives its raw functions types. Everything that computes
 * goes through here: the addon takes typed arrays, runs on a worker thread and returns
 * a Promise. `runTask` adds AbortSignal support and safe progress callbacks on top.
 *
 * The addon is found by node-gyp-build: a prebuild for this platform in prebuilds/, or
 * build/Release/transformer_fusion.node (from `npm install` or `npm run build:cuda`).
 * OTFUSE_ADDON=/path/to/addon.node loads a specific build instead.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { throwIfAborted } from './errors.ts';
import { checkFunction, checkSignal } from './options.ts';

/** Where a computation runs: `auto` picks the GPU when the addon has CUDA and a GPU is usable. */
export type Device = 'auto' | 'cpu' | 'cuda';

let processDevice: Device = 'auto';

/**
 * The device that computations use when their options name none: OT (cost matrices,
 * Sinkhorn, the fusion's transport maps), ViT forward passes and activation capture,
 * training. `auto` (the default) runs on the GPU when one is usable, else on the CPU;
 * `cuda` without a usable GPU makes those calls fail with the reason. Returns the
 * previous setting, so that a run can restore it.
 */
export function setDefaultDevice(device: Device): Device {
  if (device !== 'auto' && device !== 'cpu' && device !== 'cuda')
    throw new TypeError(`device must be 'auto', 'cpu' or 'cuda', got '${String(device)}'`);
  const previous = processDevice;
  processDevice = device;
  return previous;
}

/** The device set by setDefaultDevice ('auto' unless changed). */
export function defaultDevice(): Device {
  return processDevice;
}

export interface NativeCancelToken {
  cancel(): void;
  readonly cancelled: boolean;
}

export interface NativeTaskOptions {
  onProgress?: (done: number, total: number) => void;
  cancel?: NativeCancelToken;
  device?: Device;
}

export interface NativeInfo {
  threads: number;
  blas: string;
  /** Which CPU GEMM runs: "BLAS" or "portable blocked kernel" (TF_GEMM=blocked forces the latter). */
  gemm: string;
  cpu: string;
  cudaCompiled: boolean;
  cudaAvailable: boolean;
  cuda?: string;
  cudaUnavailableReason?: string;
  /** The first GPU, when the build has CUDA and one is usable. */
  gpu?: { name: string; computeCapability: string; memoryBytes: number; multiprocessors: number };
  /** CUDA driver and runtime versions ("12.4"; the driver's is absent without a driver). */
  cudaDriver?: string;
  cudaRuntime?: string;
  /** The cuBLAS library a CUDA build would load, or null (it then uses its own GEMM kernels). */
  cublas?: string | null;
}

/** The ViT shape as the native model reads it (lib/models/vit.ts builds it from an HF config). */
export interface NativeVitConfig {
  imageSize: number;
  patchSize: number;
  channels: number;
  hidden: number;
  layers: number;
  heads: number;
  intermediate: number;
  labels: number;
  layerNormEps: number;
  qkvBias: boolean;
}

/** Where each parameter sits in the native model's flat buffer, and what it can capture. */
export interface NativeVitLayout {
  total: number;
  tensors: Array<{ name: string; shape: number[]; offset: number }>;
  capturePoints: Array<{ name: string; tokens: number; width: number }>;
}

export interface NativeStoreOptions {
  capacity: number;
  seqFilter?: string;
  avgSeqItems?: boolean;
  maxBytes?: number;
  /** Padded (text) points: the longest sequence a sample may bring (sizes the store). */
  maxTokens?: number;
  /** Padded points kept token by token: the real tokens all samples together bring (default: capacity x maxTokens). */
  maxTotalTokens?: number;
  /** Capture only these activations (default: every one). */
  only?: string[];
}

export interface NativeStorePlan {
  bytes: number;
  limit: number;
  entries: Array<{ name: string; rowsPerSample: number; width: number }>;
}

/**
 * Statistics repair's staged passes (native/core/vit/vit_model.h): samples staged once are
 * captured again and again, each capture starting at the stage of its store's first kept
 * point from the residual streams carried there; parameters of a stage they have passed
 * cannot be written any more. A capture that stops right after a linear group of a layer
 * (Q/K/V, attention output, MLP input or output) keeps its outputs, and the next capture
 * re-enters the layer after it (native/core/activations/layer_resume.h).
 */
export interface NativeStagedPasses {
  /** Overwrites the parameters at each part's offset (layout order). */
  writeParameters(parts: NativeParameterParts, options?: NativeTaskOptions): Promise<void>;
  /** Captures every staged sample into the store (no losses); resolves to their count. */
  captureStaged(store: NativeActivationStore, options?: NativeTaskOptions): Promise<number>;
  /**
   * The kept group's output neurons were rescaled and its parameters written: its kept
   * outputs follow (y -> scale y + shift; scale and shift concatenated over `points`, which
   * must be the group's outputs). Resolves to false when they could not, and the next
   * capture runs the layer from its start.
   */
  rescaleStaged(points: string[], scale: Float64Array, shift: Float64Array, options?: NativeTaskOptions): Promise<boolean>;
  /**
   * Each point's per-neuron mean and standard deviation over every staged sample (every
   * token), from a staged capture through a store of one chunk, drained after each.
   */
  measureStaged(points: string[], options?: NativeTaskOptions): Promise<Array<{ mean: Float64Array; std: Float64Array }>>;
  clearStaged(): void;
}

export interface NativeVitModel extends NativeStagedPasses {
  /** Copies `count` images into the staged samples (before their first captureStaged). */
  stageSamples(images: Float32Array, count: number, options?: NativeTaskOptions): Promise<void>;
  forward(
    images: Float32Array, count: number, labels: Int32Array | null, options?: NativeTaskOptions,
  ): Promise<{ logits: Float32Array; losses: Float32Array | null }>;
  capture(
    store: NativeActivationStore, images: Float32Array, count: number, labels: Int32Array | null,
    options?: NativeTaskOptions,
  ): Promise<number>;
  planActivationStore(options: NativeStoreOptions): NativeStorePlan;
  readParameters(options?: NativeTaskOptions): Promise<Float32Array>;
  setMicroBatch(n: number): void;
  /** Frees the native weights and buffers now; the model cannot be used afterwards. */
  dispose(): void;
  readonly microBatch: number;
  readonly device: 'cpu' | 'cuda';
}

export interface NativeActivationEntry {
  name: string;
  rows: number;
  cols: number;
  rowsPerSample: number;
  averaged: boolean;
  released: boolean;
  tokens: number[];
  /** Text: one row per real token, so samples have different row counts (sampleTokens()). */
  variableRows: boolean;
}

/** The BERT shape as the native model reads it (lib/models/bert.ts builds it from an HF config). */
export interface NativeBertConfig {
  vocabSize: number;
  hidden: number;
  layers: number;
  heads: number;
  intermediate: number;
  maxPositions: number;
  typeVocabSize: number;
  /** Classes of the classification head (ignored by the masked-LM head). */
  labels: number;
  layerNormEps: number;
  head: 'masked-lm' | 'sequence-classification';
  tiedDecoder: boolean;
}

export interface NativeBertLayout {
  total: number;
  tensors: Array<{ name: string; shape: number[]; offset: number }>;
  capturePoints: Array<{ name: string; tokens: number; width: number; padded: boolean }>;
}

/** count sequences of `tokens` tokens, row-major; mask 1 = real token, 0 = padding. */
export interface NativeBertInputs {
  ids: Int32Array;
  typeIds?: Int32Array | null;
  mask?: Uint8Array | null;
  count: number;
  tokens: number;
}

export interface NativeBertModel extends NativeStagedPasses {
  /** Checks and copies the sequences into the staged samples (before their first captureStaged). */
  stageSamples(inputs: NativeBertInputs, options?: NativeTaskOptions): Promise<void>;
  /**
   * Masked LM: labels count x tokens (-100 = no loss); logits count x tokens x vocab,
   * losses and predictions count x tokens (NaN / -1 where not computed). Classification:
   * labels, losses and predictions per sequence, logits count x labels.
   */
  forward(
    inputs: NativeBertInputs, labels: Int32Array | null, want: { logits?: boolean; predictions?: boolean },
    options?: NativeTaskOptions,
  ): Promise<{ logits: Float32Array | null; losses: Float32Array | null; predictions: Int32Array | null }>;
  capture(store: NativeActivationStore, inputs: NativeBertInputs, labels: Int32Array | null, options?: NativeTaskOptions): Promise<number>;
  planActivationStore(options: NativeStoreOptions): NativeStorePlan;
  readParameters(options?: NativeTaskOptions): Promise<Float32Array>;
  /** Sequences per encoder pass; 0 = about 1024 tokens' worth. */
  setMicroBatch(n: number): void;
  readonly microBatch: number;
  readonly device: 'cpu' | 'cuda';
}

export interface NativeVitTrainerOptions { batchSize: number; microBatch?: number; device?: Device }
export interface NativeBertTrainerOptions extends NativeVitTrainerOptions { maxTokens: number }

/** The native VitModel and BertModel classes. */
export interface NativeModelClass<Config, M> {
  build(
    config: Config, parts: NativeParameterParts, captureNames: string[] | null,
    options: NativeTaskOptions & { device?: Device },
  ): Promise<NativeBuilt<M>>;
}

/** What a native build() resolves to: the object, or the first non-finite parameter (by part and index). */
export type NativeBuilt<T> = { built: T } | { nonFinite: { part: number; index: number; value: number } };

/** Parameters handed to a native build(): tensors read in place and their offsets in the flat buffer. */
export type NativeParameterParts = Array<{ data: Float32Array; offset: number }>;

export interface NativeActivationStats {
  name: string;
  mean: number;
  std: number;
  min: number;
  max: number;
}

/** One matrix of a fusion side: a finalized store entry, or a row-major matrix. */
export type NativeMatrixPart = { store: NativeActivationStore; name: string } | { data: Float32Array; rows: number; cols: number };

/** The neurons of one model for a transport map: parts joined as extra features or extra neurons. */
export interface NativeNeuronSide {
  parts: NativeMatrixPart[];
  /** Neurons are the columns (activations) or the rows (weights) of every part. */
  layout: 'columns' | 'rows';
  concat?: 'features' | 'neurons';
}

export interface NativeMapDiagnostics {
  solver: string;
  iterations: number;
  marginalError: number;
  converged: boolean;
  transportCost: number;
  costScale: number;
  permutationScore: number;
  /** Where the cost matrix was computed and Sinkhorn ran ('cuda' or 'cpu'); exact OT always solves on the CPU. */
  device: 'cpu' | 'cuda';
}

export interface NativeActivationStore {
  entries(): NativeActivationEntry[];
  losses(): Float32Array;
  /** Real tokens of each stored sample (empty when the model has no padded outputs). */
  sampleTokens(): Int32Array;
  keep(mask: Uint8Array, options?: NativeTaskOptions): Promise<number>;
  finalize(transform: string, options?: NativeTaskOptions): Promise<void>;
  stats(options?: NativeTaskOptions): Promise<NativeActivationStats[]>;
  copy(name: string): Float32Array;
  release(name: string): void;
  dispose(): void;
  readonly bytes: number;
  readonly capacity: number;
  readonly numSamples: number;
  readonly finalized: boolean;
  /** Where the activations live: the capturing model's device. */
  readonly device: 'cpu' | 'cuda';
}

/** Optimiser, schedule, loss and augmentation of a native trainer (lib/train/recipe.ts fills it in). */
export interface NativeTrainerConfig {
  schedule: 'constant' | 'linear' | 'cosine';
  lr: number;
  warmupSteps: number;
  totalSteps: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  labelSmoothing: number;
  /** <= 0: no clipping. */
  maxGradNorm: number;
  augment?: { cropPadding: number; horizontalFlip: boolean; fill: number[]; seed: number } | null;
}

export interface NativeStepResult {
  loss: number;
  correct: number;
  gradNorm: number;
  lr: number;
  step: number;
}

export interface NativeVitTrainer {
  configure(config: NativeTrainerConfig): void;
  step(images: Float32Array, labels: Int32Array, count: number, options?: NativeTaskOptions): Promise<NativeStepResult>;
  gradients(images: Float32Array, labels: Int32Array, count: number, options?: NativeTaskOptions): Promise<{ loss: number; grads: Float32Array }>;
  readParameters(options?: NativeTaskOptions): Promise<Float32Array>;
  readState(): Promise<{ step: number; m: Float32Array; v: Float32Array }>;
  loadState(step: number, m: Float32Array, v: Float32Array): Promise<void>;
  readonly steps: number;
  readonly microBatch: number;
}

export interface NativeBertStepResult extends NativeStepResult {
  /** Tokens with a label (masked LM) or sequences (classification) the loss is the mean over. */
  labelled: number;
}

export interface NativeBertTrainer {
  configure(config: NativeTrainerConfig): void;
  /** labels: count x tokens (masked LM, -100 = no loss) or count (classification). */
  step(inputs: NativeBertInputs, labels: Int32Array, options?: NativeTaskOptions): Promise<NativeBertStepResult>;
  gradients(inputs: NativeBertInputs, labels: Int32Array, options?: NativeTaskOptions): Promise<NativeBertStepResult & { grads: Float32Array }>;
  readParameters(options?: NativeTaskOptions): Promise<Float32Array>;
  readState(): Promise<{ step: number; m: Float32Array; v: Float32Array }>;
  loadState(step: number, m: Float32Array, v: Float32Array): Promise<void>;
  readonly steps: number;
  readonly microBatch: number;
}

/** 8-bit images as stored: (C, H, W) per image when planar, else (H, W, C). */
export interface NativeImageSource {
  height: number;
  width: number;
  channels: number;
  planar: boolean;
}

export interface NativeImageTarget {
  height: number;
  width: number;
  channels: number;
  rule: 'copy' | 'replicate' | 'luminance';
  mean: number[];
  std: number[];
}

export interface NativeAddon {
  CancelToken: new () => NativeCancelToken;
  info(): NativeInfo;
  setThreads(n: number): number;
  gemm(
    a: Float32Array, b: Float32Array, c: Float32Array, m: number, n: number, k: number,
    transA: boolean, transB: boolean, alpha: number, beta: number, options?: NativeTaskOptions,
  ): Promise<void>;
  gelu(x: Float32Array, out: Float32Array, options?: NativeTaskOptions): Promise<void>;
  geluBackward(x: Float32Array, dout: Float32Array, dinp: Float32Array, options?: NativeTaskOptions): Promise<void>;
  weightedSum(inputs: Float32Array[], weights: number[], out: Float32Array, options?: NativeTaskOptions): Promise<void>;
  dot(x: Float32Array, y: Float32Array, options?: NativeTaskOptions): Promise<number>;
  // Optimal transport (lib/ot.ts documents the options); n x m results are allocated natively.
  otCostMatrix(
    xa: Float32Array | { store: unknown; name: string }, aRows: number, aCols: number,
    xb: Float32Array | { store: unknown; name: string }, bRows: number, bCols: number,
    options: Record<string, unknown>, taskOptions?: NativeTaskOptions,
  ): Promise<{ data: Float64Array; n: number; m: number; scale: number; percentClipped: number; device: 'cpu' | 'cuda' }>;
  otSinkhorn(
    a: Float64Array, b: Float64Array, cost: Float64Array, n: number, m: number, options: Record<string, unknown>,
    taskOptions?: NativeTaskOptions,
  ): Promise<{
    plan: Float64Array; logU: Float64Array; logV: Float64Array; iterations: number; marginalError: number;
    converged: boolean; cost: number; absorptions: number; device: 'cpu' | 'cuda';
  }>;
  otSinkhornBatch(
    as: Float64Array[], bs: Float64Array[], costs: Float64Array[], n: number, m: number,
    options: Record<string, unknown>, taskOptions?: NativeTaskOptions,
  ): Promise<{
    plan: Float64Array; logU: Float64Array; logV: Float64Array; device: 'cpu' | 'cuda';
    results: Array<{ iterations: number; marginalError: number; converged: boolean; cost: number; absorptions: number }>;
  }>;
  otEmd(
    a: Float64Array, b: Float64Array, cost: Float64Array, n: number, m: number, options: Record<string, unknown>,
    taskOptions?: NativeTaskOptions,
  ): Promise<{
    plan: Float64Array; u: Float64Array; v: Float64Array; cost: number; solver: 'network_simplex' | 'assignment';
    iterations: number; optimal: boolean; massRescaled: boolean;
  }>;
  fusionTransportMap(
    a: NativeNeuronSide, b: NativeNeuronSide,
    options: { solver: 'emd' | 'sinkhorn'; cost: Record<string, unknown>; sinkhorn?: Record<string, unknown>; pca?: number },
    taskOptions?: NativeTaskOptions,
  ): Promise<{ map: Float32Array; n: number; m: number; diagnostics: NativeMapDiagnostics }>;
  /** Independent maps with one set of options; on the GPU, Sinkhorn problems of one shape are solved together. */
  fusionTransportMaps(
    problems: Array<{ a: NativeNeuronSide; b: NativeNeuronSide }>,
    options: { solver: 'emd' | 'sinkhorn'; cost: Record<string, unknown>; sinkhorn?: Record<string, unknown>; pca?: number },
    taskOptions?: NativeTaskOptions,
  ): Promise<Array<{ map: Float32Array; n: number; m: number; diagnostics: NativeMapDiagnostics }>>;
  fusionCombineMaps(tRes: Float32Array, tSub: Float32Array, wRes: Float32Array, wSub: Float32Array, n: number, m: number): Float32Array;
  fusionColumnMeanAbs(parts: NativeMatrixPart[], options?: NativeTaskOptions): Promise<Float64Array>;
  fusionColumnStats(part: NativeMatrixPart, options?: NativeTaskOptions): Promise<{ mean: Float64Array; std: Float64Array }>;
  fusionRepairRows(
    weight: Float32Array, bias: Float32Array, rows: number, cols: number,
    mean: Float64Array, std: Float64Array, targetMean: Float64Array, targetStd: Float64Array,
  ): { scale: Float64Array; shift: Float64Array };
  /** Models are made by `build` only: the parts packed, checked for finite values and uploaded on a worker thread. */
  VitModel: NativeModelClass<NativeVitConfig, NativeVitModel>;
  vitLayout(config: NativeVitConfig): NativeVitLayout;
  BertModel: NativeModelClass<NativeBertConfig, NativeBertModel>;
  bertLayout(config: NativeBertConfig): NativeBertLayout;
  ActivationStore: new (model: NativeVitModel | NativeBertModel, options: NativeStoreOptions) => NativeActivationStore;
  /** Trainers are made by `build` only: the parts packed and copied into the trainer on a worker. */
  VitTrainer: {
    build(config: NativeVitConfig, parts: NativeParameterParts, options: NativeVitTrainerOptions & NativeTaskOptions): Promise<NativeBuilt<NativeVitTrainer>>;
  };
  BertTrainer: {
    build(config: NativeBertConfig, parts: NativeParameterParts, options: NativeBertTrainerOptions & NativeTaskOptions): Promise<NativeBuilt<NativeBertTrainer>>;
  };
  preprocessImages(
    src: Uint8Array, count: number, source: NativeImageSource, target: NativeImageTarget, out: Float32Array,
    options?: NativeTaskOptions,
  ): Promise<void>;
}

/** The package root: the nearest folder above this file that has package.json. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('transformer-fusion: cannot find the package root');
    dir = parent;
  }
  return dir;
}

let addon: NativeAddon | undefined;

/** The loaded addon (loaded on first use). */
export function native(): NativeAddon {
  if (addon) return addon;
  const require = createRequire(import.meta.url);
  // OpenBLAS's idle workers spin on sched_yield for about 2^28 cycles after each GEMM,
  // taking a core from our own pool while it runs the kernels between GEMMs (the whole
  // backward pass is such an alternation). 2^4 cycles lets them sleep at once. OpenBLAS
  // reads this when the addon loads it, so it must be set before; a user's value wins.
  process.env.OPENBLAS_THREAD_TIMEOUT ??= '4';
  const explicit = process.env.OTFUSE_ADDON;
  try {
    addon = explicit ? (require(explicit) as NativeAddon) : (require('node-gyp-build')(packageRoot()) as NativeAddon);
  } catch (err) {
    throw new Error(
      'transformer-fusion: the native addon could not be loaded. Run `npm install` (or `npm run build:cpu`) ' +
        `in the package folder to build it.\n${(err as Error).message}`,
      { cause: err },
    );
  }
  return addon;
}

/** Options every long-running call accepts. */
export interface TaskOptions {
  /** Where to run (default `auto`). */
  device?: Device;
  /** Aborting rejects the call with an AbortError at the next safe point. */
  signal?: AbortSignal;
  /** Called on the main thread with the work done so far (throttled to about 20 per second). */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Calls a native task function with a cancel token wired to `signal` and a progress
 * callback that cannot throw into native code.
 */
export async function runTask<T>(options: TaskOptions | undefined, call: (opts: NativeTaskOptions) => Promise<T>): Promise<T> {
  const { signal, onProgress, device } = options ?? {};
  checkSignal(signal, 'options: signal');
  checkFunction(onProgress, 'options: onProgress');
  throwIfAborted(signal);
  const token = new (native().CancelToken)();
  const abort = () => token.cancel();
  signal?.addEventListener('abort', abort, { once: true });
  let progressError: unknown;
  const progress = onProgress
    ? (done: number, total: number) => {
        try {
          onProgress(done, total);
        } catch (err) {
          progressError ??= err;
          token.cancel();
        }
      }
    : undefined;
  // Progress reports travel on their own queue, which the loop may serve after the task's
  // completion: one turn of the loop delivers those still queued before the result is
  // handed on, so that a callback's error is never lost.
  const delivered = () => (progress ? new Promise<void>((resolve) => setImmediate(resolve)) : undefined);
  try {
    const result = await call({ cancel: token, device: device ?? processDevice, onProgress: progress });
    await delivered();
    if (progressError) throw progressError;
    return result;
  } catch (err) {
    await delivered();
    if (progressError) throw progressError;
    throw err;
  } finally {
    signal?.removeEventListener('abort', abort);
  }
}
