/**
 * WordPiece: each word becomes the longest vocabulary entry that starts it, then the
 * longest "##"-prefixed entry that continues it, and so on; a word with a part no entry
 * matches, or longer than `maxWordChars` characters, becomes the unknown token whole.
 * Lengths count Unicode code points.
 */
import type { Vocabulary } from './vocab.ts';

export const CONTINUATION = '##';

export function wordPieces(word: string, vocab: Vocabulary, unk: string, maxWordChars = 100): string[] {
  const chars = Array.from(word);
  if (chars.length > maxWordChars) return [unk];
  const pieces: string[] = [];
  let start = 0;
  while (start < chars.length) {
    let end = chars.length;
    let found: string | undefined;
    for (; end > start; end--) {
      const candidate = (start > 0 ? CONTINUATION : '') + chars.slice(start, end).join('');
      if (vocab.has(candidate)) {
        found = candidate;
        break;
      }
    }
    if (found === undefined) return [unk];
    pieces.push(found);
    start = end;
  }
  return pieces;
}
