/**
 * Builds a BERT-style WordPiece vocabulary (vocab.txt) from text, deterministically: the
 * same text and options give the same file, byte for byte.
 *
 *   1. Words: BERT's basic tokenisation (lower-casing and accent stripping by default,
 *      punctuation split off), counted; words longer than maxWordChars are skipped, as
 *      the tokenizer turns them into [UNK] anyway.
 *   2. The alphabet: every character seen at least minFrequency times, as a word start
 *      ("e") and, where it occurs inside words, as a continuation ("##e").
 *   3. Pieces: words start as characters ("c", "##a", "##t") and the most frequent
 *      adjacent pair (summed over word frequencies; ties broken by the pair's text) is
 *      merged into one piece ("c" + "##a" -> "ca", "##a" + "##t" -> "##at"), again and
 *      again, each new piece joining the vocabulary, until it holds `size` tokens or no
 *      pair occurs minFrequency times.
 *
 * The file lists [PAD] [UNK] [CLS] [SEP] [MASK] first (ids 0-4), then the characters,
 * then the continuation characters, then the pieces in the order they were merged.
 */
import { basicTokenize } from './basic-tokenizer.ts';
import { CONTINUATION } from './wordpiece.ts';

export const SPECIAL_TOKENS_IN_ORDER = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] as const;

export interface BuildVocabOptions {
  /** Tokens in the vocabulary, special tokens and characters included. */
  size: number;
  /** Characters and merges need at least this many occurrences (default 2). */
  minFrequency?: number;
  lowerCase?: boolean;
  /** Words longer than this (in characters) are left out (default 100, the tokenizer's limit). */
  maxWordChars?: number;
}

export interface BuiltVocab {
  tokens: string[];
  /** Distinct words counted, and their total occurrences. */
  words: number;
  occurrences: number;
  /** Characters in the alphabet (word starts; continuations are extra). */
  characters: number;
  merges: number;
}

/** A max-heap of (count, key), highest count first, then the smallest key. */
class PairHeap {
  private items: Array<[number, string]> = [];

  private before(a: [number, string], b: [number, string]): boolean {
    return a[0] > b[0] || (a[0] === b[0] && a[1] < b[1]);
  }

  push(count: number, key: string): void {
    const it = this.items;
    it.push([count, key]);
    let i = it.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(it[i], it[p])) break;
      [it[i], it[p]] = [it[p], it[i]];
      i = p;
    }
  }

  pop(): [number, string] | undefined {
    const it = this.items;
    if (it.length === 0) return undefined;
    const top = it[0];
    const last = it.pop()!;
    if (it.length > 0) {
      it[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < it.length && this.before(it[l], it[m])) m = l;
        if (r < it.length && this.before(it[r], it[m])) m = r;
        if (m === i) break;
        [it[i], it[m]] = [it[m], it[i]];
        i = m;
      }
    }
    return top;
  }
}

