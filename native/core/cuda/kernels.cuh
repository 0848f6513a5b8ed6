// CUDA twins of native/core/cpu/kernels.h, and the CUDA backend's GEMM settings. Device
// pointers; every launch is queued on `stream` and returns without waiting.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "gemm_precision.h"

namespace tf::cuda {

// The stream of the CUDA backend (creates the backend; throws when CUDA is unavailable).
// Entry points outside the Backend interface (ot_cuda.h) queue their work on it too.
cudaStream_t backend_stream();

// Which GEMM runs. Auto: cuBLAS when it can be loaded, our tiled kernels otherwise.
// Cublas: cuBLAS or an error. Tiled: our kernels always. The environment variable
// TF_CUDA_GEMM=cublas|tiled sets it for the whole process; set_gemm_path overrides it
// (tests, benchmarks).
enum class GemmPath { Auto, Cublas, Tiled };
void set_gemm_path(GemmPath path);
GemmPath gemm_path();

// The GEMM's precision (gemm_precision.h): TF_CUDA_GEMM_PRECISION=fp32|tf32|bf16 sets it
// for the process (TF_CUDA_TF32=1 is tf32; another value is an error at the first GEMM),
// set_gemm_precision at run time.
void set_gemm_precision(GemmPrecision precision);
GemmPrecision gemm_precision();
const char* gemm_precision_name(GemmPrecision precision);  // "fp32" | "tf32" | "bf16"
// "cuBLAS (libcublas.so.12), TF32 tensor cores" or the like.
std::string gemm_description();

// The backend's GEMM: the dispatch above. Row-major, as Backend::gemm.
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
          const float* b, int64_t ldb, float beta, float* c, int64_t ldc, cudaStream_t stream);

// Our own tiled SGEMM (row-major), used when cuBLAS cannot be loaded.
void gemm_tiled(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc, cudaStream_t stream);

// Our own tensor-core GEMM (WMMA, float32 accumulation) in TF32 or BF16. Only where
// tensor_cores_supported().
bool tensor_cores_supported();
void gemm_tensor_cores(GemmPrecision precision, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                       float alpha, const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                       int64_t ldc, cudaStream_t stream);

void gelu_forward(float* out, const float* inp, int64_t n, cudaStream_t stream);
void gelu_backward(float* dinp, const float* inp, const float* dout, int64_t n, cudaStream_t stream);

void axpby(float* y, const float* x, float alpha, float beta, int64_t n, cudaStream_t stream);

// sum x_i y_i in float64; waits for the stream (the result goes to the host).
double dot(const float* x, const float* y, int64_t n, cudaStream_t stream);

}  // namespace tf::cuda
