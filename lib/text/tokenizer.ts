/**
 * The BERT tokenizer of a model folder: vocab.txt plus the options in
 * tokenizer_config.json (do_lower_case, strip_accents, tokenize_chinese_chars, the
 * special tokens, model_max_length), special_tokens_map.json, and config.json's
 * do_lower_case when tokenizer_config.json has none. It turns text into
 * [CLS] A [SEP] (B [SEP]) id sequences with token types, truncates them to a maximum
 * length (or refuses them), and pads batches with attention masks.
 *
 * Special tokens written in the text ("[MASK]") stay whole, as in HF's tokenizers.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../errors.ts';
import { parseJsonObject, readTextFile } from '../io/json-file.ts';
import type { Model } from '../io/model-folder.ts';
import { readTokenizerFiles, type TokenizerFiles } from '../io/tokenizer-files.ts';
import { basicTokenize } from './basic-tokenizer.ts';
import type { TokenBatch } from './batch.ts';
import { DEFAULT_SPECIAL_TOKENS, parseVocab, type SpecialTokens, Vocabulary } from './vocab.ts';
import { CONTINUATION, wordPieces } from './wordpiece.ts';

export interface TokenizerOptions {
  lowerCase: boolean;
  /** Undefined: strip accents exactly when lower-casing. */
  stripAccents?: boolean;
  splitCjk: boolean;
  special: SpecialTokens;
  /** Words longer than this (in characters) become [UNK] (HF: 100). */
  maxWordChars: number;
  /** tokenizer_config.json's model_max_length, when it has a sensible one. */
  modelMaxLength?: number;
}

export interface EncodeOptions {
  /** The longest sequence, special tokens included. */
  maxLength: number;
  /** true (default): cut the text to fit; false: refuse it with an InputError naming `source`. */
  truncation?: boolean;
  /** Names the example in errors (e.g. "data/test.txt:12"). */
  source?: string;
}

/** One encoded example: ids with special tokens, and token types (0 = first segment). */
export interface Encoding {
  ids: number[];
  typeIds: number[];
}

type SpecialRole = keyof SpecialTokens;
const ROLES: SpecialRole[] = ['unk', 'cls', 'sep', 'pad', 'mask'];

export class BertTokenizer {
  readonly vocab: Vocabulary;
  readonly options: TokenizerOptions;
  /** Ids of the special tokens by role. */
  readonly specialIds: Readonly<Record<SpecialRole, number>>;
  private readonly specialSet: Set<number>;
  private readonly specialPattern: RegExp;

  constructor(vocab: Vocabulary, options: Partial<TokenizerOptions> = {}, source = 'vocab.txt') {
    this.vocab = vocab;
    this.options = {
      lowerCase: options.lowerCase ?? true,
      stripAccents: options.stripAccents,
      splitCjk: options.splitCjk ?? true,
      special: options.special ?? DEFAULT_SPECIAL_TOKENS,
      maxWordChars: options.maxWordChars ?? 100,
      modelMaxLength: options.modelMaxLength,
    };
    const special = this.options.special;
    this.specialIds = Object.fromEntries(ROLES.map((role) => [role, vocab.requireId(special[role], role, source)])) as Record<SpecialRole, number>;
    this.specialSet = new Set(Object.values(this.specialIds));
    const escaped = ROLES.map((r) => special[r]).sort((a, b) => b.length - a.length).map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    this.specialPattern = new RegExp(`(${escaped.join('|')})`);
  }

  /**
   * The tokenizer of a model folder. vocab.txt must exist and, when `vocabSize` (the
   * model's vocab_size) is given, hold exactly that many tokens.
   */
  static async fromFolder(folder: string, options: { vocabSize?: number } = {}): Promise<BertTokenizer> {
    const configPath = join(folder, 'config.json');
    const modelConfig = existsSync(configPath) ? parseJsonObject(await readTextFile(configPath), configPath) : undefined;
    return BertTokenizer.fromFiles((await readTokenizerFiles(folder)) ?? {}, { ...options, folder, modelConfig });
  }

