/**
 * A batch of tokenised sequences as the BERT forward pass takes it: `count` rows of
 * `tokens` token ids, row-major, padded on the right. `mask` is HF's attention_mask (1 =
 * real token, 0 = padding), `typeIds` its token_type_ids (0 = first segment, 1 = second).
 */
export interface TokenBatch {
  ids: Int32Array;
  typeIds: Int32Array;
  mask: Uint8Array;
  count: number;
  tokens: number;
}

/** Real tokens of sequence i of a batch. */
export function sequenceLength(batch: TokenBatch, i: number): number {
  let n = 0;
  for (let t = 0; t < batch.tokens; t++) n += batch.mask[i * batch.tokens + t];
  return n;
}

/** Sequences first .. first + count - 1 of a batch, as a batch of their own (views, no copy). */
export function sliceBatch(batch: TokenBatch, first: number, count: number): TokenBatch {
  const a = first * batch.tokens, b = (first + count) * batch.tokens;
  return { ids: batch.ids.subarray(a, b), typeIds: batch.typeIds.subarray(a, b), mask: batch.mask.subarray(a, b), count, tokens: batch.tokens };
}
