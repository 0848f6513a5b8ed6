// The CUDA backend: device memory, one stream, cuBLAS when it can be loaded and our own
// kernels otherwise; every op of the Backend interface has its CUDA twin (kernels.cuh,
// encoder_kernels.h, text_kernels.h). Built only by the CMake path (npm run build:cuda). The addon links
// the CUDA runtime statically, so it loads on machines without a GPU or driver; there
// cuda_available() is false and everything runs on the CPU backend.
#include <memory>
#include <mutex>

#include "../activations/activation_transform.h"
#include "../backend.h"
#include "../error.h"
#include "activation_kernels.h"
#include "cublas_loader.h"
#include "cuda_check.h"
#include "encoder_kernels.h"
#include "kernels.cuh"
#include "text_kernels.h"

namespace tf {

namespace {

struct Probe {
  bool ok = false;
  std::string reason;
  std::string device;
};

const Probe& probe() {
  static const Probe result = [] {
    Probe p;
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
      p.reason = cudaGetErrorString(err);
      cudaGetLastError();  // clear the sticky error so later calls start clean
      return p;
    }
    if (count == 0) {
      p.reason = "no CUDA-capable device";
      return p;
    }
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) {
      p.reason = "cannot query device 0";
      return p;
    }
    p.ok = true;
    p.device = std::string(prop.name) + " (sm_" + std::to_string(prop.major) + std::to_string(prop.minor) + ", " +
               std::to_string(prop.totalGlobalMem >> 20) + " MiB)";
    return p;
  }();
  return result;
}

class CudaBackend final : public Backend {
 public:
  CudaBackend() {
    TF_CUDA_CHECK(cudaSetDevice(0));
    TF_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  }

  cudaStream_t stream() const { return stream_; }

  Device device() const override { return Device::Cuda; }

  std::string describe() const override { return "cuda: " + probe().device + ", GEMM " + cuda::gemm_description(); }
  bool packs_padded_batches() const override { return false; }

