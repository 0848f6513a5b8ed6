// CUDA twins of the text encoder's (BERT's) kernels, cpu/text_kernels.h, whose comments
// define the semantics and layouts. Device pointers; every launch is queued on `stream`.
// Ops that must report a bad input found on the device (a sample with no real token, a
// label outside the classes) wait for the stream to read the check back; the others
// return at once.
//
// Agreement with the CPU twins (what native/tests/cuda/test_cuda_text.cpp checks):
//   bit-identical: token_embeddings_forward, token_embeddings_backward,
//     gather_rows_indexed, scatter_add_rows_indexed (the scatters add each destination's
//     rows one float at a time in row order, as the CPU does: no atomics), the argmax of
//     softmax_cross_entropy_forward.
//   within a bound: attention_masked_forward (float32 sums in another order; the
//     probabilities of padded keys are exact zeros on both), bias_tanh_forward and
//     tanh_backward (CUDA's tanhf, contracted multiply-adds), the losses of
//     softmax_cross_entropy_forward (float64 sums in another order).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace tf::cuda {

void token_embeddings_forward(float* out, const int32_t* ids, const int32_t* type_ids, const float* word,
                              const float* position, const float* type, int64_t batch, int64_t tokens,
                              int64_t channels, cudaStream_t stream);
void token_embeddings_backward(float* dword, float* dposition, float* dtype, const float* dout, const int32_t* ids,
                               const int32_t* type_ids, int64_t batch, int64_t tokens, int64_t channels,
                               cudaStream_t stream);

// attention_forward (encoder_kernels.h) with a key mask; a null mask is no padding.
// Throws the CPU's error for a sample with no real token.
void attention_masked_forward(float* out, float* att, const float* qkv, const uint8_t* key_mask, int64_t batch,
                              int64_t tokens, int64_t channels, int64_t heads, int64_t queries, cudaStream_t stream);

void bias_tanh_forward(float* pre, float* out, const float* bias, int64_t rows, int64_t cols, cudaStream_t stream);
void tanh_backward(float* dpre, const float* out, const float* dout, int64_t n, cudaStream_t stream);

void gather_rows_indexed(float* dst, const float* src, const int32_t* index, int64_t rows, int64_t cols,
                         cudaStream_t stream);
// dst row index[r] += src row r, each destination's rows added in order of r. A null
// index sends every row to dst row 0 (token types when a batch has none).
void scatter_add_rows_indexed(float* dst, const float* src, const int32_t* index, int64_t rows, int64_t cols,
                              cudaStream_t stream);

// Throws the CPU's error for a label outside [0, classes) other than kIgnoreLabel.
void softmax_cross_entropy_forward(float* losses, int32_t* predictions, const float* logits, const int32_t* labels,
                                   int64_t rows, int64_t classes, cudaStream_t stream);

}  // namespace tf::cuda
