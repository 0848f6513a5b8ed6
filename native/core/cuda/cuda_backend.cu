// The CUDA backend: device memory, one stream, cuBLAS when it can be loaded and our own
// kernels otherwise. Built only by the CMake path (npm run build:cuda). The addon links
// the CUDA runtime statically, so it loads on machines without a GPU or driver; there
// cuda_available() is false and everything runs on the CPU backend.
#include <memory>
#include <mutex>

#include "../backend.h"
#include "../error.h"
#include "cublas_loader.h"
#include "cuda_check.h"
#include "kernels.cuh"

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

  Device device() const override { return Device::Cuda; }

  std::string describe() const override {
    Cublas* blas = cuda::Cublas::instance();
    return "cuda: " + probe().device + ", GEMM " + (blas ? "cuBLAS (" + blas->library() + ")" : "tiled kernels");
  }

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
  void synchronize() override { TF_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

  void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
            const float* b, int64_t ldb, float beta, float* c, int64_t ldc) override {
    if (Cublas* blas = cuda::Cublas::instance()) {
      if (blas->sgemm(ta, tb, int(m), int(n), int(k), alpha, a, int(lda), b, int(ldb), beta, c, int(ldc), stream_))
        return;
    }
    cuda::gemm_tiled(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, stream_);
  }
  void gelu_forward(float* out, const float* inp, int64_t n) override { cuda::gelu_forward(out, inp, n, stream_); }
  void gelu_backward(float* dinp, const float* inp, const float* dout, int64_t n) override {
    cuda::gelu_backward(dinp, inp, dout, n, stream_);
  }
  void axpby(float* y, const float* x, float alpha, float beta, int64_t n) override {
    cuda::axpby(y, x, alpha, beta, n, stream_);
  }
  double dot(const float* x, const float* y, int64_t n) override { return cuda::dot(x, y, n, stream_); }

 private:
  using Cublas = cuda::Cublas;
  cudaStream_t stream_ = nullptr;
};

}  // namespace

bool cuda_compiled() { return true; }
bool cuda_available() { return probe().ok; }
std::string cuda_unavailable_reason() { return probe().ok ? "" : probe().reason; }

Backend& cuda_backend() {
  if (!cuda_available()) throw Error("CUDA is not available: " + cuda_unavailable_reason());
  static std::once_flag once;
  static std::unique_ptr<CudaBackend> instance;
  std::call_once(once, [] { instance = std::make_unique<CudaBackend>(); });
  return *instance;
}

}  // namespace tf