  void* allocate(size_t bytes) override {
    void* p = nullptr;
    TF_CUDA_CHECK(cudaMalloc(&p, bytes));
    return p;
  }
  void deallocate(void* ptr) noexcept override { cudaFree(ptr); }
  void copy_from_host(void* dst, const void* src, size_t bytes) override {
    TF_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_));
    TF_CUDA_CHECK(cudaStreamSynchronize(stream_));  // the host buffer may be reused at once
  }
  void copy_to_host(void* dst, const void* src, size_t bytes) override {
    TF_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream_));
    TF_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }
  // Also surfaces errors of kernels that already ran (an illegal address shows up here).
  void synchronize() override {
    TF_CUDA_CHECK(cudaStreamSynchronize(stream_));
    TF_CUDA_CHECK(cudaGetLastError());
  }

  void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
            const float* b, int64_t ldb, float beta, float* c, int64_t ldc) override {
    cuda::gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, stream_);
  }
  void gelu_forward(float* out, const float* inp, int64_t n) override { cuda::gelu_forward(out, inp, n, stream_); }
  void gelu_backward(float* dinp, const float* inp, const float* dout, int64_t n) override {
    cuda::gelu_backward(dinp, inp, dout, n, stream_);
  }
  void axpby(float* y, const float* x, float alpha, float beta, int64_t n) override {
    cuda::axpby(y, x, alpha, beta, n, stream_);
  }
  double dot(const float* x, const float* y, int64_t n) override { return cuda::dot(x, y, n, stream_); }

  // --- encoder forward ---------------------------------------------------------------
  void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                         const float* bias, int64_t rows, int64_t cols, float eps) override {
    cuda::layernorm_forward(out, mean, rstd, inp, weight, bias, rows, cols, eps, stream_);
  }
  void attention_forward(float* out, float* att, const float* qkv, int64_t batch, int64_t tokens, int64_t channels,
                         int64_t heads, int64_t queries) override {
    cuda::attention_forward(out, att, qkv, batch, tokens, channels, heads, queries, stream_);
  }
  void patch_extract(float* patches, const float* images, int64_t batch, int64_t channels, int64_t image_size,
                     int64_t patch_size) override {
    cuda::patch_extract(patches, images, batch, channels, image_size, patch_size, stream_);
  }
  void embeddings_assemble(float* out, const float* patch_out, const float* cls, const float* pos, int64_t batch,
                           int64_t patches, int64_t channels) override {
    cuda::embeddings_assemble(out, patch_out, cls, pos, batch, patches, channels, stream_);
  }
  void add_bias(float* x, const float* bias, int64_t rows, int64_t cols) override {
    cuda::add_bias(x, bias, rows, cols, stream_);
  }
  void bias_gelu_forward(float* pre, float* out, const float* bias, int64_t rows, int64_t cols) override {
    cuda::bias_gelu_forward(pre, out, bias, rows, cols, stream_);
  }
  void scale_shift_columns(float* x, const float* scale, const float* shift, int64_t rows, int64_t cols) override {
    cuda::scale_shift_columns(x, scale, shift, rows, cols, stream_);
  }
  void bias_residual_forward(float* out, float* proj, const float* bias, const float* residual, int64_t rows,
                             int64_t cols) override {
    cuda::bias_residual_forward(out, proj, bias, residual, rows, cols, stream_);
  }
  void gather_rows(float* dst, const float* src, int64_t rows, int64_t cols, int64_t src_stride) override {
    cuda::gather_rows(dst, src, rows, cols, src_stride, stream_);
  }
  void cross_entropy_forward(float* losses, const float* logits, const int32_t* labels, int64_t rows,
                             int64_t classes) override {
    cuda::cross_entropy_forward(losses, logits, labels, rows, classes, stream_);
  }

  // --- text encoder (BERT) ---------------------------------------------------------------
  void token_embeddings_forward(float* out, const int32_t* ids, const int32_t* type_ids, const float* word,
                                const float* position, const float* type, int64_t batch, int64_t tokens,
                                int64_t channels) override {
    cuda::token_embeddings_forward(out, ids, type_ids, word, position, type, batch, tokens, channels, stream_);
  }
  void attention_masked_forward(float* out, float* att, const float* qkv, const uint8_t* key_mask, int64_t batch,
                                int64_t tokens, int64_t channels, int64_t heads, int64_t queries) override {
    cuda::attention_masked_forward(out, att, qkv, key_mask, batch, tokens, channels, heads, queries, stream_);
  }
  void bias_tanh_forward(float* pre, float* out, const float* bias, int64_t rows, int64_t cols) override {
    cuda::bias_tanh_forward(pre, out, bias, rows, cols, stream_);
  }
  void gather_rows_indexed(float* dst, const float* src, const int32_t* index, int64_t rows, int64_t cols) override {
    cuda::gather_rows_indexed(dst, src, index, rows, cols, stream_);
  }
  void softmax_cross_entropy_forward(float* losses, int32_t* predictions, const float* logits, const int32_t* labels,
                                     int64_t rows, int64_t classes) override {
    cuda::softmax_cross_entropy_forward(losses, predictions, logits, labels, rows, classes, stream_);
  }
  void token_embeddings_backward(float* dword, float* dposition, float* dtype, const float* dout, const int32_t* ids,
                                 const int32_t* type_ids, int64_t batch, int64_t tokens, int64_t channels) override {
    cuda::token_embeddings_backward(dword, dposition, dtype, dout, ids, type_ids, batch, tokens, channels, stream_);
  }
  void tanh_backward(float* dpre, const float* out, const float* dout, int64_t n) override {
    cuda::tanh_backward(dpre, out, dout, n, stream_);
  }
  void scatter_add_rows_indexed(float* dst, const float* src, const int32_t* index, int64_t rows,
                                int64_t cols) override {
    cuda::scatter_add_rows_indexed(dst, src, index, rows, cols, stream_);
  }

  // --- encoder backward and training ---------------------------------------------------
  void zero(float* x, int64_t n) override { cuda::zero(x, n, stream_); }
  void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                          const float* mean, const float* rstd, const float* weight, int64_t rows,
                          int64_t cols) override {
    cuda::layernorm_backward(dinp, dweight, dbias, dout, inp, mean, rstd, weight, rows, cols, stream_);
  }
  void attention_backward(float* dqkv, const float* dout, const float* qkv, const float* att, int64_t batch,
                          int64_t tokens, int64_t channels, int64_t heads) override {
    cuda::attention_backward(dqkv, dout, qkv, att, batch, tokens, channels, heads, stream_);
  }
  void embeddings_backward(float* dpatch_out, float* dcls, float* dpos, const float* dembed, int64_t batch,
                           int64_t patches, int64_t channels) override {
    cuda::embeddings_backward(dpatch_out, dcls, dpos, dembed, batch, patches, channels, stream_);
  }
  void bias_backward(float* dbias, const float* dout, int64_t rows, int64_t cols) override {
    cuda::bias_backward(dbias, dout, rows, cols, stream_);
  }
  void scatter_add_rows(float* dst, const float* src, int64_t rows, int64_t cols, int64_t dst_stride) override {
    cuda::scatter_add_rows(dst, src, rows, cols, dst_stride, stream_);
  }
  void cross_entropy_backward(float* dlogits, float* losses, const float* logits, const int32_t* labels, int64_t rows,
                              int64_t classes, float label_smoothing, float scale) override {
    cuda::cross_entropy_backward(dlogits, losses, logits, labels, rows, classes, label_smoothing, scale, stream_);
  }
  double sum_squares(const float* x, int64_t n) override { return cuda::sum_squares(x, n, stream_); }
  void adamw_update(float* params, float* m, float* v, const float* grads, int64_t n,
                    const AdamWStep& step) override {
    cuda::adamw_update(params, m, v, grads, n, step, stream_);
  }
  void augment_images(float* out, const float* images, int64_t batch, int64_t channels, int64_t image_size,
                      const AugmentParams& params) override {
    cuda::augment_images(out, images, batch, channels, image_size, params, stream_);
  }
  void gather_mean_rows(float* dst, const float* src, int64_t src_stride, int64_t cols, const int32_t* offsets,
                        const int32_t* indices, int64_t segments) override {
    cuda::gather_mean_rows(dst, src, src_stride, cols, offsets, indices, segments, stream_);
  }
  void activation_transform(float* x, int64_t rows, int64_t cols, ActivationTransform t) override {
    TF_CHECK(t != ActivationTransform::Std || rows == 0 || cols == 0 || rows >= 2,
             "the std transform needs at least 2 rows per activation, got " + std::to_string(rows));
    cuda::activation_transform(x, rows, cols, t, stream_);
  }

 private:
  cudaStream_t stream_ = nullptr;
};

