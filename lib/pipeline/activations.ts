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

/**
 * `only`: the entries to keep (what the fusion reads); the rest of the outputs cost
 * nothing. One model at a time goes through all the samples, and its native copy is
 * released before the next is built, so only one model's weights and working buffers
 * are in native memory at once.
 */
export async function captureActivations(
  parents: Parent[], batches: Batch[], cfg: ExperimentConfig, only: string[],
  task: TaskOptions & { onBatch?: (done: number, total: number) => void },
): Promise<CapturedActivations> {
  const acts = cfg.fusion.acts;
  const stores: ActivationStore[] = [];
  const total = batches.reduce((s, b) => s + b.count, 0);
  try {
    let captured = 0;
    for (const [i, p] of parents.entries()) {
      stores.push(p.vit.createActivationStore({ numSamples: acts.num_samples, seqFilter: seqFilterOf(cfg), avgSeqItems: acts.avg_seq_items, only }));
      captured = 0;
      for (const batch of batches) {
        await p.vit.capture(stores[i], batch.images, batch.count, { labels: batch.labels, signal: task.signal });
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
