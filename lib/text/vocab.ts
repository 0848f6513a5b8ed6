/**
 * A WordPiece vocabulary as BERT folders store it: vocab.txt, one token per line, the
 * line number (from 0) being the token id. Malformed files are refused with the line at
 * fault: an empty file, an empty line, a token listed twice, or a special token the
 * tokenizer needs that the file lacks.
 */
import { readFile } from 'node:fs/promises';
import { InputError } from '../errors.ts';
import { describeFsError } from '../io/byte-source.ts';

/** The special tokens of a BERT tokenizer, by role. */
export interface SpecialTokens {
  unk: string;
  cls: string;
  sep: string;
  pad: string;
  mask: string;
}

export const DEFAULT_SPECIAL_TOKENS: SpecialTokens = { unk: '[UNK]', cls: '[CLS]', sep: '[SEP]', pad: '[PAD]', mask: '[MASK]' };

export class Vocabulary {
  /** Tokens by id. */
  readonly tokens: readonly string[];
  private readonly ids: Map<string, number>;

  constructor(tokens: readonly string[]) {
    this.tokens = tokens;
    this.ids = new Map(tokens.map((t, i) => [t, i]));
  }

  get size(): number { return this.tokens.length; }

  /** The id of `token`, or undefined when it is not in the vocabulary. */
  id(token: string): number | undefined {
    return this.ids.get(token);
  }

  has(token: string): boolean {
    return this.ids.has(token);
  }

  /** The id of a token that must exist (special tokens); throws naming `source` otherwise. */
  requireId(token: string, role: string, source: string): number {
    const id = this.ids.get(token);
    if (id === undefined) throw new InputError(source, `has no ${role} token ${JSON.stringify(token)}`);
    return id;
  }
}

/** Parses vocab.txt text; `source` names the file in errors. */
export function parseVocab(text: string, source: string): Vocabulary {
  if (text.length === 0) throw new InputError(source, 'is empty: a WordPiece vocabulary has one token per line');
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop(); // the newline ending the last line
  const first = new Map<string, number>();
  const tokens = lines.map((line, i) => {
    const token = line.endsWith('\r') ? line.slice(0, -1) : line; // files written on Windows
    if (token.length === 0) throw new InputError(`${source}:${i + 1}`, 'is empty; every line of vocab.txt must hold one token');
    const seen = first.get(token);
    if (seen !== undefined)
      throw new InputError(`${source}:${i + 1}`, `repeats the token ${JSON.stringify(token)} of line ${seen + 1}; token ids would be ambiguous`);
    first.set(token, i);
    return token;
  });
  return new Vocabulary(tokens);
}

export async function readVocab(path: string): Promise<Vocabulary> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new InputError(path, describeFsError(err), { cause: err });
  }
  return parseVocab(text, path);
}
