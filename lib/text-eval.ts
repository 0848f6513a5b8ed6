/**
 * Evaluation of BERT models on text datasets (lib/text/dataset.ts):
 *   - masked LM: the examples are encoded (one sequence per example, or packed), masked
 *     with a seeded 15% / 80-10-10 corruption, and scored on the masked tokens: mean
 *     cross-entropy (natural log), perplexity exp(loss), and masked-token accuracy;
 *   - sequence classification: accuracy and mean cross-entropy over labelled examples.
 * Batches are padded to their longest sequence. The decoder of a masked LM runs on the
 * masked tokens only.
 */
import { InputError, throwIfAborted } from './errors.ts';
import type { BertConfig, BertModel } from './models/bert.ts';
import type { TokenBatch } from './text/batch.ts';
import type { TextSplit } from './text/dataset.ts';
import { maskTokens } from './text/mlm-masking.ts';
import { encodeExamplesAsync } from './text/sequences.ts';
import type { BertTokenizer, Encoding } from './text/tokenizer.ts';

export interface TextEvalOptions {
  /** Longest sequence in tokens, [CLS] and [SEP] included (at most the model's max_position_embeddings). */
  maxLength: number;
  batchSize?: number;
  /** Evaluate at most this many sequences (the first ones). */
  limit?: number;
  /** Cut over-long examples (default) or refuse them. */
  truncation?: boolean;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface MaskedLmEvalOptions extends TextEvalOptions {
  /** Seed of the masking (default 0): the same seed masks the same tokens. */
  maskSeed?: number;
  maskProbability?: number;
  /** Pack examples into full blocks instead of one sequence per example. */
  pack?: boolean;
}

export interface MaskedLmEvalResult {
  /** Mean cross-entropy over masked tokens (natural log). */
  loss: number;
  perplexity: number;
  /** Fraction of masked tokens whose highest logit is the original token. */
  accuracy: number;
  maskedTokens: number;
  sequences: number;
  /** Real (non-padding) tokens run through the model. */
  tokens: number;
  tokensPerSecond: number;
  seconds: number;
}

export interface TextClassifierEvalResult {
  accuracy: number;
  meanLoss: number;
  examples: number;
  tokens: number;
  tokensPerSecond: number;
  seconds: number;
}

/** Either evaluation, tagged with the head that gave it. */
export type BertTextResult =
  | ({ kind: 'masked-lm' } & MaskedLmEvalResult)
  | ({ kind: 'sequence-classification' } & TextClassifierEvalResult);

/** What a split must carry for a model: a classifier reads `<split>.labels`, a masked LM nothing. */
export function labelsFor(config: BertConfig): { names?: string[]; numClasses: number } | undefined {
  return config.head === 'sequence-classification' ? { names: config.labelNames, numClasses: config.numLabels } : undefined;
}

/** Evaluates a BERT as its head asks: masked-LM metrics, or classification accuracy and loss. */
export async function evaluateBertText(model: BertModel, tokenizer: BertTokenizer, data: TextSplit, options: MaskedLmEvalOptions): Promise<BertTextResult> {
  if (model.head === 'masked-lm') return { kind: 'masked-lm', ...(await evaluateMaskedLm(model, tokenizer, data, options)) };
  const { maskSeed: _seed, maskProbability: _p, pack: _pack, ...common } = options;
  return { kind: 'sequence-classification', ...(await evaluateTextClassifier(model, tokenizer, data, common)) };
}

function checkLength(model: BertModel, options: TextEvalOptions): void {
  const { maxLength } = options;
  if (!Number.isInteger(maxLength) || maxLength < 3) throw new InputError('max length (--max-length, maxLength)', `must be an integer of at least 3, got ${maxLength}`);
  if (maxLength > model.config.maxPositions)
    throw new InputError('max length (--max-length, maxLength)', `${maxLength} is more than the model's ${model.config.maxPositions} positions (max_position_embeddings)`);
  const limit = options.limit ?? Infinity;
  if (!(limit >= 0)) throw new InputError('limit (--limit)', `must be a non-negative number, got ${options.limit}`);
}

/** Batches of encodings padded to their longest, with the index of each batch's first sequence. */
function* batches(tokenizer: BertTokenizer, encodings: Encoding[], batchSize: number): Generator<{ batch: TokenBatch; first: number }> {
  for (let first = 0; first < encodings.length; first += batchSize)
    yield { batch: tokenizer.pad(encodings.slice(first, first + batchSize)), first };
}

function realTokens(batch: TokenBatch): number {
  let n = 0;
  for (let i = 0; i < batch.mask.length; i++) n += batch.mask[i];
  return n;
}

export async function evaluateMaskedLm(model: BertModel, tokenizer: BertTokenizer, data: TextSplit, options: MaskedLmEvalOptions): Promise<MaskedLmEvalResult> {
  if (model.head !== 'masked-lm') throw new InputError('model', 'is not a masked language model (BertForMaskedLM)');
  checkLength(model, options);
  const started = performance.now();
  const encodings = await encodeExamplesAsync(tokenizer, data.examples, {
    maxLength: options.maxLength, pack: options.pack, truncation: options.truncation, file: data.file, limit: options.limit ?? Infinity,
  });
  let lossSum = 0, masked = 0, correct = 0, tokens = 0, done = 0;
  for (const { batch, first } of batches(tokenizer, encodings, options.batchSize ?? 32)) {
    throwIfAborted(options.signal);
    const { inputs, labels } = maskTokens(batch, tokenizer, { seed: options.maskSeed ?? 0, probability: options.maskProbability, firstSequence: first });
    const out = await model.forward(inputs, { labels, logits: false, predictions: true, signal: options.signal });
    for (let r = 0; r < labels.length; r++) {
      if (labels[r] < 0) continue;
      masked++;
      lossSum += out.losses![r];
      if (out.predictions![r] === labels[r]) correct++;
    }
    tokens += realTokens(batch);
    done += batch.count;
    options.onProgress?.(done, encodings.length);
  }
  const seconds = (performance.now() - started) / 1000;
  const loss = masked ? lossSum / masked : NaN;
  return {
    loss, perplexity: Math.exp(loss), accuracy: masked ? correct / masked : NaN, maskedTokens: masked,
    sequences: done, tokens, tokensPerSecond: seconds > 0 ? tokens / seconds : 0, seconds,
  };
}

export async function evaluateTextClassifier(model: BertModel, tokenizer: BertTokenizer, data: TextSplit, options: TextEvalOptions): Promise<TextClassifierEvalResult> {
  if (model.head !== 'sequence-classification') throw new InputError('model', 'is not a sequence classifier (BertForSequenceClassification)');
  checkLength(model, options);
  const examples = data.examples.slice(0, options.limit ?? Infinity);
  if (examples.some((e) => e.label === undefined)) throw new InputError(data.file, 'has no labels; a classifier is evaluated on a labelled split');
  const started = performance.now();
  const encodings = await encodeExamplesAsync(tokenizer, examples, { maxLength: options.maxLength, truncation: options.truncation, file: data.file });
  let correct = 0, lossSum = 0, tokens = 0, done = 0;
  for (const { batch, first } of batches(tokenizer, encodings, options.batchSize ?? 32)) {
    throwIfAborted(options.signal);
    const labels = Int32Array.from({ length: batch.count }, (_, i) => examples[first + i].label!);
    const out = await model.forward(batch, { labels, logits: false, predictions: true, signal: options.signal });
    for (let i = 0; i < batch.count; i++) {
      lossSum += out.losses![i];
      if (out.predictions![i] === labels[i]) correct++;
    }
    tokens += realTokens(batch);
    done += batch.count;
    options.onProgress?.(done, encodings.length);
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    accuracy: done ? correct / done : 0, meanLoss: done ? lossSum / done : 0, examples: done, tokens,
    tokensPerSecond: seconds > 0 ? tokens / seconds : 0, seconds,
  };
}