  /** The tokenizer a loaded (or fused) model carries: its tokenizer files and config.json's do_lower_case. */
  static fromModel(model: Model): BertTokenizer {
    const folder = model.source?.folder ?? 'the model';
    if (model.config.model_type !== 'bert') throw new InputError(folder, `is a ${model.architecture}; only a BERT has a text tokenizer`);
    return BertTokenizer.fromFiles(model.tokenizer ?? {}, { folder, vocabSize: model.config.vocab_size, modelConfig: model.config.extra });
  }

  /**
   * The tokenizer of a folder's tokenizer files; `folder` names them in errors and
   * `modelConfig` is its config.json, whose do_lower_case older folders use.
   */
  static fromFiles(files: TokenizerFiles, options: { folder: string; vocabSize?: number; modelConfig?: Record<string, unknown> }): BertTokenizer {
    const { folder } = options;
    const vocabPath = join(folder, 'vocab.txt');
    if (files['vocab.txt'] === undefined)
      throw new InputError(folder, 'has no vocab.txt: the BERT tokenizer needs the WordPiece vocabulary of the model');
    const vocab = parseVocab(files['vocab.txt'], vocabPath);
    if (options.vocabSize !== undefined && vocab.size !== options.vocabSize)
      throw new InputError(vocabPath, `has ${vocab.size} tokens but config.json's vocab_size is ${options.vocabSize}; the tokenizer and the model do not belong together`);
    return new BertTokenizer(vocab, tokenizerSettings(files, folder, options.modelConfig), vocabPath);
  }

  get vocabSize(): number { return this.vocab.size; }

  isSpecial(id: number): boolean {
    return this.specialSet.has(id);
  }

  /** Text -> WordPiece tokens (special tokens written in the text stay whole). */
  tokenize(text: string): string[] {
    const out: string[] = [];
    const { lowerCase, stripAccents, splitCjk, special, maxWordChars } = this.options;
    for (const [i, part] of text.split(this.specialPattern).entries()) {
      if (i % 2 === 1) {
        out.push(part);
        continue;
      }
      for (const word of basicTokenize(part, { lowerCase, stripAccents, splitCjk }))
        out.push(...wordPieces(word, this.vocab, special.unk, maxWordChars));
    }
    return out;
  }

  /** Token strings -> ids; a token outside the vocabulary becomes [UNK]. */
  toIds(tokens: string[]): number[] {
    return tokens.map((t) => this.vocab.id(t) ?? this.specialIds.unk);
  }

  /** Ids -> text: tokens joined by spaces, "##" continuations glued to what they continue. */
  decode(ids: ArrayLike<number>, options: { skipSpecial?: boolean } = {}): string {
    const words: string[] = [];
    for (const id of Array.from(ids)) {
      if (options.skipSpecial && this.isSpecial(id)) continue;
      const token = this.vocab.tokens[id] ?? this.options.special.unk;
      if (token.startsWith(CONTINUATION) && words.length > 0) words[words.length - 1] += token.slice(CONTINUATION.length);
      else words.push(token);
    }
    return words.join(' ');
  }

  /**
   * [CLS] A [SEP] or [CLS] A [SEP] B [SEP], cut to maxLength tokens: a pair loses tokens
   * from the end of its longer segment first (B on a tie), as HF's longest_first.
   */
  encode(text: string, pair?: string, options: EncodeOptions = { maxLength: 512 }): Encoding {
    const { maxLength } = options;
    const room = maxLength - (pair === undefined ? 2 : 3);
    if (!Number.isInteger(maxLength) || room < 1)
      throw new InputError('max length', `must be an integer of at least ${pair === undefined ? 3 : 4} for [CLS] text [SEP]${pair === undefined ? '' : ' text [SEP]'}, got ${maxLength}`);
    let a = this.toIds(this.tokenize(text));
    let b = pair === undefined ? [] : this.toIds(this.tokenize(pair));
    const excess = a.length + b.length - room;
    if (excess > 0) {
      if (options.truncation === false)
        throw new InputError(options.source ?? 'text', `has ${a.length + b.length + maxLength - room} tokens with [CLS] and [SEP], more than the maximum length ${maxLength} (truncation is off)`);
      if (pair === undefined) {
        a = a.slice(0, room);
      } else {
        let [la, lb] = [a.length, b.length];
        for (let k = 0; k < excess; k++) {
          if (la > lb) la--;
          else lb--;
        }
        a = a.slice(0, la);
        b = b.slice(0, lb);
      }
    }
    const { cls, sep } = this.specialIds;
    const ids = [cls, ...a, sep, ...(pair === undefined ? [] : [...b, sep])];
    const typeIds = ids.map((_, i) => (i < a.length + 2 ? 0 : 1));
    return { ids, typeIds };
  }

