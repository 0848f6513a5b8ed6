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
}

export function encodeExamples(tokenizer: BertTokenizer, examples: TextExample[], options: SequenceOptions): Encoding[] {
  const { maxLength } = options;
  if (!options.pack) {
    return examples.map((e) => tokenizer.encode(e.text, e.pair, {
      maxLength, truncation: options.truncation ?? true, source: options.file ? `${options.file}:${e.line}` : `line ${e.line}`,
    }));
  }
  const { cls, sep } = tokenizer.specialIds;
  const block = maxLength - 2;
  if (!Number.isInteger(maxLength) || block < 1) throw new RangeError(`packing needs a max length of at least 3, got ${maxLength}`);
  const stream: number[] = [];
  for (const e of examples) {
    if (stream.length > 0) stream.push(sep);
    stream.push(...tokenizer.toIds(tokenizer.tokenize(e.text)));
    if (e.pair !== undefined) stream.push(sep, ...tokenizer.toIds(tokenizer.tokenize(e.pair)));
  }
  const out: Encoding[] = [];
  for (let start = 0; start < stream.length; start += block) {
    const ids = [cls, ...stream.slice(start, start + block), sep];
    out.push({ ids, typeIds: new Array(ids.length).fill(0) });
  }
  return out;
}
