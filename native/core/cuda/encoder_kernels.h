// CUDA twins of the transformer encoder and training kernels (cpu/encoder_kernels.h and
// cpu/train_kernels.h, whose comments define the semantics, layouts and accumulation
// rules). Device pointers; every launch is queued on `stream`. Functions that must return
// a value or report a bad argument found on the device (sum_squares, the cross-entropy
// label check) wait for the stream; the others return at once.
//
// Agreement with the CPU twins (what native/tests/cuda checks):
//   bit-identical: patch_extract, embeddings_assemble, embeddings_backward (float64 batch
//     sums in the same order), add_bias, bias_residual_forward, gather_rows,
//     scale_shift_columns (one fused multiply-add on both), scatter_add_rows,
//     bias_backward (the CPU's 64-row float partials, then float64 over the blocks in
//     order), zero, augment_images (the same counter-based draws).
//   within a bound: layernorm forward/backward (float64 row statistics here, float32 on
//     the CPU), attention (float32 sums in another order), bias_gelu_forward (erfc here,
//     a polynomial erf on the CPU), cross-entropy (float64 sums in another order),
//     sum_squares (float64, another order), adamw_update (float32, possibly different
//     fused multiply-adds).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "../train/train_ops.h"

namespace tf::cuda {

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                       const float* bias, int64_t rows, int64_t cols, float eps, cudaStream_t stream);
void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* mean, const float* rstd, const float* weight, int64_t rows, int64_t cols,
                        cudaStream_t stream);

// Attention: two implementations with the same semantics. The plain one (a warp per
// query row, any head width, any token count) is the reference; the tiled one stages
// K and V through shared memory and is what the backend uses where it applies
// (attention_tiled_supported). TF_CUDA_ATTENTION=plain forces the plain one. Both take
// BERT's key mask (text_kernels.h: attention_masked_forward); null means no padding.
void attention_forward_plain(float* out, float* att, const float* qkv, const uint8_t* key_mask, int64_t batch,
                             int64_t tokens, int64_t channels, int64_t heads, int64_t queries, cudaStream_t stream);
void attention_backward_plain(float* dqkv, const float* dout, const float* qkv, const float* att, int64_t batch,
                              int64_t tokens, int64_t channels, int64_t heads, cudaStream_t stream);
bool attention_tiled_supported(int64_t tokens, int64_t channels, int64_t heads);
void attention_forward_tiled(float* out, float* att, const float* qkv, const uint8_t* key_mask, int64_t batch,
                             int64_t tokens, int64_t channels, int64_t heads, int64_t queries, cudaStream_t stream);
// The dispatch the backend uses.
void attention_forward(float* out, float* att, const float* qkv, int64_t batch, int64_t tokens, int64_t channels,
                       int64_t heads, int64_t queries, cudaStream_t stream);
void attention_backward(float* dqkv, const float* dout, const float* qkv, const float* att, int64_t batch,
                        int64_t tokens, int64_t channels, int64_t heads, cudaStream_t stream);

void patch_extract(float* patches, const float* images, int64_t batch, int64_t channels, int64_t image_size,
                   int64_t patch_size, cudaStream_t stream);
void embeddings_assemble(float* out, const float* patch_out, const float* cls, const float* pos, int64_t batch,
                         int64_t patches, int64_t channels, cudaStream_t stream);
void embeddings_backward(float* dpatch_out, float* dcls, float* dpos, const float* dembed, int64_t batch,
                         int64_t patches, int64_t channels, cudaStream_t stream);

void add_bias(float* x, const float* bias, int64_t rows, int64_t cols, cudaStream_t stream);
void bias_backward(float* dbias, const float* dout, int64_t rows, int64_t cols, cudaStream_t stream);
void bias_gelu_forward(float* pre, float* out, const float* bias, int64_t rows, int64_t cols, cudaStream_t stream);
void bias_residual_forward(float* out, float* proj, const float* bias, const float* residual, int64_t rows,
                           int64_t cols, cudaStream_t stream);
void gather_rows(float* dst, const float* src, int64_t rows, int64_t cols, int64_t src_stride, cudaStream_t stream);
void scale_shift_columns(float* x, const float* scale, const float* shift, int64_t rows, int64_t cols,
                         cudaStream_t stream);
void scatter_add_rows(float* dst, const float* src, int64_t rows, int64_t cols, int64_t dst_stride,
                      cudaStream_t stream);

// Both throw tf::Error, with the CPU's message, for a label outside [0, classes) (they
// wait for the stream to read the check back).
void cross_entropy_forward(float* losses, const float* logits, const int32_t* labels, int64_t rows, int64_t classes,
                           cudaStream_t stream);
void cross_entropy_backward(float* dlogits, float* losses, const float* logits, const int32_t* labels, int64_t rows,
                            int64_t classes, float label_smoothing, float scale, cudaStream_t stream);

void zero(float* x, int64_t n, cudaStream_t stream);
// Waits for the stream (the result goes to the host).
double sum_squares(const float* x, int64_t n, cudaStream_t stream);
void adamw_update(float* params, float* m, float* v, const float* grads, int64_t n, const AdamWStep& step,
                  cudaStream_t stream);
void augment_images(float* out, const float* images, int64_t batch, int64_t channels, int64_t image_size,
                    const AugmentParams& params, cudaStream_t stream);

}  // namespace tf::cuda
