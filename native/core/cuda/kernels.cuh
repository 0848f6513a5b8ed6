// CUDA twins of native/core/cpu/kernels.h. Device pointers; every launch is queued on
// `stream` and returns without waiting.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace tf::cuda {

// Our own tiled SGEMM (row-major), used when cuBLAS cannot be loaded.
void gemm_tiled(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc, cudaStream_t stream);

void gelu_forward(float* out, const float* inp, int64_t n, cudaStream_t stream);
void gelu_backward(float* dinp, const float* inp, const float* dout, int64_t n, cudaStream_t stream);

void axpby(float* y, const float* x, float alpha, float beta, int64_t n, cudaStream_t stream);

// sum x_i y_i in float64; waits for the stream (the result goes to the host).
double dot(const float* x, const float* y, int64_t n, cudaStream_t stream);

}  // namespace tf::cuda
