// Plain CPU kernels, each forward next to its backward. They take host pointers and
// use the core's thread pool. The CPU backend forwards to them; the CUDA twins live in
// native/core/cuda/ under the same names.
#pragma once

#include <cstdint>

namespace tf::cpu {

// Which implementation gemm() uses. Auto: BLAS outside parallel regions when linked,
// the portable blocked kernel otherwise. The other two force a path (tests, benchmarks).
enum class GemmPath { Auto, Blas, Blocked };
void set_gemm_path(GemmPath path);
GemmPath gemm_path();

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// The portable cache-blocked kernel behind gemm() when there is no BLAS. Threads over
// row blocks unless called inside a parallel region.
void gemm_blocked(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                  const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                  int64_t ldc);

void gelu_forward(float* out, const float* inp, int64_t n);
void gelu_backward(float* dinp, const float* inp, const float* dout, int64_t n);

void axpby(float* y, const float* x, float alpha, float beta, int64_t n);

double dot(const float* x, const float* y, int64_t n);

}  // namespace tf::cpu
