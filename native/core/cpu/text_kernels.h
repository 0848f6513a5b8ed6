// CPU kernels that the text encoder (BERT) adds to those of encoder_kernels.h: token
// embeddings, attention with padded keys, the pooler's tanh, row gathers by index and a
// softmax cross-entropy that also reports the argmax. Same conventions: host pointers,
// row-major buffers, threads from the core's pool.
#pragma once

#include <cstdint>

namespace tf::cpu {

// out (batch, tokens, channels) = word[ids] + position[t] + type[type_ids]: the sum HF's
// BertEmbeddings takes before its LayerNorm, with position ids 0 .. tokens - 1.
// type_ids null means type 0 everywhere. Ids are trusted (the model checks them).
void token_embeddings_forward(float* out, const int32_t* ids, const int32_t* type_ids, const float* word,
                              const float* position, const float* type, int64_t batch, int64_t tokens,
                              int64_t channels);
// Its backward: dword[ids[r]] += dout row r, dposition[t] += dout row (b, t) and
// dtype[type_ids[r]] += dout row r (type 0 everywhere when type_ids is null). Rows are
// visited in order for every channel, so the sums do not depend on the thread count.
void token_embeddings_backward(float* dword, float* dposition, float* dtype, const float* dout, const int32_t* ids,
                               const int32_t* type_ids, int64_t batch, int64_t tokens, int64_t channels);

// attention_forward (encoder_kernels.h) with a key mask: key_mask (batch, tokens) marks
// real tokens with non-zero. A query attends only to its sample's real tokens; the att
// entries of padded keys are exactly 0. Every query row, padded or not, is computed (as
// HF does) for the first `queries` tokens. Each sample needs at least one real token.
void attention_masked_forward(float* out, float* att, const float* qkv, const uint8_t* key_mask, int64_t batch,
                              int64_t tokens, int64_t channels, int64_t heads, int64_t queries);

// pre (rows x cols) += bias; out = tanh(pre). BERT's pooler.
void bias_tanh_forward(float* pre, float* out, const float* bias, int64_t rows, int64_t cols);
// Its backward from the forward's output: dpre = dout * (1 - out²), overwriting dpre
// (which may be dout itself). The bias gradient is bias_backward of dpre.
void tanh_backward(float* dpre, const float* out, const float* dout, int64_t n);

// dst row r = src row index[r] (rows x cols, both packed).
void gather_rows_indexed(float* dst, const float* src, const int32_t* index, int64_t rows, int64_t cols);
// Its backward: dst row index[r] += src row r. Rows are added in order of r, so repeated
// indices are summed the same way for any thread count.
void scatter_add_rows_indexed(float* dst, const float* src, const int32_t* index, int64_t rows, int64_t cols);

// For each row of logits: predictions[r] = the first index of the largest logit, and,
// when labels is not null, losses[r] = logsumexp(logits[r]) - logits[r][labels[r]]
// (NaN where labels[r] is kIgnoreLabel, backend.h). Either output may be null. Throws tf::Error
// for any other label outside [0, classes).
void softmax_cross_entropy_forward(float* losses, int32_t* predictions, const float* logits, const int32_t* labels,
                                   int64_t rows, int64_t classes);

}  // namespace tf::cpu
