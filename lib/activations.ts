/**
 * Captured activations of one model, held in native memory (docs/fusion.md, "Where data
 * lives"). TypeScript sees names, shapes and summary statistics; the fusion's cost
 * matrices read the matrices natively. `copy` exists for tests and inspection.
 *
 * Each entry is a matrix with rows = samples x kept tokens (sample-major) and columns =
 * neurons. Which tokens an entry keeps follows the `seqFilter` / `avgSeqItems` rules of
 * docs/fusion.md's "Activations" section; see native/core/activations/activation_store.h.
 */
import { InputError } from './errors.ts';
import { runTask, type NativeActivationStore, type NativeActivationStats, type TaskOptions } from './native.ts';

/** `window_<k>` keeps CLS + the central k x k patches; `only_cls` keeps CLS alone. */
export type SeqFilter = 'none' | 'only_cls' | `window_${number}` | `position_${number}`;

/** std: (x - mean) / (unbiased std + 1e-9) per neuron; center: x - mean; norm: x / ||x||. */
export type ActivationTransform = 'none' | 'std' | 'center' | 'norm';

export interface ActivationOptions {
  /** Samples the store holds (the reference's `num_samples`). */
  numSamples: number;
  seqFilter?: SeqFilter;
  /** One row per sample: the mean over its tokens (the filter is then ignored). */
  avgSeqItems?: boolean;
  /** Refuse a store larger than this many bytes (default: half the physical memory). */
  maxBytes?: number;
  /** Capture only these module outputs (default: all); the others cost no memory. */
  only?: string[];
}

export interface ActivationEntry {
  /** The module name (Hugging Face's, from the model adapter). */
  name: string;
  rows: number;
  cols: number;
  rowsPerSample: number;
  /** True when each sample's tokens were averaged into one row. */
  averaged: boolean;
  /** True once release() gave its memory back. */
  released: boolean;
  /** Token indices kept per sample, in row order (empty when averaged or with variableRows). */
  tokens: number[];
  /** Text: one row per real token of each sample (see `sampleTokens()`). */
  variableRows: boolean;
}

export type ActivationStats = NativeActivationStats;

/** The reference's flag order: std wins over center, center over norm. */
export function transformFromFlags(flags: { std?: boolean; center?: boolean; norm?: boolean }): ActivationTransform {
  if (flags.std) return 'std';
  if (flags.center) return 'center';
  if (flags.norm) return 'norm';
  return 'none';
}

export function checkSeqFilter(filter: string, source: string): SeqFilter {
  if (filter === 'none' || filter === 'only_cls' || /^window_[1-9][0-9]{0,5}$/.test(filter) || /^position_(0|[1-9][0-9]{0,5})$/.test(filter))
    return filter as SeqFilter;
  throw new InputError(source, `unknown sequence filter '${filter}' (expected none, only_cls, window_<k> with k >= 1 or position_<p> with p >= 0)`);
}

/**
 * Throws the InputError a caller gets when a store would exceed its memory limit: the
 * size is computed before anything is allocated.
 */
export function checkActivationBytes(bytes: number, limit: number, samples: number): void {
  if (bytes <= limit) return;
  throw new InputError(
    'fusion.acts.num_samples',
    `the activation store needs ${bytes} bytes for ${samples} samples, over the limit of ${limit} bytes ` +
      '(lower num_samples, set a seq_filter or avg_seq_items, or raise the limit)',
  );
}

export class ActivationStore {
  /** The native store, for native consumers (cost matrices) that take it as an argument. */
  readonly native: NativeActivationStore;

  constructor(native: NativeActivationStore) {
    this.native = native;
  }

  get bytes(): number { return this.native.bytes; }
  get capacity(): number { return this.native.capacity; }
  get numSamples(): number { return this.native.numSamples; }
  get finalized(): boolean { return this.native.finalized; }
  /** Where the activations live: the device of the model that the store was made for. */
  get device(): 'cpu' | 'cuda' { return this.native.device; }

  entries(): ActivationEntry[] {
    return this.native.entries();
  }

  entry(name: string): ActivationEntry {
    const found = this.entries().find((e) => e.name === name);
    if (!found) throw new RangeError(`no activation called '${name}'`);
    return found;
  }

  /** Per-sample cross-entropy of the stored samples (NaN where captured without labels). */
  losses(): Float32Array {
    return this.native.losses();
  }

  /** Real tokens of each stored sample: its row count in `variableRows` entries (empty without text). */
  sampleTokens(): Int32Array {
    return this.native.sampleTokens();
  }

  /** Keeps sample s when mask[s] is non-zero (e.g. loss under the threshold in every model). */
  async keep(mask: Uint8Array | boolean[], options: TaskOptions = {}): Promise<number> {
    const m = mask instanceof Uint8Array ? mask : Uint8Array.from(mask, (b) => (b ? 1 : 0));
    if (m.length !== this.numSamples) throw new RangeError(`keep: mask has ${m.length} entries, the store ${this.numSamples} samples`);
    return runTask(options, (o) => this.native.keep(m, o));
  }

  /** Applies the transform to every entry, once; the store is read-only afterwards. */
  async finalize(transform: ActivationTransform, options: TaskOptions = {}): Promise<void> {
    await runTask(options, (o) => this.native.finalize(transform, o));
  }

  /** mean, population std, min and max of every entry, in entry order. */
  async stats(options: TaskOptions = {}): Promise<ActivationStats[]> {
    return runTask(options, (o) => this.native.stats(o));
  }

  /** A copy of one entry's matrix (rows x cols, row-major). */
  copy(name: string): { rows: number; cols: number; data: Float32Array } {
    const e = this.entry(name);
    return { rows: e.rows, cols: e.cols, data: this.native.copy(name) };
  }

  /**
   * Gives one entry's memory back to the system (finalized stores only) once nothing
   * will read it again; reading it afterwards throws. A fusion walk releases each
   * layer's activations behind it, so a run's footprint shrinks as it goes.
   */
  release(name: string): void {
    this.native.release(name);
  }

  /** Frees the native memory now instead of at garbage collection. */
  dispose(): void {
    this.native.dispose();
  }
}

/**
 * `loss_thres`: keeps a sample in every store only if its loss is at most `threshold` in
 * every model (the stores hold the same inputs in the same order). Returns how many
 * samples are left. Stores captured without labels have no losses and are refused.
 */
export async function keepUnderLoss(stores: ActivationStore[], threshold: number, options: TaskOptions = {}): Promise<number> {
  if (stores.length === 0) return 0;
  const n = stores[0].numSamples;
  if (stores.some((s) => s.numSamples !== n)) throw new RangeError('keepUnderLoss: the stores hold different numbers of samples');
  const mask = new Uint8Array(n).fill(1);
  for (const store of stores) {
    const losses = store.losses();
    for (let i = 0; i < n; i++) {
      if (Number.isNaN(losses[i]))
        throw new InputError('fusion.acts.loss_thres', 'needs labels: the activations were captured without them');
      if (!(losses[i] <= threshold)) mask[i] = 0;
    }
  }
  let left = n;
  for (const store of stores) left = await store.keep(mask, options);
  return left;
}
