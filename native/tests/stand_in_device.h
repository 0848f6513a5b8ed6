// A stand-in for a device backend on a machine without a GPU: it runs the CPU backend's
// kernels but calls itself a device, so models take their device paths (inputs staged
// through copy_from_host, results read back through copy_to_host, activations copied
// into a host-side store). Device memory is poisoned on allocation and copies are
// counted, so a path that reads device memory as if it were host memory, or forgets a
// copy, shows up as a wrong value. Results must be bit-identical to the CPU backend's.
#pragma once

#include <cstring>
#include <string>

#include "../core/backend.h"

namespace tf::test {

class StandInDevice final : public Backend {
 public:
  // packs: what packs_padded_batches() answers; false stands in for the CUDA backend,
  // which keeps padded BERT batches whole with a key mask.
  explicit StandInDevice(bool packs = true) : packs_(packs) {}
  Device device() const override { return Device::Cuda; }
  bool packs_padded_batches() const override { return packs_; }
  std::string describe() const override { return "stand-in device (CPU kernels)"; }
  void* allocate(size_t bytes) override {
    void* p = cpu().allocate(bytes);
    std::memset(p, 0xff, bytes);  // NaN floats
    return p;
  }
  void deallocate(void* ptr) noexcept override { cpu().deallocate(ptr); }
  void copy_from_host(void* dst, const void* src, size_t bytes) override {
    ++uploads;
    std::memcpy(dst, src, bytes);
  }
  void copy_to_host(void* dst, const void* src, size_t bytes) override {
    ++downloads;
    std::memcpy(dst, src, bytes);
  }
  void synchronize() override {}

  void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
            const float* b, int64_t ldb, float beta, float* c, int64_t ldc) override {
    cpu().gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }
  void gelu_forward(float* out, const float* inp, int64_t n) override { cpu().gelu_forward(out, inp, n); }
  void gelu_backward(float* dinp, const float* inp, const float* dout, int64_t n) override {
    cpu().gelu_backward(dinp, inp, dout, n);
  }
  void axpby(float* y, const float* x, float alpha, float beta, int64_t n) override { cpu().axpby(y, x, alpha, beta, n); }
  double dot(const float* x, const float* y, int64_t n) override { return cpu().dot(x, y, n); }

