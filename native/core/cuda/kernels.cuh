// CUDA twins of native/core/cpu/kernels.h, and the CUDA backend's GEMM settings. Device
// pointers; every launch is queued on `stream` and returns without waiting.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <string>

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

// TF32 tensor cores for float32 GEMM: off by default. TF_CUDA_TF32=1 turns it on for the
// process, set_gemm_tf32 at run time. On, cuBLAS runs in CUBLAS_TF32_TENSOR_OP_MATH and
// our own path uses gemm_tf32 (sm_80 and newer; older GPUs keep float32). Inputs are
// rounded to 10 mantissa bits, so products carry relative errors of about 1e-3: fine
// for inference, not what the CPU parity tests expect.
void set_gemm_tf32(bool on);
bool gemm_tf32();
// "cuBLAS (libcublas.so.12), TF32 tensor cores" or the like.
std::string gemm_description();

// The backend's GEMM: the dispatch above. Row-major, as Backend::gemm.
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
          const float* b, int64_t ldb, float beta, float* c, int64_t ldc, cudaStream_t stream);

// Our own tiled SGEMM (row-major), used when cuBLAS cannot be loaded.
void gemm_tiled(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc, cudaStream_t stream);

// Our own TF32 tensor-core GEMM (WMMA, float32 accumulation). Only where tf32_supported().
bool tf32_supported();
void gemm_tf32(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
               int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc, cudaStream_t stream);

void gelu_forward(float* out, const float* inp, int64_t n, cudaStream_t stream);
void gelu_backward(float* dinp, const float* inp, const float* dout, int64_t n, cudaStream_t stream);

void axpby(float* y, const float* x, float alpha, float beta, int64_t n, cudaStream_t stream);

// sum x_i y_i in float64; waits for the stream (the result goes to the host).
double dot(const float* x, const float* y, int64_t n, cudaStream_t stream);

}  // namespace tf::cuda
