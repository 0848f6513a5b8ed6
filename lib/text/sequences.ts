/**
 * Examples -> token sequences of at most `maxLength` tokens, either one per example
 * (truncated, or refused when truncation is off) or packed: the examples' tokens run on
 * as one stream, separated by [SEP], cut into blocks of maxLength - 2 and each wrapped
 * in [CLS] ... [SEP] (as HF's run_mlm groups texts), so no position is padding but the
 * last block's.
 */
import type { TextExample } from './dataset.ts';
import type { BertTokenizer, Encoding } from './tokenizer.ts';

export interface SequenceOptions {
  maxLength: number;
  /** Pack examples into full-length blocks instead of one sequence per example. */
  pack?: boolean;
  /** Per-example sequences: cut over-long examples (default) or refuse them. */
  truncation?: boolean;
  /** For errors: the file the examples came from. */
  file?: string;
  /** Stop after this many sequences (the rest of the examples is not tokenised). */
  limit?: number;
}

export function encodeExamples(tokenizer: BertTokenizer, examples: TextExample[], options: SequenceOptions): Encoding[] {
  const out: Encoding[] = [];
  for (const _ of encodeSteps(tokenizer, examples, options, out)) { /* run through */ }
  return out;
}

/**
 * encodeExamples without holding the event loop: the examples are tokenised in chunks,
 * with a turn of the loop between them (a 1.3 MB corpus took a quarter of a second).
 */
export async function encodeExamplesAsync(tokenizer: BertTokenizer, examples: TextExample[], options: SequenceOptions): Promise<Encoding[]> {
  const out: Encoding[] = [];
  for (const _ of encodeSteps(tokenizer, examples, options, out)) await new Promise((resolve) => setImmediate(resolve));
  return out;
}

const CHUNK = 512;

/** The encoding, in steps of CHUNK examples (a generator that yields between them), into `out`. */
function* encodeSteps(tokenizer: BertTokenizer, examples: TextExample[], options: SequenceOptions, out: Encoding[]): Generator<void> {
  const { maxLength } = options;
  const limit = options.limit ?? Infinity;
  if (!options.pack) {
    const n = Math.min(examples.length, limit);
    for (let i = 0; i < n; i++) {
      const e = examples[i];
      out.push(tokenizer.encode(e.text, e.pair, {
        maxLength, truncation: options.truncation ?? true, source: options.file ? `${options.file}:${e.line}` : `line ${e.line}`,
      }));
      if ((i + 1) % CHUNK === 0) yield;
    }
    return;
  }
  const { cls, sep } = tokenizer.specialIds;
  const block = maxLength - 2;
  if (!Number.isInteger(maxLength) || block < 1) throw new RangeError(`packing needs a max length of at least 3, got ${maxLength}`);
  const stream: number[] = [];
  // Element by element: one example can be a whole file (a paragraph without blank
  // lines), far more ids than push(...ids) may pass as arguments.
  const append = (ids: number[]) => {
    for (const id of ids) stream.push(id);
  };
  for (let i = 0; i < examples.length && stream.length < limit * block; i++) {
    const e = examples[i];
    if (stream.length > 0) stream.push(sep);
    append(tokenizer.toIds(tokenizer.tokenize(e.text)));
    if (e.pair !== undefined) {
      stream.push(sep);
      append(tokenizer.toIds(tokenizer.tokenize(e.pair)));
    }
    if ((i + 1) % CHUNK === 0) yield;
  }
  for (let start = 0; start < stream.length && out.length < limit; start += block) {
    const ids = [cls, ...stream.slice(start, start + block), sep];
    out.push({ ids, typeIds: new Array(ids.length).fill(0) });
  }
}