  // --- encoder forward
  void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight, const float* bias,
                         int64_t rows, int64_t cols, float eps) override {
    cpu().layernorm_forward(out, mean, rstd, inp, weight, bias, rows, cols, eps);
  }
  void attention_forward(float* out, float* att, const float* qkv, int64_t batch, int64_t tokens, int64_t channels,
                         int64_t heads, int64_t queries) override {
    cpu().attention_forward(out, att, qkv, batch, tokens, channels, heads, queries);
  }
  void patch_extract(float* patches, const float* images, int64_t batch, int64_t channels, int64_t image_size,
                     int64_t patch_size) override {
    cpu().patch_extract(patches, images, batch, channels, image_size, patch_size);
  }
  void embeddings_assemble(float* out, const float* patch_out, const float* cls, const float* pos, int64_t batch,
                           int64_t patches, int64_t channels) override {
    cpu().embeddings_assemble(out, patch_out, cls, pos, batch, patches, channels);
  }
  void add_bias(float* x, const float* bias, int64_t rows, int64_t cols) override { cpu().add_bias(x, bias, rows, cols); }
  void scale_shift_columns(float* x, const float* scale, const float* shift, int64_t rows, int64_t cols) override {
    cpu().scale_shift_columns(x, scale, shift, rows, cols);
  }
  void bias_gelu_forward(float* pre, float* out, const float* bias, int64_t rows, int64_t cols) override {
    cpu().bias_gelu_forward(pre, out, bias, rows, cols);
  }
  void bias_residual_forward(float* out, float* proj, const float* bias, const float* residual, int64_t rows,
                             int64_t cols) override {
    cpu().bias_residual_forward(out, proj, bias, residual, rows, cols);
  }
  void gather_rows(float* dst, const float* src, int64_t rows, int64_t cols, int64_t src_stride) override {
    cpu().gather_rows(dst, src, rows, cols, src_stride);
  }
  void cross_entropy_forward(float* losses, const float* logits, const int32_t* labels, int64_t rows,
                             int64_t classes) override {
    cpu().cross_entropy_forward(losses, logits, labels, rows, classes);
  }

  // --- text encoder
  void token_embeddings_forward(float* out, const int32_t* ids, const int32_t* type_ids, const float* word,
                                const float* position, const float* type, int64_t batch, int64_t tokens,
                                int64_t channels) override {
    cpu().token_embeddings_forward(out, ids, type_ids, word, position, type, batch, tokens, channels);
  }
  void attention_masked_forward(float* out, float* att, const float* qkv, const uint8_t* key_mask, int64_t batch,
                                int64_t tokens, int64_t channels, int64_t heads, int64_t queries) override {
    cpu().attention_masked_forward(out, att, qkv, key_mask, batch, tokens, channels, heads, queries);
  }
  void bias_tanh_forward(float* pre, float* out, const float* bias, int64_t rows, int64_t cols) override {
    cpu().bias_tanh_forward(pre, out, bias, rows, cols);
  }
  void gather_rows_indexed(float* dst, const float* src, const int32_t* index, int64_t rows, int64_t cols) override {
    cpu().gather_rows_indexed(dst, src, index, rows, cols);
  }
  void softmax_cross_entropy_forward(float* losses, int32_t* predictions, const float* logits, const int32_t* labels,
                                     int64_t rows, int64_t classes) override {
    cpu().softmax_cross_entropy_forward(losses, predictions, logits, labels, rows, classes);
  }
  void token_embeddings_backward(float* dword, float* dposition, float* dtype, const float* dout, const int32_t* ids,
                                 const int32_t* type_ids, int64_t batch, int64_t tokens, int64_t channels) override {
    cpu().token_embeddings_backward(dword, dposition, dtype, dout, ids, type_ids, batch, tokens, channels);
  }
  void tanh_backward(float* dpre, const float* out, const float* dout, int64_t n) override {
    cpu().tanh_backward(dpre, out, dout, n);
  }
  void scatter_add_rows_indexed(float* dst, const float* src, const int32_t* index, int64_t rows,
                                int64_t cols) override {
    cpu().scatter_add_rows_indexed(dst, src, index, rows, cols);
  }

  // --- backward and training
  void zero(float* x, int64_t n) override { cpu().zero(x, n); }
  void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                          const float* mean, const float* rstd, const float* weight, int64_t rows,
                          int64_t cols) override {
    cpu().layernorm_backward(dinp, dweight, dbias, dout, inp, mean, rstd, weight, rows, cols);
  }
  void attention_backward(float* dqkv, const float* dout, const float* qkv, const float* att, int64_t batch,
                          int64_t tokens, int64_t channels, int64_t heads) override {
    cpu().attention_backward(dqkv, dout, qkv, att, batch, tokens, channels, heads);
  }
  void embeddings_backward(float* dpatch_out, float* dcls, float* dpos, const float* dembed, int64_t batch,
                           int64_t patches, int64_t channels) override {
    cpu().embeddings_backward(dpatch_out, dcls, dpos, dembed, batch, patches, channels);
  }
  void bias_backward(float* dbias, const float* dout, int64_t rows, int64_t cols) override {
    cpu().bias_backward(dbias, dout, rows, cols);
  }
  void scatter_add_rows(float* dst, const float* src, int64_t rows, int64_t cols, int64_t dst_stride) override {
    cpu().scatter_add_rows(dst, src, rows, cols, dst_stride);
  }
  void cross_entropy_backward(float* dlogits, float* losses, const float* logits, const int32_t* labels, int64_t rows,
                              int64_t classes, float label_smoothing, float scale) override {
    cpu().cross_entropy_backward(dlogits, losses, logits, labels, rows, classes, label_smoothing, scale);
  }
  double sum_squares(const float* x, int64_t n) override { return cpu().sum_squares(x, n); }
  void adamw_update(float* params, float* m, float* v, const float* grads, int64_t n,
                    const AdamWStep& step) override {
    cpu().adamw_update(params, m, v, grads, n, step);
  }
  void augment_images(float* out, const float* images, int64_t batch, int64_t channels, int64_t image_size,
                      const AugmentParams& params) override {
    cpu().augment_images(out, images, batch, channels, image_size, params);
  }
  void gather_mean_rows(float* dst, const float* src, int64_t src_stride, int64_t cols, const int32_t* offsets,
                        const int32_t* indices, int64_t segments) override {
    cpu().gather_mean_rows(dst, src, src_stride, cols, offsets, indices, segments);
  }
  void activation_transform(float* x, int64_t rows, int64_t cols, ActivationTransform t) override {
    cpu().activation_transform(x, rows, cols, t);
  }

  int uploads = 0, downloads = 0;

 private:
  static Backend& cpu() { return cpu_backend(); }
  bool packs_;
};

}  // namespace tf::test
