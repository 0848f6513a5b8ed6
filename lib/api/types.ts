/**
 * The options and results of the programmatic API (lib/api.ts), and what each
 * architecture supplies behind it (lib/api/vit.ts, lib/api/bert.ts).
 */
import type { ExperimentConfig, SeqFilter } from '../config/experiment.ts';
import type { DatasetFormat } from '../data/dataset.ts';
import type { EvaluationResult } from '../eval.ts';
import type { MapReport } from '../fusion/index.ts';
import type { Model } from '../io/model-folder.ts';
import type { StageHooks } from '../pipeline/stages.ts';
import type { BertTextResult } from '../text-eval.ts';

type DeepPartial<T> = { [K in keyof T]?: T[K] extends Array<unknown> | null ? T[K] : T[K] extends object ? DeepPartial<T[K]> : T[K] };

type FusionSection = ExperimentConfig['fusion'];
/** fusion.acts.seq_filter as a config file writes it ('only_cls', 'window_6', null), or as a parsed config holds it. */
export type SeqFilterInput = SeqFilter | 'none' | 'only_cls' | `window_${number}`;
/** The keys of the config's `fusion` section, as fuse() takes them. */
export type FusionOptions = DeepPartial<Omit<FusionSection, 'anchor' | 'num_models' | 'acts'>> & {
  /** Index of the anchor model (default 1, the second, as in the reference). */
  anchor?: number;
  acts?: DeepPartial<Omit<FusionSection['acts'], 'seq_filter'>> & { seq_filter?: SeqFilterInput };
};

export interface FuseOptions {
  /** Dataset folder for the fusion samples (needed in acts mode and for repair): images for ViTs, text for BERTs. */
  data?: string;
  /** Keys of the config's `fusion` section; the anchor is the second model by default, as in the reference. */
  fusion?: FusionOptions;
  /** Keys of the config's `data` section (activations split and holdout, batch size; normalisation for ViTs, `text` for BERTs). */
  dataOptions?: DeepPartial<ExperimentConfig['data']>;
  signal?: AbortSignal;
  onProgress?: (stage: string, done: number, total: number) => void;
}

export interface Fused {
  /**
   * The fused model, in the anchor's shape and config (statistics repaired when
   * fusion.repair asks), with the anchor's preprocessor (ViT) or tokenizer (BERT) files.
   */
  model: Model;
  /** Per model, the transport maps computed while aligning it onto the anchor (empty for the anchor). */
  maps: MapReport[][];
  weights: number[];
  /** What the settings make of the fusion that the caller should know (as report.json's warnings). */
  warnings: string[];
}

export interface EvaluateOptions {
  /** Dataset folder: CIFAR-10/100 binary, IDX or an image folder for ViTs; a text dataset (docs/text-data.md) for BERTs. */
  data: string;
  split?: 'test' | 'train' | 'validation';
  /** Evaluate the first N examples (images, or sequences) only. */
  limit?: number;
  batchSize?: number;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
  // Image models:
  format?: DatasetFormat;
  /** Normalisation (default: the model's preprocessor_config.json, a known dataset's statistics, or 0.5 / 0.5). */
  mean?: number[];
  std?: number[];
  resize?: boolean;
  // Text models:
  /** Tokens per sequence, [CLS] and [SEP] included (default: 128, at most max_position_embeddings). */
  maxLength?: number;
  /** Masked LM: seed of the 15 % masking (default 0). */
  maskSeed?: number;
  /** Masked LM: pack the examples into full-length sequences (default false). */
  pack?: boolean;
  /** One example per line (default) or per paragraph. */
  examples?: 'lines' | 'paragraphs';
}

/** An evaluation, tagged with what was evaluated: an image classifier, a masked LM or a text classifier. */
export type Evaluation = ({ kind: 'image-classification' } & EvaluationResult) | BertTextResult;

/** What one architecture supplies to the API. */
export interface ArchitectureApi {
  /** The experiment's model.type for these models. */
  type: ExperimentConfig['model']['type'];
  /** The EvaluateOptions keys that only this architecture reads. */
  evaluateKeys: ReadonlyArray<keyof EvaluateOptions>;
  fuse(models: Model[], anchor: number, cfg: ExperimentConfig, hooks: StageHooks): Promise<Omit<Fused, 'warnings'>>;
  evaluate(model: Model, options: EvaluateOptions): Promise<Evaluation>;
}
