/**
 * BERT's masked-LM corruption, seeded: every real, non-special token is selected with
 * probability p (0.15); a selected token becomes [MASK] 80% of the time, a random
 * non-special token 10% and stays itself 10%, and its label is the original id. Labels
 * of everything else are -100 (no loss). Special tokens ([CLS], [SEP], [PAD], ...) are
 * never selected.
 *
 * The random stream of sequence i depends only on (seed, i), so a sequence is masked the
 * same way whatever the batch size or the order batches are run in.
 */
import { fmix32, mulberry32 } from '../data/random.ts';
import type { TokenBatch } from './batch.ts';
import type { BertTokenizer } from './tokenizer.ts';

export const IGNORE_LABEL = -100;

export interface MaskingOptions {
  seed: number;
  /** Selection probability (default 0.15). */
  probability?: number;
  /** Index of the batch's first sequence in the whole run (default 0). */
  firstSequence?: number;
}

/** A 32-bit mix of two integers (murmur3's finaliser over their combination). */
function mix(a: number, b: number): number {
  return fmix32((Math.imul(a ^ 0x5bd1e995, 0x9e3779b1) ^ Math.imul(b + 0x7f4a7c15, 0x85ebca6b)) >>> 0);
}

/** The corrupted inputs (a copy; `batch` is untouched) and the labels (count x tokens). */
export function maskTokens(batch: TokenBatch, tokenizer: BertTokenizer, options: MaskingOptions): { inputs: TokenBatch; labels: Int32Array } {
  const p = options.probability ?? 0.15;
  if (!(p >= 0 && p <= 1)) throw new RangeError(`mask probability must be in [0, 1], got ${p}`);
  const ordinary: number[] = [];
  for (let id = 0; id < tokenizer.vocabSize; id++) if (!tokenizer.isSpecial(id)) ordinary.push(id);
  const maskId = tokenizer.specialIds.mask;
  const ids = batch.ids.slice();
  const labels = new Int32Array(ids.length).fill(IGNORE_LABEL);
  for (let s = 0; s < batch.count; s++) {
    const rand = mulberry32(mix(options.seed >>> 0, (options.firstSequence ?? 0) + s));
    for (let t = 0; t < batch.tokens; t++) {
      const r = s * batch.tokens + t;
      // Three draws per token whatever happens, so one token's fate never shifts another's.
      const select = rand(), action = rand(), pick = rand();
      if (!batch.mask[r] || tokenizer.isSpecial(batch.ids[r]) || select >= p) continue;
      labels[r] = batch.ids[r];
      if (action < 0.8) ids[r] = maskId;
      else if (action < 0.9 && ordinary.length > 0) ids[r] = ordinary[Math.floor(pick * ordinary.length)];
    }
  }
  return { inputs: { ...batch, ids }, labels };
}
