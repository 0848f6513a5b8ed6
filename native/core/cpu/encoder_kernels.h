// CPU kernels of the transformer encoder forward pass (ViT today, BERT later). Each is a
// plain function over row-major buffers that writes out, beside its result, whatever the
// backward pass will need (LayerNorm statistics, attention probabilities, the
// pre-activation), so the backward twins can sit next to these without recomputing. Host pointers; threads come
// from the core's pool. The CPU backend forwards its encoder virtuals here.
#pragma once

#include <cstdint>

namespace tf::cpu {

// LayerNorm over the last dimension of a (rows x cols) matrix:
// out = (inp - mean) * rstd * weight + bias, rstd = 1 / sqrt(var + eps), var biased (as
// torch.nn.LayerNorm). mean and rstd (rows each) are kept for the backward pass; either
// may be null when nobody needs them.
void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                       const float* bias, int64_t rows, int64_t cols, float eps);

// Multi-head self-attention over a fused QKV buffer. qkv is (batch, tokens, 3 * channels)
// with Q, K and V side by side in each row; head h uses columns [h*d, (h+1)*d) of each,
// d = channels / heads. att (batch, heads, tokens, tokens) receives softmax(Q Kᵀ / sqrt d)
// (kept for backward), out (batch, tokens, channels) the heads' outputs side by side.
// Only the first `queries` tokens of each sample are computed as queries (their rows of
// att and out; the others are left alone): an inference pass whose last layer feeds
// only CLS to the classifier asks for 1.
void attention_forward(float* out, float* att, const float* qkv, int64_t batch, int64_t tokens, int64_t channels,
                       int64_t heads, int64_t queries);

// Cuts (batch, channels, size, size) images into non-overlapping patch x patch squares:
// patches is ((batch * grid * grid) x (channels * patch * patch)), patches in row-major
// grid order, each flattened as (channel, row, column) so that a GEMM with a conv weight
// of layout (hidden, channels, patch, patch) is the convolution.
void patch_extract(float* patches, const float* images, int64_t batch, int64_t channels, int64_t image_size,
                   int64_t patch_size);

// ViT embeddings: out (batch, 1 + patches, channels) = [cls; patch_out] + pos, where
// patch_out is (batch, patches, channels), cls (channels), pos (1 + patches, channels).
void embeddings_assemble(float* out, const float* patch_out, const float* cls, const float* pos, int64_t batch,
                         int64_t patches, int64_t channels);

// x (rows x cols) += bias broadcast over rows.
void add_bias(float* x, const float* bias, int64_t rows, int64_t cols);

// pre (rows x cols) += bias; out = gelu(pre), exact-erf GELU. pre keeps the value before
// the activation (captured for fusion, needed by backward).
void bias_gelu_forward(float* pre, float* out, const float* bias, int64_t rows, int64_t cols);

// proj (rows x cols) += bias; out = residual + proj. The linear layer's own output stays
// in proj; out is the residual stream after the sublayer.
void bias_residual_forward(float* out, float* proj, const float* bias, const float* residual, int64_t rows,
                           int64_t cols);

// Copies `rows` rows of `cols` floats from src (row stride src_stride) to dst (packed).
void gather_rows(float* dst, const float* src, int64_t rows, int64_t cols, int64_t src_stride);

// losses[r] = logsumexp(logits[r]) - logits[r][labels[r]] (cross-entropy, natural log),
// computed in double. Throws tf::Error for a label outside [0, classes).
void cross_entropy_forward(float* losses, const float* logits, const int32_t* labels, int64_t rows,
                           int64_t classes);

}  // namespace tf::cpu
