// The CPU backend: host memory, kernels from kernels.h on the core's thread pool.
#include <cstdlib>
#include <cstring>
#include <new>

#include "../backend.h"
#include "../thread_pool.h"
#include "blas_threads.h"
#include "kernels.h"

namespace tf {

namespace {

class CpuBackend final : public Backend {
 public:
  Device device() const override { return Device::Cpu; }

  std::string describe() const override {
    return "cpu: BLAS " + blas_description() + ", " + std::to_string(num_threads()) + " threads";
  }

  void* allocate(size_t bytes) override {
    // 64-byte alignment: whole cache lines, and aligned vector loads where compilers want them.
    void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!p) throw std::bad_alloc();
    return p;
  }
  void deallocate(void* ptr) noexcept override { std::free(ptr); }
  void copy_from_host(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }
  void copy_to_host(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }
  void synchronize() override {}

  void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
            const float* b, int64_t ldb, float beta, float* c, int64_t ldc) override {
    cpu::gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }
  void gelu_forward(float* out, const float* inp, int64_t n) override { cpu::gelu_forward(out, inp, n); }
  void gelu_backward(float* dinp, const float* inp, const float* dout, int64_t n) override {
    cpu::gelu_backward(dinp, inp, dout, n);
  }
  void axpby(float* y, const float* x, float alpha, float beta, int64_t n) override {
    cpu::axpby(y, x, alpha, beta, n);
  }
};

}  // namespace

Backend& cpu_backend() {
  static CpuBackend instance;
  return instance;
}

}  // namespace tf
