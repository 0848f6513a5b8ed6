/**
 * Captures every parent's activations on the same fusion samples into native stores,
 * drops samples over the loss threshold in any model, and applies the transform.
 */
import { ActivationStore, keepUnderLoss, transformFromFlags, type SeqFilter } from '../activations.ts';
import type { ExperimentConfig } from '../config/experiment.ts';
import { InputError } from '../errors.ts';
import type { Batch } from '../data/dataset.ts';
import type { TaskOptions } from '../native.ts';
import type { Parent } from './parents.ts';

export interface CapturedActivations {
  stores: ActivationStore[];
  /** Samples captured, and kept after the loss threshold. */
  captured: number;
  kept: number;
  bytesPerModel: number;
}

export function seqFilterOf(cfg: ExperimentConfig): SeqFilter {
  const f = cfg.fusion.acts.seq_filter;
  if (!f) return 'none';
  return f.kind === 'only_cls' ? 'only_cls' : `window_${f.size}`;
}

/** `only`: the entries to keep (what the fusion reads); the rest of the outputs cost nothing. */
export async function captureActivations(
  parents: Parent[], batches: Iterable<Batch> | AsyncIterable<Batch>, cfg: ExperimentConfig, only: string[],
  task: TaskOptions & { onBatch?: (done: number) => void },
): Promise<CapturedActivations> {
  const acts = cfg.fusion.acts;
  const stores = parents.map((p) => p.vit.createActivationStore({ numSamples: acts.num_samples, seqFilter: seqFilterOf(cfg), avgSeqItems: acts.avg_seq_items, only }));
  try {
    let captured = 0;
    for await (const batch of batches) {
      for (let i = 0; i < parents.length; i++) await parents[i].vit.capture(stores[i], batch.images, batch.count, { labels: batch.labels, signal: task.signal });
      captured += batch.count;
      task.onBatch?.(captured);
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