  /** Encodings as a right-padded batch: to the longest one, or to `padTo` tokens. */
  pad(encodings: Encoding[], padTo?: number): TokenBatch {
    const longest = encodings.reduce((m, e) => Math.max(m, e.ids.length), 1);
    const tokens = padTo ?? longest;
    if (tokens < longest) throw new RangeError(`pad: an encoding has ${longest} tokens, more than padTo ${tokens}`);
    const count = encodings.length;
    const ids = new Int32Array(count * tokens).fill(this.specialIds.pad);
    const typeIds = new Int32Array(count * tokens), mask = new Uint8Array(count * tokens);
    encodings.forEach((e, i) => {
      ids.set(e.ids, i * tokens);
      typeIds.set(e.typeIds, i * tokens);
      mask.fill(1, i * tokens, i * tokens + e.ids.length);
    });
    return { ids, typeIds, mask, count, tokens };
  }
}

/** tokenizer_config.json's value of `key` as a string token (HF writes strings or {content}). */
function tokenSetting(file: Record<string, unknown>, key: string, source: string): string | undefined {
  const v = file[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string' && v.length > 0) return v;
  if (typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  throw new InputError(`${source}: ${key}`, 'must be a token string or an object with "content"');
}

function booleanSetting(file: Record<string, unknown>, key: string, source: string, allowNull = false): boolean | undefined {
  const v = file[key];
  if (v === undefined || (allowNull && v === null)) return undefined;
  if (typeof v !== 'boolean') throw new InputError(`${source}: ${key}`, `must be true or false${allowNull ? ' (or null)' : ''}, got ${JSON.stringify(v)}`);
  return v;
}

/** The tokenizer options a model folder's JSON files give (defaults: BERT uncased). */
function tokenizerSettings(files: TokenizerFiles, folder: string, modelConfig: Record<string, unknown> | undefined): Partial<TokenizerOptions> {
  const read = (name: 'special_tokens_map.json' | 'tokenizer_config.json') => {
    const path = join(folder, name), text = files[name];
    return text === undefined ? undefined : { path, file: parseJsonObject(text, path) };
  };
  const special: SpecialTokens = { ...DEFAULT_SPECIAL_TOKENS };
  const map = read('special_tokens_map.json');
  const config = read('tokenizer_config.json');
  for (const source of [map, config]) {
    if (!source) continue;
    for (const role of ROLES) special[role] = tokenSetting(source.file, `${role}_token`, source.path) ?? special[role];
  }
  const out: Partial<TokenizerOptions> = { special };
  // Older BERT folders keep do_lower_case in config.json; tokenizer_config.json wins.
  if (modelConfig) out.lowerCase = booleanSetting(modelConfig, 'do_lower_case', join(folder, 'config.json'));
  if (config) {
    const { file, path } = config;
    out.lowerCase = booleanSetting(file, 'do_lower_case', path) ?? out.lowerCase;
    out.stripAccents = booleanSetting(file, 'strip_accents', path, true);
    out.splitCjk = booleanSetting(file, 'tokenize_chinese_chars', path);
    const max = file.model_max_length;
    // HF writes a huge sentinel (1e30) when the length is unknown.
    if (typeof max === 'number' && Number.isInteger(max) && max > 0 && max < 1e9) out.modelMaxLength = max;
  }
  return out;
}
