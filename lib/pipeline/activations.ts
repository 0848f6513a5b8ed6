/**
 * Captures every parent's activations on the same fusion samples into native stores,
 * drops samples over the loss threshold in any model, and applies the transform. The
 * model kind (ViT images, BERT token batches) stays behind CaptureParent.
 */
import { ActivationStore, keepUnderLoss, transformFromFlags, type SeqFilter } from '../activations.ts';
import type { ExperimentConfig } from '../config/experiment.ts';
import { InputError } from '../errors.ts';
import type { TaskOptions } from '../native.ts';
import { transformName } from './fused-results.ts';

export interface CapturedActivations {
  stores: ActivationStore[];
  /** Samples captured, and kept after the loss threshold. */
  captured: number;
  kept: number;
  bytesPerModel: number;
}

/** What the report says of a capture, once the fusion has spent its stores. */
export type CaptureSummary = Omit<CapturedActivations, 'stores'>;

export function captureSummary(captured: CapturedActivations | null): CaptureSummary | null {
  return captured && { captured: captured.captured, kept: captured.kept, bytesPerModel: captured.bytesPerModel };
}

/** One parent as the capture drives it, over fusion inputs of type `Input`. */
export interface CaptureParent<Input> {
  /** A store for every fusion sample, keeping the entries the fusion reads. */
  createStore(): Promise<ActivationStore>;
  /** Runs one batch of inputs through the model into `store`. */
  capture(store: ActivationStore, input: Input, signal?: AbortSignal): Promise<unknown>;
  /** Frees the native model until it is used again. */
  release(): void;
}

/**
 * The tokens every captured sequence keeps: acts.seq_pos (a single position) when set,
 * else acts.seq_filter.
 */
export function seqFilterOf(cfg: ExperimentConfig): SeqFilter {
  if (cfg.fusion.acts.seq_pos >= 0) return `position_${cfg.fusion.acts.seq_pos}`;
  const f = cfg.fusion.acts.seq_filter;
  if (!f) return 'none';
  return f.kind === 'only_cls' ? 'only_cls' : `window_${f.size}`;
}

/**
 * What the settings make of the fusion that the user should know. Keeping only the first
 * token (only_cls, or seq_pos 0) shows layer 0's query, key and value one and the same
 * input for every sample (the class token plus its position embedding, before any
 * attention has mixed in the rest), so each neuron is a constant: after the std, center
 * or norm transform the neurons cannot be told apart and those maps are arbitrary.
 */
export function fusionWarnings(cfg: ExperimentConfig): string[] {
  const acts = cfg.fusion.acts;
  const transform = transformName(acts);
  const firstTokenOnly = acts.seq_pos === 0 || (acts.seq_pos < 0 && acts.seq_filter?.kind === 'only_cls');
  if (cfg.fusion.type !== 'acts' || acts.avg_seq_items || !firstTokenOnly || transform === 'none') return [];
  const setting = acts.seq_pos === 0 ? 'fusion.acts.seq_pos 0' : 'fusion.acts.seq_filter only_cls';
  return [
    `${setting}: layer 0's query, key and value see the same first-token input for every sample, so after the ${transform} ` +
      'transform their neurons cannot be told apart and those maps are arbitrary (window_<k> or null compares every sample\'s own tokens)',
  ];
}

/** Whether the fusion reads activations: always in acts mode, in wts mode for a weighted residual policy. */
export function needsActivations(cfg: ExperimentConfig): boolean {
  return cfg.fusion.type === 'acts' || cfg.fusion.resid_policy.startsWith('weighted');
}

/** What makes a run read fusion data (for the error when there is none): the setting, and how to do without it. */
export function whyFusionData(cfg: ExperimentConfig): string {
  if (cfg.fusion.type === 'acts') return 'acts mode (fusion.type) compares neurons by their activations on it';
  if (needsActivations(cfg)) return `resid_policy ${cfg.fusion.resid_policy} weighs maps by activations on it`;
  return `statistics repair (fusion.repair: ${cfg.fusion.repair}) measures the fused neurons on it; set fusion.repair: none to fuse without data`;
}

/**
 * One model at a time goes through all the batches, and its native copy is released
 * before the next is built, so only one model's weights and working buffers are in
 * native memory at once.
 */
export async function captureActivations<Input extends { count: number }>(
  parents: Array<CaptureParent<Input>>, batches: Input[], cfg: ExperimentConfig,
  task: TaskOptions & { onBatch?: (done: number, total: number) => void },
): Promise<CapturedActivations> {
  const acts = cfg.fusion.acts;
  const stores: ActivationStore[] = [];
  const total = batches.reduce((s, b) => s + b.count, 0);
  try {
    let captured = 0;
    for (const [i, p] of parents.entries()) {
      stores.push(await p.createStore());
      captured = 0;
      for (const batch of batches) {
        await p.capture(stores[i], batch, task.signal);
        captured += batch.count;
        task.onBatch?.(i * total + captured, parents.length * total);
      }
      p.release();
    }
    const kept = acts.loss_thres === false ? captured : await keepUnderLoss(stores, acts.loss_thres, task);
    if (kept === 0) throw new InputError('fusion.acts.loss_thres', `no fusion sample has a loss under ${acts.loss_thres} in every model; raise the threshold`);
    const transform = transformFromFlags(acts);
    for (const s of stores) await s.finalize(transform, task);
    return { stores, captured, kept, bytesPerModel: stores[0].bytes };
  } catch (err) {
    for (const s of stores) s.dispose();
    throw err;
  }
}
