/**
 * A seeded held-out part of a dataset split, as the reference holds out a 10 % validation
 * split of the training set: training uses the rest, and the fusion takes its
 * activation samples from the holdout, which no parent has seen. Both parts keep the
 * split's file order; which examples are held out depends only on the split's size, the
 * fraction and the seed, so every model trained with the same holdout seed excludes the
 * same examples.
 */
import { InputError } from '../errors.ts';
import { SeededRandom } from './random.ts';
import type { DatasetReader, RawBatch } from './source.ts';

export interface HoldoutOption {
  /** Fraction of the split held out, in [0, 1): ceil(fraction * size) examples. */
  fraction: number;
  /** Seed of the choice (default 0). */
  seed?: number;
  /** Which part the dataset presents: the held-out examples, or the rest (the training part). */
  part: 'holdout' | 'rest';
}

export interface HoldoutSplit {
  /** Held-out example indices, ascending. */
  holdout: Int32Array;
  /** Every other index, ascending. */
  rest: Int32Array;
}

/** Stream of SeededRandom reserved for holdout choices (training shuffles use others). */
const HOLDOUT_STREAM = 0x484f4c44;

export function checkHoldout(option: HoldoutOption, source = 'holdout'): void {
  if (!(option.fraction >= 0 && option.fraction < 1))
    throw new InputError(`${source}.fraction`, `must lie in [0, 1), got ${option.fraction}`);
  const seed = option.seed ?? 0;
  if (!Number.isSafeInteger(seed) || seed < 0) throw new InputError(`${source}.seed`, `must be a non-negative integer, got ${seed}`);
  if (option.part !== 'holdout' && option.part !== 'rest')
    throw new InputError(`${source}.part`, `must be 'holdout' or 'rest', got '${String(option.part)}'`);
}

/** The held-out and remaining indices of a split of `size` examples. */
export function holdoutSplit(size: number, fraction: number, seed = 0): HoldoutSplit {
  const k = Math.min(size, Math.ceil(fraction * size - 1e-9));
  const rng = new SeededRandom(seed, HOLDOUT_STREAM);
  // A partial Fisher-Yates shuffle: its first k positions are a uniform k-subset.
  const order = new Int32Array(size);
  for (let i = 0; i < size; i++) order[i] = i;
  for (let i = 0; i < k; i++) {
    const j = i + rng.below(size - i);
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  const held = new Uint8Array(size);
  for (let i = 0; i < k; i++) held[order[i]] = 1;
  const holdout = new Int32Array(k), rest = new Int32Array(size - k);
  for (let i = 0, h = 0, r = 0; i < size; i++) {
    if (held[i]) holdout[h++] = i;
    else rest[r++] = i;
  }
  return { holdout, rest };
}

/**
 * A reader that presents only the examples at `indices` (ascending) of `reader`, in that
 * order. It reads the underlying split front to back in runs and keeps the selected
 * examples, so it costs one pass over the covered range whatever the selection.
 */
export function subsetReader(reader: DatasetReader, indices: Int32Array): DatasetReader {
  const chunk = 1024;
  return {
    format: reader.format, folder: reader.folder, split: reader.split, size: indices.length, classes: reader.classes,
    numClasses: reader.numClasses, shape: reader.shape, files: reader.files,
    async *read(batchSize: number, start: number, limit: number): AsyncGenerator<RawBatch> {
      const end = Math.min(indices.length, start + limit);
      if (start >= end) return;
      let next = start; // position in `indices` of the next wanted example
      let pending: RawBatch[] = [];
      let pendingCount = 0;
      const flush = (): RawBatch => {
        const out = concat(pending, pendingCount);
        pending = [];
        pendingCount = 0;
        return out;
      };
      const first = indices[start], last = indices[end - 1];
      let source = first;
      for await (const raw of reader.read(chunk, first, last - first + 1)) {
        const picked: number[] = [];
        for (let r = 0; r < raw.count && next < end; r++, source++) if (indices[next] === source) {
          picked.push(r);
          next++;
        }
        let from = 0;
        while (from < picked.length) {
          const take = Math.min(batchSize - pendingCount, picked.length - from);
          pending.push(pick(raw, picked.slice(from, from + take)));
          pendingCount += take;
          from += take;
          if (pendingCount === batchSize) yield flush();
        }
      }
      if (pendingCount > 0) yield flush();
    },
  };
}

function pick(raw: RawBatch, rows: number[]): RawBatch {
  const labels = Int32Array.from(rows, (r) => raw.labels[r]);
  if (raw.pixels && raw.shape) {
    const per = raw.pixels.length / raw.count;
    const pixels = new Uint8Array(rows.length * per);
    rows.forEach((r, i) => pixels.set(raw.pixels!.subarray(r * per, (r + 1) * per), i * per));
    return { count: rows.length, labels, pixels, shape: raw.shape };
  }
  return { count: rows.length, labels, images: rows.map((r) => raw.images![r]) };
}

function concat(parts: RawBatch[], count: number): RawBatch {
  if (parts.length === 1) return parts[0];
  const labels = new Int32Array(count);
  let at = 0;
  for (const p of parts) {
    labels.set(p.labels, at);
    at += p.count;
  }
  if (parts[0].pixels && parts[0].shape) {
    const per = parts[0].pixels.length / parts[0].count;
    const pixels = new Uint8Array(count * per);
    at = 0;
    for (const p of parts) {
      pixels.set(p.pixels!, at * per);
      at += p.count;
    }
    return { count, labels, pixels, shape: parts[0].shape };
  }
  return { count, labels, images: parts.flatMap((p) => p.images!) };
}
