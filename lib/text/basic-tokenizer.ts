/**
 * BERT's basic tokenisation, before WordPiece: clean the text (drop NUL, U+FFFD and
 * control characters, turn every kind of whitespace into a space), put spaces around
 * CJK ideographs, split on whitespace, lower-case and strip accents (when asked), then
 * split every punctuation character into a token of its own.
 *
 * Character classes follow Unicode general categories, as BERT's original definition
 * does: whitespace = space, tab, newline, carriage return and category Zs; control =
 * category C* except tab, newline and carriage return; punctuation = every ASCII
 * non-letter, non-digit symbol (so "$", "^" and "`" count) plus category P*; accents =
 * category Mn after NFD decomposition.
 */

export interface BasicTokenizerOptions {
  /** Lower-case every token (BERT "uncased"). */
  lowerCase: boolean;
  /** Strip accents; undefined follows lowerCase, as HF's strip_accents=None does. */
  stripAccents?: boolean;
  /** Split CJK ideographs into single-character tokens (default true). */
  splitCjk?: boolean;
}

const SPACE_SEPARATOR = /\p{Zs}/u;
const OTHER = /\p{C}/u;
const PUNCTUATION = /\p{P}/u;
const NONSPACING_MARK = /\p{Mn}/gu;
// Words end at spaces (every whitespace became one) and at line and paragraph
// separators (categories Zl, Zp), which are neither whitespace nor control above but
// separate words all the same.
const WORD_SEPARATORS = /[ \u2028\u2029]+/u;

export function isWhitespace(ch: string): boolean {
  return ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r' || SPACE_SEPARATOR.test(ch);
}

export function isControl(ch: string): boolean {
  if (ch === '\t' || ch === '\n' || ch === '\r') return false;
  return OTHER.test(ch);
}

export function isPunctuation(ch: string): boolean {
  const cp = ch.codePointAt(0)!;
  if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126)) return true;
  return PUNCTUATION.test(ch);
}

/** The CJK Unified Ideographs blocks (and their extensions and compatibility block), not kana or hangul. */
export function isCjk(cp: number): boolean {
  return (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0x3400 && cp <= 0x4dbf) || (cp >= 0x20000 && cp <= 0x2a6df)
    || (cp >= 0x2a700 && cp <= 0x2b73f) || (cp >= 0x2b740 && cp <= 0x2b81f) || (cp >= 0x2b820 && cp <= 0x2ceaf)
    || (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0x2f800 && cp <= 0x2fa1f);
}

function clean(text: string, splitCjk: boolean): string {
  let out = '';
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    if (cp === 0 || cp === 0xfffd || isControl(ch)) continue;
    if (isWhitespace(ch)) out += ' ';
    else if (splitCjk && isCjk(cp)) out += ` ${ch} `;
    else out += ch;
  }
  return out;
}

export function stripAccents(token: string): string {
  return token.normalize('NFD').replace(NONSPACING_MARK, '');
}

function splitOnPunctuation(token: string): string[] {
  const out: string[] = [];
  let current = '';
  for (const ch of token) {
    if (isPunctuation(ch)) {
      if (current) out.push(current);
      out.push(ch);
      current = '';
    } else {
      current += ch;
    }
  }
  if (current) out.push(current);
  return out;
}

/** Whitespace-separated words of `text` after cleaning, case and accent folding, and punctuation splitting. */
export function basicTokenize(text: string, options: BasicTokenizerOptions): string[] {
  const strip = options.stripAccents ?? options.lowerCase;
  const words = clean(text, options.splitCjk ?? true).normalize('NFC').split(WORD_SEPARATORS).filter((w) => w.length > 0);
  const out: string[] = [];
  for (let word of words) {
    if (options.lowerCase) word = word.toLowerCase();
    if (strip) word = stripAccents(word);
    for (const piece of splitOnPunctuation(word)) out.push(piece);
  }
  return out;
}