const SEP = '\u0000';

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function buildWordPieceVocab(texts: Iterable<string>, options: BuildVocabOptions): BuiltVocab {
  const { size } = options;
  const minFrequency = options.minFrequency ?? 2;
  const lowerCase = options.lowerCase ?? true;
  const maxWordChars = options.maxWordChars ?? 100;
  if (!Number.isInteger(size) || size < SPECIAL_TOKENS_IN_ORDER.length + 1)
    throw new RangeError(`vocabulary size must be an integer of at least ${SPECIAL_TOKENS_IN_ORDER.length + 1}, got ${size}`);
  if (!Number.isInteger(minFrequency) || minFrequency < 1) throw new RangeError(`min frequency must be a positive integer, got ${minFrequency}`);

  const wordCounts = new Map<string, number>();
  let occurrences = 0;
  for (const text of texts)
    for (const word of basicTokenize(text, { lowerCase })) {
      if (Array.from(word).length > maxWordChars) continue;
      wordCounts.set(word, (wordCounts.get(word) ?? 0) + 1);
      occurrences++;
    }
  // Words in a fixed order (by text), so every later tie resolves the same way.
  const words = [...wordCounts.keys()].sort(compareStrings);
  const freqs = words.map((w) => wordCounts.get(w)!);

  // The alphabet.
  const starts = new Map<string, number>(), inner = new Map<string, number>();
  words.forEach((w, i) => {
    Array.from(w).forEach((ch, k) => {
      const m = k === 0 ? starts : inner;
      m.set(ch, (m.get(ch) ?? 0) + freqs[i]);
    });
  });
  const charTotal = new Map<string, number>();
  for (const m of [starts, inner]) for (const [ch, n] of m) charTotal.set(ch, (charTotal.get(ch) ?? 0) + n);
  const alphabet = new Set([...charTotal].filter(([, n]) => n >= minFrequency).map(([ch]) => ch));
  const tokens: string[] = [...SPECIAL_TOKENS_IN_ORDER];
  const known = new Set<string>(tokens);
  const add = (t: string): boolean => {
    if (known.has(t) || tokens.length >= size) return false;
    known.add(t);
    tokens.push(t);
    return true;
  };
  const sortedChars = [...alphabet].sort(compareStrings);
  for (const ch of sortedChars) add(ch);
  for (const ch of sortedChars) if (inner.has(ch)) add(CONTINUATION + ch);

  // Words as symbol sequences; a word with a character outside the alphabet can never be
  // spelt by the vocabulary, so it takes no part in the merges.
  const symbols: string[][] = words.map((w) =>
    Array.from(w).every((ch) => alphabet.has(ch)) ? Array.from(w).map((ch, k) => (k === 0 ? ch : CONTINUATION + ch)) : []);
  const pairCounts = new Map<string, number>();
  const pairWords = new Map<string, Set<number>>();
  const countPairs = (i: number, sign: number) => {
    const s = symbols[i];
    for (let k = 0; k + 1 < s.length; k++) {
      const key = s[k] + SEP + s[k + 1];
      pairCounts.set(key, (pairCounts.get(key) ?? 0) + sign * freqs[i]);
      if (sign > 0) {
        let set = pairWords.get(key);
        if (!set) pairWords.set(key, (set = new Set()));
        set.add(i);
      }
    }
  };
  symbols.forEach((_, i) => countPairs(i, 1));
  const heap = new PairHeap();
  for (const [key, n] of pairCounts) heap.push(n, key);

  let merges = 0;
  while (tokens.length < size) {
    const top = heap.pop();
    if (!top) break;
    const [count, key] = top;
    if (pairCounts.get(key) !== count) continue; // stale entry
    if (count < minFrequency) break;
    const [a, b] = key.split(SEP);
    const merged = a + b.slice(CONTINUATION.length);
    const touched = new Set<string>();
    for (const i of [...(pairWords.get(key) ?? [])].sort((x, y) => x - y)) {
      const s = symbols[i];
      let has = false;
      for (let k = 0; k + 1 < s.length && !has; k++) has = s[k] === a && s[k + 1] === b;
      if (!has) continue;
      countPairs(i, -1);
      for (let k = 0; k + 1 < s.length; k++)
        if (s[k] === a && s[k + 1] === b) s.splice(k, 2, merged);
      countPairs(i, 1);
      for (let k = 0; k + 1 < s.length; k++) touched.add(s[k] + SEP + s[k + 1]);
    }
    pairCounts.delete(key);
    pairWords.delete(key);
    for (const t of touched) {
      const n = pairCounts.get(t);
      if (n !== undefined && n > 0) heap.push(n, t);
    }
    add(merged);
    merges++;
  }
  return { tokens, words: words.length, occurrences, characters: sortedChars.length, merges };
}

/** vocab.txt contents: one token per line. */
export function vocabFileText(tokens: readonly string[]): string {
  return tokens.join('\n') + '\n';
}
