// CPU kernels of the transformer encoder (ViT today, BERT later), each forward next to its
// backward. A forward kernel writes out, beside its result, whatever the backward pass
// needs (LayerNorm statistics, attention probabilities, the pre-activation), so the
// backward twins never recompute. Host pointers; threads come from the core's pool. The
// CPU backend forwards its encoder virtuals here.
//
// Backward conventions: parameter gradients accumulate (+=) so that micro-batches add up
// in one buffer; reductions over rows run in fixed blocks of rows whose partial sums are
// added in order in double, so results do not depend on thread scheduling.
#pragma once

#include <cstdint>

namespace tf::cpu {

// LayerNorm over the last dimension of a (rows x cols) matrix:
// out = (inp - mean) * rstd * weight + bias, rstd = 1 / sqrt(var + eps), var biased (as
// torch.nn.LayerNorm). mean and rstd (rows each) are kept for the backward pass; either
// may be null when nobody needs them.
void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                       const float* bias, int64_t rows, int64_t cols, float eps);
// Its backward from the forward's mean and rstd: dinp += dL/dinp (accumulates, so a
// residual stream's gradient can already be there), dweight += sum over rows of
// dout * x̂, dbias += sum of dout.
void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* mean, const float* rstd, const float* weight, int64_t rows, int64_t cols);

// Multi-head self-attention over a fused QKV buffer. qkv is (batch, tokens, 3 * channels)
// with Q, K and V side by side in each row; head h uses columns [h*d, (h+1)*d) of each,
// d = channels / heads. att (batch, heads, tokens, tokens) receives softmax(Q Kᵀ / sqrt d)
// (kept for backward), out (batch, tokens, channels) the heads' outputs side by side.
// Only the first `queries` tokens of each sample are computed as queries (their rows of
// att and out; the others are left alone): an inference pass whose last layer feeds
// only CLS to the classifier asks for 1.
void attention_forward(float* out, float* att, const float* qkv, int64_t batch, int64_t tokens, int64_t channels,
                       int64_t heads, int64_t queries);
// Its backward for a pass that computed every query: dout (batch, tokens, channels) is
// the gradient of `out`; dqkv (batch, tokens, 3 * channels) is overwritten with the
// gradients of Q, K and V, from the probabilities `att` the forward kept.
void attention_backward(float* dqkv, const float* dout, const float* qkv, const float* att, int64_t batch,
                        int64_t tokens, int64_t channels, int64_t heads);

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
// Its backward: dpatch_out (batch, patches, channels) is overwritten with the patch rows
// of dembed; dcls += the CLS rows summed over the batch, dpos += dembed summed over it.
// (The patch projection's own gradients are a GEMM and bias_backward.)
void embeddings_backward(float* dpatch_out, float* dcls, float* dpos, const float* dembed, int64_t batch,
                         int64_t patches, int64_t channels);

// x (rows x cols) += bias broadcast over rows.
void add_bias(float* x, const float* bias, int64_t rows, int64_t cols);
// The backward of every bias add: dbias (cols) += column sums of dout (rows x cols).
void bias_backward(float* dbias, const float* dout, int64_t rows, int64_t cols);

// pre (rows x cols) += bias; out = gelu(pre), exact-erf GELU. pre keeps the value before
// the activation (captured for fusion, needed by backward).
void bias_gelu_forward(float* pre, float* out, const float* bias, int64_t rows, int64_t cols);

// proj (rows x cols) += bias; out = residual + proj. The linear layer's own output stays
// in proj; out is the residual stream after the sublayer.
void bias_residual_forward(float* out, float* proj, const float* bias, const float* residual, int64_t rows,
                           int64_t cols);

// Copies `rows` rows of `cols` floats from src (row stride src_stride) to dst (packed).
void gather_rows(float* dst, const float* src, int64_t rows, int64_t cols, int64_t src_stride);

// x (rows x cols) = x * scale + shift, per column: what rescaling a linear layer's output
// neurons (statistics repair) does to outputs already computed.
void scale_shift_columns(float* x, const float* scale, const float* shift, int64_t rows, int64_t cols);
// Its backward: dst row r (row stride dst_stride) += src row r (packed).
void scatter_add_rows(float* dst, const float* src, int64_t rows, int64_t cols, int64_t dst_stride);

// losses[r] = logsumexp(logits[r]) - logits[r][labels[r]] (cross-entropy, natural log),
// computed in double. Throws tf::Error for a label outside [0, classes).
void cross_entropy_forward(float* losses, const float* logits, const int32_t* labels, int64_t rows,
                           int64_t classes);
// Cross-entropy with label smoothing e against the target (1 - e) onehot + e / classes,
// as torch.nn.CrossEntropyLoss(label_smoothing=e) and HF's Trainer define it, forward and
// backward in one pass (in double): losses[r] = logsumexp(z) - (1 - e) z_label - e mean(z),
// dlogits = scale * (softmax(z) - target). scale is 1 / batch for a mean loss.
void cross_entropy_backward(float* dlogits, float* losses, const float* logits, const int32_t* labels, int64_t rows,
                            int64_t classes, float label_smoothing, float scale);

}  // namespace tf::cpu