CudaBackend& instance() {
  if (!cuda_available()) throw Error("CUDA is not available: " + cuda_unavailable_reason());
  static std::once_flag once;
  static std::unique_ptr<CudaBackend> backend;
  std::call_once(once, [] { backend = std::make_unique<CudaBackend>(); });
  return *backend;
}

}  // namespace

bool cuda_compiled() { return true; }
bool cuda_available() { return probe().ok; }
std::string cuda_unavailable_reason() { return probe().ok ? "" : probe().reason; }

Backend& cuda_backend() { return instance(); }

GpuInfo cuda_device_info() {
  GpuInfo g;
  cudaDriverGetVersion(&g.driver_version);
  cudaRuntimeGetVersion(&g.runtime_version);
  cudaGetLastError();
  if (!probe().ok) return g;
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) {
    cudaGetLastError();
    return g;
  }
  g.present = true;
  g.name = prop.name;
  g.compute_major = prop.major;
  g.compute_minor = prop.minor;
  g.memory_bytes = uint64_t(prop.totalGlobalMem);
  g.multiprocessors = prop.multiProcessorCount;
  return g;
}

std::string cublas_library() { return cuda::Cublas::find_library(); }

cudaStream_t cuda::backend_stream() { return instance().stream(); }

}  // namespace tf
